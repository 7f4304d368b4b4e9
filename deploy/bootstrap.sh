#!/usr/bin/env bash
# Installs every Debian package the project needs to build, test and run.
# Idempotent: packages already installed are left alone, and apt is not
# touched at all when nothing is missing.
set -euo pipefail

PACKAGES=(
  # build
  bazel-bootstrap g++ pkg-config
  # gRPC, protobuf, Abseil, spdlog (and fmt), GoogleTest
  libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev
  libabsl-dev libspdlog-dev libfmt-dev libgtest-dev libgmock-dev
  libssl-dev zlib1g-dev
  # checkpoint checksums: libdeflate's CRC-32
  libdeflate-dev
  # coordinator state (SQLite; the sqlite3 shell to inspect it)
  libsqlite3-dev sqlite3
  # JSON, header-only: log records, checkpoint manifests, safetensors headers
  nlohmann-json3-dev
  # fuzz targets (fuzz/): clang with libFuzzer and the sanitizers
  clang-14 libclang-rt-14-dev
  # metrics: prometheus-cpp (every daemon's --metrics_port) and promtool
  # (the prometheus package), which tests/metrics_test checks their output with
  prometheus-cpp-dev prometheus
  # CPU compute
  libopenblas-dev
  # data
  dataset-fashion-mnist
  # benchmarks: iperf3 (the loopback anchor), valgrind (callgrind counts
  # what metrics cost: bench/metrics_callgrind.sh)
  iperf3 valgrind
  # the multi-host test bed: network namespaces, veth, bridge, tc
  iproute2
  # psctl plot draws curves with gnuplot
  gnuplot-nox
  # the dashboard: its HTTP server; headless Chromium tests its pages
  libcivetweb-dev chromium
  # PyTorch 1.13 CPU baseline for bench/run_step_bench.sh (/usr/bin/python3)
  python3-torch
  # flight-delay workload: deploy/flights/setup.sh (node + npm; npm ships with
  # nodesource's nodejs, Debian's own needs the separate npm package) and
  # bench/flights_torch.py; numpy also reads safetensors exports in
  # tests/check_safetensors.py
  nodejs python3-numpy
  # deployment (deploy/): the .deb is built with dpkg-deb and binutils
  # (objdump, strip); systemd-analyze checks its units and systemd-sysusers
  # makes its user; deploy/slurm/slurm_test.sh runs a one-node Slurm cluster
  slurm-wlm munge binutils systemd
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "bootstrap: all ${#PACKAGES[@]} packages present"
else
  SUDO=""
  if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
  echo "bootstrap: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm packages the build embeds (the dashboard's charts), pinned by each
# folder's package-lock.json. `npm ci` reinstalls from scratch, so it runs
# only when node_modules did not come from the current lock file.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# deploy/k8s/validate: the offline Kubernetes schema validator.
for dir in "$ROOT/coordinator/web" "$ROOT/deploy/k8s/validate"; do
  lock_sum=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  mark="$dir/node_modules/.pscluster-lock.sha256"
  if [[ -f "$mark" && $(cat "$mark") == "$lock_sum" ]]; then continue; fi
  echo "bootstrap: npm ci in ${dir#"$ROOT"/}"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" >"$mark"
done

# kubectl (with kustomize built in) renders deploy/k8s in k8s_test. It comes
# with this kind of machine's image (google-cloud-cli's kubectl, 1.32);
# Debian bookworm's kubernetes-client (1.20, kustomize v2) is too old for
# the kustomization files, so nothing is installed here.
if ! command -v kubectl >/dev/null; then
  echo "bootstrap: warning: no kubectl; //deploy/k8s:k8s_test needs kubectl" \
    ">= 1.27 (kustomize v5)" >&2
fi
echo "bootstrap: done"
