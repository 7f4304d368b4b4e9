#!/usr/bin/env bash
# Builds the pscluster .deb with dpkg-deb: the four binaries, the systemd
# units, the flags files under /etc/pscluster, the Slurm batch script and
# the README.
#
#   build_deb.sh --bin_dir=DIR --out=FILE.deb [--version=V] [--readme=F]
#
# DIR holds ps_coordinator, ps_server, ps_worker and psctl, flat or as
# bazel-bin lays them out (coordinator/, server/, worker/, client/psctl/);
# --ps_coordinator=F (and so on for each binary) names one directly.
# `bazel build -c opt //deploy/debian:deb` runs this on fresh binaries.
#
# Depends: is derived from the binaries: every shared library they load
# (ldd) is looked up with `dpkg -S`, and each package is required at the
# version installed here or later, the version the binaries were built and
# tested against. A library that belongs to no package stops the build,
# except the CUDA runtime under /usr/local/cuda (NVIDIA's packages, not
# Debian's), which is named in the package's description instead.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
bin_dir="" out="" version="" readme="$here/../../README.md"
declare -A given=()
for arg in "$@"; do
  case "$arg" in
    --bin_dir=*) bin_dir=${arg#*=} ;;
    --ps_coordinator=* | --ps_server=* | --ps_worker=* | --psctl=*)
      name=${arg%%=*}
      given[${name#--}]=${arg#*=} ;;
    --readme=*) readme=${arg#*=} ;;
    --out=*) out=${arg#*=} ;;
    --version=*) version=${arg#*=} ;;
    *) echo "build_deb.sh: unknown argument $arg" >&2; exit 2 ;;
  esac
done
if [[ -z "$out" || ( -z "$bin_dir" && ${#given[@]} -ne 4 ) ]]; then
  echo "usage: build_deb.sh --bin_dir=DIR --out=FILE.deb [--version=V]" >&2
  exit 2
fi
[[ -n "$version" ]] || version=$(cat "$here/VERSION")

# The binary `name`: as given, or in bin_dir, flat or in its bazel-bin
# folder.
find_binary() {
  local name=$1 sub=$2
  for p in "${given[$name]:-}" "$bin_dir/$name" "$bin_dir/$sub/$name"; do
    if [[ -x "$p" ]]; then echo "$p"; return; fi
  done
  echo "build_deb.sh: no $name in $bin_dir (or $bin_dir/$sub)" >&2
  exit 1
}
declare -A binaries=()
for pair in ps_coordinator:coordinator ps_server:server ps_worker:worker \
  psctl:client/psctl; do
  binaries[${pair%%:*}]=$(find_binary "${pair%%:*}" "${pair#*:}")
done

# --- Depends ---------------------------------------------------------------
# The libraries the binaries link directly (their DT_NEEDED entries; the
# packages of those pull in the rest), found where ldd resolves them.
declare -A lib_path=() lib_user=()
for name in "${!binaries[@]}"; do
  needed=$(objdump -p "${binaries[$name]}" | awk '$1 == "NEEDED" { print $2 }')
  while read -r lib path; do
    grep -qxF "$lib" <<<"$needed" || continue
    if [[ "$path" == "not" ]]; then
      echo "build_deb.sh: $name needs $lib, which is not found" >&2
      exit 1
    fi
    lib_path[$lib]=$path
    lib_user[$lib]=$name
  done < <(ldd "${binaries[$name]}" | awk '$2 == "=>" { print $1, $3 }')
done
# dpkg records some libraries under /lib and others under /usr/lib; with
# merged /usr either path reaches them. One query asks for every form.
declare -A candidates=()
for lib in "${!lib_path[@]}"; do
  path=${lib_path[$lib]}
  real=$(readlink -f "$path")
  for p in "$path" "$real" "${path#/usr}" "${real#/usr}" "/usr$path" "/usr$real"; do
    candidates[$p]=1
  done
done
declare -A owner=()
while IFS= read -r line; do
  pkgs=${line%%: /*}
  owner[${line#*: }]=${pkgs%%,*}
done < <(dpkg-query -S "${!candidates[@]}" 2>/dev/null || true)

declare -A depends=()
cuda_libs=()
for lib in "${!lib_path[@]}"; do
  path=${lib_path[$lib]}
  real=$(readlink -f "$path")
  pkg=""
  for p in "$path" "$real" "${path#/usr}" "${real#/usr}" "/usr$path" "/usr$real"; do
    if [[ -n "${owner[$p]:-}" ]]; then pkg=${owner[$p]%%:*}; break; fi
  done
  if [[ -n "$pkg" ]]; then
    depends[$pkg]=1
  elif [[ "$real" == /usr/local/cuda* ]]; then
    cuda_libs+=("$lib")
  else
    echo "build_deb.sh: ${lib_user[$lib]} loads $path, which belongs to no" \
      "Debian package" >&2
    exit 1
  fi
done
depends_field=""
for pkg in $(printf '%s\n' "${!depends[@]}" | sort); do
  v=$(dpkg-query -W -f='${Version}' "$pkg")
  depends_field+="${depends_field:+, }$pkg (>= $v)"
done
cuda_note=""
if ((${#cuda_libs[@]})); then
  cuda_list=$(printf '%s\n' "${cuda_libs[@]}" | sort -u | paste -sd' ')
  cuda_note="
 .
 This build's ps_worker is linked with the CUDA runtime and cuBLAS
 ($cuda_list), which it loads from /usr/local/cuda/lib64
 even on machines without a GPU: install NVIDIA's CUDA runtime and cuBLAS
 packages there (Debian has no such version). GPUs need the NVIDIA driver
 too."
  echo "build_deb.sh: ps_worker needs CUDA's $cuda_list from" \
    "/usr/local/cuda (named in the description, not in Depends)" >&2
fi

# --- Tree --------------------------------------------------------------------
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root="$stage/pscluster"
install -d "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" \
  "$root/usr/lib/sysusers.d" "$root/etc/pscluster" \
  "$root/usr/share/doc/pscluster"
install -d -m 0750 "$root/etc/pscluster/tls"
for name in "${!binaries[@]}"; do
  install -m 0755 "${binaries[$name]}" "$root/usr/bin/$name"
  strip --strip-unneeded "$root/usr/bin/$name"
done
install -m 0644 "$here"/ps-coordinator.service "$here"/ps-server.service \
  "$here"/ps-worker@.service "$root/lib/systemd/system/"
install -m 0644 "$here/pscluster.sysusers" \
  "$root/usr/lib/sysusers.d/pscluster.conf"
for f in coordinator server worker; do
  install -m 0644 "$here/$f.flags" "$root/etc/pscluster/$f.flags"
done
install -m 0644 "$readme" "$root/usr/share/doc/pscluster/README.md"
# The Slurm batch script and its task wrapper (README: Slurm).
install -d "$root/usr/share/pscluster/slurm"
install -m 0755 "$here/../slurm/pscluster.sbatch" "$here/../slurm/ps_task.sh" \
  "$root/usr/share/pscluster/slurm/"
install -m 0755 "$here/postinst" "$here/prerm" "$here/postrm" "$root/DEBIAN/"
(cd "$root" && find etc -type f -name '*.flags' | sed 's|^|/|' | sort) \
  >"$root/DEBIAN/conffiles"

size_kb=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat >"$root/DEBIAN/control" <<EOF
Package: pscluster
Version: $version
Architecture: $(dpkg --print-architecture)
Maintainer: pscluster developers <pscluster@example.org>
Installed-Size: $size_kb
Depends: $depends_field
Section: science
Priority: optional
Homepage: https://example.org/pscluster
Description: parameter-server cluster for distributed training
 ps_coordinator, ps_server and ps_worker, the daemons of a parameter-server
 cluster, with systemd units (ps-coordinator, ps-server, ps-worker@GPU)
 reading their flags from /etc/pscluster, and psctl, the command-line
 client (submit, watch, certs, local).$cuda_note
EOF

mkdir -p "$(dirname "$out")"
dpkg-deb --root-owner-group -Zxz --build "$root" "$out" >/dev/null
echo "build_deb.sh: wrote $out (pscluster $version)" >&2
