#!/usr/bin/env bash
# Method costs on the GPT-2-small shape (B=1, T=16, one thread), as ratios
# measured in the same run: RelP against one forward pass, the activation
# patching sweep over resid_pre against the naive L*T forwards and against
# PyTorch doing that naive sweep, IG(10) against RelP.
#   bench/bench_methods.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RELP=build/native-release/relp
PY=/usr/bin/python3
CKPT=build/bench/gpt2-small
[ -f $CKPT/model.safetensors ] || $PY bench/torch_forward.py $CKPT --write --runs 1 >/dev/null
json() { $PY -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
ratio() { $PY -c "print(f'{$1/$2:.3f}')"; }

r=$($RELP bench --model $CKPT --tokens 16 --threads 1 --runs 10 --ap --ig --json)
t=$(OPENBLAS_NUM_THREADS=1 $PY bench/torch_forward.py $CKPT --tokens 16 --threads 1 --runs 10 --ap-sweep)
f=$(json "$r" forward_ms); relp=$(json "$r" relp_ms); ap=$(json "$r" ap_resid_ms); ig=$(json "$r" ig_resid_ms)
tf=$(json "$t" torch_forward_ms); tap=$(json "$t" torch_ap_resid_sweep_ms)
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; GPT-2-small shape, B=1, T=16, 1 thread"
echo
echo "| measure | ms | ratio | target |"
echo "|---|---|---|---|"
echo "| relp forward | $f | | |"
echo "| RelP (2 forward + 1 backward), resid | $relp | $(ratio $relp $f) x forward | <= 3.2 |"
echo "| AP sweep, resid (L*T = 192 patches) | $ap | $(ratio $ap "($f*192)") x naive L*T relp forwards | <= 0.6 |"
echo "| PyTorch naive AP sweep, resid (192 forwards) | $tap | relp / PyTorch $(ratio $ap $tap) | <= 0.25 |"
echo "| IG (10 steps), resid, all 12 layers | $ig | $(ratio $ig $relp) x RelP ($(ratio $ig "($relp*12)") per layer) | |"
echo "| PyTorch forward | $tf | relp / PyTorch $(ratio $f $tf) | |"
