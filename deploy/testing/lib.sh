# Helpers for the deployment tests (deploy/*/..._test.sh): waits that poll
# an observable condition until a deadline, and stopping processes by pid.
# Source it; it sets nothing else.

# wait_until SECONDS CMD...: runs CMD every 0.2 s until it succeeds (0) or
# SECONDS have passed (1).
wait_until() {
  local end=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < end)) || return 1
    sleep 0.2
  done
}

# alive PID: the process exists and is not a zombie.
alive() {
  [[ -r /proc/$1/stat ]] || return 1
  local state
  state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [[ -n "$state" && "$state" != Z ]]
}

not_alive() { ! alive "$1"; }

# stop_pid PID [SECONDS]: SIGTERM, then SIGKILL if it is still there after
# SECONDS (default 30). Returns 1 when SIGKILL was needed.
stop_pid() {
  local pid=$1 secs=${2:-30}
  alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null || true
  if wait_until "$secs" not_alive "$pid"; then return 0; fi
  kill -KILL "$pid" 2>/dev/null || true
  wait_until 10 not_alive "$pid" || true
  return 1
}

# A file exists and is not empty.
nonempty() { [[ -s "$1" ]]; }

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
