"""The Llama family (llama, qwen2, qwen3) and GPT-NeoX against an independent
float64 PyTorch reference (tests/reference_families.py, written from the
Hugging Face modelling code), on tiny random checkpoints with real tensor
names.

    /usr/bin/python3 tests/test_families.py CHECK_REFERENCE_BIN CHECK_METHODS_BIN OUT_DIR [RELP_BIN]

Part 1 (check_reference): logits, the metric, every cached node, attention
patterns, norm scales, and every node's coefficient under every rules preset,
to max|diff| <= 1e-4 * max|ref| per tensor. Cases cover grouped-query
attention, tied and untied embeddings, Llama 3 rope scaling, linear rope
scaling, biases, qwen3's q/k norms with head_dim * heads != hidden_size,
GPT-NeoX's parallel and sequential blocks and partial rotary, F32 / F16 / BF16
files (sharded or not), f16 / bf16 in memory, scalar kernels, threads.
Part 2 (check_methods): AP, AtP, every RelP preset, IG and IG-input for
resid / attn / mlp / heads in both directions, and token relevance, on each
architecture; AP also equal, cell by cell and bit for bit, to the plain sweep
(a fresh forward pass and one relp_forward_patched per cell) at 1 and 2
threads. With RELP_BIN, `relp info --json` of each checkpoint must count
the parameters the checkpoint holds. Exits non-zero if any case fails.
"""
import json
import os
import subprocess
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as R  # noqa: E402
import reference_families as F  # noqa: E402

LLAMA3_SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                  "original_max_position_embeddings": 16}


def shape(arch, L, C, NH, NKV, HS, I, V, tied, **kw):
    cfg = dict(arch=arch, L=L, C=C, NH=NH, NKV=NKV, HS=HS, I=I, V=V, tied=tied, n_pos=64, eps=1e-5, theta=10000.0)
    cfg.update(kw)
    return cfg


LLAMA_GQA = shape("llama", 2, 64, 4, 2, 16, 96, 512, True)
LLAMA3 = shape("llama", 2, 48, 6, 2, 8, 80, 700, False, theta=500000.0, rope_scaling=LLAMA3_SCALING)
LLAMA_BIAS = shape("llama", 2, 32, 4, 4, 8, 56, 400, True, attention_bias=True, mlp_bias=True)
QWEN2 = shape("qwen2", 2, 56, 7, 1, 8, 72, 600, True, eps=1e-6, theta=1000000.0)
QWEN3 = shape("qwen3", 2, 32, 4, 2, 16, 64, 500, False, eps=1e-6, theta=1000000.0)
NEOX = shape("gpt_neox", 2, 64, 4, 4, 16, 160, 520, False, rotary_pct=0.25, parallel=True, act="gelu")
NEOX_SEQ = shape("gpt_neox", 2, 48, 3, 3, 16, 96, 450, False, rotary_pct=0.5, parallel=False, act="gelu_new",
                 rope_scaling={"type": "linear", "factor": 2.0})

CASES = [
    # name, config, seed, B, T, file dtype, shards, metric, extra C flags
    ("llama_gqa_f32", LLAMA_GQA, 1, 2, 9, "F32", 1, "logit_diff", []),
    ("llama_gqa_f16_in_f16", LLAMA_GQA, 1, 2, 9, "F16", 1, "logit_diff", ["--weights", "f16", "--threads", "2"]),
    ("llama3_scaling_bf16_untied", LLAMA3, 2, 2, 12, "BF16", 2, "logit_diff",
     ["--weights", "bf16", "--scalar", "--no-transposed"]),
    ("llama_biases_f16", LLAMA_BIAS, 3, 3, 7, "F16", 1, "logprob", ["--threads", "2"]),
    ("qwen2_f32", QWEN2, 4, 2, 10, "F32", 1, "logit_diff", ["--no-transposed"]),
    ("qwen3_f16_untied", QWEN3, 5, 2, 8, "F16", 1, "logit_diff", ["--threads", "2"]),
    ("gpt_neox_parallel_f32", NEOX, 6, 2, 9, "F32", 2, "logit_diff", []),
    ("gpt_neox_sequential_bf16", NEOX_SEQ, 7, 2, 11, "BF16", 1, "logprob", ["--weights", "bf16", "--scalar"]),
]

