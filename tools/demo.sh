#!/usr/bin/env bash
# The main job (make demo): serve the page - RelP, AtP, IG and activation
# patching computed in the browser with WebAssembly - on the bundled model.
# Prints the URL on one line, then serves until Ctrl-C. RELP_PORT picks the
# port (default 8080; 0 = any free port).
set -euo pipefail
cd "$(dirname "$0")/.."
exec node tools/serve.mjs build/wasm-release/web "${RELP_PORT:-8080}"
