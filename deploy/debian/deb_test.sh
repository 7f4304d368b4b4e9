#!/usr/bin/env bash
# The Debian package, as an operator meets it:
#  1. its control data: Depends derived from the binaries, the conffiles;
#  2. `systemd-analyze verify` on the installed units;
#  3. dpkg installs it into a scratch root (--root, maintainer scripts
#     chrootless), checking Depends against this machine's installed
#     packages; postinst creates the pscluster user there;
#  4. the installed psctl runs a job on a local cluster of the installed
#     daemons (`psctl local`);
#  5. the daemons start from their units' ExecStart lines and the shipped
#     flags files (paths moved into the scratch root, ports made free),
#     answer `psctl health` with their own certificates, form a cluster,
#     and stop cleanly on SIGTERM;
#  6. purge removes the package and the coordinator's state.
# Nothing outside $TEST_TMPDIR is written; every process is stopped.
set -euo pipefail
source deploy/testing/lib.sh

deb=$PWD/deploy/debian/pscluster_amd64.deb
t=$(mktemp -d "${TEST_TMPDIR:-/tmp}/deb_test.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do stop_pid "$pid" 5 || true; done
  rm -rf "$t"
}
trap cleanup EXIT

echo "== control data"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for pkg in libgrpc++1.51 libprotobuf32 libspdlog1.10 libsqlite3-0 \
  libopenblas0 libc6; do
  [[ "$depends" == *"$pkg"* ]] || [[ "$pkg" == libopenblas0 &&
    "$depends" == *libopenblas0-* ]] || fail "Depends lacks $pkg"
done
conffiles=$(dpkg-deb -I "$deb" conffiles)
for f in coordinator server worker; do
  grep -qx "/etc/pscluster/$f.flags" <<<"$conffiles" ||
    fail "/etc/pscluster/$f.flags is not a conffile"
done

echo "== install into a scratch root"
root=$t/root
admin=$root/var/lib/dpkg
mkdir -p "$admin/info" "$admin/updates" "$admin/triggers"
# This machine's package database, so that dpkg checks Depends for real.
cp /var/lib/dpkg/status "$admin/status"
touch "$admin/available"
# (Without the copied database's file lists dpkg warns once per package.)
dpkg --root="$root" --force-script-chrootless --log=/dev/null \
  --no-triggers -i "$deb" 2> >(grep -v "^dpkg: warning: files list file" >&2)
for f in usr/bin/ps_coordinator usr/bin/ps_server usr/bin/ps_worker \
  usr/bin/psctl lib/systemd/system/ps-coordinator.service \
  lib/systemd/system/ps-server.service lib/systemd/system/ps-worker@.service \
  etc/pscluster/coordinator.flags etc/pscluster/server.flags \
  etc/pscluster/worker.flags; do
  [[ -e "$root/$f" ]] || fail "the package did not install /$f"
done
grep -q '^pscluster:' "$root/etc/passwd" || fail "postinst made no user"
gid=$(awk -F: '$1 == "pscluster" { print $3 }' "$root/etc/group")
[[ $(stat -c '%g %a' "$root/etc/pscluster/tls") == "$gid 750" ]] ||
  fail "/etc/pscluster/tls is not 0750 root:pscluster"
dpkg --root="$root" -s pscluster | grep -q '^Status: install ok installed' ||
  fail "dpkg does not list pscluster as installed"

echo "== systemd-analyze verify"
# --root resolves ExecStart binaries and unit paths inside the scratch root.
# The targets our units name (sysinit.target, multi-user.target...) are
# systemd's own, which any real root has: they come from this machine.
cp -an /lib/systemd/system/. "$root/lib/systemd/system/"
# The worker is verified as an instance, as systemd starts it.
verify_log=$t/verify.log
if ! systemd-analyze verify --root="$root" --man=no \
  ps-coordinator.service ps-server.service ps-worker@0.service \
  >"$verify_log" 2>&1; then
  cat "$verify_log"
  fail "systemd-analyze verify"
fi
# verify also reports problems without failing: none may be about our units.
if grep -E "ps-(coordinator|server|worker)" "$verify_log"; then
  fail "systemd-analyze verify warned about the units"
fi
# ... as it does for a misspelt setting, which shows the check bites.
sed 's/^ProtectSystem=/ProtectSytem=/' \
  "$root/lib/systemd/system/ps-server.service" \
  >"$root/lib/systemd/system/ps-broken.service"
systemd-analyze verify --root="$root" --man=no ps-broken.service \
  >"$verify_log" 2>&1 || true
grep -q "ps-broken.service.*Unknown key 'ProtectSytem'" "$verify_log" ||
  fail "verify did not report a broken unit: $(cat "$verify_log")"
rm "$root/lib/systemd/system/ps-broken.service"
for unit in ps-coordinator.service ps-server.service ps-worker@0.service; do
  systemd-analyze security --offline=yes --root="$root" "$unit" 2>&1 |
    tail -n 1
