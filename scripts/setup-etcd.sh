#!/usr/bin/env bash
# Installs etcd (server and etcdctl) for the tests that run a real etcd cluster on loopback, from
# the distribution's packages. Does nothing, silently, when both are already on PATH; safe to run
# any number of times. Nothing is started here: the tests start their own members.
set -euo pipefail

if ! command -v etcd >/dev/null 2>&1 || ! command -v etcdctl >/dev/null 2>&1; then
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "the etcd tests need etcd (>= 3.4) and etcdctl on PATH; install them with your package manager" >&2
        exit 1
    fi
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "installing etcd needs root (or sudo): apt-get install etcd-server etcd-client" >&2
            exit 1
        fi
        sudo=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    # The package's init script would start a system-wide etcd on the default ports; the tests
    # never use it, so keep it from starting, unless the machine already has a policy of its own.
    policy=/usr/sbin/policy-rc.d
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod +x "$policy"
        trap '"${sudo[@]}" rm -f "$policy"' EXIT
    fi
    # Refresh the package lists only when the install needs it: when they do not name the
    # packages yet, or when they are so old that the files they name are gone from the mirror.
    if ! apt-cache show etcd-server etcd-client >/dev/null 2>&1; then
        "${sudo[@]}" apt-get update -q
    fi
    if ! "${sudo[@]}" apt-get install -y -q etcd-server etcd-client; then
        "${sudo[@]}" apt-get update -q
        "${sudo[@]}" apt-get install -y -q etcd-server etcd-client
    fi
    if ! command -v etcd >/dev/null 2>&1; then
        echo "etcd-server is installed but no etcd is on PATH" >&2
        exit 1
    fi
fi
