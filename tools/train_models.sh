#!/usr/bin/env bash
# Retrains the bundled model models-small/ioi-4l from scratch, as it was made
# (MODEL.md gives the same commands, the time they took and what came out):
# PyTorch on the CPU (Debian python3-torch), fixed seeds. Stage 1 learns IOI and
# starts induction; stage 2 continues from it with more induction; stage 3
# with still more, and with a third of the generated sentences starting with
# the pair's names. Results depend on the thread count (stages 1 and 3 ran
# with 1 thread, stage 2 with 2).
#   tools/train_models.sh [OUT_DIR]        (default models-small/ioi-4l)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-models-small/ioi-4l}
STAGE1=${TMPDIR:-/tmp}/ioi-4l-stage1
STAGE2=${TMPDIR:-/tmp}/ioi-4l-stage2
PY=/usr/bin/python3
# stage 1 (21 minutes here): IOI from scratch, induction begins
$PY tools/train_small.py --out "$STAGE1" --layers 4 --width 128 --heads 2 --steps 2400 --ioi-batch 32 \
  --induction-batch 24 --lr 0.003 --emb-std 0.1 --pos-std 0.1 --pos-init sinusoidal --decay 0.3 --name-loss 1 \
  --lm-loss 0 --noise 0.0 --seed 1 --threads 1
# stage 2 (33 minutes): more induction, and IOI sentences with some words replaced by random tokens
$PY tools/train_small.py --out "$STAGE2" --init "$STAGE1" --layers 4 --width 128 --heads 2 --steps 1500 --ioi-batch 32 \
  --induction-batch 32 --lr 0.002 --emb-std 0.1 --pos-std 0.1 --pos-init sinusoidal --decay 0.3 --name-loss 1 \
  --lm-loss 0 --noise 0.15 --seed 3 --threads 2
# stage 3 (47 minutes): more induction, and names at the very start of a sentence (right after BOS), which stage 2 got wrong
$PY tools/train_small.py --out "$OUT" --init "$STAGE2" --layers 4 --width 128 --heads 2 --steps 2500 --ioi-batch 32 \
  --induction-batch 40 --lr 0.0015 --emb-std 0.1 --pos-std 0.1 --pos-init sinusoidal --decay 0.3 --name-loss 1 \
  --lm-loss 0 --noise 0.15 --initial-names 0.3 --seed 5 --threads 1
cp models-small/ioi-4l/RECIPES.md "$OUT/" 2>/dev/null || true
$PY tools/model_card.py "$OUT" build/native-release
