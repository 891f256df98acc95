"""relp features, relp faithfulness, relp edges and relp info --saes on the bundled model, against the float64
reference (tests/reference_circuits.py) computed here from the same checkpoint, prompts and SAEs, and every bad
input of the circuit commands.

The SAEs are made here (reference_circuits.random_sae on the model's own activations: topk, standard and jumprelu
at three hooks, F32, F16 and BF16 files); the bundled model's trained SAEs are checked by tests/test_models_small.py.

    test_circuits_cli.py RELP_BIN OUT_DIR MODELS_DIR
"""
import json
import os
import shutil
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference_circuits as RC  # noqa: E402
import testlib  # noqa: E402
from testlib import Checks, flat  # noqa: E402

RELP, OUT, MODELS = sys.argv[1], sys.argv[2], sys.argv[3]
MODEL = os.path.join(MODELS, "ioi-4l")
checks = Checks()
ok, close = checks.ok, checks.close


def relp(*args, expect=0, label=None):
    r = testlib.run(RELP, *args, timeout=900)
    if expect is not None and r.returncode != expect:
        ok(False, label or " ".join(args[:3]), f"exit {r.returncode}, expected {expect}: {r.stderr[-1500:]}")
    return r


shutil.rmtree(OUT, ignore_errors=True)
os.makedirs(OUT)

# ---------------------------------------------------------------- the model and prompts in the reference
cfgj = json.load(open(os.path.join(MODEL, "config.json")))
cfg = {"L": cfgj["n_layer"], "C": cfgj["n_embd"], "NH": cfgj["n_head"], "n_pos": cfgj["n_positions"],
       "V": cfgj["vocab_size"]}
p = {k[len("transformer."):] if k.startswith("transformer.") else k: v
     for k, v in RC.read_safetensors(os.path.join(MODEL, "model.safetensors")).items()}
model = RC.Model(p, cfg)
names = [(" Mary", " John"), (" Sarah", " Tom"), (" Alice", " Bob"), (" Emma", " James")]
pairs = [{"clean": f"When{a[1]} and{a[0]} went to the shops,{a[1]} gave the bag to",
          "corrupt": f"When{a[1]} and{a[0]} went to the shops,{a[0]} gave the bag to", "answer": a[0], "wrong": a[1]}
         for a in names]
longer = {"clean": "When John and Mary went to the big shops, John gave the bag to",
          "corrupt": "When John and Mary went to the big shops, Mary gave the bag to", "answer": " Mary",
          "wrong": " John"}
pfile = os.path.join(OUT, "prompts.jsonl")
with open(pfile, "w") as f:
    for q in pairs + [longer]:
        f.write(json.dumps(q) + "\n")


def ids_of(text, bos=True):
    r = relp("tokenize", "--model", MODEL, "--prompt", text, "--json", *([] if bos else ["--no-bos"]))
    return json.loads(r.stdout)["tokens"]


clean = torch.tensor([ids_of(q["clean"]) for q in pairs])
corrupt = torch.tensor([ids_of(q["corrupt"]) for q in pairs])
answer = torch.tensor([ids_of(q["answer"], False)[0] for q in pairs])
wrong = torch.tensor([ids_of(q["wrong"], False)[0] for q in pairs])
case = RC.Case(model, clean, corrupt, answer, wrong)
B, T = clean.shape
print(f"# {B} prompts of {T} tokens: metric clean {case.mc:.4f}, corrupted {case.mr:.4f}")

