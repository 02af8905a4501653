#!/usr/bin/env bash
# Regenerates the outputs in the README's "Tracing guide" from the running lab: every block
# between <!-- guide --> and <!-- /guide --> whose first line is "$ <command>" is re-run and its
# output replaced. Captures for `explain` are taken first (tcpdump at five points during one
# ping) into /tmp/ovnscope-guide. tests/lab/guide.rs fails when the README drifts from what
# the commands print (uuids, ICMP ids and ifindexes normalised).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/ovnscope-target}
cargo build --quiet --bin ovnscope
export OVNLAB_SHAPE=central  # the guide and the graphs document the centralised lab
lab/ovnlab status >/dev/null 2>&1 || lab/ovnlab up
eval "$(lab/ovnlab env)"
PFX=${OVNLAB_PREFIX:-ovnlab}
G=/tmp/ovnscope-guide
rm -rf "$G"; mkdir -p "$G"
veth=$(ovs-vsctl --bare --columns=name find Interface external_ids:iface-id=network-trace_nettools-dual-pod)
cap() { ip netns exec "$1" tcpdump -U -i "$2" -w "$G/$3.pcap" -c 2 "$4" >/dev/null 2>&1 & }
cap "$PFX-pod1" eth0 pod icmp
cap "$PFX-worker-1" "$veth" veth "icmp and host 10.128.2.43"
cap "$PFX-worker-1" ens2f0np0 nic "icmp and host 198.18.0.9 and host 203.0.113.8"
cap "$PFX-bastion" eth1 bastion-in "icmp and host 198.18.0.9 and host 203.0.113.8"
cap "$PFX-bastion" ens3 bastion-out "icmp and host 203.0.113.8"
sleep 1.5
ip netns exec "$PFX-pod1" ping -c 1 -W 2 203.0.113.8 >/dev/null
wait
export PATH="$CARGO_TARGET_DIR/debug:$PATH" GUIDE_VETH="$veth"
python3 - <<'PY'
import os, re, subprocess
readme = open("README.md").read()
def run(block):
    lines = block.strip("\n").split("\n")
    cmd = lines[0][2:]
    out = subprocess.run(cmd.replace("$GUIDE_VETH", os.environ["GUIDE_VETH"]), shell=True, capture_output=True, text=True).stdout
    return lines[0] + "\n" + out.rstrip("\n") + "\n"
def sub(m):
    return m.group(1) + run(m.group(2)) + m.group(3)
readme = re.sub(r"(<!-- guide -->\n```\n)(.*?)(```\n<!-- /guide -->)", sub, readme, flags=re.S)
open("README.md", "w").write(readme)
PY
echo "README guide outputs regenerated" >&2
