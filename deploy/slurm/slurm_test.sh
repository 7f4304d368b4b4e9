#!/usr/bin/env bash
# pscluster.sbatch on a real one-node Slurm cluster: starts munged,
# slurmctld and slurmd (Debian's munge and slurm-wlm) with a private
# configuration, private ports and a private munge socket, all under one
# temporary folder, with the node at 127.0.0.1; submits the sbatch script
# with the MLP example and CPU workers; waits (with a deadline) for the
# Slurm job; checks it ended SUCCEEDED. Stops every daemon and job step and
# removes the folder, also on failure. Needs root (Slurm runs the job's
# tasks as the submitting user, and slurmd must be able to become it).
set -euo pipefail
source deploy/testing/lib.sh

[[ $(id -u) -eq 0 ]] || fail "slurm_test must run as root (slurmd, munged)"
for tool in munged slurmctld slurmd sbatch scontrol; do
  command -v "$tool" >/dev/null ||
    fail "$tool not found: run deploy/bootstrap.sh (munge, slurm-wlm)"
done

here=$PWD
# Socket paths must stay under 108 bytes: not in Bazel's deep TEST_TMPDIR.
t=$(mktemp -d /tmp/pscluster-slurm.XXXXXX)
export SLURM_CONF=$t/slurm.conf
started=()  # pid files of the daemons we started, in start order

cleanup() {
  set +e
  if [[ -f "$SLURM_CONF" ]]; then
    scancel --quiet --full --signal=TERM --partition=test 2>/dev/null
    scancel --quiet --partition=test 2>/dev/null
    wait_until 30 no_jobs
  fi
  for ((i = ${#started[@]} - 1; i >= 0; i--)); do
    pid=$(cat "${started[$i]}" 2>/dev/null) && stop_pid "$pid" 20
  done
  # Anything still running from our folder (a job step slurmd left).
  for pid in $(pgrep -f "$t" 2>/dev/null); do stop_pid "$pid" 5; done
  rm -rf "$t"
}
trap cleanup EXIT

no_jobs() { [[ -z $(squeue -h -o %i 2>/dev/null) ]]; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

echo "== munged"
dd if=/dev/urandom of="$t/munge.key" bs=1024 count=1 status=none
chmod 0400 "$t/munge.key"
munged --force --socket="$t/munge.sock" --key-file="$t/munge.key" \
  --pid-file="$t/munged.pid" --log-file="$t/munged.log" \
  --seed-file="$t/munge.seed"
started+=("$t/munged.pid")
wait_until 20 nonempty "$t/munged.pid" || fail "munged did not start"

echo "== slurmctld and slurmd"
node=$(hostname -s)
mkdir -p "$t/state" "$t/spool"
cat >"$SLURM_CONF" <<EOF
ClusterName=pstest
SlurmctldHost=$node(127.0.0.1)
SlurmctldPort=$(free_port)
SlurmdPort=$(free_port)
AuthType=auth/munge
AuthInfo=socket=$t/munge.sock
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$t/state
SlurmdSpoolDir=$t/spool
SlurmctldPidFile=$t/slurmctld.pid
SlurmdPidFile=$t/slurmd.pid
SlurmctldLogFile=$t/slurmctld.log
SlurmdLogFile=$t/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName=$node NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=1024 State=UNKNOWN
PartitionName=test Nodes=$node Default=YES MaxTime=30 State=UP
EOF
slurmctld -i
started+=("$t/slurmctld.pid")
wait_until 30 scontrol ping >/dev/null || {
  cat "$t/slurmctld.log"; fail "slurmctld did not come up"; }
slurmd -N "$node"
started+=("$t/slurmd.pid")
node_idle() { [[ $(sinfo -h -n "$node" -o %T 2>/dev/null) == idle ]]; }
wait_until 60 node_idle || {
  cat "$t/slurmd.log"; sinfo; fail "the node did not become idle"; }
sinfo

echo "== sbatch pscluster.sbatch"
# The daemons and psctl from this build, flat, as the package installs them.
mkdir -p "$t/bin"
for f in coordinator/ps_coordinator server/ps_server worker/ps_worker \
  client/psctl/psctl; do
  ln -s "$(readlink -f "$here/$f")" "$t/bin/$(basename "$f")"
done
cp "$(readlink -f "$here/deploy/slurm/pscluster.sbatch")" \
  "$(readlink -f "$here/deploy/slurm/ps_task.sh")" "$t/"
cp "$(readlink -f "$here/examples/fashion_mnist_mlp.json")" "$t/spec.json"
# No GPUs here: CPU workers, two of them and two servers on the one node,
# as the example's spec asks.
job=$(PS_BIN_DIR=$t/bin PS_DEVICE=cpu PS_WORKERS_PER_NODE=2 PS_SERVERS=2 \
  PS_HOST=127.0.0.1 PS_PORT=$(free_port) PS_WORK_DIR=$t/work PS_TIMEOUT=240s \
  sbatch --parsable --chdir="$t" --output="$t/job.out" --time=10 \
  "$t/pscluster.sbatch" "$t/spec.json")
echo "Slurm job $job"
job_state() { scontrol show job "$job" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p'; }
job_ended() { [[ $(job_state) =~ ^(COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY)$ ]]; }
if ! wait_until 300 job_ended; then
  cat "$t/job.out"
  fail "the Slurm job did not end within 300 s (state $(job_state))"
fi
cat "$t/job.out"
state=$(job_state)
if [[ "$state" != COMPLETED ]]; then
  for f in "$t"/work/logs/*.log; do echo "--- $f"; tail -n 20 "$f"; done
  fail "the Slurm job ended $state"
fi
grep -q "SUCCEEDED" "$t/job.out" || fail "the pscluster job did not succeed"
grep -Eq "accuracy" "$t/job.out" || fail "no accuracy in the job's output"
[[ ! -e "$t/work/pki" ]] || fail "the job's certificates were left behind"
# Every daemon of the job stopped on SIGTERM, not by Slurm's SIGKILL.
if grep -E "srun: error|Killed" "$t/job.out"; then
  fail "job steps did not stop cleanly"
fi

echo "== teardown"
trap - EXIT
cleanup
[[ ! -e "$t" ]] || fail "$t is left behind"
left=$(pgrep -f "$t" || true)
[[ -z "$left" ]] || fail "processes left behind: $left"
echo "PASS"
