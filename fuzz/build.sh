#!/usr/bin/env bash
# Builds the libFuzzer targets listed in fuzz/targets with clang
# (-fsanitize=fuzzer,address,undefined), straight from the sources: Bazel
# here builds with gcc, and a second toolchain for two small binaries is
# not worth it. The parsers need only Abseil (Debian's libabsl-dev, linked
# through pkg-config) and nlohmann-json (header-only).
#
#   fuzz/build.sh [target...]      (default: every target)
#
# Binaries go to $FUZZ_OUT/bin/<target> (FUZZ_OUT defaults to fuzz/out);
# a target is rebuilt only when a source, a header beside one, fuzz/targets
# or this script is newer than its binary. Exit status: 0 built, 1 a
# compile failed, 77 no clang with libFuzzer (nothing built).
set -euo pipefail

ROOT=${FUZZ_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
OUT=${FUZZ_OUT:-$ROOT/fuzz/out}
CXXFLAGS=(-std=c++17 -g -O1 -fno-omit-frame-pointer
          -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
          -I"$ROOT")
ABSL_PKGS=(absl_status absl_statusor absl_strings absl_str_format)

# The first clang++ that links a libFuzzer program, or nothing.
find_clang() {
  local cxx
  for cxx in "${CXX_FUZZ:-}" clang++-14 clang++; do
    [[ -n $cxx ]] && command -v "$cxx" >/dev/null || continue
    if echo 'extern "C" int LLVMFuzzerTestOneInput(const char*, long) {return 0;}' |
        "$cxx" -x c++ - -fsanitize=fuzzer -o /dev/null 2>/dev/null; then
      echo "$cxx"
      return
    fi
  done
}

# Prints "name source..." for each requested target (all when none).
target_lines() {
  local wanted=("$@") line name
  grep -Ev '^[[:space:]]*(#|$)' "$ROOT/fuzz/targets" | while read -r line; do
    name=${line%% *}
    if ((${#wanted[@]} == 0)) || [[ " ${wanted[*]} " == *" $name "* ]]; then
      echo "$line"
    fi
  done
}

# True when bin is missing or older than anything it is built from.
stale() {
  local bin=$1 src
  shift
  [[ -e $bin ]] || return 0
  for src in "$ROOT/fuzz/targets" "${BASH_SOURCE[0]}" "$@" \
             $(for s in "$@"; do ls "$(dirname "$s")"/*.h 2>/dev/null; done); do
    [[ $src -nt $bin ]] && return 0
  done
  return 1
}

build_one() {
  local cxx=$1 name=$2
  shift 2
  local sources=() s
  for s in "$@"; do sources+=("$ROOT/$s"); done
  local bin="$OUT/bin/$name"
  if ! stale "$bin" "${sources[@]}"; then
    echo "fuzz: $name is up to date ($bin)"
    return
  fi
  echo "fuzz: building $name with $cxx"
  mkdir -p "$OUT/bin"
  # shellcheck disable=SC2046
  "$cxx" "${CXXFLAGS[@]}" "${sources[@]}" -o "$bin.new" \
    $(pkg-config --libs "${ABSL_PKGS[@]}")
  mv "$bin.new" "$bin"
}

main() {
  local cxx
  cxx=$(find_clang)
  if [[ -z $cxx ]]; then
    echo "fuzz: no clang++ with libFuzzer found (Debian: clang-14" \
         "libclang-rt-14-dev); nothing built" >&2
    exit 77
  fi
  local lines
  lines=$(target_lines "$@")
  if [[ -z $lines ]]; then
    echo "fuzz: no such target: $*; known:" \
         $(target_lines | cut -d' ' -f1) >&2
    exit 1
  fi
  local line
  while read -r line; do
    # shellcheck disable=SC2086
    build_one "$cxx" $line
  done <<<"$lines"
}

main "$@"
