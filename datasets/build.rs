//! Embeds the bundled default corpus (`data/default`, about 800 KB) in the library, so a
//! `sluice` binary installed or copied anywhere can run the demo without this checkout.

use std::path::Path;

fn files(dir: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("data/default is readable")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p.to_string_lossy().into_owned());
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/default");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut list = vec![];
    files(&root, &mut list);
    let mut src = String::from("/// (path under `default/`, contents) of every bundled file.\n");
    src.push_str("pub static EMBEDDED: &[(&str, &[u8])] = &[\n");
    for f in &list {
        println!("cargo:rerun-if-changed={f}");
        let rel = Path::new(f)
            .strip_prefix(&root)
            .expect("under root")
            .to_string_lossy()
            .replace('\\', "/");
        src.push_str(&format!("    ({rel:?}, include_bytes!({f:?})),\n"));
    }
    src.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("embedded.rs");
    std::fs::write(out, src).expect("writes embedded.rs");
}
