#!/usr/bin/env bash
# Measures interlock's Python package on this machine: the binding's overhead over the Rust core,
# uncontended lock+unlock against filelock and redis-py, and contended handoff latency between
# two processes against those peers and a 20 ms polling lock. Prints a Markdown table.
# Options: --quick (smoke run), --json PATH, --help for the rest.
#
# Sets up what it needs, skipping what is there: a virtual environment at
# target/python-bench-venv with the package (`pip install ./bindings-python`, built from this
# tree) and the peers filelock and redis from PyPI, and Debian's redis-server. It starts its own
# redis-server on a free loopback port and stops it on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

for arg in "$@"; do
    if [ "$arg" = "-h" ] || [ "$arg" = "--help" ]; then
        exec python3 bench/python/bench.py --help
    fi
done

source scripts/setup.sh

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    apt_install python3 python3-venv python3-pip
fi
source scripts/redis-server.sh
redis_install bench-python

venv=target/python-bench-venv
if ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    echo "bench-python: creating $venv" >&2
    python3 -m venv --clear "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
echo "bench-python: pip install ./bindings-python filelock redis (builds the package)" >&2
"$venv/bin/python" -m pip install --quiet ./bindings-python filelock redis

# The benchmark's own redis-server: loopback only, no persistence, in a temp dir.
trap redis_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
redis_start bench-python

"$venv/bin/python" bench/python/bench.py --redis-port "$redis_port" \
    --redis-version "$(redis-server --version)" "$@"
