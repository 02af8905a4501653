#!/usr/bin/env bash
# Installs what ovnscope's lab and tests need on Debian 12, and only what is missing.
# Idempotent: a second run changes nothing. Needs root (or sudo) for apt-get.
set -euo pipefail

PACKAGES=(
    openvswitch-switch openvswitch-common     # ovsdb-server, ovs-vswitchd, ovs-vsctl, ovsdb-tool/-client
    ovn-central ovn-host ovn-common           # ovn-northd, ovn-controller, ovn-nbctl/-sbctl, ovn-trace
    iproute2 iptables ethtool iputils-ping procps kmod  # the lab's namespaces, NAT and checks
    tcpdump                                   # ground truth for packets in tests
    conntrack                                 # conntrack -L: ground truth for the kernel's table
    socat                                     # the stdio relay `--kube` execs in ovnkube-node (run for real by the tests' stand-in)
    python3 python3-openvswitch               # ovn-detrace (compared with ovnscope detrace); HTTP in tests
    openssl                                   # certificates for the ssl: test
    graphviz                                  # dot, for SVG output
    libpcap-dev pkg-config gcc git ca-certificates
)

missing=()
for p in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO=sudo
    echo "setup: installing ${missing[*]}" >&2
    $SUDO apt-get update -qq
    # No service starts: the lab runs its own daemons.
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# OVN 25.03 / OVS 3.5 (Debian 13's packages) next to the system's 23.03, for the lab's second
# generation (OVNLAB_OVN=25.03); cached, so a second run downloads nothing.
"$(dirname "$0")/ovn-generation.sh" 25.03 >/dev/null

if ! command -v cargo >/dev/null; then
    echo "setup: cargo not found. Install the Rust toolchain (rustup, Rust 1.89 or newer) and re-run." >&2
    exit 1
fi
