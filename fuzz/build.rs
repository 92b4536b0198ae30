//! Compiles the vhost-user-blk message parser (examples/vhost-user-blk/
//! vu_msg.c) into a static library for the `vhost_msg` fuzz target.
//!
//! cargo-fuzz instruments Rust only (its flags go to rustc through
//! RUSTFLAGS), so the C gets the matching flags here:
//!
//! * `-Zsanitizer=address` (seen as `CARGO_CFG_SANITIZE`): `-fsanitize=address`,
//!   so the parser's overreads of the message are caught. Only the
//!   instrumentation is compiled in; the runtime is the one rustc links.
//! * `--cfg fuzzing` (`CARGO_CFG_FUZZING`): coverage for libFuzzer. With
//!   clang, the same SanitizerCoverage modes rustc uses (inline 8-bit
//!   counters, PC table, compare tracing). With gcc only compare tracing:
//!   gcc's sole edge mode, `-fsanitize-coverage=trace-pc`, is refused at
//!   run time by the libFuzzer in libfuzzer-sys ("no longer supported",
//!   exit 1), and gcc has no 8-bit-counter mode. `trace-cmp` gives
//!   libFuzzer the C comparisons' operands (its compare table, and value
//!   profile features with `-use_value_profile=1`) but no edge coverage of
//!   the C; the target's Rust model supplies that feedback.

use std::env;

const DIR: &str = "../examples/vhost-user-blk";

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={DIR}/vu_msg.c");
    println!("cargo:rerun-if-changed={DIR}/vu_msg.h");
    println!("cargo:rerun-if-env-changed=CC");
    println!("cargo:rerun-if-env-changed=CFLAGS");

    let mut b = cc::Build::new();
    b.file(format!("{DIR}/vu_msg.c"))
        .include(DIR)
        .flag("-std=c11")
        .flag("-fno-omit-frame-pointer")
        .warnings(true);
    let clang = b.get_compiler().is_like_clang();

    let sanitizers = env::var("CARGO_CFG_SANITIZE").unwrap_or_default();
    for s in sanitizers.split(',').filter(|s| !s.is_empty()) {
        match s {
            "address" => {
                b.flag("-fsanitize=address");
            }
            other => println!(
                "cargo:warning=vu_msg.c is not instrumented for sanitizer `{other}` (only address)"
            ),
        }
    }

    if env::var_os("CARGO_CFG_FUZZING").is_some() {
        if clang {
            b.flag("-fsanitize-coverage=inline-8bit-counters,pc-table,trace-cmp");
        } else {
            b.flag_if_supported("-fsanitize-coverage=trace-cmp");
        }
    }

    // Link only where it is declared: fuzz_targets/vhost_msg.rs names the
    // library in its `#[link]` attribute; the shared lib crate (and through
    // it the other targets) does not carry it.
    b.cargo_metadata(false).compile("vu_msg");
    let out = env::var("OUT_DIR").expect("OUT_DIR");
    println!("cargo:rustc-link-search=native={out}");
}
