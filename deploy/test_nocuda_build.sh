#!/usr/bin/env bash
# Builds and tests the project as on a machine without the CUDA toolkit, on
# a machine that has one: in a private mount namespace, every
# /usr/local/cuda* is covered by an empty read-only tmpfs, so
# deploy/bazel/cuda_configure.bzl finds no toolkit. Then
#   - @local_cuda must say CUDA_ENABLED = False,
#   - the tests given (default: //...) must pass,
#   - ps_worker must link no CUDA library, and --device=cuda must be refused
#     saying it was built without CUDA.
# Uses its own Bazel output base (the usual one keeps its CUDA build) and
# shares the disk cache, so only what depends on CUDA is built again.
#
#   bash deploy/test_nocuda_build.sh [TARGET ...]      (needs root: unshare)
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ "${PS_NOCUDA_NAMESPACE:-}" != 1 ]]; then
  exec unshare --mount --propagation private \
    env PS_NOCUDA_NAMESPACE=1 bash "$0" "$@"
fi

for dir in /usr/local/cuda*; do
  [[ -d "$dir" && ! -L "$dir" ]] || continue
  mount -t tmpfs -o ro,size=4k,mode=0755 nocuda "$dir"
done
# PATH stays as it is (actions inherit it, and a new PATH would miss the
# shared disk cache): its CUDA folders are empty now, and an nvcc wrapper
# elsewhere on it finds no toolkit, which cuda_configure.bzl checks for.
unset CUDA_PATH CUDA_HOME
if nvcc --version >/dev/null 2>&1 || [[ -e /usr/local/cuda/bin/nvcc ]]; then
  echo "test_nocuda_build: nvcc is still visible" >&2
  exit 1
fi
echo "test_nocuda_build: CUDA toolkit hidden"

OUTPUT_BASE=${PS_NOCUDA_OUTPUT_BASE:-$HOME/.cache/bazel-nocuda}
DISK_CACHE=${PS_DISK_CACHE:-/work/.bzcache}
bzl() { bazel --output_base="$OUTPUT_BASE" "$@"; }
trap 'bzl shutdown >/dev/null 2>&1 || true' EXIT

targets=("$@")
if ((${#targets[@]} == 0)); then
  # //... by its top-level folders: the workspace's bazel-* links lead into
  # the usual output base, which this output base would read as packages.
  targets=(//:all)
  for dir in */; do
    dir=${dir%/}
    [[ $dir != bazel-* && ! -L $dir ]] || continue
    [[ -n $(find "$dir" -name BUILD -print -quit) ]] && targets+=("//$dir/...")
  done
fi
bzl test --disk_cache="$DISK_CACHE" "${targets[@]}"
bzl build --disk_cache="$DISK_CACHE" //worker:ps_worker

defs="$OUTPUT_BASE/external/local_cuda/defs.bzl"
grep -q '^CUDA_ENABLED = False$' "$defs" || {
  echo "test_nocuda_build: $defs does not say CUDA_ENABLED = False" >&2
  exit 1
}
worker="$(bzl info --disk_cache="$DISK_CACHE" bazel-bin 2>/dev/null)/worker/ps_worker"
if ldd "$worker" | grep -E 'libcuda|libcublas'; then
  echo "test_nocuda_build: ps_worker links CUDA libraries" >&2
  exit 1
fi
set +e
message=$("$worker" --device=cuda --insecure 2>&1)
code=$?
set -e
if [[ $code -ne 2 || "$message" != *"built without CUDA"* ]]; then
  echo "test_nocuda_build: ps_worker --device=cuda exited $code: $message" >&2
  exit 1
fi
echo "test_nocuda_build: ps_worker --device=cuda: $message"
echo "test_nocuda_build: passed"
