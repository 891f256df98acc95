"""Fixtures for comparing relp's circuit commands with the float64 reference (tests/reference_circuits.py).

    make_case(out_dir, arch, seed) -> dict        (also written to out_dir/reference.json)
    /usr/bin/python3 tests/circuits_fixtures.py OUT_DIR [ARCH ...]   (writes OUT_DIR/ARCH for each)

out_dir receives:
  model/            the checkpoint (HF layout, F32; config.json + model.safetensors)
  saes/sae_*/       SAELens SAEs, one per hook kind, mixed architectures and file dtypes:
                    blocks.0.hook_resid_pre standard F32, blocks.0.hook_resid_post standard BF16 with
                    apply_b_dec_to_input false, blocks.1.hook_attn_out topk (k = 6) F16,
                    blocks.1.hook_mlp_out jumprelu BF16 (a few negative thresholds); the circuits use these
  saes_final/sae_*/ blocks.1.hook_resid_post (the residual before the final norm) jumprelu F32: feature
                    scores and patching only (mean-ablating the final residual would make the others moot)
  prompts.json      {"clean": [[ids]], "corrupt": [[ids]], "answer": [ids], "wrong": [ids]} (no tokenizer:
                    the models have a 64-token vocabulary, so the comparison passes token ids)
  graphs/*.json     EAP-IG graph JSON of the top-N edge circuits (method, N in the name)
  reference.json    the dict returned

Every reference value is computed from the stored (dtype-rounded) weights of the model and the SAEs.
Units: the normalised metric, averaged over the prompts (relp attribute's units). Directions:
"denoise" (relp's default) and "noise". Layout of the returned dict (lists are nested JSON lists):
  arch, config, ig_steps, sae_dirs {hook: folder}, circuit_saes [hooks], prompts (as prompts.json),
  metric: {clean: [B], corrupt: [B], clean_mean, corrupt_mean}
  features[method][direction][hook] = {features: (T, d_sae), error: (T,), node: (T,)}
  neurons[method][direction][layer] = (T, I)           (layer as a string key)
  components[method][direction] = {heads: (L, T, NH) per-position head scores, mlp: (L, T)}
      methods: atp relp relp-ln relp-cp attnlrp ig ig-input
  ap: [{node: ["feature", hook, t, i] | ["error", hook, t] | ["neuron", layer, t, j] | ["head", layer, t, h]
        | ["mlp", layer, t], direction, score}]
  circuits: [{nodes: saes|neurons|components, method, direction, start_layer (null or int),
              at_N: [{N, gap, n_nodes, F, completeness, m_C, m_empty, m_M, m_comp}],
              at_tau: [{tau, gap, n_nodes, F, completeness, ...}] (taus = logspace(-4, 0, 15))}]
      gap: reference_circuits.selection_gap, how close the selection is to changing (relative to max |score|):
      skip entries whose gap is within the engine's rounding (None: N covers every node)
  edges[method][direction] = {edge name: score}         methods: atp relp relp-ln relp-cp attnlrp ig-input
  edge_ap: [{edge, direction, score}]
  edge_circuits: [{method, direction, N, gap, F, m_C, n_edges, edges_in_graph: [names], nodes_in_graph: [names],
                   graph: "graphs/<method>_<direction>_top<N>.json"}]
"""
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as R  # noqa: E402
import reference_families as FAM  # noqa: E402
import reference_circuits as RC  # noqa: E402


def _fam(arch, L, C, NH, NKV, HS, I, V, tied, **kw):
    cfg = dict(arch=arch, L=L, C=C, NH=NH, NKV=NKV, HS=HS, I=I, V=V, tied=tied, n_pos=32, eps=1e-5, theta=10000.0)
    cfg.update(kw)
    return cfg


CONFIGS = {
    "gpt2": dict(L=2, C=16, NH=2, n_pos=16, V=64),
    "llama": _fam("llama", 2, 16, 4, 2, 4, 24, 64, True),
    "qwen2": _fam("qwen2", 2, 16, 4, 1, 4, 24, 64, True, eps=1e-6, theta=1e6),
    "qwen3": _fam("qwen3", 2, 16, 2, 1, 8, 24, 64, False, eps=1e-6, theta=1e6),
    "gpt_neox": _fam("gpt_neox", 2, 16, 2, 2, 8, 40, 64, False, rotary_pct=0.25, parallel=True, act="gelu"),
    "gpt_neox_sequential": _fam("gpt_neox", 2, 16, 2, 2, 8, 32, 64, False, rotary_pct=0.5, parallel=False,
                                act="gelu_new"),
}
SAES = [  # hook, architecture, d_sae, apply_b_dec_to_input, file dtype, folder
    ("blocks.0.hook_resid_pre", "standard", 40, True, "F32", "saes"),
    ("blocks.0.hook_resid_post", "standard", 36, False, "BF16", "saes"),
    ("blocks.1.hook_attn_out", "topk", 32, True, "F16", "saes"),
    ("blocks.1.hook_mlp_out", "jumprelu", 48, True, "BF16", "saes"),
    # the last layer's resid_post (the residual before the final norm) in a folder of its own: mean-ablating
    # it would make every other SAE's circuit irrelevant, so circuits use saes/ only
    ("blocks.1.hook_resid_post", "jumprelu", 40, False, "F32", "saes_final"),
]
NODE_METHODS = RC.GRAD_METHODS + ["ig", "ig-input"]
EDGE_METHODS = RC.GRAD_METHODS + ["ig-input"]
DIRS = {"denoise": False, "noise": True}
CURVE_N = [1, 2, 5, 10, 20, 50]
EDGE_N = [1, 3, 10, 30]


