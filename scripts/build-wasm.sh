#!/usr/bin/env bash
# Builds the WebAssembly package (bindings-wasm) into bindings-wasm/dist: installs Debian's Rust
# with the standard library's sources and wasm-ld (rustup's toolchain here has no wasm32 target),
# the wasm-bindgen CLI at exactly the version in Cargo.lock, and the package's npm tools; then
# compiles the crate for wasm32-unknown-unknown (std built from source, in target/wasm so the two
# compilers never rebuild each other's artifacts), generates the JS glue, and compiles the
# TypeScript layer. Idempotent; the server embeds the result (its dashboard runs on it).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

if ! dpkg -s rustc-web cargo-web rust-web-src lld >/dev/null 2>&1; then
    echo "build-wasm: installing Debian's Rust for WebAssembly (rustc-web, cargo-web, rust-web-src, lld)" >&2
    apt_install rustc-web cargo-web rust-web-src lld
fi

version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$version" ]; then
    echo "build-wasm: installing wasm-bindgen-cli $version" >&2
    cargo install wasm-bindgen-cli --version "$version" >&2
fi

RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 \
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld \
CARGO_TARGET_DIR=target/wasm \
    /usr/bin/cargo build -p interlock-wasm --release --target wasm32-unknown-unknown \
    -Zbuild-std=std,panic_abort >&2
rm -rf bindings-wasm/build/wasm
wasm-bindgen --target web --out-dir bindings-wasm/build/wasm \
    target/wasm/wasm32-unknown-unknown/release/interlock_wasm.wasm

cd bindings-wasm
if [ ! -x node_modules/.bin/tsc ] || [ package.json -nt node_modules/.package-lock.json ]; then
    npm install --no-audit --no-fund >&2
fi
node tools/build.mjs >&2
echo "$PWD/dist"
