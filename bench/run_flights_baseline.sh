#!/usr/bin/env bash
# The single-process PyTorch baseline for the flight-delay workload: makes
# sure the PSF1 files exist (deploy/flights/setup.sh, a no-op once done),
# checks the feature hash against the C++ one, trains, and prints a Markdown
# table row (s/epoch, examples/s, test log-loss and AUC).
#
#   bench/run_flights_baseline.sh [flights_torch.py args...]
#   e.g. --epochs 3, --optimizer sgd --lr 5, --data-dir DIR, or the two
#   crosses on top of the six default features:
#   --features origin,dest,route,hour,weekday,distance_bucket,origin_hour,dest_hour
#
# Needs python3-torch and python3-numpy (deploy/bootstrap.sh) and, for the
# first set-up only, npm registry access. FLIGHTS_DIR overrides the data
# directory for both steps.
set -euo pipefail
cd "$(dirname "$0")/.."
FLIGHTS_DIR=${FLIGHTS_DIR:-/var/lib/pscluster/flights}
bash deploy/flights/setup.sh "$FLIGHTS_DIR" >&2
/usr/bin/python3 bench/flights_torch.py --self-check >&2
exec /usr/bin/python3 bench/flights_torch.py --data-dir "$FLIGHTS_DIR" "$@"
