#!/usr/bin/env bash
# Measures interlock on this machine (mem:// and SQLite, durable and sync=normal) and prints a
# Markdown table. Options: --quick (smoke run in seconds), --json PATH, --help for the rest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
cargo run --release -q -p interlock-bench -- "$@"
