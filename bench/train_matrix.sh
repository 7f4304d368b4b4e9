#!/usr/bin/env bash
# Trains the Fashion-MNIST MLP example through `psctl local` (2 servers, 2
# workers, 5 epochs) under each consistency model and with each optimizer,
# and prints one Markdown row per run: test accuracy, wall time of the
# training, and the largest staleness any pull saw.
#   bash bench/train_matrix.sh            # everything
#   bash bench/train_matrix.sh consistency
#   bash bench/train_matrix.sh optimizers
set -euo pipefail
cd "$(dirname "$0")/.."
bazel build //client/psctl >/dev/null 2>&1
what=${1:-all}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# run LABEL JSON-PATCH: patch is a Python dict literal merged into the example.
run() {
  local label=$1 patch=$2
  /usr/bin/python3 - "$patch" > "$tmp/spec.json" <<'PY'
import ast, json, sys
spec = json.load(open("examples/fashion_mnist_mlp.json"))
for key, value in ast.literal_eval(sys.argv[1]).items():
    spec.setdefault(key, {}).update(value)
print(json.dumps(spec))
PY
  local out
  out=$(bazel-bin/client/psctl/psctl local "$tmp/spec.json" --servers=2 --workers=2 --insecure 2>&1) || true
  local acc time stale
  acc=$(sed -n 's/.*test accuracy \([0-9.]*%\).*/\1/p' <<<"$out" | tail -1)
  time=$(sed -n 's/.*trained in \([0-9.]* s\).*/\1/p' <<<"$out" | tail -1)
  stale=$(sed -n 's/.*max staleness \([0-9]*\).*/\1/p' <<<"$out" | tail -1)
  echo "| $label | ${acc:-FAILED} | ${time:--} | ${stale:--} |"
}

echo "| run | test accuracy | training wall time | max staleness |"
echo "|---|---|---|---|"
if [[ $what == all || $what == consistency ]]; then
  run "ASP, SGD lr 0.1" "{'training': {'consistency': 'ASP'}}"
  run "SSP(2), SGD lr 0.1" "{'training': {'consistency': 'SSP', 'staleness': 2}}"
  run "BSP, SGD lr 0.1" "{'training': {'consistency': 'BSP'}}"
fi
if [[ $what == all || $what == optimizers ]]; then
  run "ASP, MOMENTUM lr 0.01 (0.9)" "{'optimizer': {'type': 'MOMENTUM', 'learningRate': 0.01}}"
  run "ASP, MOMENTUM lr 0.01 Nesterov" "{'optimizer': {'type': 'MOMENTUM', 'learningRate': 0.01, 'nesterov': True}}"
  run "ASP, ADAGRAD lr 0.01" "{'optimizer': {'type': 'ADAGRAD', 'learningRate': 0.01}}"
  run "ASP, ADAM lr 0.001" "{'optimizer': {'type': 'ADAM', 'learningRate': 0.001}}"
  run "ASP, ADAMW lr 0.001 wd 0.01" "{'optimizer': {'type': 'ADAMW', 'learningRate': 0.001}}"
  run "ASP, FTRL alpha 0.05" "{'optimizer': {'type': 'FTRL', 'learningRate': 0.05}}"
  run "ASP, SGD lr 0.1, cosine decay" "{'optimizer': {'schedule': {'kind': 'COSINE', 'decaySteps': 2350, 'minFactor': 0.01}}}"
fi
