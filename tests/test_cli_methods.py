"""The method commands of the CLI (attribute, explain, ioi) on a tiny model
with GPT-2's tokenizer: documented JSON fields, valid PNG and SVG files of the
right size, invariants visible from outside (AP at resid_pre[0] is 1 exactly
where the clean and corrupted prompts differ and 0 elsewhere), and the error
messages for answers that are not one token and for prompts of different
lengths.

    /usr/bin/python3 tests/test_cli_methods.py RELP_BIN WORK_DIR TOKENIZER_DIR
"""
import json
import os
import shutil
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import reference as R  # noqa: E402

RELP, WORK, TOKDIR = sys.argv[1:4]
CFG = dict(L=2, C=64, NH=4, n_pos=48, V=50257)
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


def relp(*args):
    return subprocess.run([RELP, *args], capture_output=True, text=True, timeout=600)


def png_size(path):
    data = open(path, "rb").read(32)
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


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
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
