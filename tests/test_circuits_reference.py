"""Self-test of the circuit reference (tests/reference_circuits.py), standalone, float64, no C:

    /usr/bin/python3 tests/test_circuits_reference.py [OUT_DIR]

On a tiny random GPT-2 and each family (llama with grouped-query attention, qwen2, qwen3, GPT-NeoX
parallel and sequential), random SAEs of all three architectures at four hooks, and 3 prompt pairs:
- the general forward against reference.py / reference_families.py (logits, every node and its
  coefficient under every rules preset);
- splicing every SAE in changes no logit; SAE files round-trip (F32/F16/BF16);
- sum of features + error = node score at every SAE hook, sum of neurons = mlp_out's node score, for
  every method (atp, relp, relp-ln, relp-cp, attnlrp, ig, ig-input), denoising and noising;
  ig = ig-input at blocks.0.hook_resid_pre;
- exact patching of a feature, an error node, a neuron, a head and an MLP against direct arithmetic
  (another route to the same patched forward);
- F(M) = 1, F(empty) = 0, completeness(M) = 0 for saes / neurons / components, with and without
  start_layer; m(empty) against a direct whole-hook mean ablation; top-N tie order; curve node counts;
- edges, every method: sum_u score(u->v) = the score of v's input copy, sum_v score(u->v) = u's node
  score; all edges give the clean metric, none the corrupted one; pruning changes no F; exact edge
  patching and edge evaluation against a brute-force forward that builds every input copy as an
  explicit sum of upstream node outputs (which also checks which edges exist per architecture);
  AtP edge scores against central finite differences of the metric in each input copy;
- graph JSON written by the reference passes the schema checker; broken ones fail it;
- prompt files of both kinds.
Prints each check and its worst error; exits non-zero on any failure.
"""
import json
import os
import sys
import tempfile
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import circuits_fixtures as CF  # noqa: E402
import reference as R  # noqa: E402
import reference_families as FAM  # noqa: E402
import reference_circuits as RC  # noqa: E402

TOL = 1e-9
FAILED = []
WORST = {}
INFO = {}


def check(what, err, tol=TOL):
    WORST[what] = max(WORST.get(what, 0.0), err)
    if not err <= tol:
        FAILED.append(f"{what}: {err:.3e} > {tol:.0e}")
        print(f"   FAILED {what}: {err:.3e} > {tol:.0e}")


def rel(a, b, floor=1e-12):
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    return ((a - b).abs().max() / max(b.abs().max().item(), floor)).item()


def fam(arch, L, C, NH, NKV, HS, I, V, tied, **kw):
    cfg = dict(arch=arch, L=L, C=C, NH=NH, NKV=NKV, HS=HS, I=I, V=V, tied=tied, n_pos=32, eps=1e-5, theta=10000.0)
    cfg.update(kw)
    return cfg


MODELS = [  # name, cfg, seed
    ("gpt2", dict(L=2, C=16, NH=2, n_pos=16, V=64), 1),
    ("llama_gqa", fam("llama", 2, 16, 4, 2, 4, 24, 64, True), 2),
    ("qwen2", fam("qwen2", 2, 16, 4, 1, 4, 24, 64, True, eps=1e-6, theta=1e6), 3),
    ("qwen3", fam("qwen3", 2, 16, 2, 1, 8, 24, 64, False, eps=1e-6, theta=1e6), 4),
    ("gpt_neox_parallel", fam("gpt_neox", 2, 16, 2, 2, 8, 40, 64, False, rotary_pct=0.25, parallel=True,
                              act="gelu"), 5),
    ("gpt_neox_sequential", fam("gpt_neox", 2, 16, 2, 2, 8, 32, 64, False, rotary_pct=0.5, parallel=False,
                                act="gelu_new", rope_scaling={"type": "linear", "factor": 2.0}), 6),
]
SAE_SPECS = [  # hook, arch, d_sae, apply_b_dec_to_input, file dtype
    ("blocks.0.hook_resid_pre", "standard", 40, True, "F32"),
    ("blocks.0.hook_attn_out", "topk", 32, True, "F16"),
    ("blocks.0.hook_resid_post", "standard", 36, False, "BF16"),
    ("blocks.1.hook_mlp_out", "jumprelu", 48, False, "BF16"),
    ("blocks.1.hook_resid_post", "jumprelu", 40, True, "F32"),  # the final residual: scores only, not circuits
]
FINAL = "blocks.1.hook_resid_post"
METHODS = RC.GRAD_METHODS + ["ig", "ig-input"]
EDGE_METHODS = RC.GRAD_METHODS + ["ig-input"]
STEPS = 3


