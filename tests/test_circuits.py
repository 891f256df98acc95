"""The circuit API (relp.h, CIRCUITS) against the float64 PyTorch reference (tests/reference_circuits.py).

For each architecture (GPT-2, Llama with grouped-query attention, Qwen2, Qwen3, GPT-NeoX parallel and sequential),
tests/circuits_fixtures.py writes a small random checkpoint, SAEs of every kind (standard, topk, jumprelu; F32,
F16, BF16; with and without apply_b_dec_to_input; one on the final residual) and a batch of prompt pairs, and
computes the reference. check_circuits computes the same with the C engine. Compared:
  - feature, error, neuron and component scores for AtP, every RelP preset and IG, denoising and noising;
  - the identity sum(features) + error = the hook's node score (the reference's node score);
  - exact patching of features, error nodes, neurons, heads and MLPs;
  - faithfulness and completeness curves (features, neurons, components; at N and at thresholds; with a start
    layer), and the circuits' sizes, where the selection is not within rounding of changing;
  - every edge score for AtP, every RelP preset and IG-input, both directions; exact edge patching;
  - edge circuits' metric and faithfulness on the reference's edge sets, and the engine's own top-N edges.

    test_circuits.py CHECK_CIRCUITS OUT_DIR [ARCH ...]
"""
import functools
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import circuits_fixtures as F  # noqa: E402
from testlib import Checks, flat, run  # noqa: E402

RTOL = 2e-4  # of the largest |reference| value of an entry: float32 engine against float64


def main():
    exe, out = sys.argv[1], sys.argv[2]
    archs = sys.argv[3:] or list(F.CONFIGS)
    checks = Checks()
    ok, close = checks.ok, functools.partial(checks.close, rtol=RTOL)

    for arch in archs:
        d = os.path.join(out, arch)
        t0 = time.time()
        ref = F.make_case(d, arch, seed=3)
        t1 = time.time()
        r = run(exe, d, os.path.join(d, "c.json"))
        t2 = time.time()
        print(f"# {arch}: reference {t1 - t0:.1f} s, engine {t2 - t1:.1f} s")
        if r.returncode != 0:
            ok(False, f"{arch}: check_circuits ran", r.stderr[-2000:])
            continue
        c = json.load(open(os.path.join(d, "c.json")))
        for method in c["features"]:
            for dname in ("denoise", "noise"):
                fr, fc = ref["features"][method][dname], c["features"][method][dname]
                for hook, rv in fr.items():
                    close(fc[hook]["features"], rv["features"], f"{arch} {method} {dname} {hook} features")
                    close(fc[hook]["error"], rv["error"], f"{arch} {method} {dname} {hook} error",
                          scale=max(abs(x) for x in flat(rv["node"]) + flat(rv["error"]) + [1e-30]))
                    node = [sum(row) + e for row, e in zip(fc[hook]["features"], fc[hook]["error"])]
                    close(node, rv["node"], f"{arch} {method} {dname} {hook} sum(features) + error = node score")
                close([c["neurons"][method][dname][k] for k in sorted(c["neurons"][method][dname])],
                      [ref["neurons"][method][dname][k] for k in sorted(ref["neurons"][method][dname])],
                      f"{arch} {method} {dname} neurons")
                for part in ("heads", "mlp"):
                    close(c["components"][method][dname][part], ref["components"][method][dname][part],
                          f"{arch} {method} {dname} components {part}")
        scale = max(abs(a["score"]) for a in ref["ap"])
        for a, v in zip(ref["ap"], c["ap"]):
            close([v], [a["score"]], f"{arch} exact patching {a['node']} {a['direction']}", scale=scale)
        for cr, cc in zip(ref["circuits"], c["circuits"]):
            label = f"{arch} faithfulness {cr['nodes']} {cr['method']} {cr['direction']} start {cr['start_layer']}"
            m = cr["at_N"][0]
            close([cc["m_M"], cc["m_empty"]], [m["m_M"], m["m_empty"]], label + " m(M), m(empty)",
                  scale=max(1.0, abs(m["m_M"]), abs(m["m_empty"])))
            den = abs(m["m_M"] - m["m_empty"])
            for key in ("at_N", "at_tau"):
                for pr, pc in zip(cr[key], cc[key]):
                    at = f"N={pr['N']}" if key == "at_N" else f"tau={pr['tau']:.2g}"
                    if pr["gap"] is not None and pr["gap"] < 1e-4:
                        continue  # the selection is within rounding of changing
                    ok(pc["n_nodes"] == pr["n_nodes"], f"{label} {at} size", f"({pc['n_nodes']} vs {pr['n_nodes']})")
                    close([pc["F"], pc["completeness"]], [pr["F"], pr["completeness"]], f"{label} {at} F, completeness",
                          scale=max(1.0, abs(pr["F"]), abs(pr["completeness"])) / min(1.0, den), rtol=5e-4)
        for method in c["edges"]:
            for dname in ("denoise", "noise"):
                er, ec = ref["edges"][method][dname], c["edges"][method][dname]
                ok(set(er) == set(ec), f"{arch} {method} {dname}: the same edges", f"({len(ec)} vs {len(er)})")
                names = sorted(er)
                close([ec.get(n, float("nan")) for n in names], [er[n] for n in names], f"{arch} edges {method} {dname}")
        for method, dname in (("atp", "denoise"), ("ig-input", "noise")):  # scored in chunks of rows (4 KiB budget)
            er, ec = ref["edges"][method][dname], c["edges_chunked"][method]
            names = sorted(er)
            close([ec.get(n, float("nan")) for n in names], [er[n] for n in names],
                  f"{arch} edges {method} {dname}, in chunks of rows (scratch_kb 4)")
        scale = max(abs(a["score"]) for a in ref["edge_ap"])
        for a, v in zip(ref["edge_ap"], c["edge_ap"]):
            close([v], [a["score"]], f"{arch} exact edge patching {a['edge']} {a['direction']}", scale=scale)
        mscale = max(1.0, abs(ref["metric"]["clean_mean"]), abs(ref["metric"]["corrupt_mean"]))
        close([c["metric"]["clean_mean"], c["metric"]["corrupt_mean"]],
              [ref["metric"]["clean_mean"], ref["metric"]["corrupt_mean"]], f"{arch} metrics", scale=mscale)
        for er, ec in zip(ref["edge_circuits"], c["edge_circuits"]):
            label = f"{arch} edge circuit {er['method']} {er['direction']} top {er['N']}"
            close([ec["m_C"]], [er["m_C"]], label + " m(C)", scale=mscale)
            if er["gap"] is not None and er["gap"] > 1e-4:
                ok(set(er["edges_in_graph"]) <= set(ec["top"]), label + ": the pruned reference graph is within the "
                   "engine's top N", f"({len(ec['top'])} edges)")
    sys.exit(checks.summary_list(most=40))


if __name__ == "__main__":
    main()
