#!/usr/bin/env bash
# The command-line demo (make demo-cli): relp on the bundled model
# (models-small/, the default when --model is left out) - a prediction on an
# IOI prompt, RelP and activation patching maps as PNG and SVG, and the
# paper's table (Pearson r of each estimator with activation patching).
set -euo pipefail
cd "$(dirname "$0")/.."
RELP=build/native-release/relp
OUT=build/demo
mkdir -p $OUT
CLEAN="When John and Mary went to the shops, John gave the bag to"
CORRUPT="When John and Mary went to the shops, Mary gave the bag to"
echo "== relp info"
$RELP info
echo
echo "== relp forward --prompt \"$CLEAN\" --top 5"
$RELP forward --prompt "$CLEAN" --top 5
echo
for m in relp atp ap; do
  $RELP attribute --clean "$CLEAN" --corrupt "$CORRUPT" --answer " Mary" --wrong " John" --method $m --node mlp \
    --png $OUT/$m-mlp.png --svg $OUT/$m-mlp.svg --json $OUT/$m-mlp.json > /dev/null
done
$RELP explain --prompt "$CLEAN" --answer " Mary" --wrong " John" --png $OUT/explain.png --svg $OUT/explain.svg > /dev/null
echo "== maps of the MLP outputs (RelP, AtP, AP) and the token relevance: $OUT/*.png and $OUT/*.svg"
echo
echo "== relp ioi --dataset demo"
$RELP ioi --dataset demo
