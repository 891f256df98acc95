"""Regenerates BENCHMARKS.md (make bench): relp's speed and memory from
GPT-2 small to XL, next to PyTorch CPU and onnxruntime-web measured in the
same run, with the machine and the commands.

    /usr/bin/python3 bench/report.py [--quick] [--out BENCHMARKS.md] [--only kernels|families|web|circuits|ap]

Every relp number comes from `relp bench --json` on random weights made in
memory (gpt2-<size>-random). PyTorch (Debian python3-torch + OpenBLAS) runs
bench/torch_forward.py on random weights of the same shapes in memory: a
forward pass costs the same whatever the values, and relp's agreement with
PyTorch on values is what tests/test_reference.py checks. onnxruntime-web
runs the GPT-2-small shape (bench/bench_wasm.mjs). --quick uses fewer runs
and skips the XL method row (about 10 minutes instead of about 40).
Plots are SVG files next to the report (bench/plots/).
"""
import argparse
import datetime
import json
import math
import os
import platform
import subprocess
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
RELP = os.path.join(ROOT, "build/native-release/relp")
LIMITS = os.path.join(ROOT, "build/native-release/machine_limits")
KERNELS = os.path.join(ROOT, "build/native-release/bench_kernels")
CIRCUITS = os.path.join(ROOT, "build/native-release/bench_circuits")
PY = "/usr/bin/python3"
SIZES = [("small", "12,768,12"), ("medium", "24,1024,16"), ("large", "36,1280,20"), ("xl", "48,1600,25")]
commands = []


def sh(cmd, env=None):
    shown = " ".join(c.replace(ROOT + os.sep, "") for c in cmd)  # paths relative to the repository
    commands.append(shown)
    print("+", shown, file=sys.stderr, flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ, **(env or {})), cwd=ROOT)
    if r.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{r.stderr[-2000:]}")
    return r.stdout


def relp(size, tokens=16, threads=1, runs=5, weights="f32", batch=1, ap=False, ig=False, corrupt_at=None):
    cmd = [RELP, "bench", "--model", size if size.endswith("-random") else f"gpt2-{size}-random", "--tokens", str(tokens), "--threads", str(threads),
           "--runs", str(runs), "--weights", weights, "--batch", str(batch), "--json"]
    cmd += ["--ap"] if ap else []
    cmd += ["--corrupt-at", str(corrupt_at)] if corrupt_at is not None else []
    cmd += ["--ig"] if ig else []
    return json.loads(sh(cmd).strip().splitlines()[-1])


def torch(shape, tokens=16, runs=5, threads=1):
    """PyTorch's forward with `threads` threads in OpenBLAS and one in torch
    itself: torch.set_num_threads(2) on top of a 2-thread OpenBLAS
    oversubscribes the cores (1.2x slower than one thread here)"""
    out = sh([PY, "bench/torch_forward.py", "--in-memory", "--shape", shape, "--tokens", str(tokens), "--threads", "1",
              "--runs", str(runs)], env={"OPENBLAS_NUM_THREADS": str(threads)})
    return json.loads(out.strip().splitlines()[-1])


def torch_family(info, tokens=16, runs=5):
    """PyTorch's forward of another architecture (bench/torch_forward.py --family), one thread"""
    out = sh([PY, "bench/torch_forward.py", "--in-memory", "--family", json.dumps(info, separators=(",", ":")),
              "--tokens", str(tokens), "--threads", "1", "--runs", str(runs)], env={"OPENBLAS_NUM_THREADS": "1"})
    return json.loads(out.strip().splitlines()[-1])


FAMILIES = ["smollm2-135m-random", "pythia-160m-random", "qwen2.5-0.5b-random"]


def families(runs):
    """relp against PyTorch on the other architectures' shapes: forward at T = 16 and 256 (1 and 2 threads),
    and RelP at T = 16 (2 threads)"""
    rows = []
    for shape in FAMILIES:
        info = json.loads(sh([RELP, "info", "--model", shape, "--json", "--low-memory"]).strip().splitlines()[-1])
        for T in (16, 256):
            r1, r2 = relp(shape, T, 1, runs), relp(shape, T, 2, runs)
            pt = torch_family(info, T, runs)
            rows.append((shape, info, T, r1, r2, pt))
    return rows


KERNEL_WORDS = {
    "block_xw": "x @ W, packed panels: the forward pass's block products",
    "block_xw_t": "dy @ W^T on the transposed copy: the backward pass's",
    "block_xwt": "dy @ W^T from the forward panels (`--low-memory` backward)",
    "attn_fwd": "causal attention: scores, softmax, weighted sums",
    "attn_bwd": "attention's exact backward",
    "unembed_row": "unembedding at one position (each weight read once)",
}


def kernels(quick):
    """each kernel on its own (bench/kernels.c), one thread: one dict per case"""
    lines = sh([KERNELS] + (["--quick"] if quick else [])).strip().splitlines()
    return [json.loads(ln) for ln in lines if '"kernel"' in ln]


def kernels_section(rows, lim, note=""):
    o = ["\n### Each kernel on its own\n",
         "`bench_kernels` (`bench/kernels.c`) times each kernel alone on one thread, on all the matrices of a GPT-2 "
         "shape (random f32 weights, so a pass streams them from memory as a forward pass does), and divides by the "
         "peaks `machine_limits` measured" + note + ". Multiply-adds count 2 FLOPs; softmax and the like are not "
         "counted. A product at T = 16 is bound by reading its weights as much as by its multiply-adds; the "
         "unembedding at one position only reads, so its share of the read bandwidth is the one that counts.\n",
         "| kernel | shape | T | ms | GFLOP/s | % of multiply-add peak | weights read GB/s (% of bandwidth) |",
         "|---|---|---|---|---|---|---|"]
    for r in rows:
        bw = (f"{r['read_gbs']:.1f} ({100 * r['read_gbs'] / lim['read_gbs_1']:.0f}%)" if r["weight_mb"] > 0 else "")
        share = 100 * r["gflops"] / lim["fma_gflops_1"]
        bold = r["kernel"] in ("block_xw", "block_xw_t") and r["T"] >= 256
        o.append(f"| {KERNEL_WORDS.get(r['kernel'], r['kernel'])} | {r['shape']} | {r['T']} | {r['ms']:.1f} | "
                 f"{r['gflops']:.1f} | {'**' if bold else ''}{share:.0f}%{'**' if bold else ''} | {bw} |")
    gemm = [r for r in rows if r["kernel"] in ("block_xw", "block_xw_t") and r["T"] >= 256]
    if gemm:
        o.append("\nTarget: ≥ 75% of the multiply-add peak in the GEMM-bound cases (T = 256): " +
                 ", ".join(f"{r['shape']} {r['kernel']} {100 * r['gflops'] / lim['fma_gflops_1']:.0f}%" for r in gemm) + ".\n")
    return o


