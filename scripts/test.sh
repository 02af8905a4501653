#!/usr/bin/env bash
# README command 2: set up, then check formatting, lints, and run every test (unit, property,
# fault injection, and the integration tests that bring up their own real OVN lab).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/ovnscope-target}
cargo fmt --check
cargo clippy --all-targets --quiet -- -D warnings
cargo test --all-targets "$@"
# The lab, interconnect and NAT suites again on OVN 25.03 / OVS 3.5 (Debian 13's packages,
# installed next to the system's by setup.sh): the same comparisons with that generation's tools.
if [ $# -eq 0 ]; then
    OVNLAB_OVN=25.03 cargo test --test lab
    OVNLAB_OVN=25.03 cargo test --test zones
    OVNLAB_OVN=25.03 cargo test --test nat
fi
cargo test --doc --quiet  # the compile_fail proof that no write can be sent
