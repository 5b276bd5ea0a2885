#!/usr/bin/env bash
# The main job: builds interlock (the server with its dashboard and the WebAssembly package it
# runs on), starts `interlock serve` on the embedded store (a fresh SQLite file, or --store URL),
# prints the dashboard's URL, and runs the five scenarios of the design against the server with
# real worker processes. In a terminal the server then keeps running for the dashboard, with two
# workers taking turns on a lock, until Ctrl-C; otherwise it stops with the scenarios. Options: --store URL, --port N (default 7070).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

store=""
port=7070
while [ $# -gt 0 ]; do
    case "$1" in
        --store) store="$2"; shift 2 ;;
        --port) port="$2"; shift 2 ;;
        -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
        *) echo "demo.sh: unknown option $1 (--store URL, --port N)" >&2; exit 2 ;;
    esac
done

bash scripts/build-wasm.sh >/dev/null
cargo build --release -q -p interlock-server
cargo build --release -q -p interlock-db --example demo

work=$(mktemp -d "${TMPDIR:-/tmp}/interlock-demo.XXXXXX")
store=${store:-"sqlite://$work/demo.db"}
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
server_pid=""
cleanup() {
    jobs -p | xargs -r kill 2>/dev/null || true
    if [ -n "$server_pid" ]; then
        kill -TERM "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# Starts the server on $1; sets $url once it serves, or fails.
start_server() {
    rm -f "$work/serve.out"
    target/release/interlock serve --store "$store" --listen "127.0.0.1:$1" --token "$token" \
        >"$work/serve.out" 2>"$work/serve.err" &
    server_pid=$!
    for _ in $(seq 100); do
        if grep -q ' on http://' "$work/serve.out" 2>/dev/null; then
            url=$(sed -n 's/.* on \(http:\/\/[^ ]*\).*/\1/p' "$work/serve.out" | head -1)
            return 0
        fi
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    server_pid=""
    return 1
}
if ! start_server "$port"; then
    echo "demo: port $port is taken; using a free one" >&2
    start_server 0 || { cat "$work/serve.err" >&2; exit 1; }
fi

echo "interlock serve: $store on $url"
echo "dashboard: $url/#token=$token"
echo
export INTERLOCK_TOKEN="$token"
status=0
target/release/examples/demo --store "$url" || status=$?

if [ -t 1 ] && [ "$status" -eq 0 ]; then
    # Keep the dashboard lively: two workers (the WebAssembly package, in Node) take turns on a
    # lock and record each turn, until Ctrl-C.
    for id in worker-1 worker-2; do
        INTERLOCK_URL="$url" node bindings-wasm/examples/worker.mjs cycle printer "$id" >/dev/null &
    done
    echo
    echo "The server keeps running, with two workers taking turns on lock 'printer'."
    echo "Dashboard: $url/#token=$token (Ctrl-C to stop)"
    wait "$server_pid" || true
fi
exit "$status"
