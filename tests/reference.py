"""PyTorch reference for relp, written independently of the C code.

It builds tiny random GPT-2 checkpoints in the Hugging Face layout
(config.json + model.safetensors, optionally sharded, F32/F16/BF16, with or
without the "transformer." prefix) and computes, in float64 with autograd,
everything the C engine must reproduce: logits, every cached node, attention
patterns, LayerNorm scales and the gradient of a metric at every node.

Run with Debian's interpreter: /usr/bin/python3 (python3-torch).
"""
import json
import os
import struct

import torch
import torch.nn.functional as F

DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} in the safetensors format (no library needed)."""
    header = {}
    blobs = []
    offset = 0
    rev = {v: k for k, v in DTYPES.items()}
    rev[torch.int32] = "I32"
    for name, t in tensors.items():
        t = t.contiguous()
        raw = t.view(torch.uint8).numpy().tobytes() if t.dtype != torch.bfloat16 else \
            t.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": rev[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def random_gpt2(L, C, NH, n_pos, V, seed):
    """HF GPT-2 parameter dict (Conv1D orientation), float32."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, std=0.2, mean=0.0):
        return (torch.randn(*shape, generator=g) * std + mean).float()

    p = {"wte.weight": rnd(V, C, std=0.5), "wpe.weight": rnd(n_pos, C, std=0.3),
         "ln_f.weight": rnd(C, std=0.2, mean=1.0), "ln_f.bias": rnd(C, std=0.1)}
    for l in range(L):
        h = f"h.{l}."
        p[h + "ln_1.weight"] = rnd(C, std=0.2, mean=1.0)
        p[h + "ln_1.bias"] = rnd(C, std=0.1)
        p[h + "attn.c_attn.weight"] = rnd(C, 3 * C, std=0.6 / C ** 0.5)
        p[h + "attn.c_attn.bias"] = rnd(3 * C, std=0.1)
        p[h + "attn.c_proj.weight"] = rnd(C, C, std=1.0 / C ** 0.5)
        p[h + "attn.c_proj.bias"] = rnd(C, std=0.1)
        p[h + "ln_2.weight"] = rnd(C, std=0.2, mean=1.0)
        p[h + "ln_2.bias"] = rnd(C, std=0.1)
        p[h + "mlp.c_fc.weight"] = rnd(C, 4 * C, std=1.0 / C ** 0.5)
        p[h + "mlp.c_fc.bias"] = rnd(4 * C, std=0.1)
        p[h + "mlp.c_proj.weight"] = rnd(4 * C, C, std=0.5 / C ** 0.5)
        p[h + "mlp.c_proj.bias"] = rnd(C, std=0.1)
    return p


def save_checkpoint(d, params, cfg, dtype="F32", prefix=True, shards=1, lm_head=False, mask_buffers=False):
    """Writes params (float32) as a HF checkpoint directory; returns the params
    as the file holds them (rounded to dtype), in float64."""
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "n_layer": cfg["L"],
                   "n_head": cfg["NH"], "n_embd": cfg["C"], "n_positions": cfg["n_pos"], "n_ctx": cfg["n_pos"],
                   "vocab_size": cfg["V"], "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new"}, f)
    stored = {k: v.to(DTYPES[dtype]) for k, v in params.items()}
    named = {("transformer." + k if prefix else k): v for k, v in stored.items()}
    if lm_head:
        named["lm_head.weight"] = stored["wte.weight"].clone()
    if mask_buffers:  # old checkpoints carry the causal mask as a buffer; it must be ignored
        for l in range(cfg["L"]):
            n = cfg["n_pos"]
            named[("transformer." if prefix else "") + f"h.{l}.attn.bias"] = \
                torch.tril(torch.ones(n, n)).view(1, 1, n, n).to(DTYPES[dtype])
    names = list(named)
    if shards == 1:
        write_safetensors(os.path.join(d, "model.safetensors"), named, {"format": "pt"})
    else:
        wm = {}
        for s in range(shards):
            part = names[s::shards]
            fn = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            write_safetensors(os.path.join(d, fn), {k: named[k] for k in part}, {"format": "pt"})
            for k in part:
                wm[k] = fn
        with open(os.path.join(d, "model.safetensors.index.json"), "w") as f:
            json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, f)
    return {k: v.double() for k, v in stored.items()}


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh((2.0 / torch.pi) ** 0.5 * (x + 0.044715 * x ** 3)))


