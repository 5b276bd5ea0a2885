# Sourced by scripts that need a real 3-member etcd cluster on loopback (test-node.sh,
# bench-node.sh). `etcd_cluster_start NAME` builds and starts target/release/interlock-etcd-cluster
# (the Rust suites' harness as a program: it prints the endpoints once every member answers and
# runs until SIGTERM; its members die with it, and it dies with this shell) and sets `etcd_url`
# to `etcd://127.0.0.1:P1,...`; `etcd_cluster_stop` stops it. Needs etcd (scripts/setup-etcd.sh)
# and cargo.

etcd_cluster_pid=""
etcd_cluster_out=""
etcd_url=""

etcd_cluster_start() {
    local who=$1 root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    cargo build --release --quiet --manifest-path "$root/Cargo.toml" \
        -p interlock-tests --bin interlock-etcd-cluster
    etcd_cluster_out=$(mktemp -t interlock-etcd-cluster-XXXXXX)
    echo "$who: starting a 3-member etcd cluster" >&2
    "$root/target/release/interlock-etcd-cluster" 3 >"$etcd_cluster_out" &
    etcd_cluster_pid=$!
    until [ -s "$etcd_cluster_out" ]; do
        if ! kill -0 "$etcd_cluster_pid" 2>/dev/null; then
            wait "$etcd_cluster_pid" || true
            etcd_cluster_pid=""
            echo "$who: the etcd cluster did not start (see above)" >&2
            return 1
        fi
        sleep 0.1
    done
    etcd_url=$(head -n1 "$etcd_cluster_out")
}

etcd_cluster_stop() {
    if [ -n "$etcd_cluster_pid" ]; then
        kill "$etcd_cluster_pid" 2>/dev/null || true
        wait "$etcd_cluster_pid" 2>/dev/null || true
        etcd_cluster_pid=""
    fi
    if [ -n "$etcd_cluster_out" ]; then
        rm -f "$etcd_cluster_out"
        etcd_cluster_out=""
    fi
}
