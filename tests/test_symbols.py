"""Every global symbol librelp_core.a defines carries the library's prefix (relp_ for relp.h's API, relp__ for what
the core's files share), so that a program linking it beside llm.c, ggml or stb meets no clash. (librelp.so
exporting exactly relp.h's functions is checked by tests/test_python.py.)

    test_symbols.py LIBRELP_CORE_A
"""
import subprocess
import sys

r = subprocess.run(['nm', '-g', '--defined-only', sys.argv[1]], capture_output=True, text=True, timeout=60)
if r.returncode:
    print(r.stderr)
    sys.exit(1)
syms = sorted({ln.split()[-1] for ln in r.stdout.splitlines() if len(ln.split()) == 3 and ln.split()[1] in 'TDBRCVW'})
# a sanitizer build adds its own globals beside each of ours (ASan's __odr_asan.<name> guards, __asan_*, __ubsan_*,
# __sancov_*): the compiler's, named after the symbol they guard; that symbol is checked itself
TOOLS = ('__odr_asan', '__asan_', '__ubsan_', '__sancov_', '__tsan_')
bad = [s for s in syms if not s.startswith('relp_') and not s.startswith(TOOLS)]
print(f'{len(syms)} global symbols defined; without the relp_ prefix: {bad or "none"}')
sys.exit(1 if bad or not syms else 0)
