#!/usr/bin/env bash
# The core crate must know nothing of the language bindings.
set -euo pipefail
cd "$(dirname "$0")/.."
tree=$(cargo tree -p interlock-db -e normal --prefix none --format '{p}')
bad=$(grep -E '^(pyo3|napi|napi-derive|wasm-bindgen|js-sys|web-sys)( |$)' <<<"$tree" || true)
if [ -n "$bad" ]; then
    echo "core depends on binding crates:" >&2
    echo "$bad" >&2
    exit 1
fi
echo "core dependency check: no binding crates in interlock's normal dependency tree"
