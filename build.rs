// torch-sys gives binaries no rpath to libtorch; add one so tests and binaries of this
// package run without LD_LIBRARY_PATH. LIBTORCH is set by scripts/env.sh.
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(root) = std::env::var("LIBTORCH") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{root}/lib");
    }
}