# SAEs fitted to the model's activations on these prompts
sdir = os.path.join(OUT, "saes")
saes = {}
# (a wide topk SAE with few features active, where the scores take the sparse path: a dot product per feature that
# differs between the runs, and narrower ones with many active, where they take one dense product)
for i, (hook, arch, d_sae, dt, k) in enumerate([("blocks.2.hook_resid_pre", "topk", 96, "F32", 12),
                                                 ("blocks.1.hook_attn_out", "standard", 80, "F16", None),
                                                 ("blocks.3.hook_mlp_out", "jumprelu", 64, "BF16", None),
                                                 ("blocks.0.hook_mlp_out", "topk", 320, "F32", 6)]):
    acts = torch.cat([case.run_clean.acts[hook].detach(), case.run_corr.acts[hook].detach()]).reshape(-1, model.C)
    prm = RC.random_sae(model.C, d_sae, arch, 40 + i, acts=acts, k=k)
    saes[hook] = RC.write_sae(os.path.join(sdir, f"sae{i}"), hook, prm, arch, k=prm.get("k"), dtype=dt)
saes = dict(sorted(saes.items(), key=lambda kv: RC.hook_order(kv[0])))

# ---------------------------------------------------------------- relp features
r = relp("features", "--model", MODEL, "--saes", sdir, "--prompts", pfile, "--method", "relp", "--top", "10",
         "--validate", "6", "--json", "-")
ok("4 prompts of 15 tokens (the most common length); 1 of other lengths are left out" in r.stderr.replace(
   "using the ", "") or "left out" in r.stderr, "features --prompts of mixed lengths: says which length it keeps",
   f"({r.stderr.strip()[:200]})")
js = json.loads(r.stdout)
ref = RC.feature_scores(case, saes, "relp")
ok([h["hook"] for h in js["hooks"]] == list(saes), "features: the SAEs' hooks in forward order",
   f"({[h['hook'] for h in js['hooks']]})")
for h in js["hooks"]:
    close(h["scores"], ref[h["hook"]]["features"], f"features relp {h['hook']}")
    close(h["error"], ref[h["hook"]]["error"], f"features relp {h['hook']} error node",
          scale=max(flat(ref[h["hook"]]["node"].abs())))
    close([sum(row) + e for row, e in zip(h["scores"], h["error"])], ref[h["hook"]]["node"],
          f"features relp {h['hook']}: sum(features) + error = the hook's node score")
close([js["metric_clean"], js["metric_corrupt"]], [case.mc, case.mr], "features: the metrics", scale=abs(case.mc))
tops = [abs(t["score"]) for t in js["top"]]
ok(tops == sorted(tops, reverse=True) and len(tops) == 10, "features --top 10: ten nodes by |score|")
ap = [RC.patch_node(case, ("error", v["hook"], v["position"]) if v["feature"] < 0 else
                    ("feature", v["hook"], v["position"], v["feature"]), False, saes) for v in js["validated"]]
close([v["ap"] for v in js["validated"]], ap, "features --validate 6: exact patching", scale=max(abs(x) for x in ap))

for method, extra in (("atp", []), ("ig", ["--steps", "4"])):
    r = relp("features", "--model", MODEL, "--neurons", "--prompts", pfile, "--method", method, *extra, "--top", "0",
             "--json", "-")
    js = json.loads(r.stdout)
    ref = RC.neuron_scores(case, method, steps=4)
    close([h["scores"] for h in js["hooks"]], [ref[l]["neurons"] for l in range(model.L)], f"features --neurons {method}")
    ok(all(h["error"] is None and h["width"] == model.I for h in js["hooks"]), "neurons: width I, no error nodes")
    r = relp("features", "--model", MODEL, "--components", "--prompts", pfile, "--method", method, *extra, "--top",
             "0", "--json", "-")
    js = json.loads(r.stdout)
    ref = RC.component_scores(case, method, steps=4)
    close([js["hooks"][2 * l]["scores"] for l in range(model.L)], ref["heads"], f"features --components {method} heads")
    close([[row[0] for row in js["hooks"][2 * l + 1]["scores"]] for l in range(model.L)], ref["mlp"],
          f"features --components {method} MLPs")

