//! Generates `pagedrange.h` with cbindgen into `OUT_DIR` (and nowhere
//! else) and gives the shared library its SONAME. `scripts/gen-header.sh`
//! copies the generated header to the committed `include/pagedrange.h`; a
//! test fails when the two differ.

use std::path::PathBuf;

fn main() {
    let crate_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets this"));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    println!("cargo:rerun-if-changed=build.rs");

    // Cargo sets no SONAME on a cdylib; consumers link against the major
    // version.
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libpagedrange.so.0");
    }

    let config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is readable and valid");
    let bindings = cbindgen::Builder::new()
        .with_crate(&crate_dir)
        .with_config(config)
        .generate()
        .expect("cbindgen can parse the crate");

    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets this"));
    bindings.write_to_file(out_dir.join("pagedrange.h"));
}
