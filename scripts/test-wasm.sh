#!/usr/bin/env bash
# Sets up and runs the WebAssembly package's tests and the dashboard's: builds the package
# (scripts/build-wasm.sh), the `interlock` server with the package and dashboard embedded,
# installs Debian's Chromium if missing, then runs with node:test, one file at a time:
#   wasm.test.mjs      the package in Node, against a real server over SQLite and mem://
#   lifecycle.test.mjs close, garbage collection, exits and signals of processes using the package
#   readme.test.mjs    the README's WebAssembly example, as printed, against a real server
#   browser.test.mjs   the same cases in headless Chromium, from another origin (CORS)
#   dashboard.test.mjs the dashboard with real worker processes; saves target/artifacts/dashboard.png
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

bash scripts/build-wasm.sh >/dev/null
cargo build --release -q -p interlock-server
# The public names of the built package against docs/vocabulary.md (the Node package's, as it is
# the same TypeScript), and proof that the check can fail.
python3 scripts/check-vocabulary.py --dts wasm=bindings-wasm/dist/index.d.ts
if python3 scripts/check-vocabulary.py --dts wasm=bindings-wasm/dist/index.d.ts --fake Lease.fakeName 2>/dev/null; then
    echo "test-wasm: check-vocabulary.py did not report a name missing from docs/vocabulary.md" >&2
    exit 1
fi
if ! command -v chromium >/dev/null 2>&1; then
    echo "test-wasm: installing Debian's chromium" >&2
    apt_install chromium
fi

export INTERLOCK_SERVER_EXE="$PWD/target/release/interlock"
export INTERLOCK_ARTIFACTS="$PWD/target/artifacts"
export CHROMIUM="$(command -v chromium)"
unset INTERLOCK_TOKEN INTERLOCK_URL
cd bindings-wasm
node --test --test-concurrency=1 test/wasm.test.mjs test/lifecycle.test.mjs test/readme.test.mjs \
    test/browser.test.mjs test/dashboard.test.mjs
echo "dashboard screenshot: $INTERLOCK_ARTIFACTS/dashboard.png"
