#!/usr/bin/env bash
# Measures interlock on this machine (mem://, SQLite durable and sync=normal, and a 3-member etcd
# cluster on loopback that the benchmark starts) and prints a Markdown table. Options: --quick
# (smoke run), --json PATH, --only throughput|handoff|local|etcd, --help for the rest.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

# Installs protoc (Debian's protobuf-compiler), which building etcd-client needs: the etcd part
# compares the gateway with etcd's native gRPC API through it (interlock-bench's `grpc` feature).
# Mirrors scripts/setup-etcd.sh; apt's output goes to stderr, stdout is the report.
install_protoc() {
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "bench.sh: no apt-get to install protoc with; install protobuf-compiler (protoc)" >&2
        return 1
    fi
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "bench.sh: installing protoc needs root (or sudo): apt-get install protobuf-compiler" >&2
            return 1
        fi
        sudo=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    # Refresh the package lists only when the install needs it, as setup-etcd.sh does.
    if ! apt-cache show protobuf-compiler >/dev/null 2>&1; then
        "${sudo[@]}" apt-get update -q >&2 || return 1
    fi
    if ! "${sudo[@]}" apt-get install -y -q protobuf-compiler >&2; then
        "${sudo[@]}" apt-get update -q >&2 || return 1
        "${sudo[@]}" apt-get install -y -q protobuf-compiler >&2 || return 1
    fi
}

# Whether a protoc that prost's build can run is there (`PROTOC`, or `protoc` on PATH).
have_protoc() {
    if [ -n "${PROTOC:-}" ]; then
        [ -x "$PROTOC" ]
    else
        command -v protoc >/dev/null 2>&1
    fi
}

# Install etcd unless the run leaves out the etcd part; without it the benchmark skips that part
# (or, with --only etcd, stops with a message).
etcd=1
previous=
for arg in "$@"; do
    case "$previous/$arg" in
        --only/local) etcd=0 ;;
    esac
    case "$arg" in
        -h | --help) etcd=0 ;;
    esac
    previous=$arg
done
features=()
if [ "$etcd" = 1 ]; then
    if bash scripts/setup-etcd.sh; then
        # The gRPC comparison is optional: without protoc the etcd part runs without it.
        if ! have_protoc && ! install_protoc; then
            echo "bench.sh: protoc could not be installed" >&2
        fi
        if have_protoc; then
            features=(--features grpc)
        else
            echo "bench.sh: no protoc; the etcd benchmark runs without its gateway-against-gRPC rows" >&2
        fi
    else
        echo "bench.sh: etcd could not be installed; the etcd benchmarks will be skipped" >&2
    fi
fi
cargo run --release -q -p interlock-bench "${features[@]}" -- "$@"