def params_of(name, cfg, seed):
    if name == "gpt2":
        p = R.random_gpt2(cfg["L"], cfg["C"], cfg["NH"], cfg["n_pos"], cfg["V"], seed)
    else:
        p = FAM.random_family(cfg, seed)
    return {k: v.double() for k, v in p.items()}


# ------------------------------------------------------------------------------------ forward vs references


def check_forward(name, p, cfg, model, ids):
    ans, wr = torch.tensor([1, 2, 3])[:ids.shape[0]], torch.tensor([4, 5, 6])[:ids.shape[0]]
    for preset in RC.PRESETS:
        if name == "gpt2":
            lg, cache = R.forward_rules(p, cfg, ids, R.RULES[preset])
        else:
            lg, cache, _ = FAM.forward(p, cfg, ids, FAM.RULES[preset])
        R.metric(lg, "logit_diff", ans, wr).backward()
        run = RC.forward(model, ids, preset)
        R.metric(run.logits, "logit_diff", ans, wr).backward()
        check("forward: logits vs reference.py/reference_families.py", rel(run.logits.detach(), lg.detach()), 1e-12)
        L = cfg["L"]
        pairs = [(f"blocks.{l}.{hk}", cache[nm][l]) for l in range(L) for nm, hk in
                 [("resid_pre", "hook_resid_pre"), ("z", "attn.hook_z"), ("attn_out", "hook_attn_out"),
                  ("mlp_out", "hook_mlp_out")]] + [(f"blocks.{L - 1}.hook_resid_post", cache["resid_pre"][L])]
        for hook, ref in pairs:
            check("forward: node values vs references", rel(run.acts[hook].detach(), ref.detach()), 1e-12)
            check(f"forward: node coefficients vs references ({preset})", rel(run.acts[hook].grad, ref.grad), 1e-12)


# ------------------------------------------------------------------------------------ SAEs


def make_saes(case, d, seed):
    saes = {}
    for i, (hook, arch, d_sae, abd, dt) in enumerate(SAE_SPECS):
        acts = torch.cat([case.run_clean.acts[hook].detach(), case.run_corr.acts[hook].detach()]).reshape(-1, case.model.C)
        prm = RC.random_sae(case.model.C, d_sae, arch, seed * 10 + i, acts=acts, apply_b_dec_to_input=abd,
                            k=6 if arch == "topk" else None)
        s = RC.write_sae(os.path.join(d, f"sae{i}"), hook, prm, arch, k=prm.get("k"), dtype=dt,
                         apply_b_dec_to_input=abd)
        check("SAE files: stored tensors = the dtype-rounded parameters",
              max(rel(s[n], prm[n].to(R.DTYPES[dt]).double()) for n in ("W_enc", "b_enc", "W_dec", "b_dec")), 0.0)
        f = RC.encode(s, acts)
        fire = (f > 0).double().mean().item()
        if not 0.02 < fire < 0.7:
            FAILED.append(f"SAE {arch} at {hook}: {fire:.2f} of the features fire")
        if arch == "topk":
            check("SAE topk: at most k features fire per token", max(0, int((f > 0).sum(-1).max()) - s["k"]), 0)
        if arch == "jumprelu":
            pre = RC.encode_pre(s, acts)
            naive = pre * (pre > s["threshold"]).double()
            if not (s["threshold"] < 0).any() or (naive - f).abs().max() == 0:
                FAILED.append("jumprelu SAE: no negative threshold changes ReLU(pre)[pre > th] vs pre[pre > th]")
        e = acts - RC.decode(s, f)
        fve = 1 - (e.pow(2).sum() / (acts - acts.mean(0)).pow(2).sum()).item()
        INFO.setdefault(f"SAE {arch}: share of variance explained, min/max", []).append(fve)
        INFO.setdefault(f"SAE {arch}: share of features firing, min/max", []).append(fire)
        saes[hook] = s
    loaded = RC.load_saes(d)
    check("SAE folder: load_saes finds every SAE by hook_name", abs(len(loaded) - len(saes)), 0)
    return saes


