#!/usr/bin/env bash
# relp's page, engine modules and JS API as an npm package (`make npm`; tests/test_npm.mjs): the built site
# (WEB, build/wasm-release/web) with the package's entry and README (wasm/npm/), staged in WORK/package,
# packed offline with npm into OUT. Prints the tarball's path.
#   tools/make_npm.sh WEB WORK OUT
set -euo pipefail
cd "$(dirname "$0")/.."
web=$1 work=$2 out=$3
for f in index.html relp.mjs constants.mjs relp-embed.js relp_engine.wasm relp_figure.wasm models/models.json; do
  [ -e "$web/$f" ] || { echo "make_npm.sh: $web/$f is missing: build the page first (make build-wasm)" >&2; exit 1; }
done
version=$(sed -n 's/.*set(RELP_VERSION \([0-9.]*\)).*/\1/p' CMakeLists.txt)
rm -rf "$work" && mkdir -p "$work/package" "$out"
cp -r "$web"/. "$work/package/"
cp wasm/npm/index.mjs wasm/npm/README.md "$work/package/"
cat > "$work/package/package.json" <<JSON
{
  "name": "relp",
  "version": "$version",
  "description": "Transformer language models explained with Relevance Patching, in WebAssembly: the engine, its JavaScript API, the page and the <relp-view> element",
  "license": "MIT",
  "main": "./index.mjs",
  "exports": {
    ".": "./index.mjs",
    "./relp.mjs": "./relp.mjs",
    "./constants.mjs": "./constants.mjs",
    "./relp-embed.js": "./relp-embed.js",
    "./*": "./*"
  },
  "engines": { "node": ">=20" },
  "keywords": ["interpretability", "relevance patching", "attribution", "transformer", "webassembly"]
}
JSON
rm -f "$out"/relp-*.tgz
(cd "$work/package" && npm pack --offline --silent --pack-destination "$(cd "$OLDPWD" && cd "$out" && pwd)" >/dev/null)
ls "$out"/relp-*.tgz
