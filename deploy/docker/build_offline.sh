#!/usr/bin/env bash
# Builds the image without Docker or a registry base image, from Debian's
# packages only: debootstrap makes the Debian 12 base, buildah (Debian's)
# builds deploy/docker/Dockerfile on it. Needs root and the Debian mirror.
#
#   bash deploy/docker/build_offline.sh [TAG]     (default pscluster:0.1.0)
#
# In a container without overlay mounts, run it with STORAGE_DRIVER=vfs.
# Then `buildah push TAG docker://REGISTRY/...` or
# `buildah push TAG docker-archive:pscluster.tar` for `docker load`.
set -euo pipefail
tag=${1:-pscluster:0.1.0}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
for tool in debootstrap buildah; do
  command -v "$tool" >/dev/null || { echo "needs $tool: apt install $tool" >&2; exit 2; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

(cd "$root" && bazel build -c opt //deploy/debian:deb)
debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >/dev/null
rm -rf "$work"/rootfs/var/cache/apt/archives/*.deb "$work"/rootfs/var/lib/apt/lists/*
mkdir "$work/base"
tar -C "$work/rootfs" -cf "$work/base/rootfs.tar" .
printf 'FROM scratch\nADD rootfs.tar /\nCMD ["/bin/bash"]\n' >"$work/base/Dockerfile"
buildah bud --isolation=chroot -t localhost/pscluster-base:bookworm "$work/base"

mkdir "$work/ctx"
cp "$root/deploy/docker/Dockerfile" "$root/deploy/docker/.dockerignore" "$work/ctx/"
cp "$root/bazel-bin/deploy/debian/pscluster_amd64.deb" "$work/ctx/"
buildah bud --isolation=chroot --build-arg BASE=localhost/pscluster-base:bookworm \
  ${CUDA_PACKAGES:+--build-arg CUDA_PACKAGES="$CUDA_PACKAGES"} -t "$tag" "$work/ctx"
echo "built $tag"
