"""What the Python test runners (tests/test_*.py) share: the pass/fail lines and their count, the final summary and
exit status, a runner of the CLI (or any command), and the few numeric helpers more than one runner uses.

A runner is started as `python3 tests/test_x.py ARGS`, so tests/ is sys.path[0] and `import testlib` finds this file.

    from testlib import Checks, run
    C = Checks(limit=800)              # FAIL lines cut their detail to 800 characters
    r = run(RELP, "info", "--json", timeout=300)
    C.check("info exits 0", r.returncode == 0, r.stderr)
    sys.exit(C.summary())              # "N passed, M failed"; 1 if any failed

Lines, as the runners printed them before they shared this:
    check(name, ok, detail)   ok   NAME                 FAIL NAME DETAIL     (the detail on a failure only)
    ok(cond, label, detail)   ok   LABEL DETAIL         FAIL LABEL DETAIL    (the detail either way, when given)
Summaries: summary() prints "N passed, M failed", summary_list() "N of M checks passed" and a "FAILED: ..." line a
failure; both return the exit status (1 when a check failed, else 0).
"""
import math
import subprocess

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Checks:
    """Counts checks and prints a line each; `limit` cuts the detail of check()'s FAIL lines (None: whole)."""

    def __init__(self, limit=None):
        self.limit = limit
        self.passed = 0
        self.failures = []  # "LABEL DETAIL" of each failed check, in order

    @property
    def failed(self):
        return len(self.failures)

    @property
    def checks(self):
        return self.passed + len(self.failures)

    def _count(self, cond, label, detail):
        if cond:
            self.passed += 1
        else:
            self.failures.append(f"{label} {detail}")

    def check(self, name, ok, detail=""):
        """`ok   NAME` or `FAIL NAME DETAIL` (str(detail), cut to the limit; left out when it is "")."""
        ok = bool(ok)
        self._count(ok, name, detail)
        if ok:
            print(f"ok   {name}", flush=True)
        else:
            shown = "" if isinstance(detail, str) and detail == "" else " " + str(detail)[:self.limit]
            print(f"FAIL {name}{shown}", flush=True)
        return ok

    def ok(self, cond, label, detail=""):
        """`ok   LABEL DETAIL` or `FAIL LABEL DETAIL`: the detail either way, left out when it is empty."""
        cond = bool(cond)
        self._count(cond, label, detail)
        print(("ok   " if cond else "FAIL ") + label + (" " + str(detail) if detail else ""), flush=True)
        return cond

    def close(self, c, r, label, scale=None, rtol=2e-4):
        """ok() that max |c - r| <= rtol * scale over the flattened values (scale: max |r|), with NaN where r has NaN
        (None counts as NaN) and as many values as r."""
        fc, fr = flat(c), flat(r)
        if len(fc) != len(fr):
            return self.ok(False, label, f"({len(fc)} values, reference {len(fr)})")
        s = scale if scale is not None else max([abs(x) for x in fr] + [1e-30])
        err = max([abs(a - b) for a, b in zip(fc, fr)] + [0.0])
        bad = any(math.isnan(a) != math.isnan(b) for a, b in zip(fc, fr))
        return self.ok(not bad and err <= rtol * s, label, f"(max err {err:.2e}, scale {s:.3g})")

    def summary(self, note=""):
        """prints `N passed, M failed` (then note, as given); returns the exit status"""
        print(f"{self.passed} passed, {self.failed} failed{note}", flush=True)
        return 1 if self.failures else 0

    def summary_list(self, most=None):
        """prints `N of M checks passed`, then `FAILED: LABEL DETAIL` for the first `most` failures (None: all);
        returns the exit status"""
        print(f"{self.passed} of {self.checks} checks passed")
        for f in self.failures[:most]:
            print("FAILED:", f)
        return 1 if self.failures else 0


def run(exe, *args, timeout=600, **kw):
    """exe (a path, or a list: a command and its first arguments) run with args; stdout and stderr captured as
    text. Other keywords go to subprocess.run (env, cwd, errors, ...). Returns the CompletedProcess."""
    cmd = [*exe, *args] if isinstance(exe, (list, tuple)) else [exe, *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def flat(x):
    """nested lists (or anything with .tolist(): a tensor, an array) as one flat list of floats; None is NaN"""
    if hasattr(x, "tolist") and not isinstance(x, (int, float)):
        x = x.tolist()
    if isinstance(x, (list, tuple)):
        return [y for e in x for y in flat(e)]
    return [float("nan") if x is None else float(x)]


def without_seconds(j):
    """a copy of the JSON object j without its "seconds" (the one field two runs of a command may differ in)"""
    j = dict(j)
    j.pop("seconds", None)
    return j


def is_png(path):
    """the file starts with PNG's signature"""
    with open(path, "rb") as f:
        return f.read(8) == PNG_SIGNATURE


def png_size(path):
    """(width, height) from a PNG's IHDR, or None when the file is not a PNG"""
    with open(path, "rb") as f:
        data = f.read(32)
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        return None
    return tuple(int.from_bytes(data[i:i + 4], "big") for i in (16, 20))
