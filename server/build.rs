//! Embeds the dashboard (`dashboard/`) and the WebAssembly package it runs on
//! (`../bindings-wasm/dist`, built by `scripts/build-wasm.sh`) in the binary, so that
//! `interlock serve` is one file. Without the package the dashboard page says how to build it.

use std::fmt::Write;
use std::path::Path;

fn main() {
    // Read when the script runs, not baked in when it is compiled: a compiled build script is
    // reused by every checkout that shares the target directory.
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let root = Path::new(&manifest_dir);
    let mut assets = String::from("&[\n");
    add(&mut assets, &root.join("dashboard"), "/");
    let wasm = root.join("../bindings-wasm/dist");
    add(&mut assets, &wasm, "/pkg/");
    assets.push(']');
    let out = Path::new(&std::env::var("OUT_DIR").unwrap()).join("dashboard_assets.rs");
    std::fs::write(out, assets).unwrap();
    println!("cargo:rerun-if-changed=dashboard");
    println!("cargo:rerun-if-changed=../bindings-wasm/dist");
}

/// One `(path, content type, bytes)` per file of `dir` (not recursive) that a browser needs.
fn add(assets: &mut String, dir: &Path, mount: &str) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut files: Vec<_> = entries.filter_map(|e| e.ok()).map(|e| e.path()).collect();
    files.sort();
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let kind = match path.extension().and_then(|e| e.to_str()) {
            Some("html") => "text/html; charset=utf-8",
            Some("js") => "text/javascript; charset=utf-8",
            Some("css") => "text/css; charset=utf-8",
            Some("wasm") => "application/wasm",
            Some("ts") if name.ends_with(".d.ts") => "text/plain; charset=utf-8",
            _ => continue,
        };
        writeln!(
            assets,
            "    ({:?}, {:?}, include_bytes!({:?}) as &[u8]),",
            format!("{mount}{name}"),
            kind,
            path.canonicalize().unwrap()
        )
        .unwrap();
    }
}