def _machine():
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), platform.machine())
    return f"{cpu}, {os.cpu_count()} cores"


def families_section(rows, note=""):
    o = ["\n## Other architectures against PyTorch (B = 1)\n",
         "Random shapes of published models (`relp bench --model <shape>`): SmolLM2-135M (`llama`: RMSNorm, RoPE, "
         "grouped-query attention 9 / 3 heads, SwiGLU, tied embeddings), Pythia-160m (`gpt_neox`: parallel attention "
         "and MLP, partial rotary, untied unembedding) and Qwen2.5-0.5B (`qwen2`: q / k / v biases, 14 / 2 heads, a "
         "151,936-token vocabulary). PyTorch runs the same architecture as the Hugging Face modelling code computes "
         "it, float32, on random weights of the same shapes (`bench/torch_forward.py --family`), one thread. The "
         "values are checked against a float64 reference by `tests/test_families.py`." + note + "\n",
         "| shape | parameters | T | relp 1 thread ms | relp 2 threads ms | PyTorch 1 thread ms (all / last position) | "
         "relp / PyTorch, 1 thread (all / last) | 2 threads / 1 thread | RelP ms, 2 threads (× forward) |",
         "|---|---|---|---|---|---|---|---|---|"]
    for shape, info, T, r1, r2, pt in rows:
        f1, f2, ta, tl = r1["forward_ms"], r2["forward_ms"], pt["torch_forward_ms"], pt["torch_forward_last_ms"]
        o.append(f"| {shape[:-len('-random')]} ({info['arch']}) | {info['n_params'] / 1e6:.0f} M | {T} | {f1:.1f} | {f2:.1f} | "
                 f"{ta:.1f} / {tl:.1f} | **{f1 / ta:.2f}** / {f1 / tl:.2f} | {f2 / f1:.2f} | "
                 f"{r2['relp_ms']:.1f} ({r2['relp_ms'] / f2:.2f}) |")
    return o


V = 50257


def forward_work(shape, T):
    """(FLOPs, weight bytes in f32) of relp's forward pass, B = 1: the block
    matrices, causal attention (scores and weighted sums) and the
    unembedding at the last position only"""
    L, C, _ = (int(v) for v in shape.split(","))
    flops = 2 * T * 12 * L * C * C + 4 * L * C * T * (T + 1) / 2 + 2 * C * V
    return flops, (12 * L * C * C + V * C) * 4


def floor_ms(shape, T, lim, threads):
    """the least time the machine allows: all FLOPs at the measured
    multiply-add peak, or all weight bytes at the measured read bandwidth"""
    flops, nbytes = forward_work(shape, T)
    return max(flops / (lim[f"fma_gflops_{threads}"] * 1e9), nbytes / (lim[f"read_gbs_{threads}"] * 1e9)) * 1e3


