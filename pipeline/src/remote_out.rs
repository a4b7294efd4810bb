//! A run whose output is in object storage (`--out s3://bucket/runs/x`). The executor runs
//! unchanged on a local scratch directory (`run.scratch`, default
//! `~/.cache/sluice/scratch/BUCKET/KEY`) while a [`store::Mirror`] copies each finished file
//! up in the background, markers after the files they vouch for; at the end the prefix holds
//! exactly the files a local run leaves, byte for byte. The run lock is an object created with
//! `If-None-Match: *` ([`store::RemoteLock`]), so a second run on the same URL is refused as
//! on disk. A rerun after a crash resumes from the scratch directory, or, on another machine,
//! from what the bucket holds (downloaded first).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use store::{cache_dir, LockRefused, Mirror, ObjectUrl, RemoteLock};

use crate::error::PipelineError;
use crate::layout::OutputLayout;
use crate::lock::LOCK_FILE;

/// Seconds between background upload passes.
const PASS_EVERY: Duration = Duration::from_secs(2);

/// The default scratch directory of a run whose output is `url`.
pub fn default_scratch(url: &ObjectUrl) -> PathBuf {
    cache_dir().join("scratch").join(&url.bucket).join(&url.key)
}

/// A held remote output: the lock, the mirror and its upload thread.
pub struct RemoteOut {
    mirror: Arc<Mirror>,
    stop: Arc<AtomicBool>,
    uploader: Option<std::thread::JoinHandle<()>>,
    /// The last error of a background pass (the final pass tries again).
    failed: Arc<Mutex<Option<String>>>,
    _lock: RemoteLock,
}

fn mirror_of(url: &ObjectUrl, scratch: &Path) -> Mirror {
    Mirror::new(
        scratch.to_path_buf(),
        url.clone(),
        OutputLayout::is_marker,
        &[LOCK_FILE],
    )
}

impl RemoteOut {
    /// Locks `url`, brings `scratch` up to date with it, and starts uploading.
    pub fn open(url: &ObjectUrl, scratch: &Path) -> Result<RemoteOut, PipelineError> {
        let lock = RemoteLock::acquire(url.join(LOCK_FILE)).map_err(|e| match e {
            LockRefused::Held(h) => PipelineError::Locked {
                dir: PathBuf::from(url.to_string()),
                holder: format!(" ({h})"),
            },
            LockRefused::Store(e) => e.into(),
        })?;
        std::fs::create_dir_all(scratch).map_err(|e| PipelineError::io(scratch, e))?;
        check_same_run(url, scratch)?;
        let mirror = Arc::new(mirror_of(url, scratch));
        let got = mirror.hydrate(false)?;
        if got > 0 {
            tracing::info!(files = got, from = %url, "resuming from the bucket's copy of the run");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let failed = Arc::new(Mutex::new(None));
        let uploader = {
            let (m, stop, failed) = (mirror.clone(), stop.clone(), failed.clone());
            std::thread::spawn(move || upload_loop(&m, &stop, &failed))
        };
        Ok(RemoteOut {
            mirror,
            stop,
            uploader: Some(uploader),
            failed,
            _lock: lock,
        })
    }

    /// Stops the background uploads and makes the last pass: everything up, and, once the
    /// run is complete (`prune`), the objects of files the run removed deleted.
    pub fn finish(mut self, prune: bool) -> Result<(), PipelineError> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(u) = self.uploader.take() {
            let _ = u.join();
        }
        if let Some(e) = self.failed.lock().expect("not poisoned").take() {
            tracing::warn!("a background upload failed ({e}); trying again");
        }
        self.mirror.pass()?;
        if prune {
            self.mirror.prune()?;
        }
        Ok(())
    }
}

/// Refuses a prefix that holds objects but no sluice run (they would be mixed with the run's
/// and, at the end, removed), and a scratch dir that holds another run than the bucket.
fn check_same_run(url: &ObjectUrl, scratch: &Path) -> Result<(), PipelineError> {
    let rel = OutputLayout::new("").run_file();
    let rel = rel.to_string_lossy();
    let refuse = |message: String| PipelineError::OutputState {
        dir: PathBuf::from(url.to_string()),
        message,
    };
    let bucket_run = match url.join(&rel).get() {
        Ok(bytes) => bytes,
        Err(e) if e.is_not_found() => {
            let foreign = url
                .list()?
                .into_iter()
                .filter(|o| o.url.file_name() != LOCK_FILE)
                .count();
            if foreign > 0 {
                return Err(refuse(format!(
                    "holds {foreign} objects and no sluice run; choose a new or empty prefix"
                )));
            }
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    match std::fs::read(scratch.join(&*rel)) {
        Ok(local) if local != bucket_run => Err(refuse(format!(
            "the scratch dir {} holds another run than the bucket; delete the scratch dir (the bucket's run is kept)",
            scratch.display()
        ))),
        _ => Ok(()),
    }
}

fn upload_loop(m: &Mirror, stop: &AtomicBool, failed: &Mutex<Option<String>>) {
    let tick = Duration::from_millis(100);
    let mut waited = Duration::ZERO;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(tick);
        waited += tick;
        if waited < PASS_EVERY {
            continue;
        }
        waited = Duration::ZERO;
        // A failed pass is retried at the next tick, and the final pass tries everything.
        if let Err(e) = m.pass() {
            *failed.lock().expect("not poisoned") = Some(e.to_string());
        }
    }
}

/// A local copy of the run at `url` for reading it (query, sample, inspect, report): the
/// objects downloaded into `~/.cache/sluice/runs/BUCKET/KEY`, refreshed where they changed.
pub fn local_view(url: &ObjectUrl) -> Result<PathBuf, PipelineError> {
    let cache = cache_dir().join("runs").join(&url.bucket).join(&url.key);
    std::fs::create_dir_all(&cache).map_err(|e| PipelineError::io(&cache, e))?;
    let mirror = mirror_of(url, &cache);
    if url.join("work/run.json").head()?.is_none() {
        return Err(PipelineError::OutputState {
            dir: PathBuf::from(url.to_string()),
            message: "holds no sluice run (no work/run.json)".into(),
        });
    }
    mirror.hydrate(true)?;
    Ok(cache)
}
