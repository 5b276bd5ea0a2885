#!/usr/bin/env bash
# Builds and packs the Node package, installs the tarball into a fresh scratch project (as a user
# would), then runs the type test (`tsc --noEmit`), compiles the `await using` test with tsc and
# runs the node:test suite there, against the package as installed: every operation on mem://, a
# real SQLite file and a real 3-member etcd cluster this script starts on loopback; the five
# scenarios with worker processes; and Python and Node processes contending for one lock (the
# Python package from target/python-test-venv, installed there if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
source scripts/setup.sh
tarball=$(bash scripts/build-node.sh)

# The etcd cluster: the Rust suites' harness as a program that prints the endpoints and runs until
# it is told to stop (its members die with it even if it is killed).
bash scripts/setup-etcd.sh
cargo build --release --quiet -p interlock-tests --bin interlock-etcd-cluster
# The cross-language test's Python side.
python="$root/target/python-test-venv/bin/python"
if ! "$python" -c 'import interlock' >/dev/null 2>&1; then
    bash scripts/python-venv.sh target/python-test-venv
fi

scratch=target/node/scratch
rm -rf "$scratch"
mkdir -p "$scratch"
cp -r bindings-node/test "$scratch/test"
cd "$scratch"
cat > package.json <<'JSON'
{ "name": "interlock-node-tests", "private": true, "type": "module" }
JSON
tsc_version=$(node -p "require('$root/bindings-node/package.json').devDependencies.typescript")
types_version=$(node -p "require('$root/bindings-node/package.json').devDependencies['@types/node']")
npm install --no-audit --no-fund "$tarball" "typescript@$tsc_version" "@types/node@$types_version" >&2
npx tsc -p test/tsconfig.types.json
npx tsc -p test/tsconfig.json

cluster_pid=""
cluster_out=$(mktemp -t interlock-node-etcd-XXXXXX)
stop_cluster() {
    if [ -n "$cluster_pid" ]; then
        kill "$cluster_pid" 2>/dev/null || true
        wait "$cluster_pid" 2>/dev/null || true
    fi
    rm -f "$cluster_out"
}
trap stop_cluster EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"$root/target/release/interlock-etcd-cluster" >"$cluster_out" &
cluster_pid=$!
until [ -s "$cluster_out" ]; do
    if ! kill -0 "$cluster_pid" 2>/dev/null; then
        wait "$cluster_pid" || true
        echo "test-node: the etcd cluster did not start (see above)" >&2
        exit 1
    fi
    sleep 0.1
done
export INTERLOCK_NODE_ETCD
INTERLOCK_NODE_ETCD=$(head -n1 "$cluster_out")
export INTERLOCK_PYTHON="$python"
export INTERLOCK_README="$root/README.md"
export INTERLOCK_SOURCE="$root"

# One test file at a time: the etcd cluster's index is store-wide, and the tests that check it
# must not see another file's writes.
node --test --test-concurrency=1 --test-reporter=spec "$@" test/*.test.mjs test/*.test.js
