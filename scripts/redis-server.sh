#!/usr/bin/env bash
# A private redis-server for the benchmarks' redis peers (scripts/bench-python.sh,
# scripts/bench-node.sh): loopback only, no persistence (no RDB snapshots, no AOF), its files in a
# temp dir. Source it, then:
#
#   redis_install NAME installs Debian's redis-server unless it is there (needs setup.sh sourced)
#   redis_start NAME   starts one on a free loopback port; sets redis_port, redis_pid, redis_dir
#   redis_stop         stops it and removes its dir (call it from the EXIT trap; safe to repeat)
#
# NAME prefixes the messages. The server runs as a child of the calling shell, so `wait` works.

redis_port=""
redis_pid=""
redis_dir=""

redis_install() {
    if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
        echo "$1: installing redis-server (Debian)" >&2
        apt_install redis-server
    fi
}

redis_stop() {
    if [ -n "$redis_pid" ]; then
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
        redis_pid=""
    fi
    if [ -n "$redis_dir" ]; then
        rm -rf "$redis_dir"
        redis_dir=""
    fi
    redis_port=""
}

# Whether something accepts connections on 127.0.0.1:$1.
redis_port_taken() {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

redis_start() {
    local name=$1 port attempt
    redis_dir=$(mktemp -d -t interlock-bench-redis-XXXXXX)
    for attempt in 1 2 3 4 5 6 7 8 9 10; do
        # Below Linux's ephemeral range (32768-60999), so no outgoing connection holds it.
        port=$((20000 + RANDOM % 12000))
        redis_port_taken "$port" && continue
        redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no \
            --dir "$redis_dir" --daemonize no --protected-mode yes --loglevel warning \
            --logfile "$redis_dir/redis.log" &
        redis_pid=$!
        for _ in $(seq 100); do
            # PONG from our own server, not from one that took the port in between.
            local info
            info=$(redis-cli -h 127.0.0.1 -p "$port" info server 2>/dev/null | tr -d '\r' || true)
            if [[ $'\n'"$info"$'\n' == *$'\n'"process_id:$redis_pid"$'\n'* ]]; then
                redis_port=$port
                return 0
            fi
            kill -0 "$redis_pid" 2>/dev/null || break
            sleep 0.05
        done
        # The port was taken in between, or the server did not come up: try another one.
        kill "$redis_pid" 2>/dev/null || true
        wait "$redis_pid" 2>/dev/null || true
        redis_pid=""
    done
    echo "$name: redis-server did not start; its log:" >&2
    cat "$redis_dir/redis.log" >&2 || true
    return 1
}