def forward(p, cfg, ids, patches=None):
    """GPT-2 forward in float64. Returns (logits at the last position, cache).
    cache holds each node as a leaf-like tensor that retains its gradient."""
    L, C, NH = cfg["L"], cfg["C"], cfg["NH"]
    HS = C // NH
    B, T = ids.shape
    eps = 1e-5
    cache = {"resid_pre": [], "z": [], "attn_out": [], "resid_mid": [], "mlp_out": [], "att": [],
             "ln1_rstd": [], "ln2_rstd": []}

    def node(name, x):
        x.retain_grad()
        cache[name].append(x)
        return x

    def ln(x, g, b):
        mu = x.mean(-1, keepdim=True)
        var = ((x - mu) ** 2).mean(-1, keepdim=True)
        return (x - mu) / torch.sqrt(var + eps) * g + b, 1.0 / torch.sqrt(var + eps)

    x = (p["wte.weight"][ids] + p["wpe.weight"][:T]).detach().requires_grad_(True)
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(L):
        h = f"h.{l}."
        x = node("resid_pre", x * 1.0)
        a, r1 = ln(x, p[h + "ln_1.weight"], p[h + "ln_1.bias"])
        cache["ln1_rstd"].append(r1.squeeze(-1).detach())
        qkv = a @ p[h + "attn.c_attn.weight"] + p[h + "attn.c_attn.bias"]
        q, k, v = qkv.split(C, dim=-1)
        q = q.view(B, T, NH, HS).transpose(1, 2)
        k = k.view(B, T, NH, HS).transpose(1, 2)
        v = v.view(B, T, NH, HS).transpose(1, 2)
        s = (q @ k.transpose(-1, -2)) / HS ** 0.5
        s = s.masked_fill(~mask, float("-inf"))
        att = torch.softmax(s, dim=-1)
        cache["att"].append(att.detach())
        z = (att @ v).transpose(1, 2).reshape(B, T, C)
        z = node("z", z)
        attn_out = node("attn_out", z @ p[h + "attn.c_proj.weight"] + p[h + "attn.c_proj.bias"])
        x = node("resid_mid", x + attn_out)
        m, r2 = ln(x, p[h + "ln_2.weight"], p[h + "ln_2.bias"])
        cache["ln2_rstd"].append(r2.squeeze(-1).detach())
        mlp_out = gelu_new(m @ p[h + "mlp.c_fc.weight"] + p[h + "mlp.c_fc.bias"]) @ p[h + "mlp.c_proj.weight"] \
            + p[h + "mlp.c_proj.bias"]
        mlp_out = node("mlp_out", mlp_out)
        x = x + mlp_out
    x = node("resid_pre", x * 1.0)
    xf, _ = ln(x[:, -1], p["ln_f.weight"], p["ln_f.bias"])
    logits = xf @ p["wte.weight"].T
    return logits, cache


def metric(logits, kind, answer, wrong):
    if kind == "logit_diff":
        return (logits[torch.arange(len(answer)), answer] - logits[torch.arange(len(wrong)), wrong]).mean()
    lp = torch.log_softmax(logits, dim=-1)
    return lp[torch.arange(len(answer)), answer].mean()


def reference(p, cfg, ids, kind, answer, wrong):
    """Everything the C engine must match, as a {name: float32 tensor} dict."""
    p = {k: v.clone().requires_grad_(False) for k, v in p.items()}
    logits, cache = forward(p, cfg, ids)
    m = metric(logits, kind, answer, wrong)
    m.backward()
    out = {"ids": ids.float(), "answer": answer.float(), "wrong": wrong.float(), "logits": logits.detach(),
           "metric": m.detach().reshape(1)}
    for name in ["resid_pre", "z", "attn_out", "resid_mid", "mlp_out"]:
        out[name] = torch.stack([t.detach() for t in cache[name]])
        out["grad_" + name] = torch.stack([t.grad for t in cache[name]])
    out["att"] = torch.stack(cache["att"])
    out["ln1_rstd"] = torch.stack(cache["ln1_rstd"])
    out["ln2_rstd"] = torch.stack(cache["ln2_rstd"])
    return {k: v.float().contiguous() for k, v in out.items()}


# ---------------------------------------------------------------- methods
# The LRP rules written as the official RelP code writes them: forward
# rewrites that keep every value and change only the backward pass.

