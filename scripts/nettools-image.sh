#!/usr/bin/env bash
# Builds the Debian "nettools" image (Containerfile.debian) with podman, from Debian packages
# only: a debootstrap minbase imported as the base (once; cached as an image), the package
# list's Debian column, then ovnscope from this checkout. A rebuild after a code change redoes
# only the last layer. Prints the image name. Needs root.
#
#   scripts/nettools-image.sh            # build (or refresh) localhost/ovnscope-nettools:debian
#   PROFILE=release scripts/nettools-image.sh
#
# Podman runs here with runc, cgroupfs and explicit ulimits (see the README, "The nettools image").
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-localhost/ovnscope-nettools:debian}
BASE=localhost/ovnscope-debian-base:bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${OVNSCOPE_IMAGE_CACHE:-$HOME/.cache/ovnscope-image}
PROFILE=${PROFILE:-debug}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/ovnscope-target}
F=(--runtime runc --cgroup-manager=cgroupfs)
U=(--ulimit nofile=1024:1024 --ulimit nproc=1024:1024)

missing=()
for p in podman buildah debootstrap runc; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "nettools-image: installing ${missing[*]}" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! podman image exists "$BASE"; then
    echo "nettools-image: debootstrap bookworm from $MIRROR (once)" >&2
    rm -rf "$CACHE/rootfs"
    mkdir -p "$CACHE"
    debootstrap --variant=minbase bookworm "$CACHE/rootfs" "$MIRROR" >/dev/null
    tar -C "$CACHE/rootfs" -c . | podman import - "$BASE" >/dev/null
    rm -rf "$CACHE/rootfs"
fi

flag=()
[ "$PROFILE" = release ] && flag=(--release)
cargo build --quiet "${flag[@]}" --bin ovnscope
bin=$CARGO_TARGET_DIR/$PROFILE/ovnscope

ctx=$CACHE/context
rm -rf "$ctx"
mkdir -p "$ctx/packaging" "$ctx/image/usr/local/bin" "$ctx/image/usr/share/bash-completion/completions" \
    "$ctx/image/usr/local/share/man/man1"
cp Containerfile.debian "$ctx/"
cp packaging/nettools-packages.txt "$ctx/packaging/"
install -m 0755 "$bin" "$ctx/image/usr/local/bin/ovnscope"
ln -s ovnscope "$ctx/image/usr/local/bin/kubectl-ovnscope"
ln -s ovnscope "$ctx/image/usr/local/bin/oc-ovnscope"
"$bin" completions bash > "$ctx/image/usr/share/bash-completion/completions/ovnscope"
"$bin" man > "$ctx/image/usr/local/share/man/man1/ovnscope.1"

old=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
podman "${F[@]}" build "${U[@]}" --quiet -t "$IMAGE" -f "$ctx/Containerfile.debian" "$ctx" >/dev/null
new=$(podman image inspect --format '{{.Id}}' "$IMAGE")
# The image this one replaces (now untagged) goes; only that one, and only if nothing uses it.
if [ -n "$old" ] && [ "$old" != "$new" ]; then podman rmi "$old" >/dev/null 2>&1 || true; fi
echo "$IMAGE"