done

echo "== psctl local with the installed binaries"
cat >"$t/spec.json" <<'EOF'
{
  "name": "deb-test",
  "model": {"type": "MLP", "hiddenSizes": [32]},
  "data": {"dataset": "FASHION_MNIST", "dir": "/usr/share/datasets/fashion-mnist"},
  "optimizer": {"type": "SGD", "learningRate": 0.1},
  "training": {"epochs": 1, "batchSize": 256, "seed": 1, "reportEverySteps": 50},
  "cluster": {"numWorkers": 1, "numServers": 1}
}
EOF
# psctl finds the daemons beside itself, in $root/usr/bin.
TMPDIR=$t "$root/usr/bin/psctl" local "$t/spec.json" --servers=1 --workers=1 \
  --dashboard=false --timeout=240s | tee "$t/local.out"
grep -q "SUCCEEDED" "$t/local.out" || fail "psctl local did not succeed"

echo "== the daemons from their units and flags files"
psctl=$root/usr/bin/psctl
"$psctl" certs init --dir="$t/pki" >/dev/null
for role in coordinator server worker; do
  "$psctl" certs issue --dir="$t/pki" --role=$role --name=$role \
    --ip=127.0.0.1 >/dev/null
  mkdir -p "$root/etc/pscluster/tls"
  cp -r "$t/pki/$role-$role" "$root/etc/pscluster/tls/$role"
done
"$psctl" certs issue --dir="$t/pki" --role=admin --name=ops >/dev/null
# The flags files with their paths moved into the scratch root.
for f in coordinator server worker; do
  sed -e "s#=/etc/pscluster/#=$root/etc/pscluster/#" \
    -e "s#=/var/lib/pscluster#=$root/var/lib/pscluster#" \
    "$root/etc/pscluster/$f.flags" >"$t/$f.flags"
done
mkdir -p "$root/var/lib/pscluster"
# A unit's ExecStart, as systemd would run it for instance 0, on the
# scratch root's binaries and the moved flags files.
exec_start() {
  sed -n 's/^ExecStart=//p' "$root/lib/systemd/system/$1" |
    sed -e "s#^/usr/bin/#$root/usr/bin/#" \
      -e "s#/etc/pscluster/\([a-z]*\)\.flags#$t/\1.flags#" -e 's/%i/0/g'
}
# shellcheck disable=SC2046 # ExecStart is split into words as systemd does
start() {
  local unit=$1 name=$2
  shift 2
  $(exec_start "$unit") --port_file="$t/$name.port" "$@" \
    >"$t/$name.log" 2>&1 &
  pids+=($!)
}
start ps-coordinator.service coordinator --port=0 --http_port=0
wait_until 30 nonempty "$t/coordinator.port" || {
  cat "$t/coordinator.log"; fail "the coordinator did not start"; }
coord=$(cat "$t/coordinator.port")
start ps-server.service server --coordinator="$coord" --port=0
start ps-worker@.service worker --coordinator="$coord" --device=cpu
for name in server worker; do
  wait_until 30 nonempty "$t/$name.port" || {
    cat "$t/$name.log"; fail "the $name did not start"; }
done
for name in coordinator server worker; do
  # Each daemon's own certificate, as a Kubernetes exec probe uses it.
  out=$("$psctl" health "$(cat "$t/$name.port")" \
    --tls_dir="$root/etc/pscluster/tls/$name")
  [[ "$out" == SERVING ]] || fail "$name health: $out"
done
cluster() {
  "$psctl" cluster --coordinator="$coord" --tls_dir="$t/pki/admin-ops" \
    >"$t/cluster.out" 2>&1 &&
    grep -q "server" "$t/cluster.out" && grep -q "worker" "$t/cluster.out"
}
wait_until 30 cluster || { cat "$t/cluster.out"; fail "no cluster formed"; }
cat "$t/cluster.out"
for i in 2 1 0; do
  stop_pid "${pids[$i]}" 30 || fail "daemon $i needed SIGKILL"
  wait "${pids[$i]}" || fail "daemon $i exited $? on SIGTERM"
done
pids=()
[[ -s "$root/var/lib/pscluster/coordinator.db" ]] ||
  fail "the coordinator kept no state in /var/lib/pscluster"

echo "== purge"
rm -rf "$root/etc/pscluster/tls"/*
dpkg --root="$root" --force-script-chrootless --log=/dev/null --purge pscluster \
  2> >(grep -v "^dpkg: warning: files list file" >&2)
for f in usr/bin/ps_coordinator etc/pscluster/coordinator.flags \
  lib/systemd/system/ps-server.service var/lib/pscluster; do
  [[ ! -e "$root/$f" ]] || fail "purge left /$f"
done
echo "PASS"
