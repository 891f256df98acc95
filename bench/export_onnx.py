"""Exports a checkpoint's forward pass to ONNX with Debian's PyTorch, for the
onnxruntime-web peer of the WebAssembly benchmark (bench/bench_wasm.mjs).

    /usr/bin/python3 bench/export_onnx.py CKPT_DIR OUT.onnx [--tokens 16]

The graph is bench/torch_forward.py's forward (the same weights as relp
reads): input ids (1, T) int64, output the logits at the last position
(1, 1, V) - what relp's forward computes. Skips the work if OUT is newer than
the checkpoint.
"""
import argparse
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_forward as TF  # noqa: E402


class Net(torch.nn.Module):
    def __init__(self, p, L, NH):
        super().__init__()
        self.p, self.L, self.NH = p, L, NH

    def forward(self, ids):
        return TF.forward(self.p, self.L, self.NH, ids, False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("ckpt")
    ap.add_argument("out")
    ap.add_argument("--tokens", type=int, default=16)
    a = ap.parse_args()
    w = os.path.join(a.ckpt, "model.safetensors")
    if os.path.exists(a.out) and os.path.getmtime(a.out) > os.path.getmtime(w):
        return
    import json
    cfg = json.load(open(os.path.join(a.ckpt, "config.json")))
    p = TF.load(a.ckpt)
    ids = torch.zeros(1, a.tokens, dtype=torch.int64)
    with torch.no_grad():
        torch.onnx.export(Net(p, cfg["n_layer"], cfg["n_head"]), (ids,), a.out, input_names=["ids"], output_names=["logits"],
                          opset_version=14)


if __name__ == "__main__":
    main()
