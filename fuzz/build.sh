#!/usr/bin/env bash
# Builds the libFuzzer targets listed in fuzz/targets with clang
# (-fsanitize=fuzzer,address,undefined), straight from the sources: Bazel
# here builds with gcc, and a second toolchain for a few small binaries is
# not worth it. The parsers need Abseil, protobuf, zlib and libdeflate (Debian's -dev
# packages, linked through pkg-config) and nlohmann-json (header-only).
#
#   fuzz/build.sh [target...]      (default: every target)
#
# A source ending in .proto stands for the C++ protoc generates from it
# (Debian's protoc, the one Bazel's //proto genrules run):
# $FUZZ_OUT/gen/<path>.pb.{h,cc}, on the include path, the .pb.cc compiled
# once into $FUZZ_OUT/gen/<path>.pb.o for every target that names it. That
# object is built plain (-O0, no sanitizers, no coverage): it is protoc's
# code, not ours to fuzz, and instrumented it takes a minute and a half.
# (Bazel's own bazel-bin/proto/ is not used: the smoke test runs inside
# Bazel, which cannot build from there, and a checkout may have none.)
#
# Binaries go to $FUZZ_OUT/bin/<target> (FUZZ_OUT defaults to fuzz/out),
# objects to $FUZZ_OUT/obj/<source>.o, shared by every target built from
# that source (the flags are the same for all), FUZZ_JOBS (default: nproc)
# compiles at a time. An object is recompiled when its source, a file it
# includes (the .d clang writes beside it) or this script is newer; a
# target is relinked when an object, fuzz/targets or this script is newer
# than its binary. Exit status: 0 built, 1 a compile failed, 77 no clang
# with libFuzzer (nothing built).
set -euo pipefail

ROOT=${FUZZ_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
OUT=${FUZZ_OUT:-$ROOT/fuzz/out}
CXXFLAGS=(-std=c++17 -g -O1 -fno-omit-frame-pointer
          -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
          -I"$ROOT" -I"$OUT/gen")
# Sources of a target compiled at once (FUZZ_JOBS, default: every core).
JOBS=${FUZZ_JOBS:-$(nproc)}
LIB_PKGS=(absl_status absl_statusor absl_strings absl_str_format
          absl_synchronization absl_raw_hash_set absl_hash absl_time
          protobuf zlib libdeflate libcrypto)

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

# True when $1 is missing or older than anything else named.
stale() {
  local out=$1 src
  shift
  [[ -e $out ]] || return 0
  for src in "$@"; do
    [[ $src -nt $out ]] && return 0
  done
  return 1
}

# The files the make rule in dependency file $1 names after its target.
dependencies() {
  sed -e 's/^[^:]*://' -e 's/\\$//' "$1"
}

# Generates the C++ of proto ($1, from the repository root) unless it is
# up to date, and compiles its .pb.cc plain; prints the object's path.
proto_object() {
  local cxx=$1 proto=$2
  local gen="$OUT/gen/${proto%.proto}"
  if [[ ! -e $gen.pb.cc || $ROOT/$proto -nt $gen.pb.cc ]]; then
    command -v protoc >/dev/null ||
      { echo "fuzz: protoc not found (Debian: protobuf-compiler)" >&2; return 1; }
    echo "fuzz: protoc $proto" >&2
    mkdir -p "$OUT/gen"
    (cd "$ROOT" && protoc -I. --cpp_out="$OUT/gen" "$proto") || return 1
  fi
  if [[ ! -e $gen.pb.o || $gen.pb.cc -nt $gen.pb.o ]]; then
    echo "fuzz: compiling $gen.pb.cc (plain)" >&2
    "$cxx" -std=c++17 -O0 -I"$ROOT" -I"$OUT/gen" -c "$gen.pb.cc" \
      -o "$gen.pb.o.new" || return 1
    mv "$gen.pb.o.new" "$gen.pb.o"
  fi
  echo "$gen.pb.o"
}

# Compiles source $2 (absolute) with $1 into its shared object unless
# that is up to date; prints the object's path.
object() {
  local cxx=$1 src=$2
  local obj="$OUT/obj/${src#"$ROOT"/}.o"
  local dep="${obj%.o}.d"
  # shellcheck disable=SC2046
  if [[ -e $dep ]] &&
      ! stale "$obj" "${BASH_SOURCE[0]}" $(dependencies "$dep"); then
    echo "$obj"
    return
  fi
  mkdir -p "$(dirname "$obj")"
  "$cxx" "${CXXFLAGS[@]}" -MMD -MF "$dep.new" -c "$src" -o "$obj.new" ||
    return 1
  mv "$dep.new" "$dep"
  mv "$obj.new" "$obj"
  echo "$obj"
}

build_one() {
  local cxx=$1 name=$2
  shift 2
  local objects=() sources=() s obj
  for s in "$@"; do
    if [[ $s == *.proto ]]; then
      obj=$(proto_object "$cxx" "$s") || exit 1
      objects+=("$obj")
    else
      sources+=("$ROOT/$s")
    fi
  done
  local list="$OUT/obj/$name.objects" running=() failed=0
  mkdir -p "$OUT/obj"
  : >"$list"
  for s in "${sources[@]}"; do
    object "$cxx" "$s" >>"$list" &
    running+=($!)
    if ((${#running[@]} >= JOBS)); then
      wait "${running[0]}" || failed=1
      running=("${running[@]:1}")
    fi
  done
  for s in "${running[@]}"; do wait "$s" || failed=1; done
  ((failed == 0)) || exit 1
  mapfile -t -O "${#objects[@]}" objects <"$list"
  rm -f "$list"
  local bin="$OUT/bin/$name"
  if ! stale "$bin" "$ROOT/fuzz/targets" "${BASH_SOURCE[0]}" "${objects[@]}"; then
    echo "fuzz: $name is up to date ($bin)"
    return
  fi
  echo "fuzz: linking $name with $cxx"
  mkdir -p "$OUT/bin"
  # shellcheck disable=SC2046
  "$cxx" "${CXXFLAGS[@]}" "${objects[@]}" -o "$bin.new" \
    $(pkg-config --libs "${LIB_PKGS[@]}")
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
