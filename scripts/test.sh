#!/usr/bin/env bash
# Sets up and runs every test: formatting, lints, the core dependency check, unit tests, the
# conformance suite on every backend, the multi-process tests on a real SQLite file, the tests on
# a real etcd cluster started on loopback; then it builds the release artifacts (scripts/release.sh:
# dist/) once, builds a wheel from the sdist as pip would (scripts/test-sdist.sh), installs and
# tests the artifacts without a Rust toolchain (scripts/test-dist.sh), runs the
# Python and Node packages' checks and suites against those artifacts as installed, the
# WebAssembly package's tests, and checks the documentation: its links and design citations
# (scripts/check-docs.py) and the API references built without warnings (scripts/docs.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
bash scripts/setup-etcd.sh
cargo fmt --all --check
python3 scripts/check-docs.py
cargo clippy --workspace --all-targets -- -D warnings
bash scripts/check-core-deps.sh
cargo test --workspace --release
bash scripts/release.sh
bash scripts/test-sdist.sh
export INTERLOCK_DIST_FRESH=1
bash scripts/test-dist.sh
bash scripts/test-python.sh
bash scripts/test-node.sh
bash scripts/test-wasm.sh
bash scripts/docs.sh
