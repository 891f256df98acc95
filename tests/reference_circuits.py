"""Independent float64 PyTorch reference for relp's circuit work (docs/circuits.md):
SAE features, error nodes, neurons, components, exact patching of one node, circuits with mean
ablation and their faithfulness / completeness, EAP-IG edges (scores, exact patching, circuit
evaluation, top-N + prune, graph JSON and a schema checker), and prompt files.

It is written from the contract and the cited code, not from the C engine:
Marks et al. `saprmarks/feature-circuits` (attribution.py, ablation.py), Hanna et al.
`hannamw/EAP-IG` (src/eap/graph.py, attribute.py, evaluate.py, utils.py), SAELens (file layout,
encode/decode), TransformerLens (hook names). The rules presets are the ones of tests/reference.py
and tests/reference_families.py (forward rewrites that keep every value and change only the
backward pass); this module has its own general forward (`forward`) for GPT-2 and the four
families, checked against those two references (logits and every node's coefficient under every
preset) in tests/test_circuits_reference.py. reference.py and reference_families.py are unchanged.

Run with Debian's interpreter: /usr/bin/python3 (python3-torch).

Shapes: B prompts, T tokens, C = d_model, NH query heads, NKV key/value heads, HS head size,
I = d_mlp, L layers. Every score is in units of the normalised metric
m~ = (m - m_corr) / (m_clean - m_corr), m = logit(answer) - logit(wrong) at the last position,
averaged over the prompts (the backward seed is 1 / (B (m_clean - m_corr)) and products are
summed over the batch), exactly as `relp attribute`.

DECISIONS where the contract is silent (and what they follow)
--------------------------------------------------------------
Forward and hooks
- hook tensors (all (B, T, width)): blocks.L.hook_resid_pre, blocks.L.attn.hook_z (flattened
  (B, T, NH*HS), relp's z layout; TransformerLens's (B, T, NH, HS) viewed), blocks.L.hook_attn_out,
  blocks.L.mlp.hook_post, blocks.L.hook_mlp_out, blocks.L.hook_resid_post (last layer: the residual
  before the final norm). Forward order within a layer: resid_pre, z, attn_out, mlp.hook_post,
  mlp_out, resid_post (also for GPT-NeoX's parallel block, where attn and mlp are independent).
- A hook function fn(x, run) -> x' may replace the tensor. The value stored in run.acts[name] is
  the tensor after the hook, and its .grad after backward is the coefficient there.
- Input copies (circuits.md 5): every read of the residual stream is its own tensor:
  run.copies[("q", l)], ("k", l), ("v", l): (B, NH, T, C), one copy per query head (k and v too,
  TransformerLens's ungroup_grouped_query_attention: query head h uses key/value head
  h // (NH / NKV), repeat_kv's order), each normed on its own (LN-rule: its own scale detached);
  ("m", l): (B, T, C) the MLP's input before its norm (GPT-NeoX parallel: resid_pre of the layer);
  ("logits",): (B, T, C) the final residual (only the last position reaches the metric).
  A copy_hook(key, x, run) -> x' may modify a copy (edge patching and edge evaluation).
- Node outputs for edges: "input" = the embeddings (resid_pre of layer 0, positions included for
  GPT-2: EAP-IG's hook_embed leaves out GPT-2's positions, which are the same in both runs, so no
  difference or score changes); "a{l}.h{h}" = z_h W_O[h] without b_O (TransformerLens's
  hook_result); "m{l}" = hook_mlp_out (with its bias; biases cancel in every difference).
Methods
- "atp" (= "grad"), "relp", "relp-ln", "relp-cp", "attnlrp": one backward on the base run.
  "ig": per hook, that hook's whole tensor (every position; for an SAE every feature and the error
  at once, which is the same as interpolating f and eps linearly as Marks et al.'s _pe_ig_sparseact
  does, because decode is linear) set to base + a (src - base), a = k/steps, k = 0..steps-1, mean
  gradient. "ig-input": the embeddings interpolated the same way; every hook's and every input
  copy's mean gradient along that path times its own difference (EAP-IG's get_scores_eap_ig,
  written in relp's denoising direction).
- Denoising: base = corrupted run, src = clean run, delta = clean - corrupt. Noising: base = clean
  run, src = corrupted run, delta = corrupt - clean; both divided by (m_clean - m_corr) (relp.h).
SAEs
- topk: the k largest entries of pre (ties: the lower feature index first, a stable descending
  sort) pass through ReLU, the rest are 0. jumprelu: ReLU(pre) * [pre > threshold] (strict).
- random_sae draws W_enc, W_dec with unit-norm decoder rows and, when activations are given,
  sets b_enc (standard, topk) or the thresholds (jumprelu) from quantiles of the pre-activations
  so that about `frac` of the features fire on them; a jumprelu SAE gets a few negative
  thresholds (1 in 8 features) so that ReLU(pre)[pre > theta] and pre [pre > theta] differ there.
Exact patching of one node (circuits.md 3)
- Denoising: on the corrupted run (no SAE spliced), a feature adds (f_clean - f_corr)_i[t] W_dec[i]
  to x_h[t] (each prompt its own difference), an error node adds (eps_clean - eps_corr)[t], a
  neuron sets a_j[t] to its clean value; score (m_patched - m_corr) / (m_clean - m_corr).
  Noising: on the clean run with the corrupted values' difference (corr - clean), score
  (m_patched - m_clean) / (m_clean - m_corr), i.e. m~(patched) - 1 as relp.h's AP noising.
  Heads ("head", z of one head at one position) and MLPs (mlp_out at one position) likewise.
Circuits (circuits.md 4, Marks et al. ablation.py run_with_ablations)
- Node sets: "saes" (per SAE hook: (T, d_sae + 1), the last column the error node), "neurons"
  (mlp.hook_post of every layer: (T, I)), "components" (per layer: hook_z as (T, NH) heads, then
  hook_mlp_out as (T, 1)). Global node order for ties = groups in forward order, then position,
  then index (error last). Top-N: a stable sort of -|score|; threshold: |score| >= tau
  (ablation.py uses > tau; the contract says >=).
- Mean ablation values: the mean over the corrupted batch of f and eps (or the activation) at each
  position, from one unablated corrupted run. m(C): clean run; at every candidate hook in forward
  order f = encode(x), eps = x - decode(f) are recomputed from x as it now is, nodes outside C take
  mu, x' = decode(f') + eps'. Heads: z[:, t, head] = mu; MLP: mlp_out[:, t] = mu.
  start_layer: only groups at hooks of layer >= start_layer are candidates and ablated (a hook's
  layer is the L in its name). Completeness = F(candidates minus C).
- Threshold curve: taus = numpy.logspace(-4, 0, 15) (Marks et al.'s), in normalised units.
Edges (circuits.md 5, EAP-IG graph.py)
- Names, forward/backward indices and the edge insertion order of Graph.from_model; top-N ties go
  by EAP-IG's score-matrix flat index (forward index * n_backward + backward index), a stable sort
  (EAP-IG's torch.argsort leaves ties unspecified). apply_topn then prune() as in graph.py
  (nodes need an in-graph outgoing edge and, input excepted, an incoming one; logits always in).
- Edge evaluation (evaluate.py evaluate_graph with intervention="patching"): clean run; every input
  copy v reads x_v - sum over u with (u->v) not in C of (a_u - a_u^corr), a_u from this run. The
  C engine may skip the hooks of nodes outside the graph as EAP-IG does: the result is the same.
- Exact edge patching: on the corrupted run only v's copy reads + (a_u^clean - a_u^corr) (denoising,
  score (m - m_corr)/(m_clean - m_corr)); noising: on the clean run + (a_u^corr - a_u^clean), score
  (m - m_clean)/(m_clean - m_corr).
- Graph JSON = Graph.to_json without node scores or neurons: {"cfg": {n_layers, n_heads,
  parallel_attn_mlp, d_model}, "nodes": {name: {"in_graph": bool}} in Graph.nodes order (input,
  a0.h0.., m0, ..., logits), "edges": {name: {"score": float, "in_graph": bool}} in insertion order}.
Prompt files (circuits.md 6): read_prompts accepts both kinds of lines, mixed.
"""
import json
import math
import os
import struct

