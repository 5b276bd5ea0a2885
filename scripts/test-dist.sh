#!/usr/bin/env bash
# Installs each artifact of dist/ (scripts/release.sh builds it, here if it is missing) as a user
# would, on a PATH with no Rust toolchain (cargo, rustc and rustup are checked to be absent), and
# runs the READMEs' examples against it:
#   - the packages' metadata: one version everywhere, the license and READMEs inside, no install
#     script in the npm packages, the native module only in the per-platform package, the
#     wheel's manylinux tag confirmed by auditwheel, every native artifact stripped and < 15 MiB;
#   - the wheel, into a fresh virtual environment with pip --no-index (nothing can be built):
#     interlock.__version__, every Python example of both READMEs on a fresh SQLite store;
#   - the Node packages (main + linux-x64-gnu), into a scratch npm project: the package README's
#     example, and the project README's example against the `interlock` binary of dist/;
#   - the WebAssembly package, into the same project: its README's example (mem://), and the
#     project README's example against the same server.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dist=$root/dist
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
if [ ! -x "$dist/interlock" ] || ! ls "$dist"/*.whl >/dev/null 2>&1; then
    bash scripts/release.sh
fi
work=$root/target/dist-test
rm -rf "$work"
mkdir -p "$work/tmp"
export TMPDIR=$work/tmp
failures=0
passes=0
check() {   # check DESCRIPTION COMMAND...: runs the command, counts and reports the result
    local what=$1
    shift
    if "$@" >"$work/check.log" 2>&1; then
        passes=$((passes + 1))
        echo "ok   $what"
    else
        failures=$((failures + 1))
        echo "FAIL $what" >&2
        sed 's/^/     /' "$work/check.log" >&2
    fi
}

source scripts/without-rust.sh
PATH=$(path_without_rust "$work/bin")
export PATH
if command -v cargo >/dev/null 2>&1 || command -v rustc >/dev/null 2>&1; then
    echo "test-dist: a Rust toolchain is still on the PATH" >&2
    exit 1
fi
echo "test-dist: no cargo, rustc or rustup on the PATH"

wheel=$(ls "$dist"/interlock_db-"$version"-cp39-abi3-manylinux_*_x86_64.whl)
sdist=$dist/interlock_db-$version.tar.gz
main_tgz=$dist/interlock-db-$version.tgz
platform_tgz=$dist/interlock-db-linux-x64-gnu-$version.tgz
wasm_tgz=$dist/interlock-db-wasm-$version.tgz
exe=$dist/interlock

# The artifacts themselves.
npm_json() {   # npm_json TARBALL EXPR: evaluates EXPR on the tarball's package.json (as `p`)
    tar -xOzf "$1" package/package.json | node -e "
        const p = JSON.parse(require('fs').readFileSync(0, 'utf8'));
        const v = ($2); if (v !== true) { console.error(JSON.stringify(p, null, 2)); process.exit(1); }"
}
listing() { tar -tzf "$1"; }
wheel_files() { python3 -c 'import sys, zipfile; print("\n".join(zipfile.ZipFile(sys.argv[1]).namelist()))' "$1"; }
wheel_cat() { python3 -c 'import sys, zipfile; sys.stdout.write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]).decode())' "$1" "$2"; }
export -f npm_json listing wheel_files wheel_cat
check "every artifact is there" ls "$wheel" "$sdist" "$main_tgz" "$platform_tgz" "$wasm_tgz" "$exe"
check "the wheel's tag is the one auditwheel confirms" bash -c "
    tr -s ' \n' ' ' <'${wheel%.whl}.auditwheel.txt' |
        grep -q 'is consistent with the following platform tag: \"$(tag=${wheel##*-}; echo "${tag%%.*}")\"'"
check "the wheel carries its license and metadata" bash -c "
    wheel_files '$wheel' | grep -qx 'interlock_db-$version.dist-info/licenses/LICENSE' &&
    wheel_cat '$wheel' 'interlock_db-$version.dist-info/METADATA' | grep -qx 'Version: $version' &&
    wheel_cat '$wheel' 'interlock_db-$version.dist-info/METADATA' | grep -qx 'License-Expression: Apache-2.0'"
check "the sdist has the package, the core crate and the license" bash -c "
    tar -tzf '$sdist' | grep -q '^interlock_db-$version/PKG-INFO$' &&
    tar -tzf '$sdist' | grep -q '^interlock_db-$version/core/src/lib.rs$' &&
    tar -tzf '$sdist' | grep -q '^interlock_db-$version/.*LICENSE$'"
check "the main npm package has no scripts and no native module" bash -c "
    npm_json '$main_tgz' '!p.scripts && p.version === \"$version\"' &&
    ! listing '$main_tgz' | grep -q '\.node$'"
check "the main npm package depends optionally on its platform package" \
    npm_json "$main_tgz" "p.optionalDependencies['interlock-db-linux-x64-gnu'] === '$version'"
check "the platform package carries the native module" bash -c "
    npm_json '$platform_tgz' 'p.main === \"interlock.linux-x64-gnu.node\" && p.os[0] === \"linux\" && p.cpu[0] === \"x64\" && !p.scripts' &&
    listing '$platform_tgz' | grep -qx 'package/interlock.linux-x64-gnu.node'"
check "the WebAssembly package has no scripts and its module" bash -c "
    npm_json '$wasm_tgz' '!p.scripts && p.version === \"$version\"' &&
    listing '$wasm_tgz' | grep -qx 'package/dist/interlock_wasm_bg.wasm'"
for tgz in "$main_tgz" "$platform_tgz" "$wasm_tgz"; do
    check "$(basename "$tgz") has a README and the license" bash -c "
        tar -tzf '$tgz' | grep -qx 'package/README.md' && tar -tzf '$tgz' | grep -qx 'package/LICENSE'"
done
check "the binary says its version" bash -c "'$exe' --version | grep -qx 'interlock $version'"

mkdir -p "$work/native"
python3 -m zipfile -e "$wheel" "$work/native"
tar -xzf "$platform_tgz" -C "$work/native" package/interlock.linux-x64-gnu.node
limit=$((15 * 1024 * 1024))
for f in "$work"/native/interlock/_native*.so "$work/native/package/interlock.linux-x64-gnu.node" "$exe"; do
    check "$(basename "$f") is stripped, without debug info, and under 15 MiB ($(($(stat -c %s "$f") / 1024)) KiB)" bash -c "
        ! readelf -S '$f' | grep -qE '\.(symtab|debug_[a-z]+)\b' && [ \$(stat -c %s '$f') -lt $limit ]"
done

# Python: the wheel into a fresh virtual environment; pip may not build anything.
python3 -m venv "$work/venv"
check "pip installs the wheel (--no-index: nothing to build)" \
    "$work/venv/bin/python" -m pip install --quiet --no-index "$wheel"
check "interlock.__version__ is $version" \
    "$work/venv/bin/python" -c "import interlock, sys; sys.exit(interlock.__version__ != '$version')"
python3 - "$root/README.md" "$root/bindings-python/README.md" "$work/examples" <<'PY'
import pathlib, re, sys
out = pathlib.Path(sys.argv[3]); out.mkdir(parents=True, exist_ok=True)
for readme, prefix in ((sys.argv[1], "readme"), (sys.argv[2], "package-readme")):
    text = pathlib.Path(readme).read_text()
    for i, block in enumerate(re.findall(r"```python\n(.*?)```", text, flags=re.S)):
        (out / f"{prefix}-{i}.py").write_text(block)
PY
for example in "$work"/examples/*.py; do
    check "the Python example $(basename "$example") runs on a fresh store" bash -c "
        cd '$work/tmp' && INTERLOCK_URL='sqlite://$work/tmp/$(basename "$example").db' '$work/venv/bin/python' '$example'"
done

# The binary serves the JavaScript examples' store.
token=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
"$exe" serve --store "sqlite://$work/tmp/serve.db" --listen 127.0.0.1:0 --token "$token" \
    >"$work/serve.out" 2>"$work/serve.err" &
server_pid=$!
trap 'kill -TERM $server_pid 2>/dev/null || true; wait $server_pid 2>/dev/null || true' EXIT
url=""
for _ in $(seq 100); do
    url=$(sed -n 's/.* on \(http:\/\/[^ ]*\).*/\1/p' "$work/serve.out" | head -1)
    [ -n "$url" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
done
check "the binary serves a store (${url:-not started})" test -n "$url"

# Node and WebAssembly: the tarballs into a scratch project, as a user would.
project=$work/npm-project
mkdir -p "$project"
echo '{ "name": "interlock-dist-test", "private": true, "type": "module" }' >"$project/package.json"
check "npm installs the Node packages and the WebAssembly package" bash -c "
    cd '$project' && npm install --no-audit --no-fund '$main_tgz' '$platform_tgz' '$wasm_tgz'"
check "npm installed the native module from the platform package" \
    test -f "$project/node_modules/interlock-db-linux-x64-gnu/interlock.linux-x64-gnu.node"
js_block() {   # js_block README SECTION_HEADING OUT: the section's one JavaScript block
    python3 - "$@" <<'PY'
import pathlib, re, sys
text = pathlib.Path(sys.argv[1]).read_text()
if sys.argv[2]:
    text = text.split("## " + sys.argv[2])[1].split("\n## ")[0]
blocks = re.findall(r"```(?:js|mjs|ts)\n(.*?)```", text, flags=re.S)
assert len(blocks) == 1, f"{sys.argv[1]} {sys.argv[2]!r}: {len(blocks)} JavaScript blocks"
pathlib.Path(sys.argv[3]).write_text(blocks[0])
PY
}
js_block "$root/bindings-node/README.md" "" "$project/node-package-readme.mjs"
js_block "$root/README.md" "Using it from Node" "$project/node-readme.mjs"
js_block "$root/bindings-wasm/README.md" "" "$project/wasm-package-readme.mjs"
js_block "$root/README.md" "Using it from a browser (WebAssembly)" "$project/wasm-readme.mjs"
# The project README's browser example imports /pkg/index.js, where `interlock serve` serves
# the package; here that specifier resolves to the installed package.
cat >"$project/hooks.mjs" <<'JS'
export async function resolve(specifier, context, next) {
  return next(specifier === '/pkg/index.js' ? 'interlock-db-wasm' : specifier, context);
}
JS
echo "import { register } from 'node:module'; register('./hooks.mjs', import.meta.url);" >"$project/register.mjs"

check "the Node package README's example runs" bash -c "
    cd '$project' && node node-package-readme.mjs | grep -qx 'true false users/1'"
check "the README's Node example runs against the binary's server" bash -c "
    cd '$project' && INTERLOCK_URL='$url' INTERLOCK_TOKEN='$token' node node-readme.mjs | grep -q '^printing with fence [0-9]'"
check "the WebAssembly package README's example runs" bash -c "
    cd '$project' && node wasm-package-readme.mjs | grep -q \"by: 'me'\""
check "the README's WebAssembly example runs against the binary's server" bash -c "
    cd '$project' && INTERLOCK_URL='$url' INTERLOCK_TOKEN='$token' node --import ./register.mjs wasm-readme.mjs |
        grep -q '^put reports/latest'"

echo "test-dist: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