# ---------------------------------------------------------------- relp faithfulness
for kind, flag in (("saes", ["--saes", sdir]), ("components", ["--components"])):
    r = relp("faithfulness", "--model", MODEL, *flag, "--prompts", pfile, "--methods", "relp,atp", "--nodes",
             "1,3,10,30", "--json", "-")
    js = json.loads(r.stdout)
    groups = RC.node_groups(model, kind, saes=saes)
    for method in ("relp", "atp"):
        curve = RC.faithfulness_curve(case, groups, RC.group_scores(case, groups, method), Ns=[1, 3, 10, 30])
        den = abs(curve[0]["m_M"] - curve[0]["m_empty"])
        close([js["m_full"], js["m_empty"]], [curve[0]["m_M"], curve[0]["m_empty"]], f"faithfulness {kind}: m(M), m(empty)",
              scale=max(1.0, abs(curve[0]["m_M"])))
        for pc, pr in zip(js["curves"][method], curve):
            if pr["gap"] is not None and pr["gap"] < 1e-4:
                continue
            ok(pc["n_nodes"] == pr["n_nodes"], f"faithfulness {kind} {method} N={pr['N']}: size")
            close([pc["faithfulness"], pc["completeness"]], [pr["F"], pr["completeness"]],
                  f"faithfulness {kind} {method} N={pr['N']}: F, completeness", rtol=5e-4,
                  scale=max(1.0, abs(pr["F"]), abs(pr["completeness"])) / min(1.0, den))
    ok(set(js["seconds"]) == {"relp", "atp"}, "faithfulness: each method's time")
r = relp("faithfulness", "--model", MODEL, "--neurons", "--prompts", pfile, "--methods", "relp", "--start-layer", "2",
         "--json", "-")
js = json.loads(r.stdout)
ok(len(js["curves"]["relp"]) == 15 and js["candidates"] == 2 * T * model.I,
   "faithfulness --neurons --start-layer 2: 15 thresholds over the neurons of layers 2 and 3",
   f"({len(js['curves']['relp'])} points, {js['candidates']} candidates)")
groups = RC.node_groups(model, "neurons")
curve = RC.faithfulness_curve(case, groups, RC.group_scores(case, groups, "relp"), start_layer=2)
for pc, pr in zip(js["curves"]["relp"], curve):
    if pr["gap"] is not None and pr["gap"] < 1e-4:
        continue
    ok(pc["n_nodes"] == pr["n_nodes"], f"faithfulness neurons tau={pr['tau']:.2g}: size")
    close([pc["faithfulness"], pc["completeness"]], [pr["F"], pr["completeness"]],
          f"faithfulness neurons tau={pr['tau']:.2g}: F, completeness", rtol=5e-4,
          scale=max(1.0, abs(pr["F"]), abs(pr["completeness"])))

# ---------------------------------------------------------------- relp edges
gpath = os.path.join(OUT, "graph.json")
r = relp("edges", "--model", MODEL, "--prompts", pfile, "--method", "relp", "--top", "15", "--evaluate", "--curve",
         "5,15,40", "--validate", "5", "--json", gpath)
js = json.load(open(gpath))
gcfg = RC.graph_cfg(model)
problems = RC.check_graph_json({k: js[k] for k in ("cfg", "nodes", "edges")}, cfg=gcfg, top=15)
ok(not problems, "edges --json: EAP-IG's graph schema (names, <q>/<k>/<v>, in_graph, --top 15 pruned)",
   "; ".join(problems[:3]))
ref = RC.edge_scores(case, "relp")[0]
ok(set(ref) == set(js["edges"]), "edges: EAP-IG's edges of this architecture", f"({len(js['edges'])})")
close([js["edges"][n]["score"] for n in sorted(ref)], [ref[n] for n in sorted(ref)], "edges relp scores")
e_in, n_in = RC.top_edges(gcfg, ref, 15)
mC, F = RC.evaluate_edges(case, e_in)
close([js["faithfulness"]], [F], "edges --evaluate: faithfulness of the top 15", rtol=5e-4, scale=max(1.0, abs(F)))
for pt in js["curve"]:
    e_in, _ = RC.top_edges(gcfg, ref, pt["n_edges"])
    close([pt["faithfulness"]], [RC.evaluate_edges(case, e_in)[1]], f"edges --curve top {pt['n_edges']}", rtol=5e-4)
