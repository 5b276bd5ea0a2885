#!/usr/bin/env bash
# Checks the documentation and builds the API references into target/docs/, failing on any
# warning:
#   scripts/check-docs.py   every relative link, anchor and docs/design.md citation resolves
#   target/docs/rust/       rustdoc for the core (cargo doc -p interlock-db --no-deps, -D warnings)
#   target/docs/python/     the Python package's reference (pdoc, by scripts/pdoc-python.py), from
#                           its docstrings and stubs
#   target/docs/node/       the Node package's reference (typedoc), from bindings-node/lib
# The Python reference documents the package installed in target/python-test-venv (made by
# scripts/test-python.sh, or here if missing), into which the pdoc of the package's `docs` extra is
# installed once. The Node reference needs bindings-node's dev dependencies (installed here if
# missing, as scripts/build-node.sh does) and its committed lib/native.d.ts. Run by scripts/test.sh
# after the packages' suites.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
out=target/docs
mkdir -p "$out"

python3 scripts/check-docs.py

echo "docs: rustdoc (core)" >&2
RUSTDOCFLAGS="-D warnings" cargo doc --quiet -p interlock-db --no-deps
target_dir=${CARGO_TARGET_DIR:-target}
rm -rf "$out/rust"
cp -r "$target_dir/doc" "$out/rust"

echo "docs: pdoc (Python)" >&2
venv=target/python-test-venv
if ! "$venv/bin/python" -c 'import interlock' 2>/dev/null; then
    bash scripts/python-venv.sh "$venv" "[test]"
fi
pdoc_req=$(sed -n 's/^docs = \["\(pdoc==[^"]*\)"\]$/\1/p' bindings-python/pyproject.toml)
[ -n "$pdoc_req" ] || { echo "docs: no pdoc pin in bindings-python/pyproject.toml's docs extra" >&2; exit 1; }
installed=$("$venv/bin/python" -c 'import importlib.metadata as m; print("pdoc==" + m.version("pdoc"))' 2>/dev/null || true)
if [ "$installed" != "$pdoc_req" ]; then
    "$venv/bin/python" -m pip install --quiet "$pdoc_req"
fi
rm -rf "$out/python"
# -W error: any warning pdoc (or an import) raises fails the build. The script documents the
# members the blocking and asyncio classes share (interlock/_shared.py) as each class's own.
"$venv/bin/python" -W error scripts/pdoc-python.py "$out/python"

echo "docs: typedoc (Node)" >&2
(
    cd bindings-node
    if [ ! -x node_modules/.bin/typedoc ] || [ ! -x node_modules/.bin/tsc ]; then
        npm install --no-audit --no-fund --ignore-scripts >&2
    fi
    rm -rf "../$out/node"
    # typedoc.json: lib/index.ts, warnings (an undocumented export too) are errors.
    npx typedoc --logLevel Warn
)

echo "docs: built $out/rust/interlock/index.html, $out/python/index.html, $out/node/index.html"
