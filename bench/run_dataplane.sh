#!/usr/bin/env bash
# Builds the data-plane benchmark and ps_server, then measures PsClient
# against 1 and 2 real ps_server processes next to an iperf3 loopback
# baseline. Extra arguments go to the benchmark, e.g. --seconds=2 or
# --sizes=1M,64M --servers=2, or --metrics=off,on to measure servers without
# and with Prometheus metrics in turn (the on / off ratios are printed).
set -euo pipefail
cd "$(dirname "$0")/.."
bazel build //bench:dataplane_bench //server:ps_server
exec bazel-bin/bench/dataplane_bench \
  --server_binary="$PWD/bazel-bin/server/ps_server" \
  --iperf3="$(command -v iperf3 || echo /usr/bin/iperf3)" \
  "$@"
