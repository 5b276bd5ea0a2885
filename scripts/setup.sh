#!/usr/bin/env bash
# Installs what building and testing interlock needs, skipping what is already there.
# Sourced by the other scripts; safe to run any number of times.
set -euo pipefail

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "interlock needs a Rust toolchain (cargo); install it with rustup: https://rustup.rs" >&2
    exit 1
fi
if command -v rustup >/dev/null 2>&1; then
    for component in rustfmt clippy; do
        if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
            rustup component add "$component"
        fi
    done
fi

# Runs a command as root: directly, or through sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        echo "interlock setup: '$*' needs root" >&2
        exit 1
    fi
}

# Installs Debian packages (refreshing the package lists once per run).
apt_updated=false
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "interlock setup: install $* (no apt-get here)" >&2
        exit 1
    fi
    if [ "$apt_updated" = false ]; then
        as_root apt-get update -qq
        apt_updated=true
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}
