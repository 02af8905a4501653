#!/usr/bin/env bash
# README command 1: set everything up, bring the lab up when it is not running, and show it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/ovnscope-target}
cargo build --quiet --bin ovnscope
lab/ovnlab status >/dev/null 2>&1 || lab/ovnlab up
eval "$(lab/ovnlab env)"
exec "$CARGO_TARGET_DIR/debug/ovnscope" show "$@"