apx = [RC.patch_edge(case, v["edge"]) for v in js["validated"]]
close([v["ap"] for v in js["validated"]], apx, "edges --validate 5: exact edge patching", scale=max(abs(x) for x in apx))
r = relp("edges", "--model", MODEL, "--prompts", pfile, "--method", "ig-input", "--steps", "4", "--json", "-")
js = json.loads(r.stdout)
ref = RC.edge_scores(case, "ig-input", steps=4)[0]
close([js["edges"][n]["score"] for n in sorted(ref)], [ref[n] for n in sorted(ref)], "edges ig-input scores")
ok(all(v["in_graph"] for v in js["edges"].values()), "edges without --top: every edge in the graph")

# the figures: curves and the circuit graph, SVG and PNG of one size
import struct  # noqa: E402
for args, words in ((["faithfulness", "--model", MODEL, "--components", "--prompts", pfile, "--methods", "relp,atp",
                      "--nodes", "1,4,16"], ["RelP", "AtP", "completeness", "number of nodes"]),
                    (["edges", "--model", MODEL, "--prompts", pfile, "--method", "relp", "--top", "12", "--evaluate"],
                     ["logits", "input", "faithfulness of this circuit"])):
    svg, png = os.path.join(OUT, args[0] + ".svg"), os.path.join(OUT, args[0] + ".png")
    relp(*args, "--svg", svg, "--png", png)
    text = open(svg).read() if os.path.exists(svg) else ""
    head = open(png, "rb").read(24) if os.path.exists(png) else b""
    w, h = (struct.unpack(">II", head[16:24]) if len(head) == 24 else (0, 0))
    import re  # noqa: E402
    mw = re.search(r'<svg[^>]*width=["\'](\d+)["\'][^>]*height=["\'](\d+)["\']', text)
    ok(all(x in text for x in words) and mw and (int(mw.group(1)), int(mw.group(2))) == (w, h),
       f"{args[0]} --svg/--png: the figure, with {', '.join(words)}; the PNG the SVG's size", f"({w}x{h})")
    relp(*args, "--png", png, "--scale", "3")
    head = open(png, "rb").read(24) if os.path.exists(png) else b""
    w3, h3 = (struct.unpack(">II", head[16:24]) if len(head) == 24 else (0, 0))
    ok((w3, h3) == (3 * w, 3 * h), f"{args[0]} --png --scale 3: three times the SVG's size", f"({w3}x{h3})")
r = relp("edges", "--model", MODEL, "--prompts", pfile, "--method", "relp", "--scale", "2", expect=None)
ok(r.returncode == 2 and "--png" in r.stderr, "edges --scale without --png is refused, naming --png", r.stderr.strip())

# exact patching of every edge, as a run log that resumes
log = os.path.join(OUT, "edges_ap.jsonl")
full = os.path.join(OUT, "edges_ap.json")
relp("edges", "--model", MODEL, "--prompts", pfile, "--method", "ap", "--out", log, "--json", full)
js = json.load(open(full))
names = list(js["edges"])[::9]
apx = [RC.patch_edge(case, n) for n in names]
close([js["edges"][n]["score"] for n in names], apx, "edges --method ap: every edge's exact effect (each 9th checked)",
      scale=max(abs(x) for x in apx))
lines = open(log).read().splitlines()
open(log, "w").write("\n".join(lines[:2]) + "\n")
resumed = os.path.join(OUT, "edges_ap_resumed.json")
r = relp("edges", "--model", MODEL, "--prompts", pfile, "--method", "ap", "--out", log, "--resume", "--json", resumed)
a, b = json.load(open(full)), json.load(open(resumed))
a.pop("seconds"), b.pop("seconds")
ok(a == b and "1 of 3 batches already done" in r.stderr, "edges --method ap --out/--resume: a resumed run gives the same "
   "JSON", f"({r.stderr.strip()[-200:]})")

