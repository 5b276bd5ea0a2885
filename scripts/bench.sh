#!/usr/bin/env bash
# Measures interlock on this machine (mem://, SQLite durable and sync=normal, and a 3-member etcd
# cluster on loopback that the benchmark starts) and prints a Markdown table. Options: --quick
# (smoke run), --json PATH, --only throughput|handoff|local|etcd, --help for the rest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

# Install etcd unless the run leaves out the etcd part; without it the benchmark skips that part
# (or, with --only etcd, stops with a message).
etcd=1
previous=
for arg in "$@"; do
    case "$previous/$arg" in
        --only/local) etcd=0 ;;
    esac
    case "$arg" in
        -h | --help) etcd=0 ;;
    esac
    previous=$arg
done
if [ "$etcd" = 1 ] && ! bash scripts/setup-etcd.sh; then
    echo "bench.sh: etcd could not be installed; the etcd benchmarks will be skipped" >&2
fi
cargo run --release -q -p interlock-bench -- "$@"
