//! Embeds the bundled data sets (`data/default`, the default corpus, about 800 KB; `data/web`,
//! the web sample WARC, about 480 KB) in the library, so a `sluice` binary installed or
//! copied anywhere can run the demos without this checkout.

use std::path::Path;

fn files(dir: &Path, out: &mut Vec<String>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("the bundled data is readable")
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

/// `pub static NAME: &[(&str, &[u8])]` of every file under `data/SET`.
fn embed(set: &str, name: &str, src: &mut String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("data").join(set);
    println!("cargo:rerun-if-changed={}", root.display());
    let mut list = vec![];
    files(&root, &mut list);
    src.push_str(&format!(
        "/// (path under `{set}/`, contents) of every file of the bundled `{set}` set.\n"
    ));
    src.push_str(&format!("pub static {name}: &[(&str, &[u8])] = &[\n"));
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
}

fn main() {
    let mut src = String::new();
    embed("default", "EMBEDDED", &mut src);
    embed("web", "EMBEDDED_WEB", &mut src);
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("embedded.rs");
    std::fs::write(out, src).expect("writes embedded.rs");
}
