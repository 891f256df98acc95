#!/usr/bin/env bash
# Forward-pass benchmark of relp against PyTorch CPU on the same weights, in
# the same run: GPT-2-small shape, B=1, T=16. Prints medians and ratios, then
# peak memory of relp for the small..XL shapes with f32 and f16 weights.
#   bench/bench_forward.sh [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-20}
RELP=build/native-release/relp
PY=/usr/bin/python3
CKPT=build/bench/gpt2-small
[ -f $CKPT/model.safetensors ] || $PY bench/torch_forward.py $CKPT --write --runs 1 >/dev/null

json() { $PY -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores"
echo "weights: $CKPT (GPT-2-small shape, random, f32); B=1 T=16; medians of $RUNS runs after warm-up"
# alternate the peers so that machine noise hits both
r1=(); r2=(); pt=()
for round in 1 2 3; do
  r1+=("$($RELP bench --model $CKPT --tokens 16 --threads 1 --runs $RUNS --json)")
  r2+=("$($RELP bench --model $CKPT --tokens 16 --threads 2 --runs $RUNS --json)")
  pt+=("$(OPENBLAS_NUM_THREADS=1 $PY bench/torch_forward.py $CKPT --tokens 16 --threads 1 --runs $RUNS)")
done
best() { # smallest median over the rounds
  local key=$1; shift
  for j in "$@"; do json "$j" "$key"; done | sort -g | head -1
}
f1=$(best forward_ms "${r1[@]}"); b1=$(best backward_ms "${r1[@]}")
f2=$(best forward_ms "${r2[@]}"); b2=$(best backward_ms "${r2[@]}")
tf=$(best torch_forward_ms "${pt[@]}"); tl=$(best torch_forward_last_ms "${pt[@]}")
ratio() { $PY -c "print(f'{$1/$2:.2f}')"; }
echo
echo "| measure | ms |"
echo "|---|---|"
echo "| relp forward, 1 thread | $f1 |"
echo "| relp forward, 2 threads | $f2 |"
echo "| relp backward (exact gradient), 1 thread | $b1 |"
echo "| relp backward, 2 threads | $b2 |"
echo "| PyTorch forward, 1 thread (logits at every position) | $tf |"
echo "| PyTorch forward, 1 thread (logits at the last position) | $tl |"
echo
echo "relp / PyTorch forward, 1 thread: $(ratio $f1 $tf) (target <= 0.5); vs PyTorch last-position-only: $(ratio $f1 $tl)"
echo "relp 2 threads / 1 thread: $(ratio $f2 $f1)"
echo "forward+backward / forward: $(ratio "($f1+$b1)" $f1)"
echo
echo "| shape | weights | weight MiB | peak RSS MiB (B=1, T=16, forward+backward) |"
echo "|---|---|---|---|"
for shape in small medium large xl; do
  for w in f32 f16; do
    info=$($RELP info --model gpt2-$shape-random --weights $w --json)
    b=$($RELP bench --model gpt2-$shape-random --weights $w --tokens 16 --runs 1 --json)
    echo "| gpt2-$shape | $w | $(json "$info" weight_mb) | $(json "$b" peak_rss_mb) |"
  done
done
