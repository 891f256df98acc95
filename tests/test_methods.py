"""AP, AtP, every RelP preset, IG and token relevance: C against the PyTorch
reference (tests/reference.py, rules as detach tricks like the official code).

    /usr/bin/python3 tests/test_methods.py CHECK_METHODS_BIN OUT_DIR
"""
import os
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as R  # noqa: E402

CASES = [  # name, shape, seed, B, T, ig steps
    ("tails", dict(L=3, C=40, NH=5, n_pos=16, V=997), 21, 3, 7, 4),
    ("wide", dict(L=2, C=64, NH=4, n_pos=32, V=500), 22, 2, 9, 3),
]


def main():
    bin_, out = sys.argv[1], sys.argv[2]
    failed = 0
    for name, cfg, seed, B, T, steps in CASES:
        d = os.path.join(out, name)
        params = R.random_gpt2(cfg["L"], cfg["C"], cfg["NH"], cfg["n_pos"], cfg["V"], seed)
        stored = R.save_checkpoint(d, params, cfg)
        g = torch.Generator().manual_seed(seed)
        clean = torch.randint(0, cfg["V"], (B, T), generator=g)
        corrupt = clean.clone()
        for b in range(B):  # corrupt two positions per prompt, as IOI corruptions do
            for t in torch.randint(1, T, (2,), generator=g).tolist():
                corrupt[b, t] = torch.randint(0, cfg["V"], (1,), generator=g)
        answer = torch.randint(0, cfg["V"], (B,), generator=g)
        wrong = torch.randint(0, cfg["V"], (B,), generator=g)
        ref = R.methods_reference(stored, cfg, clean, corrupt, answer, wrong, steps)
        ref.update({"clean": clean.float(), "corrupt": corrupt.float(), "answer": answer.float(),
                    "wrong": wrong.float(), "ig_steps": torch.tensor([float(steps)])})
        path = os.path.join(d, "methods.safetensors")
        R.write_safetensors(path, ref)
        r = subprocess.run([bin_, d, path], capture_output=True, text=True)
        print(f"== {name}: {'passed' if r.returncode == 0 else 'FAILED'}")
        print(r.stdout[-6000:], r.stderr[-2000:])
        failed += r.returncode != 0
    print(f"{len(CASES) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
