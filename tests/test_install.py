"""The installed library, used the usual ways, with relp.h's own USAGE example as the program:
- `cmake --install` into an empty prefix puts relp.h, librelp.so, librelp_core.a, the relp command, relp.pc and
  relpConfig.cmake there;
- the USAGE block of relp.h, cut out of the header as it is, compiles with -std=c99 -Wall -Wextra -pedantic
  -Werror against the installed tree through pkg-config (shared library) and through a CMake project's
  find_package(relp) (the static library, relp::relp_core), and both programs run on the bundled model and print
  the logit difference that `relp forward --json` gives for the same prompt.

    test_install.py BUILD_DIR REPO OUT_DIR
"""
import json
import os
import re
import shutil
import sys

from testlib import Checks, run

BUILD, REPO, OUT = sys.argv[1], sys.argv[2], sys.argv[3]
checks = Checks()
ok = checks.ok


shutil.rmtree(OUT, ignore_errors=True)
os.makedirs(OUT)
prefix = os.path.join(OUT, 'prefix')
r = run(['cmake', '--install', BUILD, '--prefix', prefix])
ok(r.returncode == 0, 'cmake --install into an empty prefix', r.stderr[-500:])
files = {os.path.relpath(os.path.join(d, f), prefix) for d, _, fs in os.walk(prefix) for f in fs}
for want in ('include/relp.h', 'lib/librelp.so', 'lib/librelp_core.a', 'bin/relp', 'lib/pkgconfig/relp.pc',
             'lib/cmake/relp/relpConfig.cmake', 'lib/cmake/relp/relpTargets.cmake'):
    ok(want in files, f'installed: {want}')

# relp.h's USAGE example, as the header writes it
head = open(os.path.join(REPO, 'include', 'relp.h')).read()
block = head[head.index(' * USAGE'):head.index('Relevance patching of the residual stream')]
lines = [ln[3:] if ln.startswith(' *  ') else '' for ln in block.splitlines()[1:]]
body = '\n'.join(ln[4:] if ln.startswith('    ') else ln for ln in lines).strip()
prog = '#include "relp.h"\n#include <stdio.h>\n\nint main(void) {\n' + \
       '\n'.join('    ' + ln for ln in body.splitlines()) + '\n    return 0;\n}\n'
src = os.path.join(OUT, 'example.c')
open(src, 'w').write(prog)
ok('relp_tokenize(model' in prog and 'relp_backward(ctx' in prog, 'the USAGE example cut out of relp.h')

env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(prefix, 'lib', 'pkgconfig'))
flags = run(['pkg-config', '--cflags', '--libs', 'relp'], env=env)
ok(flags.returncode == 0 and '-lrelp' in flags.stdout, 'pkg-config --cflags --libs relp', flags.stdout.strip())
exe = os.path.join(OUT, 'example_pc')
r = run(['cc', '-std=c99', '-Wall', '-Wextra', '-pedantic', '-Werror', src, '-o', exe, *flags.stdout.split()])
ok(r.returncode == 0, 'the USAGE example compiles with -std=c99 -Wall -Wextra -pedantic -Werror (pkg-config)',
   r.stderr[-1500:])

# the logit difference the CLI computes for the example's prompt
cli = run([os.path.join(prefix, 'bin', 'relp'), 'forward', '--model', os.path.join(REPO, 'models-small', 'ioi-4l'),
           '--prompt', 'When John and Mary went to the shops,', '--json', '--logits'])
want = None
if cli.returncode == 0:
    j = json.loads(cli.stdout)
    lg = j.get('logits')
    if lg:
        want = lg[5335] - lg[1757]
ok(want is not None, 'relp forward --json --logits (installed) for the example\'s prompt', cli.stderr[-300:])


def check_run(exe, label, env=None):
    r = run([exe], cwd=REPO, env=env)
    m = re.search(r'logit\(Mary\) - logit\(John\) = (-?[\d.]+)', r.stdout)
    g = re.search(r'dim 0: (\S+)', r.stdout)
    ok(r.returncode == 0 and m and g and want is not None and abs(float(m.group(1)) - want) < 2e-3 and
       float(g.group(1)) == float(g.group(1)), f'{label}: runs on the bundled model, the CLI\'s logit difference',
       f'({r.stdout.strip()} vs {want}) {r.stderr[-300:]}')


if r.returncode == 0:
    check_run(exe, 'pkg-config build', env=dict(os.environ, LD_LIBRARY_PATH=os.path.join(prefix, 'lib')))

proj = os.path.join(OUT, 'cmake_project')
os.makedirs(proj)
shutil.copy(src, proj)
open(os.path.join(proj, 'CMakeLists.txt'), 'w').write(
    'cmake_minimum_required(VERSION 3.16)\nproject(uses_relp C)\nfind_package(relp 0.1 REQUIRED)\n'
    'add_executable(example example.c)\nset_target_properties(example PROPERTIES C_STANDARD 99 C_EXTENSIONS OFF)\n'
    'target_compile_options(example PRIVATE -Wall -Wextra -pedantic -Werror)\n'
    'target_link_libraries(example PRIVATE relp::relp_core)\n')
r = run(['cmake', '-S', proj, '-B', os.path.join(proj, 'build'), f'-DCMAKE_PREFIX_PATH={prefix}'])
ok(r.returncode == 0, 'a CMake project finds relp (find_package(relp 0.1 REQUIRED))', r.stderr[-800:])
if r.returncode == 0:
    r = run(['cmake', '--build', os.path.join(proj, 'build')])
    ok(r.returncode == 0, 'and builds the USAGE example against relp::relp_core (static)', (r.stdout + r.stderr)[-1500:])
    if r.returncode == 0:
        check_run(os.path.join(proj, 'build', 'example'), 'find_package build')

sys.exit(checks.summary_list())
