#!/usr/bin/env bash
# README command 1: set everything up, bring the lab up when it is not running, show it, and
# (without arguments) run the guide's exercise: one ping from a pod to the internet captured at
# every hop — points chosen from the model, libpcap in process — and explained, both SNATs named.
# Where the lab cannot run (no root, no network namespaces), show the lab's recorded database
# files in demo/ instead, so there is always something real to look at.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh || echo "note: setup did not finish; continuing with what is installed" >&2
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/ovnscope-target}
cargo build --quiet --bin ovnscope
bin=$CARGO_TARGET_DIR/debug/ovnscope
if lab/ovnlab status >/dev/null 2>&1 || lab/ovnlab up; then
    eval "$(lab/ovnlab env)"
    "$bin" show "$@"
    [ $# -eq 0 ] || exit 0
    bastion="${OVNLAB_PREFIX:-ovnlab}-bastion"
    echo
    echo "\$ ovnscope capture --pod network-trace/nettools-dual-pod --to 203.0.113.8 --probe icmp --point bastion-out=ens3@$bastion --filter icmp"
    exec "$bin" capture --ovs-db "unix:$OVS_RUNDIR/db.sock" --nb-db "$OVN_NB_DB" --sb-db "$OVN_SB_DB" \
        --pod network-trace/nettools-dual-pod --to 203.0.113.8 --probe icmp \
        --point "bastion-out=ens3@$bastion" --filter icmp
fi
echo "note: the lab cannot run here; showing its recorded databases (demo/)" >&2
exec "$bin" show --ovs-db file:demo/conf.db --nb-db file:demo/ovnnb_db.db --sb-db file:demo/ovnsb_db.db "$@"
