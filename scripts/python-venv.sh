#!/usr/bin/env bash
# Usage: python-venv.sh VENV [EXTRAS [PACKAGE]]. Creates a fresh virtual environment at VENV and
# installs the Python package into it as a user would, with pip, with the optional extras (e.g.
# "[test]"): from PACKAGE, a built wheel (scripts/release.sh makes one in dist/), or by default
# from ./bindings-python (maturin builds the native module then). Installs python3 and venv with
# apt if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$1
extras=${2:-}
package=${3:-./bindings-python}

if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
    if command -v apt-get >/dev/null 2>&1; then
        sudo=()
        [ "$(id -u)" -eq 0 ] || sudo=(sudo)
        "${sudo[@]}" apt-get update -q
        "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3 python3-venv python3-pip
    else
        echo "the Python package needs python3 (>= 3.9) with the venv module" >&2
        exit 1
    fi
fi

python3 -m venv --clear "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet "$package$extras"
