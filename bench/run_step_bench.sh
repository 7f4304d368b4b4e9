#!/usr/bin/env bash
# Times one MLP training step (forward + backward, no optimizer update) on
# the worker's CPU backend and on PyTorch 1.13 CPU side by side, at each
# thread count, and prints a Markdown table with the ratio. When a GPU is
# visible it also times the CUDA backend (step, GEMMs alone, cuBLAS's best
# SGEMM) and PyTorch on the GPU if that PyTorch has CUDA.
#
#   bench/run_step_bench.sh [--layers=784,1024,1024,10] [--batch=512]
#                           [--threads="1 2"] [--rounds=3] [--steps=30]
#
# Both sides get the same thread count through OPENBLAS_NUM_THREADS and
# OMP_NUM_THREADS (PyTorch also through torch.set_num_threads, the worker
# through openblas_set_num_threads). Rounds alternate the two programs so
# that load from anything else on the machine hits both alike; each cell is
# the best round's median step time.
set -euo pipefail
cd "$(dirname "$0")/.."

LAYERS=784,1024,1024,10
BATCH=512
THREADS="1 2"
ROUNDS=3
STEPS=30
for arg in "$@"; do
  case "$arg" in
    --layers=*) LAYERS="${arg#*=}" ;;
    --batch=*) BATCH="${arg#*=}" ;;
    --threads=*) THREADS="${arg#*=}" ;;
    --rounds=*) ROUNDS="${arg#*=}" ;;
    --steps=*) STEPS="${arg#*=}" ;;
    *) echo "unknown argument: $arg" >&2; exit 2 ;;
  esac
done

PY=/usr/bin/python3
bazel build //bench:step_bench >&2
BIN=bazel-bin/bench/step_bench

# field JSON KEY: one value from a JSON line.
field() {
  "$PY" -c 'import json, sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"
}
min() { "$PY" -c 'import sys; print(min(float(v) for v in sys.argv[1:]))' "$@"; }

ours() {
  OPENBLAS_NUM_THREADS=$1 OMP_NUM_THREADS=$1 "$BIN" --device=cpu \
    --threads="$1" --layers="$LAYERS" --batch="$BATCH" --steps="$STEPS"
}
torch() {
  OPENBLAS_NUM_THREADS=$1 OMP_NUM_THREADS=$1 "$PY" bench/torch_step.py \
    --threads="$1" --layers="$LAYERS" --batch="$BATCH" --steps="$STEPS" \
    --device="${2:-cpu}"
}

torch_version=$("$PY" -c 'import torch; print(torch.__version__)')
echo "MLP $LAYERS, batch $BATCH, forward + backward; median of $STEPS steps," \
  "best of $ROUNDS rounds; $(nproc) CPUs: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo
echo "| threads | CPU backend (ms) | PyTorch $torch_version CPU (ms) | CPU backend / PyTorch |"
echo "|---|---|---|---|"
for t in $THREADS; do
  ours_ms=() torch_ms=()
  for ((r = 0; r < ROUNDS; ++r)); do
    ours_ms+=("$(field "$(ours "$t")" median_ms)")
    torch_ms+=("$(field "$(torch "$t")" median_ms)")
  done
  o=$(min "${ours_ms[@]}")
  p=$(min "${torch_ms[@]}")
  printf '| %s | %.1f | %.1f | %.2f |\n' "$t" "$o" "$p" \
    "$("$PY" -c "print($o / $p)")"
done

if ! gpu_json=$("$BIN" --device=cuda --layers="$LAYERS" --batch="$BATCH" \
  --steps="$STEPS" 2>&1); then
  echo
  echo "No GPU figures: $gpu_json"
  exit 0
fi
torch_gpu="n/a ($("$PY" -c 'import torch; print("PyTorch built without CUDA" if not torch.cuda.is_available() else "")'))"
if "$PY" -c 'import sys, torch; sys.exit(not torch.cuda.is_available())'; then
  torch_gpu=$(printf '%.2f' "$(field "$(torch 1 cuda)" median_ms)")
fi
echo
echo "GPU: $(field "$gpu_json" device)"
echo
echo "| step (ms): CUDA backend | step (ms): PyTorch GPU | GEMMs alone (ms) | GEMM TFLOP/s | cuBLAS best SGEMM TFLOP/s (n) |"
echo "|---|---|---|---|---|"
printf '| %.2f | %s | %.3f | %.1f | %.1f (%s) |\n' \
  "$(field "$gpu_json" median_ms)" "$torch_gpu" \
  "$(field "$gpu_json" gemm_only_ms)" "$(field "$gpu_json" gemm_only_tflops)" \
  "$(field "$gpu_json" cublas_peak_tflops)" "$(field "$gpu_json" cublas_peak_n)"
