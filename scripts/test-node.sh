#!/usr/bin/env bash
# Builds and packs the Node package, installs the tarball into a fresh scratch project (as a user
# would), then runs the type test (`tsc --noEmit`), compiles the `await using` test with tsc and
# runs the node:test suite there, against the package as installed, on mem:// and a real SQLite
# file.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tarball=$(bash scripts/build-node.sh)

scratch=target/node/scratch
rm -rf "$scratch"
mkdir -p "$scratch/test"
cp bindings-node/test/* "$scratch/test/"
cd "$scratch"
cat > package.json <<'JSON'
{ "name": "interlock-node-tests", "private": true, "type": "module" }
JSON
tsc_version=$(node -p "require('$root/bindings-node/package.json').devDependencies.typescript")
types_version=$(node -p "require('$root/bindings-node/package.json').devDependencies['@types/node']")
npm install --no-audit --no-fund "$tarball" "typescript@$tsc_version" "@types/node@$types_version" >&2
npx tsc -p test/tsconfig.types.json
npx tsc -p test/tsconfig.json
node --test --test-reporter=spec "$@" test/
