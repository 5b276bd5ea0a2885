#!/usr/bin/env bash
# Sourced. path_without_rust DIR prints a PATH on which no Rust toolchain can be found: every
# directory of $PATH that holds cargo, rustc, rustup or rustdoc (~/.cargo/bin, and /usr/bin where
# Debian's Rust is installed) is replaced by DIR/<n>, a directory of links to its other programs.
# A test run on that PATH shows that an installed artifact needs no compiler.

path_without_rust() {
    local shims=$1 out="" dir name file i=0
    rm -rf "$shims"
    mkdir -p "$shims"
    local -a dirs
    IFS=: read -ra dirs <<<"$PATH"
    for dir in "${dirs[@]}"; do
        [ -d "$dir" ] || continue
        if [ -e "$dir/cargo" ] || [ -e "$dir/rustc" ] || [ -e "$dir/rustup" ] || [ -e "$dir/rustdoc" ]; then
            i=$((i + 1))
            mkdir "$shims/$i"
            for file in "$dir"/*; do
                name=${file##*/}
                case "$name" in
                    cargo | cargo-* | rustc | rustc-* | rustup | rustdoc | rust-*) continue ;;
                esac
                [ -x "$file" ] && [ ! -d "$file" ] && ln -s "$file" "$shims/$i/$name"
            done
            out="$out:$shims/$i"
        else
            out="$out:$dir"
        fi
    done
    out=${out#:}
    local tool
    for tool in cargo rustc rustup; do
        if PATH=$out command -v "$tool" >/dev/null 2>&1; then
            echo "path_without_rust: $tool is still on the PATH ($(PATH=$out command -v "$tool"))" >&2
            return 1
        fi
    done
    echo "$out"
}