def _l(t):
    return t.detach().tolist() if torch.is_tensor(t) else t


def random_prompts(cfg, seed, B=3, T=6):
    """B random prompt pairs of T token ids: clean, corrupt (two positions of each changed), answer, wrong (another
    token than the answer); torch.Generator seeded with seed"""
    g = torch.Generator().manual_seed(seed)
    clean = torch.randint(0, cfg["V"], (B, T), generator=g)
    corrupt = clean.clone()
    for b in range(B):
        for t in torch.randint(1, T, (2,), generator=g).tolist():
            corrupt[b, t] = (corrupt[b, t] + 1 + torch.randint(0, cfg["V"] - 1, (1,), generator=g)) % cfg["V"]
    answer = torch.randint(0, cfg["V"], (B,), generator=g)
    wrong = (answer + 1 + torch.randint(0, cfg["V"] - 1, (B,), generator=g)) % cfg["V"]
    return clean, corrupt, answer, wrong


def make_case(out_dir, arch="gpt2", seed=0, steps=4, B=3, T=6):
    """Writes the fixture (see the module docstring) and returns the reference dict."""
    cfg = dict(CONFIGS[arch])
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    mdir = os.path.join(out_dir, "model")
    if cfg.get("arch", "gpt2") == "gpt2":
        stored = R.save_checkpoint(mdir, R.random_gpt2(cfg["L"], cfg["C"], cfg["NH"], cfg["n_pos"], cfg["V"], seed), cfg)
    else:
        stored = FAM.save_family(mdir, cfg, FAM.random_family(cfg, seed))
    model = RC.Model(stored, cfg)
    # prompts with a clear clean - corrupt gap
    for tries in range(50):
        clean, corrupt, answer, wrong = random_prompts(cfg, seed + 7 * tries + 1000, B, T)
        case = RC.Case(model, clean, corrupt, answer, wrong)
        if abs(case.mc - case.mr) > 0.3:
            break
    prompts = {"clean": _l(clean), "corrupt": _l(corrupt), "answer": _l(answer), "wrong": _l(wrong)}
    json.dump(prompts, open(os.path.join(out_dir, "prompts.json"), "w"))
    # SAEs, fitted to this batch's activations, then read back as stored
    saes, sae_dirs = {}, {}
    for i, (hook, sarch, d_sae, abd, dt, folder) in enumerate(SAES):
        acts = torch.cat([case.run_clean.acts[hook].detach(), case.run_corr.acts[hook].detach()]).reshape(-1, model.C)
        prm = RC.random_sae(model.C, d_sae, sarch, seed * 10 + i, acts=acts, apply_b_dec_to_input=abd,
                            k=6 if sarch == "topk" else None)
        name = f"sae_{i}_{hook.replace('.', '_')}"
        saes[hook] = RC.write_sae(os.path.join(out_dir, folder, name), hook, prm, sarch, k=prm.get("k"), dtype=dt,
                                  apply_b_dec_to_input=abd)
        sae_dirs[hook] = os.path.join(folder, name)
    circuit_saes = {h: s for h, s in saes.items() if sae_dirs[h].startswith("saes/")}
    out = {"arch": arch, "config": cfg, "ig_steps": steps, "sae_dirs": sae_dirs, "circuit_saes": list(circuit_saes),
           "prompts": prompts,
           "metric": {"clean": _l(case.m_clean), "corrupt": _l(case.m_corr), "clean_mean": case.mc,
                      "corrupt_mean": case.mr}}
    # node scores
    out["features"], out["neurons"], out["components"] = {}, {}, {}
    need = list(dict.fromkeys(list(saes) + [f"blocks.{l}.{k}" for l in range(model.L)
                                            for k in ("mlp.hook_post", "hook_mlp_out", "attn.hook_z", "hook_attn_out")]))
    for method in NODE_METHODS:
        for dname, noising in DIRS.items():
            rho = RC.coefficients(case, method, noising, steps, need)[0]
            fs = RC.feature_scores(case, saes, method, noising, rho=rho)
            out["features"].setdefault(method, {})[dname] = {h: {k: _l(v) for k, v in r.items()} for h, r in fs.items()}
            ns = RC.neuron_scores(case, method, noising, rho=rho)
            out["neurons"].setdefault(method, {})[dname] = {str(l): _l(r["neurons"]) for l, r in ns.items()}
            cs = RC.component_scores(case, method, noising, rho=rho)
            out["components"].setdefault(method, {})[dname] = {"heads": _l(cs["heads"]), "mlp": _l(cs["mlp"])}
    # exact patching of a few nodes: the top features by |atp| (denoising), two error nodes, neurons, heads, an MLP
    ap_nodes = []
    fs = out["features"]["atp"]["denoise"]
    cand = sorted(((abs(v), h, t, i) for h, r in fs.items() for t, row in enumerate(r["features"])
                   for i, v in enumerate(row)), reverse=True)
    ap_nodes += [("feature", h, t, i) for _, h, t, i in cand[:6]]
    ap_nodes += [("error", h, T - 1) for h in list(saes)[:2]]
    ap_nodes += [("neuron", l, T - 1, (7 * l + 3) % model.I) for l in range(model.L)]
    ap_nodes += [("head", l, T - 1, l % model.NH) for l in range(model.L)] + [("mlp", model.L - 1, T - 2)]
    out["ap"] = [{"node": list(n), "direction": dname, "score": RC.patch_node(case, n, noising, saes)}
                 for n in ap_nodes for dname, noising in DIRS.items()]
    # circuits and faithfulness
    out["circuits"] = []
    for kind in ("saes", "neurons", "components"):
        groups = RC.node_groups(model, kind, saes=circuit_saes)
        for method, dname, start in (("atp", "denoise", None), ("relp", "denoise", None), ("ig", "denoise", None),
                                     ("relp", "noise", None), ("relp", "denoise", 1)):
            scores = RC.group_scores(case, groups, method, DIRS[dname], steps)
            out["circuits"].append({
                "nodes": kind, "method": method, "direction": dname, "start_layer": start,
                "at_N": RC.faithfulness_curve(case, groups, scores, Ns=CURVE_N, start_layer=start),
                "at_tau": RC.faithfulness_curve(case, groups, scores, start_layer=start)})
    # edges
    out["edges"] = {}
    for method in EDGE_METHODS:
        for dname, noising in DIRS.items():
            out["edges"].setdefault(method, {})[dname] = RC.edge_scores(case, method, noising, steps)[0]
    gcfg = RC.graph_cfg(model)
    E = RC.graph_edges(gcfg)
    sc = out["edges"]["atp"]["denoise"]
    pick = [e[0] for e in sorted(E, key=lambda e: -abs(sc[e[0]]))[:5]]
    pick += [E[i][0] for i in range(0, len(E), max(1, len(E) // 5))][:5]
    out["edge_ap"] = [{"edge": n, "direction": dname, "score": RC.patch_edge(case, n, noising)}
                      for n in dict.fromkeys(pick) for dname, noising in DIRS.items()]
    out["edge_circuits"] = []
    os.makedirs(os.path.join(out_dir, "graphs"))
    for method, dname in (("atp", "denoise"), ("relp", "denoise"), ("ig-input", "denoise"), ("relp", "noise")):
        sc = out["edges"][method][dname]
        for N in EDGE_N:
            e_in, n_in = RC.top_edges(gcfg, sc, N)
            mC, F = RC.evaluate_edges(case, e_in)
            g = f"graphs/{method}_{dname}_top{N}.json"
            RC.write_graph_json(os.path.join(out_dir, g), gcfg, sc, e_in, n_in)
            a = torch.tensor([abs(v) for v in sc.values()])
            out["edge_circuits"].append({"method": method, "direction": dname, "N": N, "F": F, "m_C": mC.mean().item(),
                                         "gap": RC.selection_gap(a, N=N),
                                         "n_edges": len(e_in), "edges_in_graph": sorted(e_in),
                                         "nodes_in_graph": [n for n in RC.graph_nodes(gcfg) if n in n_in], "graph": g})
    json.dump(out, open(os.path.join(out_dir, "reference.json"), "w"))
    return out


if __name__ == "__main__":
    import time
    for a in (sys.argv[2:] or list(CONFIGS)):
        t0 = time.time()
        r = make_case(os.path.join(sys.argv[1], a), a, seed=1)
        print(f"{a}: m_clean {r['metric']['clean_mean']:+.4f}, m_corr {r['metric']['corrupt_mean']:+.4f}, "
              f"{len(r['ap'])} node patches, {len(r['edge_ap'])} edge patches, {time.time() - t0:.1f} s")
