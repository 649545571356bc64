//! Compiles the C side of the benchmark (`spans.c`) against `include/crosstrace.h`.
fn main() {
    println!("cargo:rerun-if-changed=spans.c");
    println!("cargo:rerun-if-changed=../include/crosstrace.h");
    cc::Build::new()
        .file("spans.c")
        .include("../include")
        .opt_level(2)
        .flag_if_supported("-std=c11")
        .warnings_into_errors(true)
        .compile("ctbench");
}