import numpy as np
import torch

import reference as R
import reference_families as FAM

PRESETS = FAM.RULES  # grad, relp, relp-ln, relp-cp, attnlrp: keys ln, act, attn, gate
METHOD_RULES = {"atp": "grad", "grad": "grad", "relp": "relp", "relp-ln": "relp-ln", "relp-cp": "relp-cp",
                "attnlrp": "attnlrp"}
GRAD_METHODS = ["atp", "relp", "relp-ln", "relp-cp", "attnlrp"]
HOOK_KINDS = ["hook_resid_pre", "attn.hook_z", "hook_attn_out", "mlp.hook_post", "hook_mlp_out", "hook_resid_post"]


# ---------------------------------------------------------------------------------------------- model


class Model:
    """GPT-2 (reference.py's parameter dict and cfg {L, C, NH, n_pos, V}) or a family
    (reference_families.py's dict and cfg with "arch"), float64, with weights laid out per head."""

    def __init__(self, p, cfg):
        p = {k: v.double() for k, v in p.items()}
        self.p, self.cfg = p, cfg
        self.arch = cfg.get("arch", "gpt2")
        a = self.arch
        self.L, self.C, self.NH = cfg["L"], cfg["C"], cfg["NH"]
        self.NKV = cfg.get("NKV", self.NH) if a not in ("gpt2", "gpt_neox") else self.NH
        self.HS = cfg.get("HS", self.C // self.NH)
        self.I = 4 * self.C if a == "gpt2" else cfg["I"]
        self.parallel = a == "gpt_neox" and bool(cfg["parallel"])
        self.eps = 1e-5 if a == "gpt2" else cfg["eps"]
        self.layernorm = a in ("gpt2", "gpt_neox")
        self.gated = a in ("llama", "qwen2", "qwen3")
        L, C, NH, NKV, HS = self.L, self.C, self.NH, self.NKV, self.HS
        def z(*shape):
            return torch.zeros(*shape, dtype=torch.float64)
        self.lay = []
        for l in range(L):
            d = {}
            if a == "gpt2":
                h = f"h.{l}."
                W, b = p[h + "attn.c_attn.weight"], p[h + "attn.c_attn.bias"]  # (C, 3C) Conv1D
                for i, w in enumerate("qkv"):
                    d["W" + w] = W[:, i * C:(i + 1) * C].reshape(C, NH, HS).permute(1, 0, 2)  # (NH, C, HS)
                    d["b" + w] = b[i * C:(i + 1) * C].reshape(NH, HS)
                d["Wo"] = p[h + "attn.c_proj.weight"].reshape(NH, HS, C)
                d["bo"] = p[h + "attn.c_proj.bias"]
                d["n1"] = (p[h + "ln_1.weight"], p[h + "ln_1.bias"])
                d["n2"] = (p[h + "ln_2.weight"], p[h + "ln_2.bias"])
                d["Win"], d["bin"] = p[h + "mlp.c_fc.weight"], p[h + "mlp.c_fc.bias"]
                d["Wout"], d["bout"] = p[h + "mlp.c_proj.weight"], p[h + "mlp.c_proj.bias"]
            elif a == "gpt_neox":
                h = f"gpt_neox.layers.{l}."
                W = p[h + "attention.query_key_value.weight"].reshape(NH, 3, HS, C)  # per head [q|k|v]
                b = p[h + "attention.query_key_value.bias"].reshape(NH, 3, HS)
                for i, w in enumerate("qkv"):
                    d["W" + w] = W[:, i].transpose(1, 2)  # (NH, C, HS)
                    d["b" + w] = b[:, i]
                d["Wo"] = p[h + "attention.dense.weight"].T.reshape(NH, HS, C)
                d["bo"] = p[h + "attention.dense.bias"]
                d["n1"] = (p[h + "input_layernorm.weight"], p[h + "input_layernorm.bias"])
                d["n2"] = (p[h + "post_attention_layernorm.weight"], p[h + "post_attention_layernorm.bias"])
                d["Win"], d["bin"] = p[h + "mlp.dense_h_to_4h.weight"].T, p[h + "mlp.dense_h_to_4h.bias"]
                d["Wout"], d["bout"] = p[h + "mlp.dense_4h_to_h.weight"].T, p[h + "mlp.dense_4h_to_h.bias"]
            else:
                h = f"model.layers.{l}."
                for w, n in zip("qkv", (NH, NKV, NKV)):
                    d["W" + w] = p[h + f"self_attn.{w}_proj.weight"].reshape(n, HS, C).transpose(1, 2)
                    bb = p.get(h + f"self_attn.{w}_proj.bias")
                    d["b" + w] = bb.reshape(n, HS) if bb is not None else z(n, HS)
                d["Wo"] = p[h + "self_attn.o_proj.weight"].T.reshape(NH, HS, C)
                d["bo"] = p.get(h + "self_attn.o_proj.bias", z(C))
                d["n1"] = (p[h + "input_layernorm.weight"], None)
                d["n2"] = (p[h + "post_attention_layernorm.weight"], None)
                if a == "qwen3":
                    d["qn"], d["kn"] = p[h + "self_attn.q_norm.weight"], p[h + "self_attn.k_norm.weight"]
                d["Wg"], d["bg"] = p[h + "mlp.gate_proj.weight"].T, p.get(h + "mlp.gate_proj.bias", z(self.I))
                d["Wu"], d["bu"] = p[h + "mlp.up_proj.weight"].T, p.get(h + "mlp.up_proj.bias", z(self.I))
                d["Wout"], d["bout"] = p[h + "mlp.down_proj.weight"].T, p.get(h + "mlp.down_proj.bias", z(C))
            self.lay.append(d)
        if a == "gpt2":
            self.nf = (p["ln_f.weight"], p["ln_f.bias"])
            self.WU = p["wte.weight"].T
        elif a == "gpt_neox":
            self.nf = (p["gpt_neox.final_layer_norm.weight"], p["gpt_neox.final_layer_norm.bias"])
            self.WU = p["embed_out.weight"].T
        else:
            self.nf = (p["model.norm.weight"], None)
            self.WU = (p["model.embed_tokens.weight"] if cfg["tied"] else p["lm_head.weight"]).T
        self.rope = a != "gpt2"
        if self.rope:
            self.rot = FAM.rotary_dims(cfg)
            self.inv = FAM.inv_freq(cfg)

    # ---- pieces (each used by forward, and by the test's brute-force graph forward)
    def embed(self, ids):
        p, T = self.p, ids.shape[1]
        if self.arch == "gpt2":
            return p["wte.weight"][ids] + p["wpe.weight"][:T]
        return p[("gpt_neox.embed_in" if self.arch == "gpt_neox" else "model.embed_tokens") + ".weight"][ids]

    def norm(self, x, w, b, rules):
        if self.layernorm:
            mu = x.mean(-1, keepdim=True)
            sd = torch.sqrt(((x - mu) ** 2).mean(-1, keepdim=True) + self.eps)
            if rules["ln"] == "sigma":
                sd = sd.detach()
            return (x - mu) / sd * w + b
        scale = torch.sqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        if rules["ln"] == "sigma":
            scale = scale.detach()
        return w * (x / scale)

    def act(self, x, rules):
        if self.arch == "gpt2" or (self.arch == "gpt_neox" and self.cfg["act"] != "gelu"):
            z = R.gelu_new(x)
        elif self.arch == "gpt_neox":
            z = 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
        else:
            z = x * torch.sigmoid(x)
        if rules["act"] != "identity":
            return z
        zp = x + ((x == 0).double() + torch.sign(x)) * 1e-6  # ModifiedAct
        return zp * (z / zp).detach()

    def heads(self, l, qin, kin, vin, rules):
        """per-query-head inputs (B, NH, T, C) each -> z (B, T, NH*HS)"""
        d, NH, HS = self.lay[l], self.NH, self.HS
        B, _, T, _ = qin.shape
        rep = NH // self.NKV
        kv = torch.arange(NH) // rep

        def proj(x, w):
            W, b = d["W" + w], d["b" + w]
            if w != "q":
                W, b = W[kv], b[kv]
            return torch.einsum("bhtc,hcd->bhtd", self.norm(x, d["n1"][0], d["n1"][1], rules), W) + b[None, :, None]

        q, k, v = proj(qin, "q"), proj(kin, "k"), proj(vin, "v")
        if self.arch == "qwen3":
            q = self.norm(q, d["qn"], None, rules)
            k = self.norm(k, d["kn"], None, rules)
        if self.rope:
            freqs = torch.outer(torch.arange(T, dtype=torch.float64), self.inv)
            emb = torch.cat((freqs, freqs), dim=-1)
            q = FAM.apply_rope(q, emb.cos(), emb.sin(), self.rot)
            k = FAM.apply_rope(k, emb.cos(), emb.sin(), self.rot)
        if rules["attn"] == "attnlrp":
            q, k, v = R.scale_grad(q, 0.25), R.scale_grad(k, 0.25), R.scale_grad(v, 0.5)
        mask = torch.tril(torch.ones(T, T, dtype=torch.bool))
        att = torch.softmax(((q @ k.transpose(-1, -2)) * HS ** -0.5).masked_fill(~mask, float("-inf")), dim=-1)
        if rules["attn"] == "frozen":
            att = att.detach()
        return (att @ v).transpose(1, 2).reshape(B, T, NH * HS)

    def head_results(self, l, z):
        """z (B, T, NH*HS) -> each head's z_h W_O[h]: (B, NH, T, C)"""
        B, T, _ = z.shape
        return torch.einsum("bthd,hdc->bhtc", z.view(B, T, self.NH, self.HS), self.lay[l]["Wo"])

    def attn_out(self, l, z):
        return z @ self.lay[l]["Wo"].reshape(self.NH * self.HS, self.C) + self.lay[l]["bo"]

    def mlp_post(self, l, x, rules):
        """the MLP input (B, T, C), before its norm -> mlp.hook_post (B, T, I)"""
        d = self.lay[l]
        m = self.norm(x, d["n2"][0], d["n2"][1], rules)
        if not self.gated:
            return self.act(m @ d["Win"] + d["bin"], rules)
        g = self.act(m @ d["Wg"] + d["bg"], rules) * (m @ d["Wu"] + d["bu"])
        if rules["gate"] == "half":
            g = g / 2.0 + (g / 2.0).detach()
        return g

    def mlp_out(self, l, post):
        return post @ self.lay[l]["Wout"] + self.lay[l]["bout"]

    def logits(self, x, rules):
        """the final residual (B, T, C) -> logits at the last position (B, V)"""
        return self.norm(x[:, -1], self.nf[0], self.nf[1], rules) @ self.WU

    def hook_width(self, name):
        kind = hook_kind(name)
        return {"attn.hook_z": self.NH * self.HS, "mlp.hook_post": self.I}.get(kind, self.C)

    def hook_names(self):
        return [f"blocks.{l}.{k}" for l in range(self.L) for k in HOOK_KINDS]


def hook_layer(name):
    return int(name.split(".")[1])


def hook_kind(name):
    return name.split(".", 2)[2]


def hook_order(name):
    return (hook_layer(name), HOOK_KINDS.index(hook_kind(name)))


class Run:
    """One forward pass: logits (B, V); acts {hook: (B, T, width)}; copies {key: tensor};
    embed (B, T, C); results {l: (B, NH, T, C)}; mlp_outs {l: (B, T, C)}."""

    def __init__(self):
        self.acts, self.copies, self.results, self.mlp_outs = {}, {}, {}, {}
        self.embed = self.logits = None

    def metric(self, answer, wrong):
        """per prompt (B,): logit(answer) - logit(wrong) at the last position"""
        b = torch.arange(len(answer))
        return self.logits[b, answer] - self.logits[b, wrong]

    def node_out(self, u):
        """an EAP-IG upstream node's output in this run: (B, T, C)"""
        if u == "input":
            return self.embed
        if u[0] == "m":
            return self.mlp_outs[int(u[1:])]
        l, h = u.split(".")
        return self.results[int(l[1:])][:, int(h[1:])]


def _g(t):
    """a tensor's gradient, zeros where nothing reached it (e.g. q and k copies under frozen attention)"""
    return t.grad.detach() if t.grad is not None else torch.zeros_like(t).detach()


def _track(x):
    if not torch.is_grad_enabled():
        return x.detach()
    if not x.requires_grad:
        x = x.detach().requires_grad_(True)
    else:
        x = x * 1.0
        x.retain_grad()
    return x


def forward(model, ids, rules="grad", hooks=None, copy_hook=None, embed=None):
    """One forward pass with rules (a PRESETS key or dict), hooks {hook name: fn(x, run) -> x}
    and copy_hook(key, x, run) -> x on every input copy; embed (B, T, C) replaces the embeddings.
    Returns a Run whose acts and copies retain their gradients."""
    m = model
    rules = PRESETS[rules] if isinstance(rules, str) else rules
    hooks = hooks or {}
    run = Run()
    x = (m.embed(ids) if embed is None else embed).detach().clone().requires_grad_(True)
    run.embed = x

    def H(name, t):
        if name in hooks:
            t = hooks[name](t, run)
        t = _track(t)
        run.acts[name] = t
        return t

    def COPY(key, t):
        t = t * 1.0
        if copy_hook is not None:
            t = copy_hook(key, t, run)
        t = _track(t)
        run.copies[key] = t
        return t

    for l in range(m.L):
        x = H(f"blocks.{l}.hook_resid_pre", x)
        xs = x.unsqueeze(1).expand(-1, m.NH, -1, -1)
        qin, kin, vin = (COPY((w, l), xs) for w in "qkv")
        z = H(f"blocks.{l}.attn.hook_z", m.heads(l, qin, kin, vin, rules))
        run.results[l] = m.head_results(l, z)
        attn_out = H(f"blocks.{l}.hook_attn_out", m.attn_out(l, z))
        if not m.parallel:
            x = x + attn_out
        post = H(f"blocks.{l}.mlp.hook_post", m.mlp_post(l, COPY(("m", l), x), rules))
        mlp_out = H(f"blocks.{l}.hook_mlp_out", m.mlp_out(l, post))
        run.mlp_outs[l] = mlp_out
        x = (mlp_out + attn_out) + x if m.parallel else x + mlp_out
        x = H(f"blocks.{l}.hook_resid_post", x)
    run.logits = m.logits(COPY(("logits",), x), rules)
    return run


# ---------------------------------------------------------------------------------------------- SAEs


def write_sae(d, hook_name, params, arch, k=None, dtype="F32", apply_b_dec_to_input=True, cfg_extra=None):
    """SAELens layout: d/cfg.json + d/sae_weights.safetensors (W_enc [d_in, d_sae], b_enc [d_sae],
    W_dec [d_sae, d_in], b_dec [d_in], threshold [d_sae] for jumprelu) in dtype (F32, F16, BF16).
    Returns the SAE as load_sae gives it (float64 of the stored, rounded values)."""
    os.makedirs(d, exist_ok=True)
    d_in, d_sae = params["W_enc"].shape
    cfg = {"architecture": arch, "d_in": int(d_in), "d_sae": int(d_sae), "hook_name": hook_name,
           "hook_layer": hook_layer(hook_name), "hook_head_index": None,
           "activation_fn_str": {"standard": "relu", "topk": "topk", "jumprelu": "relu"}[arch],
           "activation_fn_kwargs": {"k": int(k)} if arch == "topk" else {},
           "apply_b_dec_to_input": bool(apply_b_dec_to_input), "normalize_activations": "none",
           "finetuning_scaling_factor": False, "dtype": {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}[dtype],
           "device": "cpu", "model_name": "relp-test", "context_size": 128, "prepend_bos": False}
    if cfg_extra:
        cfg.update(cfg_extra)
    with open(os.path.join(d, "cfg.json"), "w") as f:
        json.dump(cfg, f, indent=1)
    names = ["W_enc", "b_enc", "W_dec", "b_dec"] + (["threshold"] if arch == "jumprelu" else [])
    stored = {n: params[n].to(R.DTYPES[dtype]).contiguous() for n in names}
    R.write_safetensors(os.path.join(d, "sae_weights.safetensors"), stored)
    return load_sae(d)


def read_safetensors(path):
    """{name: tensor as stored} (F32, F16, BF16)"""
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    out = {}
    for k, v in json.loads(data[8:8 + n]).items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = torch.frombuffer(bytearray(data[8 + n + a:8 + n + b]), dtype=R.DTYPES[v["dtype"]]).view(v["shape"])
    return out


def load_sae(d):
    """{"cfg", "arch", "hook", "k", "apply_b_dec", "W_enc", "b_enc", "W_dec", "b_dec", "threshold"} float64"""
    cfg = json.load(open(os.path.join(d, "cfg.json")))
    t = {k: v.double() for k, v in read_safetensors(os.path.join(d, "sae_weights.safetensors")).items()}
    if cfg.get("normalize_activations", "none") not in (None, "none"):
        raise ValueError(f"{d}: normalize_activations {cfg['normalize_activations']!r} is not supported")
    arch = cfg["architecture"]
    k = (cfg.get("activation_fn_kwargs") or {}).get("k") if arch == "topk" else None
    return {"cfg": cfg, "arch": arch, "hook": cfg["hook_name"], "k": k, "apply_b_dec": bool(cfg["apply_b_dec_to_input"]),
            "W_enc": t["W_enc"], "b_enc": t["b_enc"], "W_dec": t["W_dec"], "b_dec": t["b_dec"],
            "threshold": t.get("threshold")}


def load_saes(d):
    """a folder of SAE folders -> {hook name: sae}"""
    out = {}
    for n in sorted(os.listdir(d)):
        if os.path.isfile(os.path.join(d, n, "cfg.json")):
            s = load_sae(os.path.join(d, n))
            out[s["hook"]] = s
    return out


def encode_pre(sae, x):
    return (x - sae["b_dec"] if sae["apply_b_dec"] else x) @ sae["W_enc"] + sae["b_enc"]


def encode(sae, x):
    """x (..., d_in) -> f (..., d_sae)"""
    pre = encode_pre(sae, x)
    if sae["arch"] == "standard":
        return torch.relu(pre)
    if sae["arch"] == "jumprelu":
        return torch.relu(pre) * (pre > sae["threshold"]).double()
    if sae["arch"] == "topk":
        idx = torch.sort(-pre, dim=-1, stable=True).indices[..., :sae["k"]]  # ties: lower index first
        keep = torch.zeros_like(pre, dtype=torch.bool).scatter(-1, idx, True)
        return torch.where(keep, torch.relu(pre), torch.zeros_like(pre))
    raise ValueError(f"unknown SAE architecture {sae['arch']!r}")


def decode(sae, f):
    return f @ sae["W_dec"] + sae["b_dec"]


def sae_split(sae, x):
    """x -> (f, eps) with x = decode(f) + eps"""
    f = encode(sae, x)
    return f, x - decode(sae, f)


def random_sae(d_in, d_sae, arch, seed, acts=None, k=None, frac=0.25, apply_b_dec_to_input=True, ridge=0.3,
               negative_every=8):
    """SAE parameters (float64) with a healthy sparse code on acts (N, d_in) when given: about frac
    of the features fire on them (standard / jumprelu: thresholds >= 0.05, except every negative_every-th
    feature's, which is negative); topk takes k (default max(1, d_sae // 4)); the
    decoder is then the ridge regression (penalty ridge * mean diag(f'f)) of acts - b_dec on the code, so
    that the reconstruction is partial and both features and error nodes carry weight."""
    g = torch.Generator().manual_seed(seed)
    W_dec = torch.randn(d_sae, d_in, generator=g).double()
    W_dec = W_dec / W_dec.norm(dim=1, keepdim=True)
    W_enc = (W_dec.T + 0.3 * torch.randn(d_in, d_sae, generator=g).double() / d_in ** 0.5).clone()
    if acts is not None:
        acts = acts.reshape(-1, d_in).double()
        b_dec = acts.mean(0) + 0.05 * torch.randn(d_in, generator=g).double() * acts.std()
        scale = ((acts - b_dec) @ W_enc).std(0).mean()
        W_enc = W_enc / scale
        pre0 = (acts - b_dec if apply_b_dec_to_input else acts) @ W_enc
    else:
        b_dec = 0.1 * torch.randn(d_in, generator=g).double()
        pre0 = torch.randn(64, d_sae, generator=g).double()
    p = {"W_enc": W_enc, "W_dec": W_dec, "b_dec": b_dec}
    q = torch.quantile(pre0, 1.0 - frac, dim=0)
    if arch == "standard":
        p["b_enc"] = -q + 0.02 * torch.randn(d_sae, generator=g).double()
    elif arch == "topk":
        p["b_enc"] = 0.1 * torch.randn(d_sae, generator=g).double() - pre0.mean(0)
        p["k"] = k or max(1, d_sae // 4)
    elif arch == "jumprelu":
        b = 0.1 * torch.randn(d_sae, generator=g).double()
        p["b_enc"] = b
        th = (q + b).clamp(min=0.05)
        # a few negative thresholds (every negative_every-th feature; 0: none), where ReLU(pre)[pre > th]
        # differs from pre [pre > th]
        neg = (torch.arange(d_sae) % negative_every == 3) if negative_every else torch.zeros(d_sae, dtype=torch.bool)
        th[neg] = -0.05 - 0.1 * torch.rand(int(neg.sum()), generator=g).double()
        p["threshold"] = th
    else:
        raise ValueError(arch)
    if acts is not None:  # a ridge least-squares decoder for this code: a partial, not perfect, reconstruction
        f = encode(as_sae(p, arch, "", k=p.get("k"), apply_b_dec_to_input=apply_b_dec_to_input), acts)
        G = f.T @ f
        lam = ridge * G.trace() / d_sae + 1e-9
        p["W_dec"] = torch.linalg.solve(G + lam * torch.eye(d_sae, dtype=torch.float64), f.T @ (acts - b_dec))
    return p


def as_sae(params, arch, hook, k=None, apply_b_dec_to_input=True):
    """parameters -> an in-memory SAE dict (the layout load_sae returns), without rounding"""
    return {"cfg": {}, "arch": arch, "hook": hook, "k": k if k is not None else params.get("k"),
            "apply_b_dec": apply_b_dec_to_input, "W_enc": params["W_enc"], "b_enc": params["b_enc"],
            "W_dec": params["W_dec"], "b_dec": params["b_dec"], "threshold": params.get("threshold")}


def splice_hooks(saes):
    """hooks that replace x by decode(encode(x)) + (x - decode(encode(x))) at every SAE's hook"""
    def mk(s):
        def fn(x, run):
            f, e = sae_split(s, x)
            return decode(s, f) + e
        return fn
    return {h: mk(s) for h, s in saes.items()}


# ---------------------------------------------------------------------------------------------- cases


class Case:
    """A batch of prompt pairs and both unpatched runs (values only).
    clean, corrupt (B, T) ids; answer, wrong (B,) ids."""

    def __init__(self, model, clean, corrupt, answer, wrong):
        self.model = model
        self.clean, self.corrupt, self.answer, self.wrong = clean, corrupt, answer, wrong
        self.run_clean = forward(model, clean)
        self.run_corr = forward(model, corrupt)
        self.m_clean = self.run_clean.metric(answer, wrong).detach()  # (B,)
        self.m_corr = self.run_corr.metric(answer, wrong).detach()
        self.mc, self.mr = self.m_clean.mean().item(), self.m_corr.mean().item()
        self.scale = 1.0 / (self.mc - self.mr)
        self.B, self.T = clean.shape

    def runs(self, noising):
        """(base run, src run, base ids)"""
        if noising:
            return self.run_clean, self.run_corr, self.clean
        return self.run_corr, self.run_clean, self.corrupt

    def act(self, run, hook):
        return run.acts[hook].detach()

    def delta(self, hook, noising=False):
        base, src, _ = self.runs(noising)
        return src.acts[hook].detach() - base.acts[hook].detach()

    def metric_mean(self, run):
        return run.metric(self.answer, self.wrong).mean().item()


def coefficients(case, method, noising=False, steps=10, hooks=None):
    """rho on the base run: ({hook: (B, T, width)}, {copy key: tensor}, embed (B, T, C)).
    method: atp/grad, a RelP preset, "ig" (hooks only, one hook interpolated at a time) or
    "ig-input" (everything, along the embeddings' path). Seeded with 1 / (B (m_clean - m_corr))."""
    m = case.model
    base, src, ids = case.runs(noising)
    hooks = list(hooks) if hooks is not None else m.hook_names()
    if method in METHOD_RULES:
        run = forward(m, ids, METHOD_RULES[method])
        (run.metric(case.answer, case.wrong).mean() * case.scale).backward()
        return {h: _g(run.acts[h]) for h in hooks}, {k: _g(c) for k, c in run.copies.items()}, _g(run.embed)
    if method == "ig":
        rho = {}
        for h in hooks:
            b0 = base.acts[h].detach()
            dl = src.acts[h].detach() - b0
            gsum = torch.zeros_like(b0)
            for k in range(steps):
                val = b0 + (k / steps) * dl
                run = forward(m, ids, "grad", hooks={h: (lambda x, r, v=val: v.clone())})
                (run.metric(case.answer, case.wrong).mean() * case.scale).backward()
                gsum += _g(run.acts[h])
            rho[h] = gsum / steps
        return rho, {}, None
    if method == "ig-input":
        e0 = base.embed.detach()
        de = src.embed.detach() - e0
        rho, cop, eg = None, None, None
        for k in range(steps):
            run = forward(m, ids, "grad", embed=e0 + (k / steps) * de)
            (run.metric(case.answer, case.wrong).mean() * case.scale).backward()
            if rho is None:
                rho = {h: _g(run.acts[h]) for h in hooks}
                cop = {c: _g(t) for c, t in run.copies.items()}
                eg = _g(run.embed)
            else:
                for h in hooks:
                    rho[h] += _g(run.acts[h])
                for c, t in run.copies.items():
                    cop[c] += _g(t)
                eg += _g(run.embed)
        return {h: v / steps for h, v in rho.items()}, {c: v / steps for c, v in cop.items()}, eg / steps
    raise ValueError(f"unknown method {method!r}")


# ---------------------------------------------------------------------------------------------- node scores


def node_scores(case, method, noising=False, steps=10, hooks=None, rho=None):
    """{hook: (T,)}: delta x . rho summed over batch and width (relp's node score at that hook)"""
    m = case.model
    hooks = list(hooks) if hooks is not None else m.hook_names()
    rho = rho or coefficients(case, method, noising, steps, hooks)[0]
    return {h: (case.delta(h, noising) * rho[h]).sum((0, 2)) for h in hooks}


def feature_scores(case, saes, method, noising=False, steps=10, rho=None):
    """{hook: {"features": (T, d_sae), "error": (T,), "node": (T,)}} for {hook: sae}"""
    rho = rho or coefficients(case, method, noising, steps, list(saes))[0]
    base, src, _ = case.runs(noising)
    out = {}
    for h, s in saes.items():
        xb, xs = base.acts[h].detach(), src.acts[h].detach()
        fb, eb = sae_split(s, xb)
        fs, es = sae_split(s, xs)
        r = rho[h]
        out[h] = {"features": ((fs - fb) * (r @ s["W_dec"].T)).sum(0), "error": ((es - eb) * r).sum((0, 2)),
                  "node": ((xs - xb) * r).sum((0, 2))}
    return out


def neuron_scores(case, method, noising=False, steps=10, layers=None, rho=None):
    """{layer: {"neurons": (T, I), "node": mlp_out's node score (T,)}}"""
    m = case.model
    layers = list(range(m.L)) if layers is None else list(layers)
    hooks = [f"blocks.{l}.mlp.hook_post" for l in layers] + [f"blocks.{l}.hook_mlp_out" for l in layers]
    rho = rho or coefficients(case, method, noising, steps, hooks)[0]
    out = {}
    for l in layers:
        hp, ho = f"blocks.{l}.mlp.hook_post", f"blocks.{l}.hook_mlp_out"
        out[l] = {"neurons": (case.delta(hp, noising) * rho[hp]).sum(0),
                  "node": (case.delta(ho, noising) * rho[ho]).sum((0, 2))}
    return out


def component_scores(case, method, noising=False, steps=10, rho=None):
    """{"heads": (L, T, NH) per-head, per-position z scores, "mlp": (L, T) mlp_out scores,
    "attn_out": (L, T) attn_out node scores}"""
    m = case.model
    hooks = [f"blocks.{l}.{k}" for l in range(m.L) for k in ("attn.hook_z", "hook_attn_out", "hook_mlp_out")]
    rho = rho or coefficients(case, method, noising, steps, hooks)[0]
    heads, mlp, ao = [], [], []
    for l in range(m.L):
        hz = f"blocks.{l}.attn.hook_z"
        p = case.delta(hz, noising) * rho[hz]
        heads.append(p.view(case.B, case.T, m.NH, m.HS).sum((0, 3)))
        mlp.append((case.delta(f"blocks.{l}.hook_mlp_out", noising) * rho[f"blocks.{l}.hook_mlp_out"]).sum((0, 2)))
        ao.append((case.delta(f"blocks.{l}.hook_attn_out", noising) * rho[f"blocks.{l}.hook_attn_out"]).sum((0, 2)))
    return {"heads": torch.stack(heads), "mlp": torch.stack(mlp), "attn_out": torch.stack(ao)}


# ---------------------------------------------------------------------------------------------- exact patching


def _patched_score(case, hooks, noising):
    base, _, ids = case.runs(noising)
    run = forward(case.model, ids, hooks=hooks)
    mp = case.metric_mean(run)
    return (mp - (case.mc if noising else case.mr)) * case.scale


def patch_node(case, node, noising=False, saes=None):
    """Exact patching of one node, normalised (circuits.md 3). node:
    ("feature", hook, t, i), ("error", hook, t) (saes[hook] needed), ("neuron", layer, t, j),
    ("head", layer, t, h), ("mlp", layer, t)."""
    m = case.model
    base, src, _ = case.runs(noising)
    kind = node[0]
    if kind in ("feature", "error"):
        h, t = node[1], node[2]
        s = saes[h]
        fb, eb = sae_split(s, base.acts[h].detach())
        fs, es = sae_split(s, src.acts[h].detach())
        add = (fs - fb)[:, t, node[3], None] * s["W_dec"][node[3]] if kind == "feature" else (es - eb)[:, t]

        def fn(x, r):
            x = x.clone()
            x[:, t] = x[:, t] + add
            return x
        return _patched_score(case, {h: fn}, noising)
    if kind == "neuron":
        h, sl = f"blocks.{node[1]}.mlp.hook_post", (slice(None), node[2], node[3])
    elif kind == "head":
        h, sl = f"blocks.{node[1]}.attn.hook_z", (slice(None), node[2], slice(node[3] * m.HS, (node[3] + 1) * m.HS))
    elif kind == "mlp":
        h, sl = f"blocks.{node[1]}.hook_mlp_out", (slice(None), node[2])
    else:
        raise ValueError(kind)
    val = src.acts[h].detach()[sl]

    def fn(x, r):
        x = x.clone()
        x[sl] = val
        return x
    return _patched_score(case, {h: fn}, noising)


# ---------------------------------------------------------------------------------------------- circuits


def node_groups(model, kind, saes=None, layers=None):
    """the node set as groups in forward order: [{"hook", "kind" (sae|neurons|heads|mlp), "n", "sae"}]"""
    L = range(model.L) if layers is None else layers
    if kind == "saes":
        gs = [{"hook": h, "kind": "sae", "n": s["W_dec"].shape[0] + 1, "sae": s} for h, s in saes.items()]
    elif kind == "neurons":
        gs = [{"hook": f"blocks.{l}.mlp.hook_post", "kind": "neurons", "n": model.I} for l in L]
    elif kind == "components":
        gs = [g for l in L for g in ({"hook": f"blocks.{l}.attn.hook_z", "kind": "heads", "n": model.NH},
                                     {"hook": f"blocks.{l}.hook_mlp_out", "kind": "mlp", "n": 1})]
    else:
        raise ValueError(kind)
    return sorted(gs, key=lambda g: hook_order(g["hook"]))


def group_scores(case, groups, method, noising=False, steps=10):
    """[(T, n)] per group: the scores that pick circuits (features then error; neurons; heads; mlp)"""
    m = case.model
    hooks = sorted({g["hook"] for g in groups}, key=hook_order)
    rho = coefficients(case, method, noising, steps, hooks)[0]
    out = []
    for g in groups:
        h = g["hook"]
        if g["kind"] == "sae":
            r = feature_scores(case, {h: g["sae"]}, method, noising, rho=rho)[h]
            out.append(torch.cat([r["features"], r["error"][:, None]], 1))
        elif g["kind"] == "heads":
            out.append((case.delta(h, noising) * rho[h]).view(case.B, case.T, m.NH, m.HS).sum((0, 3)))
        elif g["kind"] == "neurons":
            out.append((case.delta(h, noising) * rho[h]).sum(0))
        else:
            out.append((case.delta(h, noising) * rho[h]).sum((0, 2))[:, None])
    return out


def candidates(groups, start_layer=None):
    return [start_layer is None or hook_layer(g["hook"]) >= start_layer for g in groups]


def select_nodes(groups, scores, N=None, tau=None, start_layer=None):
    """keep masks [(T, n) bool] for the top N |score| (ties: node order) or |score| >= tau, among the
    candidates (groups at layer >= start_layer); non-candidates get all-False masks (never ablated)."""
    cand = candidates(groups, start_layer)
    flat = torch.cat([s.reshape(-1) for s, c in zip(scores, cand) if c])
    keep = torch.zeros(flat.shape, dtype=torch.bool)
    if N is not None:
        order = torch.sort(-flat.abs(), stable=True).indices
        keep[order[:N]] = True
    else:
        keep = flat.abs() >= tau
    out, i = [], 0
    for s, c in zip(scores, cand):
        if c:
            out.append(keep[i:i + s.numel()].view(s.shape))
            i += s.numel()
        else:
            out.append(torch.zeros(s.shape, dtype=torch.bool))
    return out


def ablation_means(case, groups):
    """per group: mean over the corrupted batch at each position (from the unablated corrupted run):
    sae: (mu_f (T, d_sae), mu_eps (T, d_in)); others: (T, width)"""
    out = []
    for g in groups:
        x = case.run_corr.acts[g["hook"]].detach()
        if g["kind"] == "sae":
            f, e = sae_split(g["sae"], x)
            out.append((f.mean(0), e.mean(0)))
        else:
            out.append(x.mean(0))
    return out


def ablated_metric(case, groups, keep, means, start_layer=None):
    """per-prompt metric (B,) on the clean run with every candidate node outside keep mean-ablated"""
    m = case.model
    hooks = {}
    for g, k, mu, c in zip(groups, keep, means, candidates(groups, start_layer)):
        if not c:
            continue

        def fn(x, r, g=g, k=k, mu=mu):
            if g["kind"] == "sae":
                s = g["sae"]
                f, e = sae_split(s, x)
                f = torch.where(k[:, :-1], f, mu[0])
                e = torch.where(k[:, -1:], e, mu[1])
                return decode(s, f) + e
            if g["kind"] == "heads":
                return torch.where(k.repeat_interleave(m.HS, dim=1), x, mu)
            return torch.where(k, x, mu)  # neurons (T, I); mlp (T, 1) broadcast
        hooks[g["hook"]] = fn
    run = forward(m, case.clean, hooks=hooks)
    return run.metric(case.answer, case.wrong).detach()


def faithfulness(case, groups, keep, start_layer=None, means=None, base=None):
    """{"m_C", "m_empty", "m_M", "F", "m_comp", "completeness"}: means over prompts"""
    means = means or ablation_means(case, groups)
    cand = candidates(groups, start_layer)
    if base is None:
        empty = [torch.zeros(k.shape, dtype=torch.bool) for k in keep]
        base = (case.m_clean.mean().item(), ablated_metric(case, groups, empty, means, start_layer).mean().item())
    mM, m0 = base
    mC = ablated_metric(case, groups, keep, means, start_layer).mean().item()
    comp = [(~k) if c else torch.zeros(k.shape, dtype=torch.bool) for k, c in zip(keep, cand)]
    mX = ablated_metric(case, groups, comp, means, start_layer).mean().item()
    return {"m_C": mC, "m_empty": m0, "m_M": mM, "F": (mC - m0) / (mM - m0), "m_comp": mX,
            "completeness": (mX - m0) / (mM - m0), "n_nodes": int(sum(int(k.sum()) for k in keep))}


THRESHOLDS = [float(t) for t in np.logspace(-4, 0, 15)]


def faithfulness_curve(case, groups, scores, Ns=None, thresholds=None, start_layer=None):
    """[{"N" or "tau", "n_nodes", "F", "completeness", ...}] at the N list, or at thresholds (default
    logspace(-4, 0, 15)) when Ns is None"""
    means = ablation_means(case, groups)
    empty = [torch.zeros(s.shape, dtype=torch.bool) for s in scores]
    base = (case.m_clean.mean().item(), ablated_metric(case, groups, empty, means, start_layer).mean().item())
    cand = candidates(groups, start_layer)
    a = torch.cat([s.reshape(-1) for s, c in zip(scores, cand) if c]).abs()
    out = []
    if Ns is not None:
        for N in Ns:
            keep = select_nodes(groups, scores, N=N, start_layer=start_layer)
            out.append(dict(N=N, gap=selection_gap(a, N=N), **faithfulness(case, groups, keep, start_layer, means, base)))
    else:
        for tau in (thresholds or THRESHOLDS):
            keep = select_nodes(groups, scores, tau=tau, start_layer=start_layer)
            out.append(dict(tau=tau, gap=selection_gap(a, tau=tau),
                            **faithfulness(case, groups, keep, start_layer, means, base)))
    return out


def selection_gap(a, N=None, tau=None):
    """how far the selection is from changing, relative to max |score| (a: the candidates' |scores|):
    top N: (a_(N) - a_(N+1)) / max a (0: a tie at the boundary, broken by node order; None: N covers every
    node); threshold: min |a_i - tau| / max a. A comparison with a float32 engine should skip a selection
    whose gap is within its rounding."""
    top = a.max().item()
    if top == 0:
        return 0.0
    if N is not None:
        if N >= a.numel():
            return None
        v = torch.sort(a, descending=True).values
        return ((v[N - 1] - v[N]) / top).item() if N > 0 else None
    return ((a - tau).abs().min() / top).item()


# ---------------------------------------------------------------------------------------------- edges


def graph_cfg(model):
    return {"n_layers": model.L, "n_heads": model.NH, "parallel_attn_mlp": model.parallel, "d_model": model.C}


def graph_nodes(cfg):
    """EAP-IG Graph.nodes order: input, a0.h0 .. a0.h{NH-1}, m0, ..., logits"""
    out = ["input"]
    for l in range(cfg["n_layers"]):
        out += [f"a{l}.h{h}" for h in range(cfg["n_heads"])] + [f"m{l}"]
    return out + ["logits"]


def forward_index(cfg, u):
    NH = cfg["n_heads"]
    if u == "input":
        return 0
    if u == "logits":
        return 1 + cfg["n_layers"] * (NH + 1)
    if u[0] == "m":
        return 1 + int(u[1:]) * (NH + 1) + NH
    l, h = u.split(".")
    return 1 + int(l[1:]) * (NH + 1) + int(h[1:])


def backward_index(cfg, v, qkv=None):
    NH = cfg["n_heads"]
    if v == "logits":
        return cfg["n_layers"] * (3 * NH + 1)  # EAP-IG's -1
    if v[0] == "m":
        return int(v[1:]) * (3 * NH + 1) + 3 * NH
    l, h = v.split(".")
    return int(l[1:]) * (3 * NH + 1) + "qkv".index(qkv) * NH + int(h[1:])


def graph_edges(cfg):
    """[(name, u, v, qkv)] in EAP-IG Graph.from_model's insertion order"""
    edges, resid = [], ["input"]

    def add(u, v, q=None):
        edges.append((f"{u}->{v}" + (f"<{q}>" if q else ""), u, v, q))
    for l in range(cfg["n_layers"]):
        heads = [f"a{l}.h{h}" for h in range(cfg["n_heads"])]
        if cfg["parallel_attn_mlp"]:
            for u in resid:
                for a in heads:
                    for q in "qkv":
                        add(u, a, q)
                add(u, f"m{l}")
            resid += heads + [f"m{l}"]
        else:
            for u in resid:
                for a in heads:
                    for q in "qkv":
                        add(u, a, q)
            resid += heads
            for u in resid:
                add(u, f"m{l}")
            resid.append(f"m{l}")
    for u in resid:
        add(u, "logits")
    return edges


def parse_edge(name):
    """"u->v<q>" -> (u, v, "q"); "u->v" -> (u, v, None)"""
    u, v = name.split("->")
    if v.endswith(">"):
        return u, v[:-3], v[-2]
    return u, v, None


def copy_slice(v, qkv):
    """(copy key, head index or None) of an EAP-IG downstream node"""
    if v == "logits":
        return ("logits",), None
    if v[0] == "m":
        return ("m", int(v[1:])), None
    l, h = v.split(".")
    return (qkv, int(l[1:])), int(h[1:])


def _copy_of(copies, v, qkv):
    key, h = copy_slice(v, qkv)
    c = copies[key]
    return c if h is None else c[:, h]


def edge_scores(case, method, noising=False, steps=10):
    """{edge name: score} in EAP-IG's order: sum over batch and positions of delta a_u . rho_v
    (rho_v: the coefficient at v's own input copy); also returns the pieces used:
    (scores, {"copy": {v-name: (T,) score of v's input copy}, "node": {u: score summed over T}})"""
    m = case.model
    cfg = graph_cfg(m)
    base, src, _ = case.runs(noising)
    hooks = [f"blocks.{l}.{k}" for l in range(m.L) for k in ("attn.hook_z", "hook_mlp_out")]
    rho, cop, eg = coefficients(case, method, noising, steps, hooks)
    ups = [n for n in graph_nodes(cfg) if n != "logits"]
    dA = {u: src.node_out(u).detach() - base.node_out(u).detach() for u in ups}
    out = {}
    for name, u, v, q in graph_edges(cfg):
        out[name] = (dA[u] * _copy_of(cop, v, q)).sum().item()
    copy_score, node_score = {}, {}
    for v in graph_nodes(cfg)[1:]:
        for q in ("qkv" if v[0] == "a" else [None]):
            key, h = copy_slice(v, q)
            dx = src.copies[key].detach() - base.copies[key].detach()
            if h is not None:
                dx = dx[:, h]
            copy_score[v + (f"<{q}>" if q else "")] = (dx * _copy_of(cop, v, q)).sum().item()
    node_score["input"] = (dA["input"] * eg).sum().item()
    for l in range(m.L):
        hz = f"blocks.{l}.attn.hook_z"
        ph = (case.delta(hz, noising) * rho[hz]).view(case.B, case.T, m.NH, m.HS).sum((0, 1, 3))
        for h in range(m.NH):
            node_score[f"a{l}.h{h}"] = ph[h].item()
        node_score[f"m{l}"] = (case.delta(f"blocks.{l}.hook_mlp_out", noising) * rho[f"blocks.{l}.hook_mlp_out"]).sum().item()
    return out, {"copy": copy_score, "node": node_score}


def _edge_correction_hook(case, removed, corr_run):
    """copy hook: v reads x - sum over u in removed[v] of (a_u(this run) - a_u^corr)"""
    def hook(key, x, run):
        x = x.clone()
        for (k, h), us in removed.items():
            if k != key:
                continue
            d = sum(run.node_out(u) - corr_run.node_out(u).detach() for u in us)
            if h is None:
                x = x - d
            else:
                x[:, h] = x[:, h] - d
        return x
    return hook


def evaluate_edges(case, in_graph):
    """EAP-IG evaluate_graph (patching) for the edge set in_graph (names): per-prompt metric (B,)
    and F = (mean m(C) - m_corr) / (m_clean - m_corr)"""
    cfg = graph_cfg(case.model)
    removed = {}
    for name, u, v, q in graph_edges(cfg):
        if name not in in_graph:
            removed.setdefault(copy_slice(v, q), []).append(u)
    with torch.no_grad():
        run = forward(case.model, case.clean, copy_hook=_edge_correction_hook(case, removed, case.run_corr))
    mC = run.metric(case.answer, case.wrong)
    return mC, (mC.mean().item() - case.mr) * case.scale


def patch_edge(case, name, noising=False):
    """exact patching of one edge u->v, normalised as AP"""
    u, v, q = parse_edge(name)
    base, src, ids = case.runs(noising)
    key, h = copy_slice(v, q)
    add = src.node_out(u).detach() - base.node_out(u).detach()

    def hook(k, x, run):
        if k != key:
            return x
        x = x.clone()
        if h is None:
            x = x + add
        else:
            x[:, h] = x[:, h] + add
        return x
    with torch.no_grad():
        run = forward(case.model, ids, copy_hook=hook)
    return (case.metric_mean(run) - (case.mc if noising else case.mr)) * case.scale


def prune(cfg, edges_in, nodes_in=None):
    """EAP-IG Graph.prune: returns (edges in graph (set of names), nodes in graph (set, logits incl.))"""
    E = graph_edges(cfg)
    edges_in = set(edges_in)
    ups = [n for n in graph_nodes(cfg) if n != "logits"]
    nodes = set(nodes_in) if nodes_in is not None else set()
    while True:
        out_ = {u for (n, u, v, q) in E if n in edges_in}
        in_ = {v for (n, u, v, q) in E if n in edges_in}
        new = {u for u in ups if u in out_ and (u == "input" or u in in_)}
        same = new == nodes
        nodes = new
        edges_in = {n for (n, u, v, q) in E if n in edges_in and u in nodes and (v == "logits" or v in nodes)}
        if same:
            break
    return edges_in, nodes | {"logits"}


def top_edges(cfg, scores, N):
    """EAP-IG apply_topn(N, absolute=True, level="edge"): the N largest |score| (ties by the score
    matrix's flat index), then prune(). Returns (edges in graph, nodes in graph)."""
    E = graph_edges(cfg)
    nb = cfg["n_layers"] * (3 * cfg["n_heads"] + 1) + 1
    flat = sorted(E, key=lambda e: (-abs(scores[e[0]]), forward_index(cfg, e[1]) * nb + backward_index(cfg, e[2], e[3])))
    return prune(cfg, {e[0] for e in flat[:N]})


def graph_json(cfg, scores, edges_in, nodes_in):
    """the dict EAP-IG's Graph.to_json writes (no node scores, no neurons)"""
    return {"cfg": dict(cfg), "nodes": {n: {"in_graph": n == "logits" or n in nodes_in} for n in graph_nodes(cfg)},
            "edges": {e[0]: {"score": float(scores[e[0]]), "in_graph": e[0] in edges_in} for e in graph_edges(cfg)}}


def write_graph_json(path, cfg, scores, edges_in, nodes_in):
    with open(path, "w") as f:
        json.dump(graph_json(cfg, scores, edges_in, nodes_in), f)


def check_graph_json(obj, cfg=None, top=None, require_pruned=True, check_order=True):
    """Checks a graph JSON (a dict, or a path) against EAP-IG's Graph.to_json schema. Returns a list of
    problems (empty: it passes). cfg: the expected cfg (else the file's own, checked for types);
    top: N when the graph was made by --top N (in-graph edges must be prune(top-N by |score|))."""
    errs = []
    if isinstance(obj, str):
        try:
            obj = json.load(open(obj))
        except Exception as e:  # noqa: BLE001
            return [f"not JSON: {e}"]
    if not isinstance(obj, dict):
        return ["top level is not an object"]
    if set(obj) != {"cfg", "nodes", "edges"}:
        errs.append(f"top-level keys {sorted(obj)} != ['cfg', 'edges', 'nodes']")
    c = obj.get("cfg")
    want_keys = ["n_layers", "n_heads", "parallel_attn_mlp", "d_model"]
    if not isinstance(c, dict) or set(c) != set(want_keys):
        errs.append(f"cfg keys {sorted(c) if isinstance(c, dict) else c} != {sorted(want_keys)}")
        return errs
    for k in ("n_layers", "n_heads", "d_model"):
        if not isinstance(c[k], int) or isinstance(c[k], bool) or c[k] <= 0:
            errs.append(f"cfg.{k} = {c[k]!r} is not a positive integer")
    if not isinstance(c["parallel_attn_mlp"], bool):
        errs.append(f"cfg.parallel_attn_mlp = {c['parallel_attn_mlp']!r} is not a boolean")
    if errs:
        return errs
    if cfg is not None and dict(cfg) != dict(c):
        errs.append(f"cfg {c} != expected {dict(cfg)}")
    cfg = c
    nodes, edges = obj.get("nodes"), obj.get("edges")
    if not isinstance(nodes, dict) or not isinstance(edges, dict):
        return errs + ["nodes or edges is not an object"]
    want_n = graph_nodes(cfg)
    E = graph_edges(cfg)
    want_e = [e[0] for e in E]
    if set(nodes) != set(want_n):
        errs.append(f"node names: missing {sorted(set(want_n) - set(nodes))[:5]}, "
                    f"unexpected {sorted(set(nodes) - set(want_n))[:5]}")
    elif check_order and list(nodes) != want_n:
        errs.append("nodes are not in EAP-IG's order")
    if set(edges) != set(want_e):
        errs.append(f"edge names: missing {sorted(set(want_e) - set(edges))[:5]}, "
                    f"unexpected {sorted(set(edges) - set(want_e))[:5]}")
    elif check_order and list(edges) != want_e:
        errs.append("edges are not in EAP-IG's order")
    for n, d in nodes.items():
        if not isinstance(d, dict) or "in_graph" not in d or not isinstance(d["in_graph"], bool) or \
                not set(d) <= {"in_graph", "score", "neurons", "neurons_scores"}:
            errs.append(f"node {n}: {d!r} is not {{\"in_graph\": bool}}")
    if isinstance(nodes.get("logits"), dict) and nodes["logits"].get("in_graph") is not True:
        errs.append("node logits is not in_graph")
    for n, d in edges.items():
        if not isinstance(d, dict) or set(d) != {"score", "in_graph"} or not isinstance(d["in_graph"], bool) or \
                isinstance(d["score"], bool) or not isinstance(d["score"], (int, float)) or not math.isfinite(d["score"]):
            errs.append(f"edge {n}: {d!r} is not {{\"score\": finite number, \"in_graph\": bool}}")
    if errs:
        return errs
    e_in = {n for n, d in edges.items() if d["in_graph"]}
    n_in = {n for n, d in nodes.items() if d["in_graph"]}
    if require_pruned:
        pe, pn = prune(cfg, e_in)
        if pe != e_in:
            errs.append(f"in-graph edges are not pruned: e.g. {sorted(e_in ^ pe)[:3]}")
        if pn != n_in:
            errs.append(f"in-graph nodes do not match the in-graph edges: e.g. {sorted(n_in ^ pn)[:3]}")
    if top is not None:
        te, tn = top_edges(cfg, {n: d["score"] for n, d in edges.items()}, top)
        if te != e_in:
            errs.append(f"in-graph edges != prune(top {top} by |score|): e.g. {sorted(te ^ e_in)[:3]}")
    return errs


# ---------------------------------------------------------------------------------------------- prompts


def read_prompts(path):
    """relp lines {clean, corrupt, answer, wrong} and Marks et al. lines {clean_prefix, patch_prefix,
    clean_answer, patch_answer, case} (clean = clean prefix, corrupt = patch prefix, answer = clean
    answer, wrong = patch answer) -> [{"clean", "corrupt", "answer", "wrong"}]; blank lines skipped"""
    out = []
    for i, line in enumerate(open(path, encoding="utf-8"), 1):
        if not line.strip():
            continue
        d = json.loads(line)
        if all(k in d for k in ("clean", "corrupt", "answer", "wrong")):
            out.append({k: d[k] for k in ("clean", "corrupt", "answer", "wrong")})
        elif all(k in d for k in ("clean_prefix", "patch_prefix", "clean_answer", "patch_answer")):
            out.append({"clean": d["clean_prefix"], "corrupt": d["patch_prefix"], "answer": d["clean_answer"],
                        "wrong": d["patch_answer"]})
        else:
            raise ValueError(f"{path} line {i}: neither relp's keys nor Marks et al.'s")
    return out
