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

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "bench-python: '$*' needs root" >&2
        exit 1
    fi
}

apt_updated=false
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "bench-python: install $* (no apt-get here)" >&2
        exit 1
    fi
    if [ "$apt_updated" = false ]; then
        as_root apt-get update -qq
        apt_updated=true
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    apt_install python3 python3-venv python3-pip
fi
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    echo "bench-python: installing redis-server (Debian)" >&2
    apt_install redis-server
fi

venv=target/python-bench-venv
if ! "$venv/bin/python" -c 'import sys' >/dev/null 2>&1; then
    echo "bench-python: creating $venv" >&2
    python3 -m venv --clear "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
echo "bench-python: pip install ./bindings-python filelock redis (builds the package)" >&2
"$venv/bin/python" -m pip install --quiet ./bindings-python filelock redis

# The benchmark's own redis-server: loopback only, no persistence, in a temp dir.
redis_dir=$(mktemp -d -t interlock-bench-redis-XXXXXX)
redis_pid=""
cleanup() {
    if [ -n "$redis_pid" ]; then
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
    fi
    rm -rf "$redis_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    "$venv/bin/python" -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

redis_port=""
for _ in 1 2 3 4 5; do
    port=$(free_port)
    redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
        --dir "$redis_dir" --daemonize no --protected-mode yes --loglevel warning \
        --logfile "$redis_dir/redis.log" &
    redis_pid=$!
    for _ in $(seq 100); do
        if redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null | grep -q PONG; then
            redis_port=$port
            break
        fi
        kill -0 "$redis_pid" 2>/dev/null || break
        sleep 0.05
    done
    [ -n "$redis_port" ] && break
    # The port was taken in between, or the server did not come up: try another one.
    kill "$redis_pid" 2>/dev/null || true
    wait "$redis_pid" 2>/dev/null || true
    redis_pid=""
done
if [ -z "$redis_port" ]; then
    echo "bench-python: redis-server did not start; its log:" >&2
    cat "$redis_dir/redis.log" >&2 || true
    exit 1
fi

"$venv/bin/python" bench/python/bench.py --redis-port "$redis_port" \
    --redis-version "$(redis-server --version)" "$@"