# ------------------------------------------------------------------------------------ methods_reference


def check_methods_reference(name, p, cfg, case):
    """node scores, IG, IG-input and AP of this module against reference.methods_reference (which returns
    float32: compared at 2e-6 of the largest entry)"""
    model = case.model
    run_metric = R.run_metric if name == "gpt2" else FAM.run_metric_fn(p, cfg)
    presets = R.RULES if name == "gpt2" else FAM.RULES
    ref = R.methods_reference(p, cfg, case.clean, case.corrupt, case.answer, case.wrong, STEPS, run_metric=run_metric,
                              presets=presets)
    hk = {"resid": "hook_resid_pre", "attn": "hook_attn_out", "mlp": "hook_mlp_out"}
    for dname, noising in (("denoise", False), ("noise", True)):
        for method in RC.GRAD_METHODS + ["ig", "ig-input"]:
            tag = "grad" if method == "atp" else method
            ns = RC.node_scores(case, method, noising, STEPS, hooks=[f"blocks.{l}.{k}" for l in range(model.L)
                                                                     for k in hk.values()])
            for node, k in hk.items():
                mine = torch.stack([ns[f"blocks.{l}.{k}"] for l in range(model.L)])
                check("node scores vs methods_reference (float32)", rel(mine, ref[f"{tag}.{node}.{dname}"].double()),
                      2e-6)
            cs = RC.component_scores(case, method, noising, STEPS)
            check("head scores vs methods_reference (float32)",
                  rel(cs["heads"].transpose(1, 2), ref[f"{tag}.head_pos.{dname}"].double()), 2e-6)
        ap = torch.tensor([[RC.patch_node(case, ("mlp", l, t), noising) for t in range(case.T)] for l in range(model.L)],
                          dtype=torch.float64)
        check("AP of mlp vs methods_reference (float32)", rel(ap, ref[f"ap.mlp.{dname}"].double()), 2e-6)
        ap = torch.tensor([[[RC.patch_node(case, ("head", l, t, h), noising) for t in range(case.T)]
                            for h in range(model.NH)] for l in range(model.L)], dtype=torch.float64)
        check("AP of heads vs methods_reference (float32)", rel(ap, ref[f"ap.head_pos.{dname}"].double()), 2e-6)


# ------------------------------------------------------------------------------------ brute-force graph forward


def brute_forward(model, ids, value_of, rules="grad"):
    """Every downstream node's input built as an explicit sum over its upstream nodes (graph_edges):
    input(v) = sum_u value_of(u, v, a) + the attention output biases v reads, where a holds this
    run's node outputs. Returns (logits, a)."""
    cfg = RC.graph_cfg(model)
    E = RC.graph_edges(cfg)
    ups = {}
    for name, u, v, q in E:
        ups.setdefault((v, q), []).append(u)
    rules = RC.PRESETS[rules]
    a = {"input": model.embed(ids)}
    bias = {}  # b_O reaching v

    def read(v, q, l_bias):
        x = sum(value_of(u, v + (f"<{q}>" if q else ""), a) for u in ups[(v, q)])
        for l in range(l_bias):
            x = x + model.lay[l]["bo"]
        return x
    for l in range(model.L):
        ins = {q: torch.stack([read(f"a{l}.h{h}", q, l) for h in range(model.NH)], 1) for q in "qkv"}
        z = model.heads(l, ins["q"], ins["k"], ins["v"], rules)
        res = model.head_results(l, z)
        for h in range(model.NH):
            a[f"a{l}.h{h}"] = res[:, h]
        xm = read(f"m{l}", None, l if model.parallel else l + 1)
        a[f"m{l}"] = model.mlp_out(l, model.mlp_post(l, xm, rules))
    xf = read("logits", None, model.L)
    del bias
    return model.logits(xf, rules), a


# ------------------------------------------------------------------------------------ per model


