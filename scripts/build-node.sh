#!/usr/bin/env bash
# Builds the Node package (bindings-node): installs its build tools from npm (@napi-rs/cli,
# TypeScript) into the folder, compiles the native module with cargo through `napi build`, the
# TypeScript surface with tsc, and packs it as target/node/interlock-<version>.tgz, the file a
# user installs. Idempotent; prints the tarball's path last.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1; then
        apt-get install -y nodejs npm
    else
        echo "the Node package needs node (>= 20) and npm" >&2
        exit 1
    fi
fi

cd bindings-node
if [ ! -x node_modules/.bin/napi ] || [ ! -x node_modules/.bin/tsc ]; then
    npm install --no-audit --no-fund --ignore-scripts >&2
fi
npm run --silent build >&2
mkdir -p ../target/node
rm -f ../target/node/interlock-*.tgz
tarball=$(npm pack --silent --pack-destination ../target/node | tail -1)
echo "$PWD/../target/node/$tarball"
