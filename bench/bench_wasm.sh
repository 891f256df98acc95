#!/usr/bin/env bash
# The WebAssembly forward pass against onnxruntime-web (npm), one thread
# each, on the same random GPT-2-small-shaped weights: writes the checkpoint
# and its ONNX export once (Debian's PyTorch), then runs bench/bench_wasm.mjs.
#   bench/bench_wasm.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
CKPT=build/bench/gpt2-small
[ -f $CKPT/model.safetensors ] || $PY bench/torch_forward.py $CKPT --write --runs 1 >/dev/null
$PY bench/export_onnx.py $CKPT build/bench/gpt2-small.onnx 2>/dev/null
node bench/bench_wasm.mjs build/wasm-release/web $CKPT build/bench/gpt2-small.onnx "${1:-10}"
