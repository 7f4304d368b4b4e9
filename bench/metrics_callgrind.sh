#!/usr/bin/env bash
# What Prometheus metrics cost a ps_server, in instructions, which unlike
# time do not move with the load of a shared machine. Runs the data-plane
# benchmark's push, pull and push+pull phases against one server without
# metrics and one with them (--metrics_port=-1, scraped once), both under
# valgrind's callgrind, one size at a time, and prints per size the
# instructions per data-plane call of each server and the share of the "on"
# server's instructions spent in metrics code (bench/metrics_share.py says
# what is counted), after subtracting each server's start-up and shutdown
# (measured by starting and stopping one of each without a call). Callgrind
# runs the servers about 50 times slower, so the call counts are small; the
# shares are per call, not per second.
#
#   bash bench/metrics_callgrind.sh [--sizes=4K,1M,16M] [--seconds=3] [--keep]
#
# --keep leaves the callgrind files (for callgrind_annotate) in the folder
# it names.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=4K,1M,16M
seconds=3
keep=0
for arg in "$@"; do
  case "$arg" in
    --sizes=*) sizes="${arg#--sizes=}" ;;
    --seconds=*) seconds="${arg#--seconds=}" ;;
    --keep) keep=1 ;;
    *) echo "unknown argument: $arg (allowed: --sizes=, --seconds=, --keep)" >&2; exit 2 ;;
  esac
done
command -v valgrind >/dev/null || { echo "valgrind is not installed (deploy/bootstrap.sh installs it)" >&2; exit 1; }
bazel build -c opt //bench:dataplane_bench //server:ps_server
bin="$(readlink -f bazel-bin)"
work="$(mktemp -d /tmp/metrics_callgrind.XXXXXX)"
if [ "$keep" = 1 ]; then
  echo "# callgrind files in $work"
else
  trap 'rm -rf "$work"' EXIT
fi
cat >"$work/server.sh" <<WRAP
#!/bin/sh
exec valgrind --tool=callgrind --callgrind-out-file="\$CALLGRIND_OUT/cg.%p" "$bin/server/ps_server" "\$@"
WRAP
chmod +x "$work/server.sh"
# Start-up and shutdown alone, without a call, for each setting: subtracted.
idle=()
for setting in off on; do
  mkdir -p "$work/idle-$setting"
  flags=(--port=0 --port_file="$work/idle-$setting/port" --insecure --log_level=info)
  [ "$setting" = on ] && flags+=(--metrics_port=-1)
  CALLGRIND_OUT="$work/idle-$setting" "$work/server.sh" "${flags[@]}" \
    2>"$work/idle-$setting/log" &
  pid=$!
  # Serving once the port file is written (valgrind takes seconds to start).
  for _ in $(seq 600); do
    [ -s "$work/idle-$setting/port" ] && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/idle-$setting/log" >&2; exit 1; }
    sleep 0.1
  done
  [ -s "$work/idle-$setting/port" ] || { echo "idle server did not start in 60 s" >&2; kill "$pid"; exit 1; }
  kill -TERM "$pid"
  wait "$pid" || true
  idle+=("$(ls "$work/idle-$setting"/cg.*)")
done
echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)"
for size in ${sizes//,/ }; do
  mkdir -p "$work/$size"
  CALLGRIND_OUT="$work/$size" "$bin/bench/dataplane_bench" \
    --server_binary="$work/server.sh" --iperf3= --servers=1 \
    --metrics=off,on --sizes="$size" --repeats=1 --warmup=1 \
    --seconds="$seconds" >"$work/$size/bench.txt" 2>&1 ||
    { cat "$work/$size/bench.txt" >&2; exit 1; }
  echo
  echo "## $size"
  python3 bench/metrics_share.py --idle="${idle[0]},${idle[1]}" "$work/$size"/cg.*
done
