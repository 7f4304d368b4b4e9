#!/bin/bash
# One pscluster daemon as a Slurm task (started by pscluster.sbatch with
# srun): listens on and advertises this node's address ($PS_HOST, else the
# first of `hostname -I`); a worker takes the GPU of its node-local task
# number, a server the port PS_SERVER_PORT + that number.
#
#   ps_task.sh PROGRAM FLAGS...
set -euo pipefail
program=$1
shift
host=${PS_HOST:-}
[[ -n "$host" ]] || host=$(hostname -I | awk '{ print $1 }')
extra=()
case "$program" in
  # Slurm shows a step the node's allocated GPUs as 0..N-1.
  ps_worker) extra=(--gpu="${SLURM_LOCALID:-0}") ;;
  ps_server) extra=(--port=$((${PS_SERVER_PORT:-7100} + ${SLURM_LOCALID:-0}))) ;;
esac
exec "${PS_BIN_DIR:-/usr/bin}/$program" --host="$host" "${extra[@]}" "$@"
