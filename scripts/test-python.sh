#!/usr/bin/env bash
# Builds the Python package, installs it into a fresh virtual environment (as a user would, with
# `pip install ./bindings-python`), then runs ruff, mypy (the package, strictly), stubtest (the
# native module's stubs against the built module) and the pytest suite against what was
# installed, on every backend (etcd on a real 3-member cluster the suite starts itself; a real
# `interlock serve` with a token, built here, for the http:// tests).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

venv=target/python-test-venv
bash scripts/python-venv.sh "$venv" "[test]"

# The etcd tests start their own 3-member cluster on loopback; this installs etcd if missing.
bash scripts/setup-etcd.sh
# The server the http:// tests start (tests/test_server.py).
cargo build --release --quiet -p interlock-server
target_dir=$(cd "${CARGO_TARGET_DIR:-target}" && pwd)
export INTERLOCK_SERVER_EXE="$target_dir/release/interlock"

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
