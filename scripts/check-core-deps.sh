#!/usr/bin/env bash
# The core crate must know nothing of the language bindings, and the JavaScript glue shared by the
# Node and WebAssembly packages (bindings-js) nothing of either binding library.
set -euo pipefail
cd "$(dirname "$0")/.."
for crate in interlock-db interlock-js; do
    tree=$(cargo tree -p "$crate" -e normal --prefix none --format '{p}')
    bad=$(grep -E '^(pyo3|napi|napi-derive|wasm-bindgen|js-sys|web-sys)( |$)' <<<"$tree" || true)
    if [ -n "$bad" ]; then
        echo "$crate depends on binding crates:" >&2
        echo "$bad" >&2
        exit 1
    fi
done
echo "core dependency check: no binding crates in the normal dependency trees of interlock and interlock-js"
