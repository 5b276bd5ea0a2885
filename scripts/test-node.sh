#!/usr/bin/env bash
# Installs the Node package as released (dist/interlock-db-<version>.tgz and its native module's
# package, dist/interlock-db-linux-x64-gnu-<version>.tgz, built by scripts/release.sh, which this
# runs first unless scripts/test.sh just did) into a fresh scratch project, as a user would,
# checks that the regenerated lib/native.d.ts is the committed one, then runs the type test
# (`tsc --noEmit`), compiles the `await using` test with tsc and runs the node:test suite there,
# against the package as installed: every operation on mem://, a real SQLite file and a real
# 3-member etcd cluster this script starts on loopback; a real `interlock serve` (the binary of
# dist/) with a token; the five scenarios with worker processes; Python and Node processes
# contending for one lock (the Python package from target/python-test-venv, installed there from
# the wheel of dist/ if missing); and the install of an unbuilt checkout's folder, which builds it
# with cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
source scripts/setup.sh
if [ -z "${INTERLOCK_DIST_FRESH:-}" ]; then
    bash scripts/release.sh
fi
version=$(node -p "require('./bindings-node/package.json').version")
tarballs=("$root/dist/interlock-db-$version.tgz" "$root/dist/interlock-db-linux-x64-gnu-$version.tgz")
ls "${tarballs[@]}" >/dev/null

# The native module's declarations are committed (the WebAssembly build compiles against them
# without building this package); the release build just regenerated them, and they must not
# differ.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    if ! git diff --exit-code -- bindings-node/lib/native.d.ts >&2; then
        echo "test-node: bindings-node/lib/native.d.ts differs from the committed one (above): commit the regenerated file" >&2
        exit 1
    fi
fi

# The public names of the built package against docs/vocabulary.md, and proof that the check
# can fail (a name the table does not list must be reported).
python3 scripts/check-vocabulary.py --dts node=bindings-node/dist/index.d.ts
if python3 scripts/check-vocabulary.py --dts node=bindings-node/dist/index.d.ts --fake Lock.fakeName 2>/dev/null; then
    echo "test-node: check-vocabulary.py did not report a name missing from docs/vocabulary.md" >&2
    exit 1
fi

# The etcd cluster (started below with scripts/etcd-cluster.sh) needs etcd.
bash scripts/setup-etcd.sh
# The cross-language test's Python side.
python="$root/target/python-test-venv/bin/python"
wheel=$(ls "$root"/dist/interlock_db-"$version"-cp39-abi3-manylinux_*_x86_64.whl)
if [ -x "$python" ]; then
    "$python" -m pip install --quiet --no-deps --force-reinstall "$wheel"
else
    bash scripts/python-venv.sh target/python-test-venv "" "$wheel"
fi

scratch=target/node/scratch
rm -rf "$scratch"
mkdir -p "$scratch"
cp -r bindings-node/test "$scratch/test"
cd "$scratch"
# Every temporary file of the tests (SQLite stores, checkouts) goes where the next run wipes it.
mkdir -p tmp
export TMPDIR="$PWD/tmp"
# The suite runs on every store; a leftover INTERLOCK_NODE_STORES=local must not drop etcd.
unset INTERLOCK_NODE_STORES
cat > package.json <<'JSON'
{ "name": "interlock-node-tests", "private": true, "type": "module" }
JSON
tsc_version=$(node -p "require('$root/bindings-node/package.json').devDependencies.typescript")
types_version=$(node -p "require('$root/bindings-node/package.json').devDependencies['@types/node']")
npm install --no-audit --no-fund "${tarballs[@]}" "typescript@$tsc_version" "@types/node@$types_version" >&2
npx tsc -p test/tsconfig.types.json
npx tsc -p test/tsconfig.json

source "$root/scripts/etcd-cluster.sh"
trap etcd_cluster_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
etcd_cluster_start test-node
export INTERLOCK_NODE_ETCD="$etcd_url"
export INTERLOCK_PYTHON="$python"
export INTERLOCK_README="$root/README.md"
export INTERLOCK_SOURCE="$root"
export INTERLOCK_SERVER_EXE="$root/dist/interlock"

# One test file at a time: the etcd cluster's index is store-wide, and the tests that check it
# must not see another file's writes.
node --test --test-concurrency=1 --test-reporter=spec "$@" test/*.test.mjs test/*.test.js