RULES = {
    "grad": dict(ln="exact", gelu="exact", attn="exact"),
    "relp": dict(ln="sigma", gelu="identity", attn="exact"),
    "relp-ln": dict(ln="sigma", gelu="exact", attn="exact"),  # the official demo at HEAD: use_lrp set after building
    "relp-cp": dict(ln="sigma", gelu="identity", attn="frozen"),
    "attnlrp": dict(ln="sigma", gelu="identity", attn="attnlrp"),
}
NODES = {"resid": "resid_pre", "attn": "attn_out", "mlp": "mlp_out", "head": "z"}


def scale_grad(x, c):
    """value x, gradient times c"""
    return x * c + (x * (1 - c)).detach()


def forward_rules(p, cfg, ids, rules, patch=None):
    """forward() with LRP rules and an optional patch (node, layer, pos or
    None for all, head or None, values). Returns (logits at the last
    position, {node: [per-layer tensors with retained grads]})."""
    L, C, NH = cfg["L"], cfg["C"], cfg["NH"]
    HS = C // NH
    B, T = ids.shape
    eps = 1e-5
    cache = {k: [] for k in ("resid_pre", "z", "attn_out", "mlp_out")}

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

    def ln(x, g, b):
        mu = x.mean(-1, keepdim=True)
        sd = torch.sqrt(((x - mu) ** 2).mean(-1, keepdim=True) + eps)
        if rules["ln"] == "sigma":
            sd = sd.detach()
        return (x - mu) / sd * g + b

    def act(x):
        z = gelu_new(x)
        if rules["gelu"] != "identity":
            return z
        zp = x + ((x == 0).double() + torch.sign(x)) * 1e-6
        return zp * (z / zp).detach()

    x = (p["wte.weight"][ids] + p["wpe.weight"][:T]).detach().requires_grad_(True)
    mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
    for l in range(L):
        h = f"h.{l}."
        x = node("resid_pre", x)
        a = ln(x, p[h + "ln_1.weight"], p[h + "ln_1.bias"])
        q, k, v = (a @ p[h + "attn.c_attn.weight"] + p[h + "attn.c_attn.bias"]).split(C, dim=-1)
        if rules["attn"] == "attnlrp":
            q, k, v = scale_grad(q, 0.25), scale_grad(k, 0.25), scale_grad(v, 0.5)
        q, k, v = (t.view(B, T, NH, HS).transpose(1, 2) for t in (q, k, v))
        att = torch.softmax(((q @ k.transpose(-1, -2)) / HS ** 0.5).masked_fill(~mask, float("-inf")), dim=-1)
        if rules["attn"] == "frozen":
            att = att.detach()
        z = node("z", (att @ v).transpose(1, 2).reshape(B, T, C))
        x = x + node("attn_out", z @ p[h + "attn.c_proj.weight"] + p[h + "attn.c_proj.bias"])
        m = ln(x, p[h + "ln_2.weight"], p[h + "ln_2.bias"])
        x = x + node("mlp_out", act(m @ p[h + "mlp.c_fc.weight"] + p[h + "mlp.c_fc.bias"]) @ p[h + "mlp.c_proj.weight"]
                     + p[h + "mlp.c_proj.bias"])
    x = node("resid_pre", x)
    xf = ln(x[:, -1], p["ln_f.weight"], p["ln_f.bias"])
    return xf @ p["wte.weight"].T, cache


def run_metric(p, cfg, ids, answer, wrong, rules="grad", patch=None, scale=1.0, backward=False):
    logits, cache = forward_rules(p, cfg, ids, RULES[rules], patch)
    m = metric(logits, "logit_diff", answer, wrong)
    if backward:
        (m * scale).backward()
    return m.item(), cache


