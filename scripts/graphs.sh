#!/usr/bin/env bash
# Regenerates graphs/: DOT and SVG of the lab (physical, logical, full) and of the real
# Northbound file in ../shared/data/real/ (logical). tests/lab/topology.rs checks that the
# committed DOT still matches what ovnscope draws (ofports normalised).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/ovnscope-target}
cargo build --quiet --bin ovnscope
bin=$CARGO_TARGET_DIR/debug/ovnscope
export OVNLAB_SHAPE=central  # the guide and the graphs document the centralised lab
lab/ovnlab status >/dev/null 2>&1 || lab/ovnlab up
eval "$(lab/ovnlab env)"
mkdir -p graphs
for view in physical logical full; do
    "$bin" topology --view "$view" -f dot -o "graphs/lab-$view.dot"
    "$bin" topology --view "$view" -f svg -o "graphs/lab-$view.svg"
done
real=../shared/data/real/neutron-ovnnb_db.db
if [ -f "$real" ]; then
    "$bin" topology --view logical --nb-db "file:$real" -f dot -o graphs/real-nb-logical.dot 2>/dev/null
    "$bin" topology --view logical --nb-db "file:$real" -f svg -o graphs/real-nb-logical.svg 2>/dev/null
fi
ls -l graphs
