#!/usr/bin/env bash
# One-time, idempotent set-up of the flight-delay workload:
#
#   bash deploy/flights/setup.sh [OUT_DIR]     (default /var/lib/pscluster/flights)
#
# 1. Installs the pinned npm packages (vega-datasets ships the data,
#    hyparquet reads it) with `npm ci`, skipped when node_modules already
#    matches package-lock.json.
# 2. Converts flights-3m.parquet into OUT_DIR/train.psf and OUT_DIR/test.psf
#    (format: deploy/flights/convert.mjs, worker/data/flights_data.h).
#
# OUT_DIR/flights.stamp records the checksums of the input, the converter and
# both outputs. When it matches, nothing is converted again, so a second run
# takes well under a second beyond hashing ~60 MB. The stamp is written last
# and atomically: an interrupted run leaves no stamp that vouches for it.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
OUT_DIR=${1:-/var/lib/pscluster/flights}
INPUT="$HERE/node_modules/vega-datasets/data/flights-3m.parquet"
STAMP="$OUT_DIR/flights.stamp"
# Node's default heap is enough for the columnar conversion (~0.6 GB peak);
# the headroom only matters if hyparquet's buffering changes.
NODE_OPTIONS=${NODE_OPTIONS:---max-old-space-size=4096}
export NODE_OPTIONS

log() { echo "flights-setup: $*"; }
sha() { sha256sum "$1" | cut -d' ' -f1; }

for tool in node npm sha256sum; do
  command -v "$tool" >/dev/null || { log "missing $tool (run deploy/bootstrap.sh)"; exit 1; }
done

# --- npm packages -----------------------------------------------------------
# npm ci wipes and reinstalls node_modules every time, so remember which lock
# file the current tree came from.
lock_sum=$(sha "$HERE/package-lock.json")
lock_mark="$HERE/node_modules/.pscluster-lock.sha256"
if [[ -f "$lock_mark" && $(cat "$lock_mark") == "$lock_sum" && -f "$INPUT" ]]; then
  log "npm packages up to date"
else
  log "installing npm packages (npm ci) in $HERE"
  (cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" >"$lock_mark"
fi
[[ -f "$INPUT" ]] || { log "npm ci did not provide $INPUT"; exit 1; }

# --- conversion ---------------------------------------------------------------
want_head="input $(sha "$INPUT")
converter $(sha "$HERE/convert.mjs") $lock_sum"

stamp_matches() {
  [[ -f "$STAMP" && -f "$OUT_DIR/train.psf" && -f "$OUT_DIR/test.psf" ]] || return 1
  local expected
  expected="$want_head
train.psf $(sha "$OUT_DIR/train.psf")
test.psf $(sha "$OUT_DIR/test.psf")"
  [[ $(cat "$STAMP") == "$expected" ]]
}

if stamp_matches; then
  log "$OUT_DIR/{train,test}.psf up to date (stamp matches input, converter and outputs); nothing to do"
  exit 0
fi

log "converting $INPUT -> $OUT_DIR"
mkdir -p "$OUT_DIR"
rm -f "$STAMP"
node "$HERE/convert.mjs" "$INPUT" "$OUT_DIR"
tmp_stamp="$STAMP.tmp.$$"
printf '%s\ntrain.psf %s\ntest.psf %s\n' "$want_head" \
  "$(sha "$OUT_DIR/train.psf")" "$(sha "$OUT_DIR/test.psf")" >"$tmp_stamp"
mv -f "$tmp_stamp" "$STAMP"
log "wrote $OUT_DIR/train.psf, $OUT_DIR/test.psf and $STAMP"
