#!/usr/bin/env bash
# Measures interlock's Node package on this machine: the binding's overhead over the Rust core
# (SQLite durable and sync=normal, mem:// and a 3-member etcd cluster), uncontended lock+unlock
# against the etcd3 package's Lock on the same etcd cluster and against redlock with ioredis on a
# local redis-server, and contended handoff latency between two processes against those peers.
# Prints a Markdown table on stdout (progress on stderr).
# Options: --quick (smoke run), --json PATH, --help for the rest.
#
# Sets up what it needs, skipping what is there: etcd (scripts/setup-etcd.sh), Debian's
# redis-server, node and npm (scripts/build-node.sh), the package built and packed by
# scripts/build-node.sh, and bench/node/node_modules: the peers pinned in bench/node/package.json
# and package-lock.json (`npm ci`), plus the packed package (`npm install --no-save`). It starts
# its own 3-member etcd cluster (target/release/interlock-etcd-cluster) and redis-server on free
# loopback ports and stops them on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

for arg in "$@"; do
    if [ "$arg" = "-h" ] || [ "$arg" = "--help" ]; then
        exec node bench/node/bench.mjs --help
    fi
done

source scripts/setup.sh

source scripts/redis-server.sh
redis_install bench-node
bash scripts/setup-etcd.sh >&2

echo "bench-node: building the package (scripts/build-node.sh) and the etcd cluster harness" >&2
tarball=$(bash scripts/build-node.sh)

# bench/node/node_modules: the pinned peers, reinstalled when the lock file changes, and the
# packed package, reinstalled when the tarball changes. The stamps live in node_modules, so a
# fresh `npm ci` drops them.
bench=bench/node
peers_stamp=$bench/node_modules/.bench-peers
pkg_stamp=$bench/node_modules/.bench-interlock
peers_sum=$({ cat "$bench/package.json"; cat "$bench/package-lock.json" 2>/dev/null || true; } |
    sha256sum | cut -d' ' -f1)
if [ "$(cat "$peers_stamp" 2>/dev/null)" != "$peers_sum" ]; then
    if [ -f "$bench/package-lock.json" ]; then
        echo "bench-node: npm ci in $bench (the pinned peers)" >&2
        (cd "$bench" && npm ci --no-audit --no-fund --ignore-scripts >&2)
    else
        echo "bench-node: npm install in $bench (no package-lock.json)" >&2
        (cd "$bench" && npm install --no-audit --no-fund --ignore-scripts >&2)
    fi
    echo "$peers_sum" >"$peers_stamp"
fi
pkg_sum=$(sha256sum "$tarball" | cut -d' ' -f1)
if [ "$(cat "$pkg_stamp" 2>/dev/null)" != "$pkg_sum" ]; then
    echo "bench-node: installing $(basename "$tarball") into $bench (not saved)" >&2
    rm -rf "$bench/node_modules/interlock-db"
    (cd "$bench" && npm install --no-save --no-audit --no-fund --ignore-scripts "$tarball" >&2)
    echo "$pkg_sum" >"$pkg_stamp"
fi

source scripts/etcd-cluster.sh
cleanup() {
    etcd_cluster_stop
    redis_stop
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

etcd_cluster_start bench-node

# The redis peer's server: loopback only, no persistence, in a temp dir.
redis_start bench-node

node "$bench/bench.mjs" --etcd "$etcd_url" --redis-port "$redis_port" \
    --redis-version "$(redis-server --version)" --etcd-version "$(etcd --version 2>&1 | head -n1)" "$@"
