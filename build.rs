//! Generates `pagedrange.h` with cbindgen into `OUT_DIR` (and nowhere
//! else). `scripts/gen-header.sh`
//! copies the generated header to the committed `include/pagedrange.h`; a
//! test fails when the two differ.
//!
//! The crate builds no cdylib: the `libpagedrange.so` that CMake builds and
//! installs is linked from the static library with the version script
//! `abi/pagedrange.map`, which a cdylib cannot take (rustc gives it an
//! anonymous version script of its own).

use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets this"));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");

    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable and valid");
    // From the crate's sources (cbindgen follows the `mod` items), not
    // `with_crate`: that runs `cargo metadata`, which resolves the core
    // crate from crates.io when this crate is built from its package (as
    // `cargo publish --dry-run` does before the core is published). The
    // header is the same either way (parse_deps is off in cbindgen.toml).
    let bindings = cbindgen::Builder::new()
        .with_src(crate_dir.join("src").join("lib.rs"))
        .with_config(config)
        .generate()
        .expect("cbindgen can parse the crate");

    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets this"));
    bindings.write_to_file(out_dir.join("pagedrange.h"));
}