def chart(path, title, xlabel, ylabel, series, logx=True, logy=True, xticks=None):
    """a small log-log line chart as SVG"""
    W, H, m = 560, 340, 60
    xs = [x for pts in series.values() for x, _ in pts]
    ys = [y for pts in series.values() for _, y in pts]
    fx = (lambda v: math.log10(v)) if logx else (lambda v: v)
    fy = (lambda v: math.log10(v)) if logy else (lambda v: v)
    x0, x1, y0, y1 = fx(min(xs)), fx(max(xs)), fy(min(ys)) - 0.1, fy(max(ys)) + 0.1
    sx = lambda v: m + (fx(v) - x0) / (x1 - x0 or 1) * (W - 2 * m)  # noqa: E731
    sy = lambda v: H - m - (fy(v) - y0) / (y1 - y0 or 1) * (H - 2 * m)  # noqa: E731
    colors = ["#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02"]
    s = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{W + 150}' height='{H}' font-family='DejaVu Sans, sans-serif' font-size='11'>",
         "<rect width='100%' height='100%' fill='white'/>",
         f"<text x='{m}' y='20' font-size='13' font-weight='bold'>{title}</text>",
         f"<rect x='{m}' y='{m}' width='{W - 2 * m}' height='{H - 2 * m}' fill='none' stroke='#999'/>",
         f"<text x='{W / 2}' y='{H - 15}' text-anchor='middle'>{xlabel}</text>",
         f"<text transform='translate(15,{H / 2}) rotate(-90)' text-anchor='middle'>{ylabel}</text>"]
    for v in (xticks or sorted(set(xs))):
        s.append(f"<text x='{sx(v):.1f}' y='{H - m + 15}' text-anchor='middle'>{v}</text>")
    lo, hi = math.floor(y0), math.ceil(y1)
    for e in range(lo, hi + 1):
        for mant in (1, 2, 5):
            v = mant * 10 ** e
            if y0 <= fy(v) <= y1:
                s.append(f"<line x1='{m}' x2='{W - m}' y1='{sy(v):.1f}' y2='{sy(v):.1f}' stroke='#eee'/>"
                         f"<text x='{m - 5}' y='{sy(v) + 4:.1f}' text-anchor='end'>{v:g}</text>")
    for k, (name, pts) in enumerate(series.items()):
        c = colors[k % len(colors)]
        s.append("<polyline fill='none' stroke='{}' stroke-width='2' points='{}'/>".format(
            c, " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in pts)))
        for x, y in pts:
            s.append(f"<circle cx='{sx(x):.1f}' cy='{sy(y):.1f}' r='3' fill='{c}'><title>{name}: {x}, {y:.4g}</title></circle>")
        s.append(f"<rect x='{W - m + 15}' y='{m + k * 18}' width='10' height='10' fill='{c}'/>"
                 f"<text x='{W - m + 30}' y='{m + 9 + k * 18}'>{name}</text>")
    s.append("</svg>")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "w").write("\n".join(s) + "\n")


WASM_PROCESSES = 5  # bench_wasm.mjs runs: the target holds in each process, so all of them are reported


def web(quick):
    """onnxruntime-web against relp's WebAssembly build (GPT-2-small shape), in WASM_PROCESSES Node
    processes, the one with the median ratio kept for its other figures ("ratios" lists them all); then the
    page in Chromium on 1 and 2 threads, with PyTorch's RelP beside it (bench/torch_relp.py, run by
    bench_page.mjs). Either is None where its build or browser is missing."""
    ort = page = None
    web_dir = os.path.join(ROOT, "build/wasm-release/web")
    runs = 3 if quick else 5
    if os.path.exists(os.path.join(web_dir, "relp_engine.wasm")):
        ckpt = os.path.join(ROOT, "build/bench/gpt2-small")
        if not os.path.exists(os.path.join(ckpt, "model.safetensors")):
            sh([PY, "bench/torch_forward.py", ckpt, "--write", "--runs", "1"])
        sh([PY, "bench/export_onnx.py", ckpt, os.path.join(ROOT, "build/bench/gpt2-small.onnx")])
        all_runs = [json.loads(sh(["node", "bench/bench_wasm.mjs", web_dir, ckpt,
                                   os.path.join(ROOT, "build/bench/gpt2-small.onnx"), str(runs * 2)]).strip().splitlines()[-1])
                    for _ in range(WASM_PROCESSES)]
        ort = sorted(all_runs, key=lambda r: r["ratio"])[len(all_runs) // 2]
        ort["ratios"] = [r["ratio"] for r in all_runs]
        ort["relp_ms_all"] = [r["relp_wasm_forward_ms"] for r in all_runs]
        ort["ort_ms_all"] = [r["ort_web_forward_ms"] for r in all_runs]
        if all("relaxed_ratio" in r for r in all_runs):
            ort["relaxed_ratios"] = [r["relaxed_ratio"] for r in all_runs]
    if os.path.exists(os.path.join(web_dir, "relp_engine_mt.wasm")) and os.path.exists("/usr/bin/chromium"):
        pck = os.path.join(ROOT, "build/bench/page-gpt2-small")
        sh([PY, "tests/write_checkpoint.py", pck, "--shape", "12,768,12", "--tokenizer", os.path.join(ROOT, "models-small/ioi-4l")])
        out = sh(["node", "bench/bench_page.mjs", web_dir, pck, "1" if quick else "3"],
                 env={**os.environ, "NODE_PATH": os.path.join(ROOT, "node_modules")})
        page = json.loads(out.strip().splitlines()[-1])
    return ort, page


AP_HEAD = "\n## The exact AP sweep (B = 1, T = 16)\n"


def ap_rows(runs):
    """the AP sweep over resid_pre at every size (2 threads; small and medium also on 1), against L x T forwards,
    the corrupted prompt changed at its first token (no row shared) and at its middle (relp bench's default)"""
    rows = []
    for size, _ in SIZES:
        w = "f16" if size in ("large", "xl") else "f32"
        for threads in ((1, 2) if size in ("small", "medium") else (2,)):
            rows.append((size, w, threads, relp(size, 16, threads, runs, w, ap=True, corrupt_at=0),
                         relp(size, 16, threads, runs, w, ap=True)))
    return rows


def ap_section(rows, note=""):
    o = [AP_HEAD,
         "`relp bench --ap`: activation patching of the residual stream at every (layer, position), L × T patched runs, "
         "against L × T full forward passes measured in the same run (target ≤ 0.3). A pass runs up to 16 patches as "
         "copies of the prompt; each copy recomputes only what its patch changes (its row up to the next attention, the "
         "rows after it from there, the last layer only at the logit position, no row whose patched value is the "
         "unpatched run's own) and reads the rest from the unpatched run. The scores are bit-identical to one patch at a "
         "time (tests/check_methods.c, tests/test_wasm.mjs). The corrupted prompt differs from the clean one in one "
         "token: the first (`--corrupt-at 0`: no row is shared, the sweep's worst case) or the middle one (the "
         "default: the rows before it are the same in both runs, so their patches change nothing and are not run, as "
         "in an IOI pair)." + note + "\n",
         "| shape | weights | threads | forward ms | AP sweep ms, first token changed (× naive L × T forwards) | "
         "AP sweep ms, middle token changed (× naive) |", "|---|---|---|---|---|---|"]
    for size, w, threads, r0, r in rows:
        o.append(f"| {size} | {w} | {threads} | {r0['forward_ms']:.1f} | {r0['ap_resid_ms']:.0f} "
                 f"(**{r0['ap_resid_over_naive']:.2f}**) | {r['ap_resid_ms']:.0f} ({r['ap_resid_over_naive']:.2f}) |")
    worst = max(r0["ap_resid_over_naive"] for _, _, _, r0, _ in rows)
    o.append(f"\nWorst ratio, first token changed: {worst:.2f}: target ≤ 0.3 {'met' if worst <= 0.3 else 'not met'}.\n")
    return o


WEB_HEAD = "\n## In the browser's engine: WebAssembly against onnxruntime-web\n"


def web_section(ort, page, note=""):
    o = []
    if ort:
        o.append(WEB_HEAD)
        many = ort.get("ratios", [ort["ratio"]])
        worst = max(many)
        o.append(f"GPT-2-small shape, B = 1, T = 16, one thread each, in Node (`bench/bench_wasm.mjs`, the two taking turns "
                 f"call by call): relp's SIMD128 build against onnxruntime-web in {len(many)} Node process"
                 f"{'es' if len(many) > 1 else ''}: ratios **{', '.join(f'{r:.2f}' for r in many)}** (target ≤ 0.8 in each: "
                 f"{'met' if worst <= 0.8 else 'not met'}, worst {worst:.2f}); relp "
                 f"{', '.join(f'{t:.1f}' for t in ort.get('relp_ms_all', [ort['relp_wasm_forward_ms']]))} ms, onnxruntime-web "
                 f"{', '.join(f'{t:.1f}' for t in ort.get('ort_ms_all', [ort['ort_web_forward_ms']]))} ms. The load of "
                 "other jobs on the shared VM moves both engines' times (and the native build's) by up to 2x for tens of "
                 "seconds at a time; no process has a speed of its own (bench/README.md, 2026-12-07), so the peers take "
                 f"turns call by call.{note}\n")
        if "simd128_peak_gflops" in ort:
            o.append(f"relp's forward pass ({ort['gflop']:.2f} GFLOP) attains {100 * ort['share_of_peak']:.0f}% of this engine's "
                     f"SIMD128 multiply-add peak, {ort['simd128_peak_gflops']:.1f} GFLOP/s on one thread, measured in the same "
                     "run by `bench/wasm_peak.mjs`" + (f"; the relaxed build {100 * ort['relaxed_share_of_peak']:.0f}% of the "
                     f"relaxed_madd peak, {ort['relaxed_peak_gflops']:.1f} GFLOP/s" if "relaxed_peak_gflops" in ort else "") + ".\n")
        if "relaxed_ratio" in ort:
            o.append(f"The relaxed-SIMD build (`relp_engine_relaxed`, `f32x4.relaxed_madd`) takes "
                     f"{ort['relp_wasm_relaxed_forward_ms']:.1f} ms in the same run, **{ort['relaxed_ratio']:.2f}** times the "
                     "SIMD128 build" +
                     (f"; {', '.join(f'{r:.2f}' for r in ort['relaxed_ratios'])} in the {len(ort['relaxed_ratios'])} processes"
                      if len(ort.get("relaxed_ratios", [])) > 1 else "") +
                     (f". No target: the two peaks bound it, relaxed_madd's peak being {ort['relaxed_peak_gflops'] / ort['simd128_peak_gflops']:.2f} "
                      "times a separate multiply and add on this CPU, so no kernel can bring the ratio below "
                      f"{ort['simd128_peak_gflops'] / ort['relaxed_peak_gflops']:.2f} in this run (0.88–0.91 in quieter ones, "
                      "bench/README.md; the former target of 0.75 is retired)"
                      if "relaxed_peak_gflops" in ort else "") + ".\n")
    if page:
        t1, t2 = page["threads"]["1"], page["threads"]["2"]
        o.append("\n## The page in Chromium: threads\n")
        o.append(f"GPT-2-small shape (random weights from a local URL), the IOI demo prompt ({page['T']} tokens), RelP "
                 "with activation patching on every node type, the page served cross-origin isolated "
                 f"(`bench/bench_page.mjs`, medians of {page['runs']} runs after a warm-up run):\n")
        o.append("| threads | Run to maps s | RelP s | AP sweep s |\n|---|---|---|---|")
        for t in (t1, t2):
            o.append(f"| {t['used']} | {t['run_to_maps_s']:.2f} | {t['relp_s']:.3f} | {t['ap_s']:.2f} |")
        o.append(f"\nRun to maps, AP on every node type: **{t1['run_to_maps_s']:.1f} s** on 1 thread (target ≤ 12 s: "
                 f"{'met' if t1['run_to_maps_s'] <= 12 else 'not met'}) and **{t2['run_to_maps_s']:.1f} s** on 2 (target ≤ 7 s: "
                 f"{'met' if t2['run_to_maps_s'] <= 7 else 'not met'}). 2 threads / 1 thread: RelP "
                 f"**{t2['relp_s'] / t1['relp_s']:.2f}**, AP sweep **{t2['ap_s'] / t1['ap_s']:.2f}** (target ≤ 0.6 each).\n")
        tp = page.get("torch")
        if tp and "2" in tp:
            r1, r2 = t1["relp_s"] * 1e3 / tp["1"]["torch_relp_ms"], t2["relp_s"] * 1e3 / tp["2"]["torch_relp_ms"]
            chk = tp["2"].get("max_rel_diff_vs_relp") or {}
            o.append("RelP in the tab against PyTorch: `bench/torch_relp.py` computes RelP as the official code does "
                     "(PyTorch float32, a clean forward through hook points, the corrupted forward with the LN- and "
                     "Identity-rules as detach tricks, one backward, (clean - corrupted) × gradient at every node type, "
                     "heads per position) on the same checkpoint and prompts, natively, with OpenBLAS threads "
                     f"(medians of 10; torch {tp['2'].get('torch', '?')}, {os.path.basename(os.path.dirname(tp['2'].get('blas', '?')))})" +
                     (f", its scores equal to relp's within {max(chk.values()):.1e} of max|logit|" if chk else "") +
                     f": {tp['1']['torch_relp_ms']:.0f} ms on 1 thread and {tp['2']['torch_relp_ms']:.0f} ms on 2. The page's "
                     f"RelP over PyTorch's: **{r1:.2f}** on 1 thread, **{r2:.2f}** on 2 (target ≤ 1.0 on 2 threads: "
                     f"{'met' if r2 <= 1.0 else 'not met'}).\n")
        c = page.get("circuits")
        if c:
            o.append("\n## The circuit views in Chromium\n")
            o.append(f"The bundled {c['model']} with its 13 SAEs, {c['prompts']} IOI prompts (Wang et al.'s, as `--limit 64`), "
                     f"{c['threads']} threads, a fresh page per run (`bench/bench_page.mjs`, medians of {page['runs']} after a "
                     "warm-up): opening the page on the feature circuit (model, SAEs, RelP scores, its faithfulness) and "
                     "the Faithfulness view's Run (RelP, AtP and IG on features, 15 sizes, F and completeness):\n")
            o.append("| open to drawn circuit s | Run to drawn curves s | both s | RelP scores + curve s | AtP | IG |\n|---|---|---|---|---|---|")
            m = c["methods"]
            o.append(f"| {c['open_to_circuit_s']:.2f} | {c['run_to_curves_s']:.2f} | **{c['both_s']:.2f}** | " +
                     " | ".join(f"{m[k]['scores_s']:.2f} + {m[k]['curve_s']:.2f}" for k in ("relp", "atp", "ig")) +
                     " |\n\nTarget: both within 10 s.\n")
    return o


def circuits(runs):
    """bench_circuits (bench/circuits.c): the bundled model with its SAEs on a batch like the faithfulness
    experiment's (64 prompts of 15 tokens), and the GPT-2 shapes' edges (one prompt of 16 tokens)"""
    out = []
    saes = os.path.join(ROOT, "models-small/ioi-4l/saes")
    for threads in (1, 2):
        cmd = [CIRCUITS, "--model", os.path.join(ROOT, "models-small/ioi-4l"), "--tokens", "15", "--batch", "64",
               "--threads", str(threads), "--runs", str(runs)]
        if os.path.isdir(saes):
            cmd += ["--saes", saes]
        out.append(json.loads(sh(cmd).strip().splitlines()[-1]))
    for size in ("small", "medium"):
        for threads in (1, 2):
            out.append(json.loads(sh([CIRCUITS, "--model", f"gpt2-{size}-random", "--tokens", "16", "--threads",
                                      str(threads), "--runs", str(runs)]).strip().splitlines()[-1]))
    return out


def edge_memory_mib(L, C, NH, T, B=1):
    """what relp_attribute_edges allocates (core/edges.c) with every row at once: the upstream nodes' differences
    (n_up x B T C), their compact form (embeddings, mlp_out and z: (2 L + 1) x B T C), one layer's coefficients rho_v
    ((3 NH + 1) x B T C) and a few rows of scratch; past the context's scratch budget (1 GiB) the differences are
    made a chunk of rows at a time instead"""
    n_up, n1 = 1 + L * (NH + 1), B * T * C
    HS = C // NH
    pk = n1 * ((3 * NH + 15) // 16) * 16  # a layer's q/k/v coefficients packed in 16-column panels for the product
    floats = n_up * n1 + (2 * L + 1) * n1 + (3 * NH + 1) * n1 + B * T * (2 * HS + 2 * C) + 2 * n1 + pk
    return floats * 4 / 2 ** 20, (3 * NH + 1) * n1 * 4 / 2 ** 20


def circuits_section(rows, note=""):
    o = ["\n## Circuits: features, faithfulness and edges\n",
         "Targets (issues \"sparse feature circuits\" and \"edge circuits\"): every SAE's RelP feature scores ≤ 1.5x the "
         "RelP node pass (every node type from two forward passes and one backward); IG on features costs per hook what "
         "per-layer IG costs per layer; one faithfulness point ≤ 1.5x a forward pass; every edge's RelP score ≤ 2x the "
         "RelP node pass; one edge-circuit point ≤ 2x a forward pass. `bench/circuits.c` (`bench_circuits`) times them "
         "in one run." + note + "\n",
         "| model | B x T | threads | forward ms | RelP nodes ms | features RelP ms (/ nodes) | IG features ms per hook "
         "(/ per-layer IG per layer) | faithfulness point ms (/ forward; floor) | edges ms (/ nodes) | edge circuit ms "
         "(/ forward) |",
         "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name = os.path.basename(r["model"].rstrip("/"))
        feat = (f"{r['features_relp_ms']:.1f} ({r['features_relp_ms'] / r['relp_nodes_ms']:.2f})" if r["saes"] else "-")
        ig = (f"{r['features_ig_ms'] / r['saes']:.1f} ({(r['features_ig_ms'] / r['saes']) / (r['ig_resid_ms'] / r['layers']):.2f})"
              if r["saes"] else "-")
        floor = 1 + r.get("sae_macs", 0) / r["model_macs"] if r.get("model_macs") else float("nan")
        pt = (f"{r['faith_point_ms']:.1f} ({r['faith_point_ms'] / r['forward_ms']:.2f}; {floor:.2f})" if r["saes"] else "-")
        o.append(f"| {name}{' + ' + str(r['saes']) + ' SAEs' if r['saes'] else ''} | {r['batch']} x {r['tokens']} | "
                 f"{r['threads']} | {r['forward_ms']:.1f} | {r['relp_nodes_ms']:.1f} | {feat} | {ig} | {pt} | "
                 f"{r['edges_ms']:.1f} ({r['edges_ms'] / r['relp_nodes_ms']:.2f}) | "
                 f"{r['edge_eval_ms']:.1f} ({r['edge_eval_ms'] / r['forward_ms']:.2f}) |")
    o.append("\nThe faithfulness point is the top 1% of nodes with every SAE spliced in (its forward computes two logit "
             "columns, as a metric of two tokens needs); the edge circuit the top 5% of edges by |RelP score|. Times are "
             "the fastest of the runs after a warm-up. The floor is what the multiply-adds say: a faithfulness point "
             "encodes every row at every hook, so at the forward pass's speed it costs 1 + (the SAE encoders' "
             "multiply-adds per row) / (the model's forward multiply-adds per row) forward passes. On a shared 2-core "
             "machine a second thread waits for a core another job holds: where the 2-thread times exceed the 1-thread "
             "ones, that is what they measure.")
    for r in rows:
        if r["saes"] and r.get("model_macs"):
            o.append(f"On {os.path.basename(r['model'].rstrip('/'))} at T = {r['tokens']}: the forward pass does "
                     f"{r['model_macs'] / 1e6:.2f} M multiply-adds per row, its {r['saes']} SAEs' encoders "
                     f"{r['sae_macs'] / 1e6:.2f} M: the 1.5x targets assume SAEs much smaller than the model, and these "
                     f"are {r['sae_macs'] / r['model_macs']:.2f}x its size. Feature scores encode both runs' rows where "
                     "they differ (rows before the prompts differ add nothing and are skipped), so they cost at least the "
                     "node pass plus up to two such encodings.")
            break
    o.append("")
    o.append("Memory of every edge's score for one prompt (what `relp_attribute_edges` allocates, beside the context): "
             "the upstream nodes' differences (clean - corrupted outputs), the source run's z, and the coefficients rho_v of "
             "one layer's downstream nodes at a "
             "time (the backward pass's hook scores a layer's edges as soon as its coefficients exist).\n")
    o.append("| shape | edges | T | every row at once MiB | allocated MiB (1 GiB budget) | rho_v of one layer MiB |")
    o.append("|---|---|---|---|---|---|")
    for size, shape in SIZES:
        L, C, NH = (int(x) for x in shape.split(","))
        n_up = 1 + L * (NH + 1)
        n_edges = sum((1 + l * (NH + 1)) * 3 * NH + (1 + l * (NH + 1) + NH) for l in range(L)) + n_up
        for T in (16, 256):
            tot, rho = edge_memory_mib(L, C, NH, T)
            o.append(f"| {size} | {n_edges:,} | {T} | {tot:,.0f} | {min(tot, 1024):,.0f}{' (in chunks of rows)' if tot > 1024 else ''} | {rho:,.1f} |")
    return o


def replace_section(path, sec, head, before):
    text = open(path).read()
    if head in text:
        i = text.index(head)
        j = text.find("\n## ", i + len(head))
        text = text[:i] + "\n".join(sec) + "\n" + (text[j:] if j >= 0 else "")
    else:
        j = text.find(before)
        text = text[:j] + "\n".join(sec) + "\n" + text[j:] if j >= 0 else text + "\n".join(sec) + "\n"
    open(path, "w").write(text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=os.path.join(ROOT, "BENCHMARKS.md"))
    ap.add_argument("--only", choices=["families", "kernels", "web", "circuits", "ap"],
                    help="measure one section and replace it in --out (which keeps the rest of its last full run)")
    a = ap.parse_args()
    runs = 3 if a.quick else 5
    if a.only == "kernels":
        t0 = datetime.datetime.now(datetime.timezone.utc)
        load = os.getloadavg()[0]
        lim = json.loads(sh([LIMITS, "2"]).strip().splitlines()[-1])
        note = (f" in the same run ({lim['fma_gflops_1']:.0f} GFLOP/s and {lim['read_gbs_1']:.1f} GB/s on one core), "
                f"on {t0:%Y-%m-%d %H:%M} UTC by `/usr/bin/python3 bench/report.py --only kernels"
                f"{' --quick' if a.quick else ''}`, apart from the rest of this report ({_machine()}, load average "
                f"{load:.1f} at the start)")
        sec = kernels_section(kernels(a.quick), lim, note)
        text = open(a.out).read()
        head = sec[0]
        if head in text:
            i = text.index(head)
            j = min((k for k in (text.find("\n## ", i + len(head)), text.find("\n### ", i + len(head))) if k >= 0),
                    default=-1)
            text = text[:i] + "\n".join(sec) + "\n" + (text[j:] if j >= 0 else "")
        else:
            j = text.find("\n## Every method")
            text = text[:j] + "\n".join(sec) + "\n" + text[j:] if j >= 0 else text + "\n".join(sec) + "\n"
        open(a.out, "w").write(text)
        print(f"wrote the kernels section of {a.out}", file=sys.stderr)
        return
    if a.only == "circuits":
        t0 = datetime.datetime.now(datetime.timezone.utc)
        load = os.getloadavg()[0]
        sec = circuits_section(circuits(runs), f" Measured on {t0:%Y-%m-%d %H:%M} UTC by `/usr/bin/python3 bench/report.py "
                               f"--only circuits{' --quick' if a.quick else ''}` ({_machine()}, load average {load:.1f} "
                               f"at the start; the fastest of {runs} runs after a warm-up).")
        replace_section(a.out, sec, "\n## Circuits", "\n## Other architectures")
        print(f"wrote the circuits section of {a.out}", file=sys.stderr)
        return
    if a.only == "ap":
        t0 = datetime.datetime.now(datetime.timezone.utc)
        load = os.getloadavg()[0]
        sec = ap_section(ap_rows(runs), f" Measured on {t0:%Y-%m-%d %H:%M} UTC by `/usr/bin/python3 bench/report.py --only ap"
                         f"{' --quick' if a.quick else ''}`, apart from the rest of this report ({_machine()}, load average "
                         f"{load:.1f} at the start; forward: medians of {runs} runs).")
        replace_section(a.out, sec, AP_HEAD, "\n## Other architectures")
        print(f"wrote the AP section of {a.out}", file=sys.stderr)
        return
    if a.only == "web":
        t0 = datetime.datetime.now(datetime.timezone.utc)
        load = os.getloadavg()[0]
        ort, page = web(a.quick)
        sec = web_section(ort, page, f" Measured on {t0:%Y-%m-%d %H:%M} UTC by `/usr/bin/python3 bench/report.py --only web"
                          f"{' --quick' if a.quick else ''}`, with the page below, apart from the rest of this report "
                          f"({_machine()}, load average {load:.1f} at the start).")
        text = open(a.out).read()
        i, j = text.find(WEB_HEAD), text.find("\n## Commands\n")
        if i < 0 or j < i:
            sys.exit(f"{a.out} has no WebAssembly section to replace: run the full report")
        open(a.out, "w").write(text[:i] + "\n".join(sec) + "\n" + text[j:])
        print(f"wrote the WebAssembly and page sections of {a.out}", file=sys.stderr)
        return
    if a.only == "families":
        t0 = datetime.datetime.now(datetime.timezone.utc)
        load = os.getloadavg()[0]
        sec = families_section(families(runs), f" Measured on {t0:%Y-%m-%d %H:%M} UTC by `/usr/bin/python3 bench/report.py "
                               f"--only families{' --quick' if a.quick else ''}`, apart from the rest of this report: "
                               f"{_machine()}, load average {load:.1f} at the start; medians of {runs} runs. "
                               "Compare its ratios, measured in one run, rather than its times with the tables above." +
                               (" With the cores shared by other work at that load, the 2-thread columns do not "
                                "measure relp's scaling." if load > (os.cpu_count() or 1) / 2 else ""))
        text = open(a.out).read()
        head = "\n## Other architectures against PyTorch (B = 1)\n"
        if head in text:
            i = text.index(head)
            j = text.find("\n## ", i + len(head))
            text = text[:i] + "\n".join(sec) + "\n" + (text[j:] if j >= 0 else "")
        else:
            j = text.find("\n## Time against prompt length")
            text = text[:j] + "\n".join(sec) + "\n" + text[j:] if j >= 0 else text + "\n".join(sec) + "\n"
        open(a.out, "w").write(text)
        print(f"wrote the families section of {a.out}", file=sys.stderr)
        return
    t_start = datetime.datetime.now(datetime.timezone.utc)
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), platform.machine())
    mem = next((int(ln.split()[1]) // 1024 for ln in open("/proc/meminfo") if ln.startswith("MemTotal")), 0)
    ncores = os.cpu_count()

    # 0. what the machine allows: multiply-add peak and read bandwidth, 1 and 2 threads
    lim = json.loads(sh([LIMITS, "2"]).strip().splitlines()[-1])

    # 0b. each kernel on its own against that peak
    kern = kernels(a.quick)

    # 1. forward against PyTorch, 1 thread, and relp's own 2-thread speed-up next to PyTorch's
    fwd = []
    for size, shape in SIZES[:3]:
        for T in (16, 256):
            r1 = relp(size, T, 1, runs)
            r2 = relp(size, T, 2, runs)
            pt = torch(shape, T, runs)
            pt2 = torch(shape, T, runs, threads=2)
            fwd.append((size, shape, T, r1["forward_ms"], r2["forward_ms"], pt["torch_forward_ms"],
                        pt["torch_forward_last_ms"], pt2["torch_forward_ms"]))

    # 2. every method at every size (B=1, T=16, 2 threads; f16 weights from large on)
    meth = []
    for size, shape in SIZES:
        if a.quick and size == "xl":
            continue
        w = "f16" if size in ("large", "xl") else "f32"
        r = relp(size, 16, 2, runs, w, ap=True, ig=True)
        meth.append((size, w, r))

    # 2b. the exact AP sweep against the naive L x T forwards, 1 and 2 threads
    aps = ap_rows(runs)

    # 3. XL, 8 prompts of 16 tokens, f16: peak memory of forward, backward, RelP and AtP, and the
    #    context per row that bounds what AP's and IG's copies of the batch add
    xl8 = relp("xl", 16, 2, 1, "f16", batch=8)
    xl_info = json.loads(sh([RELP, "info", "--model", "gpt2-xl-random", "--weights", "f16", "--json"]).strip().splitlines()[-1])

    # 4. time against prompt length (small) and against model size (T = 16)
    lengths = [16, 64, 256, 1024]
    by_len = {T: relp("small", T, 2, 1 if T >= 256 else runs) for T in lengths}

    # 5. the other architectures against PyTorch
    fam = families(runs)

    # 5b. circuits: features, faithfulness and edges against the passes they are measured by
    circ = circuits(runs)

    # 6-7. onnxruntime-web and relp's WebAssembly build; the page in Chromium
    ort, page = web(a.quick)

    plots = os.path.join(os.path.dirname(a.out), "bench", "plots")
    chart(os.path.join(plots, "time_vs_length.svg"), "GPT-2 small shape, 2 threads: time against prompt length",
          "prompt length (tokens)", "ms",
          {"forward": [(T, by_len[T]["forward_ms"]) for T in lengths],
           "backward": [(T, by_len[T]["backward_ms"]) for T in lengths],
           "RelP": [(T, by_len[T]["relp_ms"]) for T in lengths]})
    params = {"small": 124, "medium": 355, "large": 774, "xl": 1558}
    chart(os.path.join(plots, "time_vs_size.svg"), "T = 16, 2 threads: time against model size", "parameters (millions)", "ms",
          {k: [(params[s], r[f]) for s, _, r in meth] for k, f in
           (("forward", "forward_ms"), ("RelP", "relp_ms"), ("AtP", "atp_ms"), ("IG(10)", "ig_resid_ms"),
            ("IG-input(10)", "ig_input_resid_ms"), ("AP sweep", "ap_resid_ms"))},
          xticks=[params[s] for s, _, _ in meth])

    L = {"small": 12, "medium": 24, "large": 36, "xl": 48}
    o = []
    o.append("# relp benchmarks\n")
    o.append(f"Generated by `make bench` (`/usr/bin/python3 bench/report.py{' --quick' if a.quick else ''}`) on "
             f"{t_start:%Y-%m-%d %H:%M} UTC in {(datetime.datetime.now(datetime.timezone.utc) - t_start).seconds // 60} minutes.\n")
    o.append(f"Machine: {cpu}, {ncores} cores, {mem / 1024:.0f} GiB; {platform.platform()}. "
             f"Medians of {runs} runs after two warm-up runs, except where one run is noted. "
             "The timings on this VM vary by about ±15% from run to run, so every ratio compares peers measured in the same run.\n")
    o.append("Weights are random and made in memory (`gpt2-<size>-random`). PyTorch gets random weights of the same "
             "shapes (`bench/torch_forward.py --in-memory`); the values do not change the time. Their agreement on "
             "values is what `tests/test_reference.py` checks.\n")
    o.append("\n## Forward pass against PyTorch (B = 1)\n")
    o.append("relp computes logits at the last position (all an attribution needs). PyTorch is timed twice: as a "
             "standard GPT-2 forward (logits at every position) and with logits at the last position only.\n")
    o.append("| shape | T | relp 1 thread ms | relp 2 threads ms | PyTorch 1 thread ms (all / last position) | relp / PyTorch, 1 thread (all / last) | 2 threads / 1 thread |")
    o.append("|---|---|---|---|---|---|---|")
    for size, shape, T, f1, f2, ta, tl, _ in fwd:
        o.append(f"| {size} | {T} | {f1:.1f} | {f2:.1f} | {ta:.1f} / {tl:.1f} | **{f1 / ta:.2f}** / {f1 / tl:.2f} | **{f2 / f1:.2f}** |")
    o.append("\nTargets: relp / PyTorch ≤ 0.5, and 2 threads / 1 thread ≤ 0.6, at every size and length.\n")
    o.append("\n### What the machine allows\n")
    o.append(f"Measured in this run by `machine_limits` (`bench/machine_limits.c`, {lim['kernels']}): a multiply-add peak of "
             f"**{lim['fma_gflops_1']:.0f} GFLOP/s** on one core and {lim['fma_gflops_2']:.0f} on two, and a memory read "
             f"bandwidth of **{lim['read_gbs_1']:.1f} GB/s** on one core and {lim['read_gbs_2']:.1f} on two. A forward pass "
             "cannot take less than its FLOPs at that peak, nor less than its weights' bytes (f32) at that bandwidth: "
             "the larger of the two is its floor. The floor gives the lowest relp / PyTorch ratio any code could reach "
             "on this machine, and the lowest 2-thread / 1-thread ratio. PyTorch's own 2-thread / 1-thread ratio, "
             "measured in the same run (OpenBLAS on 2 threads, torch on 1), is the peer for the second.\n")
    o.append("| shape | T | GFLOP | relp GFLOP/s, 1 thread (% of peak) | floor ms, 1 / 2 threads | lowest possible relp / PyTorch (all) | "
             "2 threads / 1 thread: relp / PyTorch / lowest possible |")
    o.append("|---|---|---|---|---|---|---|")
    for size, shape, T, f1, f2, ta, tl, ta2 in fwd:
        flops, _ = forward_work(shape, T)
        fl1, fl2 = floor_ms(shape, T, lim, 1), floor_ms(shape, T, lim, 2)
        gf = flops / (f1 * 1e6)
        o.append(f"| {size} | {T} | {flops / 1e9:.1f} | {gf:.0f} ({100 * gf / lim['fma_gflops_1']:.0f}%) | {fl1:.1f} / {fl2:.1f} | "
                 f"{fl1 / ta:.2f}{' (above 0.5: out of reach)' if fl1 / ta > 0.5 else ''} | "
                 f"{f2 / f1:.2f} / {ta2 / ta:.2f} / {fl2 / fl1:.2f} |")
    o.extend(kernels_section(kern, lim, " in the same run"))
    o.append("")
    o.append("\n## Every method (B = 1, T = 16, 2 threads)\n")
    o.append("| shape | weights | forward ms | backward ms | RelP ms (× forward) | AtP ms (× forward) | IG(10) ms (× RelP) | IG-input(10) ms (× RelP) | AP sweep ms (× naive) | peak RSS MiB |")
    o.append("|---|---|---|---|---|---|---|---|---|---|")
    for size, w, r in meth:
        f = r["forward_ms"]
        o.append(f"| {size} | {w} | {f:.1f} | {r['backward_ms']:.1f} | {r['relp_ms']:.1f} ({r['relp_ms'] / f:.2f}) | "
                 f"{r['atp_ms']:.1f} ({r['atp_ms'] / f:.2f}) | {r['ig_resid_ms']:.0f} ({r['ig_resid_ms'] / r['relp_ms']:.1f}) | "
                 f"{r['ig_input_resid_ms']:.0f} (**{r['ig_input_resid_ms'] / r['relp_ms']:.1f}**) | "
                 f"{r['ap_resid_ms']:.0f} ({r['ap_resid_over_naive']:.2f}) | {r['peak_rss_mb']:.0f} |")
    o.append("\n- IG(10) is Marks et al.'s per-layer integrated gradients: for each of the L layers, 10 interpolation "
             "steps, each a forward pass from that layer on plus a backward pass down to it, so its cost grows with L. "
             "Counted in passes, it needs 10 × (L + 1) / 2 forward-and-backward passes against RelP's two forwards "
             "and one backward: at the single-prompt times above, " +
             ", ".join(f"{size} {10 * (L[size] + 1) / 2 * (r['forward_ms'] + r['backward_ms']) / (2 * r['forward_ms'] + r['backward_ms']):.0f}"
                       for size, _, r in meth) +
             " × RelP. Running a layer's steps as copies of the batch makes each pass somewhat cheaper than that, "
             "but not by the factor of about L / 2 that 10 × RelP would need. "
             "Per layer it costs " + ", ".join(f"{size} {r['ig_resid_ms'] / r['relp_ms'] / L[size]:.1f}" for size, _, r in meth) +
             " × RelP.")
    o.append("- IG-input(10) is integrated gradients along the input path (`--method ig-input`, EAP-IG): the "
             "embeddings are interpolated and one sweep of 10 forward and backward passes gives every layer's and "
             "node type's gradients. This is the IG that meets the target of about 10 × RelP; it is a different "
             "estimator from per-layer IG (equal to it at layer 0 of the residual stream).")
    o.append("- The AP sweep covers the residual stream at every (layer, position): L × T patched runs as copies of the "
             "prompt that each recompute only what their patch changes (next section). The ratio divides its time by "
             "L × T full forward passes.")
    o.append(f"- XL with 8 prompts of 16 tokens and f16 weights: peak RSS **{xl8['peak_rss_mb'] / 1024:.2f} GiB** "
             f"(forward {xl8['forward_ms']:.0f} ms, RelP {xl8['relp_ms']:.0f} ms). The target is every method within "
             "12 GB. AP and IG add one (L, B, T, C) copy of the source activations, "
             f"{48 * 8 * 16 * 1600 * 4 / 2**20:.0f} MiB at this size, and run their patched runs or interpolation "
             "steps as copies of the batch in a context of up to 256 rows (prompts × tokens): at most "
             f"{xl_info['ctx_mb_b1_t128'] * 2 / 1024:.2f} GiB more at XL (`relp info --json`, ctx_mb_b1_t128 × 2).\n")
    o.extend(ap_section(aps))
    o.extend(families_section(fam))
    o.extend(circuits_section(circ))
    o.append("\n## Time against prompt length and model size\n")
    o.append("| T | forward ms | backward ms | RelP ms |\n|---|---|---|---|")
    for T in lengths:
        r = by_len[T]
        o.append(f"| {T} | {r['forward_ms']:.1f} | {r['backward_ms']:.1f} | {r['relp_ms']:.1f} |")
    o.append("\n![time against prompt length](bench/plots/time_vs_length.svg)\n")
    o.append("![time against model size](bench/plots/time_vs_size.svg)\n")
    o.extend(web_section(ort, page))
    o.append("\n## Commands\n")
    o.append("```\n" + "\n".join(commands) + "\n```\n")
    open(a.out, "w").write("\n".join(o))
    print(f"wrote {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
