#!/usr/bin/env bash
# Builds interlock and runs the five scenarios of the design on the embedded store.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo build --release -q -p interlock --example demo
exec target/release/examples/demo "$@"
