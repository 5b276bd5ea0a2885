#!/usr/bin/env bash
# Installs the Python package as released (the wheel of dist/, built by scripts/release.sh, which
# this runs first unless scripts/test.sh just did) into a fresh virtual environment, then runs
# ruff, mypy (the package, strictly), stubtest (the native module's stubs against the installed
# module) and the pytest suite against what was installed, on a PATH with no Rust toolchain, on
# every backend (etcd on a real 3-member cluster the suite starts itself; a real `interlock
# serve` with a token, the binary of dist/, for the http:// tests).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
source scripts/setup.sh

if [ -z "${INTERLOCK_DIST_FRESH:-}" ]; then
    bash scripts/release.sh
fi
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' bindings-python/pyproject.toml)
wheel=$(ls "$root"/dist/interlock_db-"$version"-cp39-abi3-manylinux_*_x86_64.whl)

venv=target/python-test-venv
bash scripts/python-venv.sh "$venv" "[test]" "$wheel"

# The etcd tests start their own 3-member cluster on loopback; this installs etcd if missing.
bash scripts/setup-etcd.sh
# The server the http:// tests start (tests/test_server.py).
export INTERLOCK_SERVER_EXE="$root/dist/interlock"

source scripts/without-rust.sh
PATH=$(path_without_rust "$root/target/python-test-bin")
export PATH

# The tests import the installed package, never the source tree.
cd bindings-python
../"$venv"/bin/ruff check python tests
../"$venv"/bin/ruff format --check python tests
../"$venv"/bin/python -m mypy --strict -p interlock
../"$venv"/bin/python -m mypy.stubtest interlock._native
# The public names of the installed package and of the Rust core against docs/vocabulary.md; and
# proof that the check can fail (a name no package has must be reported).
python3 ../scripts/check-vocabulary.py --rust --python ../"$venv"/bin/python
if python3 ../scripts/check-vocabulary.py --rust --python ../"$venv"/bin/python --fake Client.fakeName 2>/dev/null; then
    echo "test-python: check-vocabulary.py did not report a name missing from docs/vocabulary.md" >&2
    exit 1
fi
../"$venv"/bin/python -m pytest -p no:cacheprovider "$@"
