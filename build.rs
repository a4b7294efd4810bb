// torch-sys gives binaries no rpath to libtorch; add one so tests and binaries of this
// package run without LD_LIBRARY_PATH. LIBTORCH is set by scripts/env.sh.
// Without the `train` feature nothing links libtorch and no rpath is added.
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if std::env::var_os("CARGO_FEATURE_TRAIN").is_none() {
        return;
    }
    if let Ok(root) = std::env::var("LIBTORCH") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{root}/lib");
    }
}