def reduce_scores(delta, grad, node, NH, per_pos):
    """(B, T, C) products summed to per-position, per-head or per-head-position scores"""
    prod = delta * grad
    if node != "head":
        return prod.sum(dim=(0, 2))
    B, T, C = prod.shape
    ph = prod.view(B, T, NH, C // NH).sum(dim=(0, 3))  # (T, NH)
    return ph.T if per_pos else ph.sum(0)


def methods_reference(p, cfg, clean, corrupt, answer, wrong, ig_steps):
    """AP, AtP, every RelP preset, IG, IG along the input path and token relevance, float64."""
    L, NH = cfg["L"], cfg["NH"]
    mc, cc = run_metric(p, cfg, clean, answer, wrong)
    mr, rc = run_metric(p, cfg, corrupt, answer, wrong)
    out = {"metric_clean": torch.tensor([mc]), "metric_corrupt": torch.tensor([mr])}
    T = clean.shape[1]
    for nk, nname in NODES.items():
        for per_pos in ([False, True] if nk == "head" else [True]):
            tag = nk + ("_pos" if nk == "head" and per_pos else "")
            for noising in (False, True):
                src_c, base_c, base_ids = (rc, cc, clean) if noising else (cc, rc, corrupt)
                base_v = 1.0 if noising else 0.0
                dir_tag = "noise" if noising else "denoise"
                # gradient estimators: one backward on the base run
                for preset in RULES:
                    _, cache = run_metric(p, cfg, base_ids, answer, wrong, preset, scale=1.0 / (mc - mr), backward=True)
                    out[f"{preset}.{tag}.{dir_tag}"] = torch.stack([
                        reduce_scores(src_c[nname][l].detach() - cache[nname][l].detach(), cache[nname][l].grad, nk,
                                      NH, per_pos) for l in range(L)])
                # AP
                rows = []
                for l in range(L):
                    if nk == "head":
                        cells = []
                        for hh in range(NH):
                            HS = cfg["C"] // NH
                            if per_pos:
                                cells.append([run_metric(p, cfg, base_ids, answer, wrong, patch=(
                                    nname, l, t, hh, src_c[nname][l].detach()[:, t, hh * HS:(hh + 1) * HS]))[0]
                                    for t in range(T)])
                            else:
                                cells.append(run_metric(p, cfg, base_ids, answer, wrong, patch=(
                                    nname, l, None, hh, src_c[nname][l].detach()[:, :, hh * HS:(hh + 1) * HS]))[0])
                        rows.append(torch.tensor(cells, dtype=torch.float64))
                    else:
                        rows.append(torch.tensor([run_metric(p, cfg, base_ids, answer, wrong, patch=(
                            nname, l, t, None, src_c[nname][l].detach()[:, t]))[0] for t in range(T)],
                            dtype=torch.float64))
                out[f"ap.{tag}.{dir_tag}"] = (torch.stack(rows) - mr) / (mc - mr) - base_v
                # IG: per layer, node = base + a (src - base), a = k / steps
                rows = []
                for l in range(L):
                    bl = base_c[nname][l].detach()
                    delta = src_c[nname][l].detach() - bl
                    gsum = torch.zeros_like(bl)
                    for k in range(ig_steps):
                        _, cache = run_metric(p, cfg, base_ids, answer, wrong, "grad",
                                              patch=(nname, l, None, None, bl + (k / ig_steps) * delta),
                                              scale=1.0 / (mc - mr), backward=True)
                        gsum += cache[nname][l].grad
                    rows.append(reduce_scores(delta, gsum / ig_steps, nk, NH, per_pos))
                out[f"ig.{tag}.{dir_tag}"] = torch.stack(rows)
                # IG along the input path (EAP-IG): embeddings = base + a (src - base), every layer's gradient
                e0 = base_c["resid_pre"][0].detach()
                de = src_c["resid_pre"][0].detach() - e0
                gsums = [torch.zeros_like(base_c[nname][l]) for l in range(L)]
                for k in range(ig_steps):
                    _, cache = run_metric(p, cfg, base_ids, answer, wrong, "grad",
                                          patch=("resid_pre", 0, None, None, e0 + (k / ig_steps) * de),
                                          scale=1.0 / (mc - mr), backward=True)
                    for l in range(L):
                        gsums[l] += cache[nname][l].grad
                out[f"ig-input.{tag}.{dir_tag}"] = torch.stack([
                    reduce_scores(src_c[nname][l].detach() - base_c[nname][l].detach(), gsums[l] / ig_steps, nk, NH,
                                  per_pos) for l in range(L)])
    for preset in RULES:  # token relevance on the clean prompts, metric units
        logits, cache = forward_rules(p, cfg, clean, RULES[preset])
        m = metric(logits, "logit_diff", answer, wrong)
        m.backward()
        x0 = cache["resid_pre"][0]
        out[f"tokens.{preset}"] = (x0.detach() * x0.grad).sum(-1) * clean.shape[0]
    return {k: v.float().contiguous() for k, v in out.items()}
