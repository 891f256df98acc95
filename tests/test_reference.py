"""C engine vs the PyTorch reference on tiny random checkpoints.

    /usr/bin/python3 tests/test_reference.py CHECK_BIN OUT_DIR

For each case: write a checkpoint (dtype, prefix, shards, lm_head, mask
buffers vary), compute the float64 autograd reference, and run CHECK_BIN
(tests/check_reference.c), which must match every tensor to
max|diff| <= 1e-4 * max|ref|. Exits non-zero if any case fails.
"""
import os
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as R  # noqa: E402

SHAPE_A = dict(L=2, C=64, NH=4, n_pos=32, V=50257)
SHAPE_B = dict(L=3, C=40, NH=5, n_pos=16, V=997)  # widths that leave SIMD tails

CASES = [
    # name, shape, seed, B, T, file dtype, prefix, shards, lm_head, mask buffers, metric, extra C flags
    ("a_f32_prefix", SHAPE_A, 1, 2, 9, "F32", True, 1, True, False, "logit_diff", []),
    ("a_f32_threads", SHAPE_A, 1, 2, 9, "F32", True, 1, True, False, "logit_diff", ["--threads", "2"]),
    ("a_f16_sharded", SHAPE_A, 2, 2, 12, "F16", False, 3, False, True, "logprob", []),
    ("a_f16_in_f16", SHAPE_A, 2, 2, 12, "F16", False, 3, False, True, "logprob", ["--weights", "f16"]),
    ("a_f16_no_transposed", SHAPE_A, 2, 2, 12, "F16", False, 3, False, True, "logprob",
     ["--weights", "f16", "--no-transposed", "--threads", "2"]),
    ("b_f32_no_transposed", SHAPE_B, 4, 3, 16, "F32", False, 2, True, True, "logit_diff", ["--no-transposed"]),
    ("b_bf16", SHAPE_B, 3, 3, 7, "BF16", True, 1, False, False, "logit_diff", []),
    ("b_bf16_in_bf16", SHAPE_B, 3, 3, 7, "BF16", True, 1, False, False, "logit_diff", ["--weights", "bf16"]),
    ("b_bf16_in_bf16_scalar", SHAPE_B, 3, 3, 7, "BF16", True, 1, False, False, "logit_diff",
     ["--weights", "bf16", "--scalar", "--no-transposed", "--threads", "2"]),
    ("b_f32_noprefix", SHAPE_B, 4, 3, 16, "F32", False, 2, True, True, "logit_diff", []),
    ("b_f32_scalar", SHAPE_B, 4, 3, 16, "F32", False, 2, True, True, "logit_diff", ["--scalar"]),
]


def main():
    check_bin, out_dir = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    failed = []
    for name, shape, seed, B, T, dt, prefix, shards, lm_head, masks, kind, flags in CASES:
        d = os.path.join(out_dir, name)
        cfg = dict(shape)
        params = R.random_gpt2(cfg["L"], cfg["C"], cfg["NH"], cfg["n_pos"], cfg["V"], seed)
        stored = R.save_checkpoint(d, params, cfg, dtype=dt, prefix=prefix, shards=shards, lm_head=lm_head,
                                   mask_buffers=masks)
        g = torch.Generator().manual_seed(seed + 100)
        ids = torch.randint(0, cfg["V"], (B, T), generator=g)
        answer = torch.randint(0, cfg["V"], (B,), generator=g)
        wrong = torch.randint(0, cfg["V"], (B,), generator=g)
        ref = R.reference(stored, cfg, ids, kind, answer, wrong)
        ref_path = os.path.join(d, "reference.safetensors")
        R.write_safetensors(ref_path, ref)
        cmd = [check_bin, d, ref_path, "--metric", kind] + flags
        r = subprocess.run(cmd, capture_output=True, text=True)
        status = "passed" if r.returncode == 0 else "FAILED"
        print(f"== {name}: {status} ({' '.join(cmd[3:])})")
        if r.returncode != 0:
            print(r.stdout[-4000:], r.stderr[-2000:])
            failed.append(name)
        else:
            worst = max((float(line.split("ratio")[1]) for line in r.stdout.splitlines() if "ratio" in line),
                        default=0.0)
            print(f"   worst max|diff|/max|ref| over all tensors: {worst:.2e}")
    print(f"{len(CASES) - len(failed)} passed, {len(failed)} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
