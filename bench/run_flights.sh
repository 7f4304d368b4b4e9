#!/usr/bin/env bash
# The flight-delay workload on the cluster next to the single-process
# PyTorch baseline, run one after the other in one invocation, on the same
# features, optimizer and chronological split.
#
#   bench/run_flights.sh [--epochs N]
#
# Rows:
#   - PyTorch sparse logistic regression (bench/flights_torch.py) with the
#     settings of examples/flights_sparse_lr.json (batch, learning rate,
#     features), and at batch 1024, its fastest setting here; both with 2
#     threads (this machine's cores; PyTorch's best).
#   - examples/flights_sparse_lr.json through `psctl local` with 1 worker +
#     1 server, 2 workers + 1 server and 2 workers + 2 servers.
#   - examples/flights_wide_deep.json with 2 workers + 2 servers.
# "vs PyTorch" divides by the faster PyTorch row. examples/s is the training
# loop's throughput: PyTorch's epoch time; the cluster's
# JobResult.train_examples_per_sec (all workers' examples over the longest
# worker's loop). Neither counts loading, hashing or evaluation.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --epochs) epochs=$2; shift 2 ;;
    *) echo "run_flights.sh: unknown argument $1; allowed: --epochs N" >&2; exit 2 ;;
  esac
done
FLIGHTS_DIR=${FLIGHTS_DIR:-/var/lib/pscluster/flights}
bash deploy/flights/setup.sh "$FLIGHTS_DIR" >&2
bazel build //client/psctl //coordinator:ps_coordinator //server:ps_server \
  //worker:ps_worker >&2
work=$(mktemp -d /tmp/run_flights.XXXXXX)
trap 'rm -rf "$work"' EXIT

# An example's settings, edited: epochs and data dir. Prints
# "batch lr features(lower-case, comma-separated)".
settings() {
  /usr/bin/python3 - "$1" "$2" "$epochs" "$FLIGHTS_DIR" <<'PY'
import json, sys
src, dst, epochs, data = sys.argv[1:]
spec = json.load(open(src))
spec["training"]["epochs"] = int(epochs)
spec["data"]["dir"] = data
json.dump(spec, open(dst, "w"))
features = spec["model"].get("features") or [
    "ORIGIN", "DEST", "ROUTE", "HOUR", "WEEKDAY", "DISTANCE_BUCKET"]
print(spec["training"]["batchSize"], spec["optimizer"]["learningRate"],
      ",".join(f.lower() for f in features))
PY
}

read -r lr_batch lr_rate lr_features < <(settings examples/flights_sparse_lr.json "$work/lr.json")
torch_version=$(/usr/bin/python3 -c 'import torch; print(torch.__version__)')

echo "| run | batch | workers | servers | examples/s | vs PyTorch | test log-loss | test AUC |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|"
best=0
torch_run() {  # batch lr
  /usr/bin/python3 bench/flights_torch.py --data-dir "$FLIGHTS_DIR" --batch "$1" \
    --lr "$2" --epochs "$epochs" --threads 2 --features "$lr_features" > "$work/torch.md"
  local row rate
  row=$(tail -n 1 "$work/torch.md")
  # Columns of flights_torch.py's row: s/epoch, examples/s, log-loss, AUC.
  rate=$(echo "$row" | awk -F'|' '{gsub(/[ ,]/, "", $8); print $8}')
  torch_rows+=("$(printf '| PyTorch %s sparse LR, 1 process, 2 threads (lr %s) | %d | 1 | - | %d | @RATIO%d@ | %s | %s |' \
    "$torch_version" "$2" "$1" "$rate" "$rate" \
    "$(echo "$row" | awk -F'|' '{gsub(/ /, "", $9); print $9}')" \
    "$(echo "$row" | awk -F'|' '{gsub(/ /, "", $10); print $10}')")")
  if [[ $rate -gt $best ]]; then best=$rate; fi
}
torch_rows=()
torch_run "$lr_batch" "$lr_rate"
if [[ $lr_batch != 1024 ]]; then torch_run 1024 0.05; fi
for row in "${torch_rows[@]}"; do
  rate=$(echo "$row" | sed -n 's/.*@RATIO\([0-9]*\)@.*/\1/p')
  echo "${row/@RATIO${rate}@/$(awk -v a="$rate" -v b="$best" 'BEGIN { printf "%.2fx", a / b }')}"
done

run_cluster() {  # example workers servers
  local example=$1 workers=$2 servers=$3 spec="$work/spec.json" out="$work/out.txt"
  local batch rate auc loss name
  read -r batch _ _ < <(settings "$example" "$spec")
  name=$(basename "$example" .json)
  # Plaintext, as the recorded figures were measured (TLS's cost is
  # dataplane_bench --security=plaintext,tls).
  if ! bazel-bin/client/psctl/psctl local "$spec" --servers="$servers" --workers="$workers" \
      --insecure --work_dir="$work/$name-$workers-$servers" > "$out" 2>&1; then
    cat "$out" >&2
    return 1
  fi
  rate=$(sed -n 's/.*training loop: \([0-9]*\) examples.*/\1/p' "$out")
  auc=$(sed -n 's/^result:.*test AUC \([0-9.]*\).*/\1/p' "$out")
  loss=$(sed -n 's/^result:.*log-loss \([0-9.]*\).*/\1/p' "$out")
  printf '| psctl local %s | %d | %d | %d | %d | %s | %s | %s |\n' "$name" "$batch" \
    "$workers" "$servers" "$rate" \
    "$(awk -v a="$rate" -v b="$best" 'BEGIN { printf "%.2fx", a / b }')" "$loss" "$auc"
}
run_cluster examples/flights_sparse_lr.json 1 1
run_cluster examples/flights_sparse_lr.json 2 1
run_cluster examples/flights_sparse_lr.json 2 2
run_cluster examples/flights_wide_deep.json 2 2
echo
echo "$epochs epoch(s), Adagrad, features: $lr_features; PyTorch ran first, then each cluster, in one invocation"