# ---------------------------------------------------------------- relp info --saes
r = relp("info", "--model", MODEL, "--saes", sdir, "--json")
js = json.loads(r.stdout)
prompt_ids = torch.tensor([ids_of("When John and Mary went to the shops, John gave the bag to")])
run = RC.forward(model, prompt_ids)
for s in js["saes"]:
    x = run.acts[s["hook"]].detach()[0, 1:]  # BOS left out
    f, e = RC.sae_split(saes[s["hook"]], x)
    fvu = (e ** 2).sum() / ((x - x.mean(0)) ** 2).sum()
    close([s["l0"], s["fvu"]], [(f != 0).double().sum(-1).mean().item(), fvu.item()], f"info --saes {s['hook']}: L0, FVU",
          rtol=1e-3)

# ---------------------------------------------------------------- bad inputs
def bad_sae(name, mutate, expect_in):
    d = os.path.join(OUT, "bad", name)
    shutil.copytree(os.path.join(sdir, "sae0"), d)
    mutate(d)
    r = relp("features", "--model", MODEL, "--saes", d, "--clean", pairs[0]["clean"], "--corrupt", pairs[0]["corrupt"],
             "--answer", pairs[0]["answer"], "--wrong", pairs[0]["wrong"], expect=1, label=f"bad SAE ({name})")
    ok(r.returncode == 1 and expect_in in r.stderr and d in r.stderr, f"bad SAE refused by name: {name}",
       f"({r.stderr.strip()[:300]})")


def cfg_edit(**kw):
    def f(d):
        c = json.load(open(os.path.join(d, "cfg.json")))
        c.update(kw)
        json.dump(c, open(os.path.join(d, "cfg.json"), "w"))
    return f


def tensors_edit(fn):
    def f(d):
        path = os.path.join(d, "sae_weights.safetensors")
        t = RC.read_safetensors(path)
        fn(t)
        import reference as R
        R.write_safetensors(path, t)
    return f


bad_sae("d_in", cfg_edit(d_in=64), "d_in 64 does not match")
bad_sae("arch", cfg_edit(architecture="gated"), "architecture \"gated\"")
bad_sae("hook", cfg_edit(hook_name="blocks.9.hook_resid_pre"), "not a hook of this")
bad_sae("normalize", cfg_edit(normalize_activations="expected_average_only_in"), "normalize_activations")
bad_sae("missing", tensors_edit(lambda t: t.pop("b_dec")), "no tensor 'b_dec'")
bad_sae("shape", tensors_edit(lambda t: t.__setitem__("W_dec", t["W_dec"][:, :64].contiguous())), "has shape")
bad_sae("nan", tensors_edit(lambda t: t["W_enc"].__setitem__((0, 0), float("nan"))), "NaN")
bad_sae("topk-k", cfg_edit(activation_fn_kwargs={"k": 0}), "activation_fn_kwargs.k")
bad_sae("no-weights", lambda d: os.remove(os.path.join(d, "sae_weights.safetensors")), "no sae_weights.safetensors")
bad_sae("json", lambda d: open(os.path.join(d, "cfg.json"), "w").write("{not json"), "not valid JSON")
dup = os.path.join(OUT, "bad", "dup")
shutil.copytree(os.path.join(sdir, "sae0"), os.path.join(dup, "a"))
shutil.copytree(os.path.join(sdir, "sae0"), os.path.join(dup, "b"))
r = relp("features", "--model", MODEL, "--saes", dup, "--prompts", pfile, expect=1)
ok("both SAEs of blocks.2.hook_resid_pre" in r.stderr, "two SAEs on one hook refused", f"({r.stderr.strip()[:200]})")
P = ["--prompts", pfile]
for args, want, label in (
        (["features", "--model", "gpt2-small-random", *P], "give one node set", "features without a node set (a model "
         "without SAEs)"),
        (["features", "--model", MODEL, "--neurons", "--components", *P], "give one node set", "two node sets"),
        (["features", "--model", MODEL, "--neurons", *P, "--method", "ap"], "--method must be", "features --method ap"),
        (["features", "--model", MODEL, "--neurons", *P, "--steps", "5"], "--steps is for --method ig", "--steps with relp"),
        (["faithfulness", "--model", MODEL, "--neurons", *P, "--nodes", "3,x"], "--nodes must be", "bad --nodes"),
        (["faithfulness", "--model", MODEL, "--neurons", *P, "--methods", "relp,ap"], "--methods", "faithfulness ap"),
        (["faithfulness", "--model", MODEL, "--neurons", *P, "--start-layer", "4"], "--start-layer", "start layer"),
        (["faithfulness", "--model", MODEL, "--neurons", "--clean", "a"], "reads --prompts", "faithfulness one pair"),
        (["edges", "--model", MODEL, *P, "--evaluate"], "--evaluate needs --top", "edges --evaluate without --top"),
        (["edges", "--model", MODEL, *P, "--method", "ig"], "--method must be", "edges --method ig"),
        (["edges", "--model", MODEL, *P, "--curve", "-1"], "--curve must be", "edges bad --curve")):
    r = relp(*args, expect=2, label=label)
    ok(r.returncode == 2 and want in r.stderr, f"bad usage: {label}", f"({r.stderr.strip()[:200]})")
