#!/usr/bin/env bash
# Measures `interlock serve` on this machine and prints a Markdown table (progress on stderr):
# the latency the server adds to the same ops run directly on the store (SQLite durable and
# sync=normal, mem://), and requests per second from wrk's keep-alive connections on loopback,
# with a single local etcd member's JSON gateway as a peer. The benchmark starts and stops its
# own servers (and etcd member) on free loopback ports.
# Options: --quick (smoke run), --json PATH, --only latency|load, --help for the rest.
#
# Installs what it needs, skipping what is there: Debian's wrk, and etcd
# (scripts/setup-etcd.sh; without it the etcd rows are left out).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

load=1
etcd=1
previous=
for arg in "$@"; do
    case "$previous/$arg" in
        --only/latency) load=0 ;;
    esac
    case "$arg" in
        -h | --help) load=0 ;;
        --no-etcd) etcd=0 ;;
    esac
    previous=$arg
done
if [ "$load" = 1 ]; then
    if ! command -v wrk >/dev/null 2>&1; then
        echo "bench-server: installing wrk" >&2
        apt_install wrk >&2
    fi
    if [ "$etcd" = 1 ] && ! bash scripts/setup-etcd.sh >&2; then
        echo "bench-server: etcd could not be installed; the etcd rows will be left out" >&2
    fi
fi

echo "bench-server: building interlock-server and interlock-bench (release)" >&2
cargo build --release -q -p interlock-server -p interlock-bench
target=$(cargo metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
exec "$target/release/interlock-bench" server --exe "$target/release/interlock" "$@"
