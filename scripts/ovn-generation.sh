#!/usr/bin/env bash
# Installs a newer OVN/OVS generation next to the system's, without touching it: Debian's own
# packages of a newer release, downloaded with a private package list (nothing in /etc/apt
# changes), unpacked into a cache directory, and run through that release's own dynamic loader
# and libraries by one shim per binary (reference/ovn-25.md).
#
#   scripts/ovn-generation.sh 25.03    OVN 25.03 / OVS 3.5 from Debian 13 (trixie): stable
#   scripts/ovn-generation.sh 26.03    whatever Debian unstable (sid) serves today (26.03.1 on
#                                      2026-12-01; it moves: the version is recorded in VERSION)
#
# Prints the generation's directory; its bin/ holds the shims (put it first on PATH), root/ the
# unpacked tree (root/usr/share/ovn/*.ovsschema, man pages). Idempotent: a complete install is
# reused. The cache is $OVNSCOPE_OVN_CACHE (default ~/.cache/ovnscope-ovn).
set -euo pipefail

gen=${1:?usage: $0 25.03|26.03}
case $gen in
    25.03) suite=trixie ;;
    26.03) suite=sid ;;
    *) echo "ovn-generation: unknown generation $gen (25.03 or 26.03)" >&2; exit 2 ;;
esac
cache=${OVNSCOPE_OVN_CACHE:-$HOME/.cache/ovnscope-ovn}
D=$cache/$gen
if [ -f "$D/complete" ]; then
    echo "$D"
    exit 0
fi
rm -rf "$D"
mkdir -p "$D/lists/partial" "$D/debs" "$D/root" "$D/bin"
echo "deb http://deb.debian.org/debian $suite main" >"$D/sources.list"
APT=(-o "Dir::Etc::sourcelist=$D/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$D/lists"
     -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
apt-get "${APT[@]}" update -qq
pkgs=(ovn-common ovn-central ovn-host openvswitch-common openvswitch-switch
      libc6 libssl3t64 libunbound8 libevent-2.1-7t64 libcap-ng0 libnuma1 libxdp1 libbpf1 libelf1t64
      zlib1g libzstd1 libnghttp2-14 libprotobuf-c1 libhiredis1.1.0)
(cd "$D/debs" && apt-get "${APT[@]}" download "${pkgs[@]/%//$suite}" >/dev/null)
for f in "$D"/debs/*.deb; do dpkg -x "$f" "$D/root"; done
loader=$D/root/usr/lib64/ld-linux-x86-64.so.2
libs=$D/root/usr/lib/x86_64-linux-gnu:$D/root/lib/x86_64-linux-gnu
for real in "$D"/root/usr/bin/* "$D"/root/usr/sbin/* "$D"/root/usr/lib/openvswitch-switch/ovs-vswitchd; do
    # Only ELF programs need the loader; the Python tools (ovn-detrace …) are left out.
    head -c4 "$real" 2>/dev/null | grep -q 'ELF' || continue
    name=$(basename "$real")
    printf '#!/bin/sh\nexec "%s" --library-path "%s" "%s" "$@"\n' "$loader" "$libs" "$real" >"$D/bin/$name"
    chmod 755 "$D/bin/$name"
done
"$D/bin/ovn-nbctl" --version | head -1 | awk '{print $2}' >"$D/VERSION"
"$D/bin/ovs-vswitchd" --version | head -1 | awk '{print $NF}' >"$D/OVS_VERSION"
touch "$D/complete"
echo "$D"
