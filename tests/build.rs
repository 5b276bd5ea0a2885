//! Extracts the Rust example of the README ("Using it from Rust") into `OUT_DIR`, so that
//! `tests/readme.rs` compiles and runs it exactly as printed.

use std::path::Path;

fn main() {
    // Read when the script runs, not when it is compiled: a compiled build script is shared by
    // every checkout that uses the same target directory.
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let readme = Path::new(&dir).join("../README.md");
    println!("cargo:rerun-if-changed={}", readme.display());
    let text = std::fs::read_to_string(&readme).expect("README.md");
    let section = text
        .split("\n## Using it from Rust\n")
        .nth(1)
        .expect("the README has a 'Using it from Rust' section");
    let start = section
        .find("```rust\n")
        .expect("a rust block in that section")
        + "```rust\n".len();
    let end = start + section[start..].find("\n```").expect("the block ends");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("readme_example.rs");
    std::fs::write(out, &section[start..end]).expect("write the example");
}
