#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/build.sh) and runs each, one after the
# other, for N executions starting from its seeds in fuzz/corpus/<target>/.
#
#   fuzz/run.sh [--runs=N] [target...] [-- LIBFUZZER_FLAGS...]
#
# --runs defaults to 1,000,000 executions a target; targets default to all
# of fuzz/targets. New inputs that reach new code are kept in
# $FUZZ_OUT/corpus/<target>/ (FUZZ_OUT defaults to fuzz/out; copy the
# interesting ones into fuzz/corpus/ by hand); an input that crashes goes to
# $FUZZ_OUT/artifacts/<target>/ and the run's log to $FUZZ_OUT/logs/.
# One allocation over 256 MiB counts as a crash: every parser must check
# declared sizes against the input first.
#
# Prints one line a target: executions, seconds, executions a second.
# Exit status: 0 every target ran clean, 1 one crashed (or failed to
# build), 77 no clang with libFuzzer (nothing ran).
set -uo pipefail

ROOT=${FUZZ_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
export FUZZ_OUT=${FUZZ_OUT:-$ROOT/fuzz/out}
runs=1000000
targets=()
extra=()
while (($#)); do
  case $1 in
    --runs=*) runs=${1#--runs=} ;;
    --) shift; extra=("$@"); break ;;
    -*) echo "usage: fuzz/run.sh [--runs=N] [target...] [-- FLAGS]" >&2; exit 2 ;;
    *) targets+=("$1") ;;
  esac
  shift
done
if ((${#targets[@]} == 0)); then
  mapfile -t targets < <(grep -Ev '^[[:space:]]*(#|$)' "$ROOT/fuzz/targets" |
                         awk '{print $1}')
fi

FUZZ_ROOT=$ROOT "$ROOT/fuzz/build.sh" "${targets[@]}"
rc=$?
if ((rc != 0)); then exit "$rc"; fi

failed=0
for t in "${targets[@]}"; do
  mkdir -p "$FUZZ_OUT/corpus/$t" "$FUZZ_OUT/artifacts/$t" "$FUZZ_OUT/logs"
  log="$FUZZ_OUT/logs/$t.log"
  start=$(date +%s%N)
  "$FUZZ_OUT/bin/$t" -runs="$runs" -malloc_limit_mb=256 -rss_limit_mb=2048 \
    -timeout=10 -print_final_stats=1 \
    -artifact_prefix="$FUZZ_OUT/artifacts/$t/" "${extra[@]}" \
    "$FUZZ_OUT/corpus/$t" "$ROOT/fuzz/corpus/$t" >"$log" 2>&1
  status=$?
  ms=$((($(date +%s%N) - start) / 1000000 + 1))
  execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
  if ((status != 0)); then
    echo "fuzz: $t FAILED (exit $status) after ${execs:-?} executions; log:"
    grep -E 'ERROR|SUMMARY|Test unit written|==[0-9]+==' "$log" | head -20
    failed=1
    continue
  fi
  printf 'fuzz: %s: %d executions in %d.%01d s (%d/s), no crash\n' \
    "$t" "$execs" $((ms / 1000)) $((ms % 1000 / 100)) $((execs * 1000 / ms))
done
exit "$failed"
