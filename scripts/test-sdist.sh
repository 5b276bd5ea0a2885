#!/usr/bin/env bash
# Builds the Python sdist of dist/ (scripts/release.sh makes it) into a wheel as pip does for a
# platform with no wheel on the registry: `pip wheel` runs the sdist's own build backend
# (maturin) on the sources inside it, with cargo. Then installs that wheel into a fresh virtual
# environment and uses it: a lock, a compare-exchange and a transaction on a real SQLite file.
# Proves the sdist carries every source the build needs (the core crate, the lock file, the
# license). Compiled dependencies are reused from target/ (CARGO_TARGET_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
source scripts/setup.sh
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' bindings-python/pyproject.toml)
sdist=$root/dist/interlock_db-$version.tar.gz
tools=$root/target/release-tools
if [ ! -f "$sdist" ] || [ ! -x "$tools/bin/maturin" ]; then
    bash scripts/release.sh
fi
work=$root/target/sdist-test
rm -rf "$work"
mkdir -p "$work"
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$root/target}
# The build backend runs the `maturin` command.
export PATH="$tools/bin:$PATH"
echo "test-sdist: building a wheel from $(basename "$sdist")" >&2
# --no-build-isolation: the build backend is the pinned maturin of release.sh's tools, so nothing
# is downloaded; pip still builds from the sdist alone, in a directory of its own.
(cd "$work" && "$tools/bin/python" -m pip wheel --quiet --no-deps --no-build-isolation \
    --wheel-dir "$work/wheels" "$sdist")
python3 -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --no-index "$work"/wheels/interlock_db-"$version"-*.whl
INTERLOCK_URL="sqlite://$work/store.db" "$work/venv/bin/python" - "$version" <<'PY'
import sys

import interlock

assert interlock.__version__ == sys.argv[1], interlock.__version__
with interlock.connect() as db:
    with db.lock("sdist", ttl=5, timeout=5) as held:
        assert held.fencing_token > 0
    assert db.put("k", {"n": 1}, index=0).successful
    assert not db.put("k", {"n": 2}, index=0).successful
    index = db.txn().set("a", 1).set("b", 2).commit()
    assert db.get("a").index == index == db.get("b").index
print("test-sdist: the wheel built from the sdist installs and works")
PY
