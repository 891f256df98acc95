"""Writes a GPT-2 checkpoint with random weights (Hugging Face layout) plus
GPT-2's tokenizer files, for tests that need a full-size shape.

    /usr/bin/python3 tests/write_checkpoint.py OUT_DIR --shape 12,768,12 [--dtype F32] [--tokenizer DIR]

Weights as in bench/torch_forward.py (GPT-2-like scales, seed 0). Skips the
work when OUT_DIR already holds a checkpoint of that shape and dtype. Needs
PyTorch: Debian's /usr/bin/python3 with python3-torch (--help works without).
"""
import argparse
import json
import os
import shutil
import sys



def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", metavar="OUT_DIR")
    ap.add_argument("--shape", default="12,768,12", help="L,C,NH (default 12,768,12: GPT-2 small)")
    ap.add_argument("--dtype", default="F32", choices=["F32", "F16", "BF16"])
    ap.add_argument("--tokenizer", help="directory with vocab.json + merges.txt")
    a = ap.parse_args()
    try:
        import torch  # noqa: F401
    except ImportError:
        sys.exit(f"write_checkpoint.py: needs PyTorch, which {sys.executable} does not have; run it with Debian's "
                 f"/usr/bin/python3 (apt install python3-torch)")
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import reference as R
    L, C, NH = (int(x) for x in a.shape.split(","))
    stamp = os.path.join(a.out, "written.json")
    want = {"shape": [L, C, NH], "dtype": a.dtype}
    if os.path.exists(stamp) and json.load(open(stamp)) == want:
        return
    params = R.random_gpt2(L, C, NH, 1024, 50257, 0)
    for k in params:
        if k.endswith("weight") and "ln" not in k:
            params[k] = params[k] * 0.1
    R.save_checkpoint(a.out, params, dict(L=L, C=C, NH=NH, n_pos=1024, V=50257), dtype=a.dtype)
    if a.tokenizer:
        for n in ("vocab.json", "merges.txt"):
            shutil.copy(os.path.join(a.tokenizer, n), os.path.join(a.out, n))
    json.dump(want, open(stamp, "w"))


if __name__ == "__main__":
    main()
