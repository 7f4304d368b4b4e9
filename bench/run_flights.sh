#!/usr/bin/env bash
# The flight-delay workload on the cluster next to the single-process
# PyTorch baseline, run one after the other in the same invocation with the
# same features, optimizer, learning rate, batch size, epochs and split.
#
#   bench/run_flights.sh [--batch 1024] [--epochs 1] [--lr 0.05] [--features all|default]
#
# Runs bench/flights_torch.py (PyTorch sparse logistic regression), then
# examples/flights_sparse_lr.json through `psctl local` with 1 worker + 1
# server and 2 workers + 2 servers, then examples/flights_wide_deep.json with
# 2 + 2, each edited to the same settings. Prints one Markdown table.
# examples/s is the training loop's throughput: PyTorch's epoch time, the
# cluster's JobResult.train_examples_per_sec (all workers' examples over the
# longest worker's loop); neither counts loading or evaluation.
set -euo pipefail
cd "$(dirname "$0")/.."
batch=1024 epochs=1 lr=0.05 features=all
while [[ $# -gt 0 ]]; do
  case "$1" in
    --batch) batch=$2; shift 2 ;;
    --epochs) epochs=$2; shift 2 ;;
    --lr) lr=$2; shift 2 ;;
    --features) features=$2; shift 2 ;;
    *) echo "run_flights.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
case "$features" in
  all) py_features=origin,dest,route,hour,weekday,distance_bucket,origin_hour,dest_hour
       json_features='["ORIGIN","DEST","ROUTE","HOUR","WEEKDAY","DISTANCE_BUCKET","ORIGIN_HOUR","DEST_HOUR"]' ;;
  default) py_features=origin,dest,route,hour,weekday,distance_bucket
           json_features='["ORIGIN","DEST","ROUTE","HOUR","WEEKDAY","DISTANCE_BUCKET"]' ;;
  *) echo "run_flights.sh: --features all|default" >&2; exit 2 ;;
esac
FLIGHTS_DIR=${FLIGHTS_DIR:-/var/lib/pscluster/flights}
bash deploy/flights/setup.sh "$FLIGHTS_DIR" >&2
bazel build //client:psctl //coordinator:ps_coordinator //server:ps_server \
  //worker:ps_worker >&2
work=$(mktemp -d /tmp/run_flights.XXXXXX)
trap 'rm -rf "$work"' EXIT

echo "| run | workers | servers | examples/s | vs PyTorch | test log-loss | test AUC |"
echo "|---|---:|---:|---:|---:|---:|---:|"
/usr/bin/python3 bench/flights_torch.py --data-dir "$FLIGHTS_DIR" --batch "$batch" \
  --epochs "$epochs" --lr "$lr" --features "$py_features" > "$work/torch.md"
torch_row=$(tail -n 1 "$work/torch.md")
# Columns of flights_torch.py's row: s/epoch, examples/s, log-loss, AUC.
torch_rate=$(echo "$torch_row" | awk -F'|' '{gsub(/[ ,]/, "", $8); print $8}')
torch_loss=$(echo "$torch_row" | awk -F'|' '{gsub(/ /, "", $9); print $9}')
torch_auc=$(echo "$torch_row" | awk -F'|' '{gsub(/ /, "", $10); print $10}')
printf '| PyTorch %s sparse LR, 1 process | 1 | - | %.0f | 1.00x | %s | %s |\n' \
  "$(/usr/bin/python3 -c 'import torch; print(torch.__version__)')" \
  "$torch_rate" "$torch_loss" "$torch_auc"

run_cluster() {  # example workers
  local example=$1 n=$2 spec="$work/spec.json" out="$work/out.txt"
  /usr/bin/python3 - "$example" "$spec" "$batch" "$epochs" "$lr" "$json_features" "$FLIGHTS_DIR" <<'PY'
import json, sys
src, dst, batch, epochs, lr, features, data = sys.argv[1:]
spec = json.load(open(src))
spec["training"].update(batchSize=int(batch), epochs=int(epochs))
spec["optimizer"]["learningRate"] = float(lr)
spec["model"]["features"] = json.loads(features)
spec["data"]["dir"] = data
json.dump(spec, open(dst, "w"))
PY
  if ! bazel-bin/client/psctl local "$spec" --servers="$n" --workers="$n" \
      --work_dir="$work/$(basename "$example" .json)-$n" > "$out" 2>&1; then
    cat "$out" >&2
    return 1
  fi
  local rate auc loss
  rate=$(sed -n 's/.*training loop: \([0-9]*\) examples.*/\1/p' "$out")
  auc=$(sed -n 's/^result:.*test AUC \([0-9.]*\).*/\1/p' "$out")
  loss=$(sed -n 's/^result:.*log-loss \([0-9.]*\).*/\1/p' "$out")
  printf '| psctl local %s | %d | %d | %d | %.2fx | %s | %s |\n' \
    "$(basename "$example" .json)" "$n" "$n" "$rate" \
    "$(awk -v a="$rate" -v b="$torch_rate" 'BEGIN { print a / b }')" "$loss" "$auc"
}
run_cluster examples/flights_sparse_lr.json 1
run_cluster examples/flights_sparse_lr.json 2
run_cluster examples/flights_wide_deep.json 2
echo
echo "batch $batch, $epochs epoch(s), Adagrad lr $lr, features: $py_features"