def test_model(name, cfg, seed, out):
    t0 = time.time()
    p = params_of(name, cfg, seed)
    model = RC.Model(p, cfg)
    clean, corrupt, answer, wrong = CF.random_prompts(cfg, seed + 100)
    check_forward(name, p, cfg, model, clean)
    case = RC.Case(model, clean, corrupt, answer, wrong)
    print(f"== {name}: m_clean {case.mc:+.4f}, m_corr {case.mr:+.4f}")
    if abs(case.mc - case.mr) < 1e-3:
        FAILED.append(f"{name}: m_clean - m_corr is tiny")
    saes = make_saes(case, os.path.join(out, name, "saes"), seed)

    # splicing
    run = RC.forward(model, clean, hooks=RC.splice_hooks(saes))
    check("splicing every SAE in: logits unchanged", rel(run.logits.detach(), case.run_clean.logits.detach()), 1e-12)

    # feature / error / neuron identities
    for method in METHODS:
        for noising in (False, True):
            hooks = list(saes) + [f"blocks.{l}.{k}" for l in range(model.L) for k in ("mlp.hook_post", "hook_mlp_out")] \
                + ["blocks.0.hook_resid_pre"]
            hooks = list(dict.fromkeys(hooks))
            rho = RC.coefficients(case, method, noising, STEPS, hooks)[0]
            fs = RC.feature_scores(case, saes, method, noising, rho=rho)
            for h, r in fs.items():
                check(f"sum features + error = node score ({method})", rel(r["features"].sum(1) + r["error"], r["node"]))
                check("feature scores have nonzero entries", float(r["features"].abs().max() == 0), 0)
            ns = RC.neuron_scores(case, method, noising, rho=rho)
            for l, r in ns.items():
                check(f"sum neurons = mlp_out node score ({method})", rel(r["neurons"].sum(1), r["node"]))
            if method == "ig" and noising:
                # Marks et al.'s _pe_ig_sparseact route: f and eps interpolated, x = decode(f) + eps, gradient at f
                base, src, ids = case.runs(noising)
                for h, s in saes.items():
                    fb, eb = RC.sae_split(s, base.acts[h].detach())
                    fsrc, esrc = RC.sae_split(s, src.acts[h].detach())
                    gsum = torch.zeros_like(fb)
                    for k in range(STEPS):
                        a = k / STEPS
                        f = (fb + a * (fsrc - fb)).requires_grad_(True)
                        e = eb + a * (esrc - eb)
                        r = RC.forward(model, ids, hooks={h: (lambda x, rr, f=f, e=e, s=s: RC.decode(s, f) + e)})
                        (r.metric(answer, wrong).mean() * case.scale).backward()
                        gsum += f.grad
                    check("ig feature scores vs interpolating f and eps (Marks et al.)",
                          rel(((fsrc - fb) * gsum / STEPS).sum(0), fs[h]["features"]))
            if method == "ig":
                ig0 = RC.node_scores(case, "ig", noising, hooks=["blocks.0.hook_resid_pre"], rho=rho)
                rr = RC.coefficients(case, "ig-input", noising, STEPS, ["blocks.0.hook_resid_pre"])[0]
                igi = RC.node_scores(case, "ig-input", noising, hooks=["blocks.0.hook_resid_pre"], rho=rr)
                check("ig = ig-input at blocks.0.hook_resid_pre", rel(ig0["blocks.0.hook_resid_pre"],
                                                                      igi["blocks.0.hook_resid_pre"]))

    check_methods_reference(name, p, cfg, case)

    # exact patching against direct arithmetic
    g = torch.Generator().manual_seed(seed)
    for noising in (False, True):
        base, src, ids = case.runs(noising)
        ref0 = case.mc if noising else case.mr

        def direct(hooks):
            r = RC.forward(model, ids, hooks=hooks)
            return (case.metric_mean(r) - ref0) * case.scale
        for h, s in saes.items():
            fb, eb = RC.sae_split(s, base.acts[h].detach())
            fsrc, esrc = RC.sae_split(s, src.acts[h].detach())
            changed = ((fsrc - fb).abs() > 0).nonzero().tolist()
            b_, t, i = changed[int(torch.randint(0, len(changed), (1,), generator=g))]

            def fhook(x, r, s=s, t=t, i=i, fsrc=fsrc):
                f, e = RC.sae_split(s, x)
                f[:, t, i] = fsrc[:, t, i]
                return RC.decode(s, f) + e

            def ehook(x, r, s=s, t=t, esrc=esrc):
                f, e = RC.sae_split(s, x)
                e[:, t] = esrc[:, t]
                return RC.decode(s, f) + e
            check("exact feature patching vs splice with f_i[t] replaced",
                  abs(RC.patch_node(case, ("feature", h, t, i), noising, saes) - direct({h: fhook})), 1e-10)
            check("exact error patching vs splice with eps[t] replaced",
                  abs(RC.patch_node(case, ("error", h, t), noising, saes) - direct({h: ehook})), 1e-10)
        for l in range(model.L):
            t, j, hh = int(torch.randint(0, case.T, (1,), generator=g)), int(torch.randint(0, model.I, (1,), generator=g)), \
                int(torch.randint(0, model.NH, (1,), generator=g))
            hp = f"blocks.{l}.mlp.hook_post"
            da = (src.acts[hp] - base.acts[hp]).detach()[:, t, j]

            def nhook(x, r, l=l, t=t, j=j, da=da):
                x = x.clone()
                x[:, t] = x[:, t] + da[:, None] * model.lay[l]["Wout"][j]
                return x
            check("exact neuron patching vs mlp_out + delta a_j W_out[j]",
                  abs(RC.patch_node(case, ("neuron", l, t, j), noising) - direct({f"blocks.{l}.hook_mlp_out": nhook})), 1e-10)
            hz = f"blocks.{l}.attn.hook_z"
            dz = (src.acts[hz] - base.acts[hz]).detach()[:, t, hh * model.HS:(hh + 1) * model.HS]

            def hhook(x, r, l=l, t=t, hh=hh, dz=dz):
                x = x.clone()
                x[:, t] = x[:, t] + dz @ model.lay[l]["Wo"][hh]
                return x
            check("exact head patching vs attn_out + delta z_h W_O[h]",
                  abs(RC.patch_node(case, ("head", l, t, hh), noising) - direct({f"blocks.{l}.hook_attn_out": hhook})),
                  1e-10)

    # circuits
    circuit_saes = {h: v for h, v in saes.items() if h != FINAL}
    for kind in ("saes", "neurons", "components"):
        groups = RC.node_groups(model, kind, saes=circuit_saes)
        scores = RC.group_scores(case, groups, "atp")
        for start in (None, 1):
            full = RC.select_nodes(groups, scores, N=10 ** 9, start_layer=start)
            empty = [torch.zeros(s.shape, dtype=torch.bool) for s in scores]
            fM = RC.faithfulness(case, groups, full, start)
            f0 = RC.faithfulness(case, groups, empty, start)
            check(f"F(M) = 1 ({kind})", abs(fM["F"] - 1), 1e-9)
            check(f"F(empty) = 0 ({kind})", abs(f0["F"]), 1e-12)
            check(f"completeness(M) = 0 ({kind})", abs(fM["completeness"]), 1e-12)
            check(f"completeness(empty) = 1 ({kind})", abs(f0["completeness"] - 1), 1e-9)
            n_cand = sum(s.numel() for s, c in zip(scores, RC.candidates(groups, start)) if c)
            check(f"M = every candidate ({kind})", abs(fM["n_nodes"] - n_cand), 0)
            # m(empty) by a direct whole-hook mean ablation (SAE hooks: decode(mean f) + mean eps)
            means = RC.ablation_means(case, groups)
            hooks = {}
            for gr, mu, c in zip(groups, means, RC.candidates(groups, start)):
                if c:
                    val = RC.decode(gr["sae"], mu[0]) + mu[1] if gr["kind"] == "sae" else mu
                    hooks[gr["hook"]] = (lambda x, r, v=val: v.expand_as(x).clone())
            m0 = case.metric_mean(RC.forward(model, clean, hooks=hooks))
            check(f"m(empty) vs whole-hook mean ablation ({kind})", abs(m0 - f0["m_C"]) / abs(case.mc), 1e-10)
        cur = RC.faithfulness_curve(case, groups, scores, Ns=[1, 5, 20, 100])
        ncand = sum(s.numel() for s in scores)
        check(f"curve at N: n_nodes = min(N, candidates) ({kind})",
              max(abs(c["n_nodes"] - min(c["N"], ncand)) for c in cur), 0)
        cur = RC.faithfulness_curve(case, groups, scores)
        ns = [c["n_nodes"] for c in cur]
        check(f"threshold curve: n_nodes non-increasing in tau ({kind})",
              float(any(a < b for a, b in zip(ns, ns[1:]))), 0)
        flat = torch.cat([s.reshape(-1) for s in scores]).abs()
        check(f"threshold curve: n_nodes = #(|s| >= tau) ({kind})",
              max(abs(c["n_nodes"] - int((flat >= c["tau"]).sum())) for c in cur), 0)

    # edges
    cfg_g = RC.graph_cfg(model)
    E = RC.graph_edges(cfg_g)
    per_v, per_u = {}, {}
    for n, u, v, q in E:
        per_v.setdefault(v + (f"<{q}>" if q else ""), []).append(n)
        per_u.setdefault(u, []).append(n)
    for method in EDGE_METHODS:
        for noising in (False, True):
            sc, parts = RC.edge_scores(case, method, noising, STEPS)
            top = max(abs(x) for x in sc.values())
            check(f"edges: sum_u score(u->v) = v's input copy score ({method})",
                  max(abs(sum(sc[n] for n in ns) - parts["copy"][v]) for v, ns in per_v.items()) / top)
            check(f"edges: sum_v score(u->v) = u's node score ({method})",
                  max(abs(sum(sc[n] for n in ns) - parts["node"][u]) for u, ns in per_u.items()) / top)
            if method == "atp" and not noising:
                sc_atp = sc
    # node score of u from the reference node scores (input: resid_pre[0]; heads: per-head z; m: mlp_out)
    ns = RC.node_scores(case, "atp", hooks=["blocks.0.hook_resid_pre"])
    _, parts = RC.edge_scores(case, "atp")
    check("edges: input's node score = blocks.0.hook_resid_pre node score summed",
          abs(parts["node"]["input"] - ns["blocks.0.hook_resid_pre"].sum().item()) / abs(parts["node"]["input"]))
    comp = RC.component_scores(case, "atp")
    check("edges: head node scores = component head scores summed over positions",
          max(abs(parts["node"][f"a{l}.h{h}"] - comp["heads"][l, :, h].sum().item()) for l in range(model.L)
              for h in range(model.NH)) / comp["heads"].abs().sum(1).max().item())

    # finite differences of the metric in each input copy, along delta a_u (grad only)
    base, src = case.run_corr, case.run_clean
    worst = 0.0
    for n, u, v, q in E[::max(1, len(E) // 25)]:
        key, h = RC.copy_slice(v, q)
        d = (src.node_out(u) - base.node_out(u)).detach()
        vals = []
        for eps in (1e-5, -1e-5):
            def hook(k, x, r, eps=eps):
                if k != key:
                    return x
                x = x.clone()
                if h is None:
                    x = x + eps * d
                else:
                    x[:, h] = x[:, h] + eps * d
                return x
            with torch.no_grad():
                vals.append(case.metric_mean(RC.forward(model, corrupt, copy_hook=hook)))
        fd = (vals[0] - vals[1]) / 2e-5 * case.scale
        worst = max(worst, abs(fd - sc_atp[n]) / max(abs(sc_atp[n]), 1e-3))
    check("edges: AtP scores vs central finite differences in the input copy", worst, 1e-6)

    # all / no edges; brute-force forward; exact edge patching; evaluation; pruning
    allE = {e[0] for e in E}
    mC, F_all = RC.evaluate_edges(case, allE)
    check("edge circuit: all edges give the clean metric (F = 1)", rel(mC, case.m_clean), 1e-12)
    m0, F_none = RC.evaluate_edges(case, set())
    check("edge circuit: no edges give the corrupted metric (F = 0)", rel(m0, case.m_corr), 1e-12)
    lg, a_clean = brute_forward(model, clean, lambda u, v, a: a[u])
    check("brute-force graph forward (explicit sums over graph_edges) = forward", rel(lg, case.run_clean.logits.detach()),
          1e-12)
    _, a_corr = brute_forward(model, corrupt, lambda u, v, a: a[u])
    pick = [E[i] for i in torch.randperm(len(E), generator=g)[:12].tolist()] + [e for e in E if e[2] == "logits"][:2]
    for noising in (False, True):
        a_src, ids, ref0 = (a_corr, clean, case.mc) if noising else (a_clean, corrupt, case.mr)
        a_base = a_clean if noising else a_corr
        for n, u, v, q in pick:
            vn = v + (f"<{q}>" if q else "")

            def val(uu, vv, a, n=n, u=u, vn=vn):
                return a[uu] + (a_src[uu] - a_base[uu] if (uu == u and vv == vn) else 0)
            lg, _ = brute_forward(model, ids, val)
            want = (R.metric(lg, "logit_diff", answer, wrong).item() - ref0) * case.scale
            check("exact edge patching vs brute-force forward", abs(RC.patch_edge(case, n, noising) - want), 1e-11)
    for N in (1, 3, 10, 40, len(E) // 2):
        sc = sc_atp
        e_in, n_in = RC.top_edges(cfg_g, sc, N)
        raw = {e[0] for e in sorted(E, key=lambda e: -abs(sc[e[0]]))[:N]}
        for C_, what in ((e_in, "pruned"), (raw, "unpruned")):
            lg, _ = brute_forward(model, clean, lambda uu, vv, a, C_=C_: a[uu] if f"{uu}->{vv}" in C_ else a_corr[uu])
            want = (R.metric(lg, "logit_diff", answer, wrong).mean().item() - case.mr) * case.scale
            check(f"edge circuit evaluation vs brute-force forward ({what})", abs(RC.evaluate_edges(case, C_)[1] - want),
                  1e-11)
        check("edge circuit: pruning changes no F",
              abs(RC.evaluate_edges(case, e_in)[1] - RC.evaluate_edges(case, raw)[1]), 1e-11)
        # graph JSON
        path = os.path.join(out, name, f"graph_top{N}.json")
        RC.write_graph_json(path, cfg_g, sc, e_in, n_in)
        errs = RC.check_graph_json(path, cfg=cfg_g, top=N)
        check("graph JSON written by the reference passes the checker", len(errs), 0)
        if errs:
            print("  ", errs[:3])
    check_broken_json(cfg_g, sc_atp)
    print(f"   {name}: {time.time() - t0:.1f} s")


def check_broken_json(cfg, sc):
    e_in, n_in = RC.top_edges(cfg, sc, 6)
    good = RC.graph_json(cfg, sc, e_in, n_in)
    text = json.dumps(good)
    q_edge = next(n for n in good["edges"] if n.endswith("<q>"))
    out_edge = next(n for n, u, v, q in RC.graph_edges(cfg) if not good["edges"][n]["in_graph"]
                    and not (good["nodes"][u]["in_graph"] and good["nodes"][v]["in_graph"]))
    off_node = next(n for n in good["nodes"] if not good["nodes"][n]["in_graph"])

    def mutate(f):
        d = json.loads(text)
        f(d)
        return d
    broken = {
        "an edge missing": lambda d: d["edges"].pop(q_edge),
        "a <q> suffix renamed <x>": lambda d: d["edges"].__setitem__(q_edge[:-3] + "<x>", d["edges"].pop(q_edge)),
        "a head edge without suffix": lambda d: d["edges"].__setitem__(q_edge[:-3], d["edges"].pop(q_edge)),
        "in_graph as 1": lambda d: d["edges"][q_edge].__setitem__("in_graph", 1),
        "score as a string": lambda d: d["edges"][q_edge].__setitem__("score", "0.1"),
        "score NaN": lambda d: d["edges"][q_edge].__setitem__("score", float("nan")),
        "cfg without d_model": lambda d: d["cfg"].pop("d_model"),
        "cfg n_heads wrong": lambda d: d["cfg"].__setitem__("n_heads", d["cfg"]["n_heads"] + 1),
        "parallel_attn_mlp flipped": lambda d: d["cfg"].__setitem__("parallel_attn_mlp", not d["cfg"]["parallel_attn_mlp"]),
        "logits not in graph": lambda d: d["nodes"]["logits"].__setitem__("in_graph", False),
        "a node missing": lambda d: d["nodes"].pop("m0"),
        "an extra node": lambda d: d["nodes"].__setitem__("a9.h9", {"in_graph": False}),
        "an unpruned in-graph edge": lambda d: d["edges"][out_edge].__setitem__("in_graph", True),
        "an in-graph node with no edges": lambda d: d["nodes"][off_node].__setitem__("in_graph", True),
        "an edge to a nonexistent reader": lambda d: d["edges"].__setitem__("m1->m0", {"score": 0.0, "in_graph": False}),
        "extra top-level key": lambda d: d.__setitem__("neurons", {}),
    }
    fails = 0
    for what, f in broken.items():
        d = mutate(f)
        errs = RC.check_graph_json(d, cfg=cfg if what.startswith("cfg") or what.startswith("parallel") else None,
                                   top=6 if "score" in what else None)
        if not errs:
            fails += 1
            print(f"   the checker passed a broken graph JSON: {what}")
    d = json.loads(text)
    d["edges"] = dict(reversed(list(d["edges"].items())))
    if not RC.check_graph_json(d):
        fails += 1
        print("   the checker passed edges in the wrong order")
    if RC.check_graph_json(d, check_order=False):
        fails += 1
        print("   the checker failed reordered edges with check_order=False")
    check("graph JSON checker fails every broken JSON", fails, 0)


def check_select_ties():
    """top-N ties go by node order: hooks in forward order, position, index (error last)"""
    groups = [{"hook": "blocks.0.hook_resid_pre", "kind": "sae", "n": 3}, {"hook": "blocks.1.hook_mlp_out", "kind": "mlp", "n": 1}]
    scores = [torch.tensor([[0.5, -0.5, 0.1], [0.2, 0.5, 0.5]], dtype=torch.float64),
              torch.tensor([[0.5], [-0.9]], dtype=torch.float64)]
    keep = RC.select_nodes(groups, scores, N=4)
    want = [torch.tensor([[True, True, False], [False, True, False]]), torch.tensor([[False], [True]])]
    check("top-N tie order", float(not all(torch.equal(a, b) for a, b in zip(keep, want))), 0)
    keep = RC.select_nodes(groups, scores, N=2, start_layer=1)
    check("start_layer: only later hooks are candidates", float(int(keep[0].sum()) != 0 or int(keep[1].sum()) != 2), 0)
    keep = RC.select_nodes(groups, scores, tau=0.5)
    check("threshold |s| >= tau", abs(sum(int(k.sum()) for k in keep) - 6), 0)


def check_prompts(out):
    path = os.path.join(out, "prompts.jsonl")
    with open(path, "w") as f:
        f.write(json.dumps({"clean": "When Mary", "corrupt": "When John", "answer": " Mary", "wrong": " John"}) + "\n\n")
        f.write(json.dumps({"clean_prefix": "The man", "patch_prefix": "The men", "clean_answer": " is",
                            "patch_answer": " are", "case": "singular"}) + "\n")
    got = RC.read_prompts(path)
    want = [{"clean": "When Mary", "corrupt": "When John", "answer": " Mary", "wrong": " John"},
            {"clean": "The man", "corrupt": "The men", "answer": " is", "wrong": " are"}]
    check("prompt files: relp and Marks et al. lines", float(got != want), 0)


def check_fixture(out):
    """tests/circuits_fixtures.py: the written case is self-consistent (a smoke test of its layout)"""
    for arch in ("gpt2", "llama"):
        d = os.path.join(out, "fixture_" + arch)
        r = CF.make_case(d, arch, seed=3)
        worst = 0.0
        for method, dirs in r["features"].items():
            for dname, hooks in dirs.items():
                for h, v in hooks.items():
                    f, e, n = (torch.tensor(v[k], dtype=torch.float64) for k in ("features", "error", "node"))
                    worst = max(worst, rel(f.sum(1) + e, n))
        check("fixture: sum features + error = node in reference.json", worst)
        bad = [c["graph"] for c in r["edge_circuits"] if RC.check_graph_json(os.path.join(d, c["graph"]), top=c["N"])]
        check("fixture: every graph JSON passes the checker", len(bad), 0)
        check("fixture: SAEs load from saes/ and saes_final/",
              abs(len(RC.load_saes(os.path.join(d, "saes"))) + len(RC.load_saes(os.path.join(d, "saes_final")))
                  - len(r["sae_dirs"])), 0)


def main():
    t0 = time.time()
    out = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="circuits_ref_")
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(0)
    check_select_ties()
    check_prompts(out)
    for name, cfg, seed in MODELS:
        test_model(name, cfg, seed, out)
    check_fixture(out)
    print("\nchecks (worst error):")
    for k, v in WORST.items():
        print(f"  {v:10.3e}  {k}")
    for k, v in INFO.items():
        print(f"  {min(v):.3f} / {max(v):.3f}  {k}")
    print(f"{len(FAILED)} failed; {time.time() - t0:.1f} s")
    for f in FAILED:
        print("  FAILED", f)
    sys.exit(1 if FAILED else 0)


if __name__ == "__main__":
    main()