r = relp("features", "--model", MODEL, *P, "--top", "3", "--json", "-")
ok(r.returncode == 0 and "the model's own SAEs" in r.stderr and len(json.loads(r.stdout)["hooks"]) == 13,
   "features without a node set on the bundled model: its own 13 SAEs (models-small/ioi-4l/saes)")
r = relp("edges", "--model", MODEL, *P, "--json", "/nonexistent/dir/g.json", expect=1)
ok(r.returncode == 1 and "--json /nonexistent/dir/g.json: cannot write" in r.stderr and "edges (" not in r.stdout,
   "edges: an unwritable --json is refused before the work", f"({r.stderr.strip()[:200]})")

# the core's warnings in every circuit command's JSON: a swapped pair (the answer is the wrong token's rival) has a
# negative gap by the JSON's own metrics, and a good pair none
swapped = ["--clean", pairs[0]["clean"], "--corrupt", pairs[0]["corrupt"], "--answer", pairs[0]["wrong"],
           "--wrong", pairs[0]["answer"]]
bpath = os.path.join(OUT, "swapped.jsonl")
with open(bpath, "w") as f_:
    f_.write(json.dumps({"clean": pairs[0]["clean"], "corrupt": pairs[0]["corrupt"], "answer": pairs[0]["wrong"],
                         "wrong": pairs[0]["answer"]}) + "\n")
for label, args in (("features", ["features", "--model", MODEL, "--neurons", *swapped, "--method", "relp"]),
                    ("faithfulness", ["faithfulness", "--model", MODEL, "--components", "--prompts", bpath, "--nodes", "1"]),
                    ("edges", ["edges", "--model", MODEL, *swapped, "--method", "atp"])):
    r = relp(*args, "--json", "-")
    js = json.loads(r.stdout) if r.returncode == 0 else {}
    kinds = [w["kind"] for w in js.get("warnings", [])]
    neg = js.get("metric_clean", 0) < js.get("metric_corrupt", 0)
    ok(neg and "gap_negative" in kinds, f"{label} --json: the negative gap of a swapped pair in \"warnings\"",
       f"({kinds}; clean {js.get('metric_clean')}, corrupted {js.get('metric_corrupt')})")
    ok("not larger" in r.stderr, f"{label}: the warning on stderr too")
r = relp("edges", "--model", MODEL, "--clean", pairs[0]["clean"], "--corrupt", pairs[0]["corrupt"], "--answer",
         pairs[0]["answer"], "--wrong", pairs[0]["wrong"], "--method", "atp", "--json", "-")
js = json.loads(r.stdout) if r.returncode == 0 else {}
ok(js.get("warnings") == [] and js["metric_clean"] - js["metric_corrupt"] > 0.5, "edges --json: no warnings for a good pair")

sys.exit(checks.summary_list(most=30))