METHOD_CASES = [  # name, config, seed, B, T, ig steps
    ("m_llama", LLAMA_GQA, 11, 2, 6, 3),
    ("m_qwen2", QWEN2, 12, 2, 6, 3),
    ("m_qwen3", QWEN3, 13, 2, 6, 3),
    ("m_gpt_neox", NEOX, 14, 2, 6, 3),
]


def inputs(cfg, seed, B, T):
    g = torch.Generator().manual_seed(seed + 100)
    ids = torch.randint(0, cfg["V"], (B, T), generator=g)
    return ids, torch.randint(0, cfg["V"], (B,), generator=g), torch.randint(0, cfg["V"], (B,), generator=g), g


def main():
    check_bin, methods_bin, out_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    relp_bin = sys.argv[4] if len(sys.argv) > 4 else None
    torch.manual_seed(0)
    failed, n = [], 0
    for name, cfg, seed, B, T, dt, shards, kind, flags in CASES:
        d = os.path.join(out_dir, name)
        params = F.random_family(cfg, seed)
        stored = F.save_family(d, cfg, params, dtype=dt, shards=shards)
        if relp_bin:  # the parameter count from the config alone against the tensors written
            info = json.loads(subprocess.run([relp_bin, "info", "--json", "--model", d], capture_output=True,
                                             text=True).stdout or "{}")
            want = sum(t.numel() for t in params.values())
            n += 1
            ok = info.get("n_params") == want and info.get("arch") == cfg["arch"]
            print(f"== {name}: relp info counts {info.get('n_params')} parameters, the checkpoint holds {want}: "
                  f"{'passed' if ok else 'FAILED'}")
            if not ok:
                failed.append(name + " n_params")
        ids, answer, wrong, _ = inputs(cfg, seed, B, T)
        ref = F.reference(stored, cfg, ids, kind, answer, wrong)
        ref_path = os.path.join(d, "reference.safetensors")
        R.write_safetensors(ref_path, ref)
        cmd = [check_bin, d, ref_path, "--metric", kind] + flags
        r = subprocess.run(cmd, capture_output=True, text=True)
        n += 1
        print(f"== {name}: {'passed' if r.returncode == 0 else 'FAILED'} ({' '.join(cmd[3:])})")
        if r.returncode != 0:
            print(r.stdout[-5000:], r.stderr[-2000:])
            failed.append(name)
        else:
            worst = max((float(line.split("ratio")[1]) for line in r.stdout.splitlines() if "ratio" in line),
                        default=0.0)
            checks = sum(1 for line in r.stdout.splitlines() if line.startswith("ok"))
            print(f"   {checks} tensors; worst max|diff|/max|ref|: {worst:.2e}")
    for name, cfg, seed, B, T, steps in METHOD_CASES:
        d = os.path.join(out_dir, name)
        stored = F.save_family(d, cfg, F.random_family(cfg, seed))
        clean, answer, wrong, g = inputs(cfg, seed, B, T)
        corrupt = clean.clone()
        for b in range(B):  # corrupt two positions per prompt, as IOI corruptions do
            for t in torch.randint(1, T, (2,), generator=g).tolist():
                corrupt[b, t] = torch.randint(0, cfg["V"], (1,), generator=g)
        ref = R.methods_reference(stored, cfg, clean, corrupt, answer, wrong, steps,
                                  run_metric=F.run_metric_fn(stored, cfg), presets=F.RULES)
        ref.update({"clean": clean.float(), "corrupt": corrupt.float(), "answer": answer.float(),
                    "wrong": wrong.float(), "ig_steps": torch.tensor([float(steps)])})
        path = os.path.join(d, "methods.safetensors")
        R.write_safetensors(path, ref)
        r = subprocess.run([methods_bin, d, path], capture_output=True, text=True)
        n += 1
        worst = max((float(line.split("max|diff|")[1].split()[0]) / max(float(line.split("max|ref|")[1].split()[0]),
                                                                          1e-30)
                     for line in r.stdout.splitlines() if line.startswith("ok") and "max|diff|" in line), default=0.0)
        plain = sum(1 for line in r.stdout.splitlines() if line.startswith("ok") and "the plain sweep" in line)
        print(f"== {name}: {'passed' if r.returncode == 0 else 'FAILED'}: {r.stdout.strip().splitlines()[-1]}; "
              f"worst max|diff|/max|ref|: {worst:.2e}; AP equal to the plain sweep bit for bit in {plain} entries")
        if r.returncode != 0:
            print(r.stdout[-6000:], r.stderr[-2000:])
            failed.append(name)
    print(f"{n - len(failed)} passed, {len(failed)} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
