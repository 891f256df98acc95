#!/usr/bin/env bash
# Builds the libFuzzer harnesses (preset fuzz), makes their seed corpora and
# runs each one: first over its saved regressions (tests/fuzz/regressions/<h>/,
# inputs that once crashed), then fuzzing for SECONDS (default 60). Any
# crash, leak, timeout or sanitizer report fails the run; the input that
# caused it is copied to tests/fuzz/regressions/<h>/ to be committed with
# the fix. Also runs the page's URL-state fuzzer (Node). Writes a Markdown
# table of executions per harness to build/fuzz/summary.md.
#   tests/fuzz/run.sh [SECONDS]
set -uo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-60}
OUT=build/fuzz
mkdir -p $OUT
cmake --preset fuzz >/dev/null && cmake --build --preset fuzz -j 2 >/dev/null || { echo "fuzz: build failed" >&2; exit 1; }
DEFAULT=$(/usr/bin/python3 -c "import json; print(json.load(open('models-small/models.json'))['default'])") || exit 1
/usr/bin/python3 tests/fuzz/make_seeds.py $OUT/seeds models-small/$DEFAULT || exit 1
failed=0
rows=()
for h in fuzz_safetensors fuzz_config fuzz_index fuzz_tokenizer_files fuzz_tokenizer_json fuzz_tokenize fuzz_prompts; do
  bin=build/fuzz/tests/fuzz/$h
  reg=tests/fuzz/regressions/$h
  corpus=$OUT/corpus/$h
  crashes=$OUT/crashes/$h/
  mkdir -p "$corpus" "$crashes"
  if [ -d "$reg" ] && [ -n "$(ls -A "$reg" 2>/dev/null)" ]; then
    if ! $bin "$reg"/* > $OUT/$h.regressions.log 2>&1; then
      echo "fuzz: $h fails on a saved regression input; see $OUT/$h.regressions.log" >&2
      failed=1
    fi
  fi
  quiet=""
  [ $h = fuzz_prompts ] && quiet="-close_fd_mask=2" # the CLI reader's own messages
  $bin $quiet -max_total_time="$SECS" -timeout=10 -rss_limit_mb=2560 -max_len=65536 -print_final_stats=1 \
       -artifact_prefix="$crashes" "$corpus" "$OUT/seeds/$h" > $OUT/$h.log 2>&1
  rc=$?
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' $OUT/$h.log | grep -o '[0-9]*$' | tail -1)
  status=ok
  if [ $rc -ne 0 ]; then
    status="FAILED (exit $rc)"
    failed=1
    mkdir -p "$reg"
    for f in "$crashes"*; do [ -f "$f" ] && cp "$f" "$reg/" && echo "fuzz: $h: kept $f as $reg/$(basename "$f")" >&2; done
    grep -m3 -E "ERROR|SUMMARY|runtime error" $OUT/$h.log >&2
  fi
  echo "fuzz: $h: ${execs:-?} executions in ${SECS} s: $status" >&2
  rows+=("| $h | $SECS | ${execs:-?} | $status |")
done
if node --no-warnings tests/fuzz/fuzz_state.mjs "$SECS" > $OUT/fuzz_state.log 2>&1; then
  status=ok
else
  status=FAILED
  failed=1
  tail -5 $OUT/fuzz_state.log >&2
fi
execs=$(grep -o 'executions: [0-9]*' $OUT/fuzz_state.log | grep -o '[0-9]*$')
echo "fuzz: page URL state: ${execs:-?} executions in ${SECS} s: $status" >&2
rows+=("| page URL state (Node, web/state.js) | $SECS | ${execs:-?} | $status |")
{
  echo "| harness | seconds | executions | result |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
} > $OUT/summary.md
cat $OUT/summary.md
exit $failed
