//! [`RemoteLock`]: one run per output location in object storage, the counterpart of the
//! `flock` a local run takes. The lock is an object (`OUT/.sluice.lock`) created with
//! `If-None-Match: *`, so of two runs racing only one gets it; it holds the holder's host,
//! pid and an expiry that a heartbeat thread pushes forward (`If-Match` on its own version).
//! A lock left by a run that died is taken over once it has expired, or at once when its
//! holder was a process of this host that no longer exists (a SIGKILL'd run rerun from cron).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::error::StoreError;
use crate::location::ObjectUrl;

/// Who holds a lock, as written in the lock object (`host pid expiry-unix-seconds token`;
/// the token tells this acquisition from any other, in this process too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockHolder {
    pub host: String,
    pub pid: u32,
    pub expires: u64,
    pub token: String,
}

impl LockHolder {
    fn parse(s: &str) -> Option<LockHolder> {
        let mut it = s.split_whitespace();
        Some(LockHolder {
            host: it.next()?.to_string(),
            pid: it.next()?.parse().ok()?,
            expires: it.next()?.parse().ok()?,
            token: it.next().unwrap_or_default().to_string(),
        })
    }

    fn render(&self) -> String {
        format!(
            "{} {} {} {}\n",
            self.host, self.pid, self.expires, self.token
        )
    }

    /// A holder record for this process, with a fresh expiry and `token`.
    fn me(token: &str) -> LockHolder {
        LockHolder {
            host: hostname(),
            pid: std::process::id(),
            expires: now() + ttl(),
            token: token.to_string(),
        }
    }

    /// Whether this lock can be taken over: expired, or held by a process of this host
    /// that is gone.
    fn is_stale(&self, now: u64) -> bool {
        now >= self.expires
            || (self.host == hostname()
                && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists())
    }
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "pid {} on {}", self.pid, self.host)
    }
}

pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown-host".into())
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// How long a lock lives without a heartbeat (`SLUICE_LOCK_TTL`, seconds; default 120).
fn ttl() -> u64 {
    std::env::var("SLUICE_LOCK_TTL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(120)
}

/// A held lock; dropping it stops the heartbeat and deletes the object.
#[derive(Debug)]
pub struct RemoteLock {
    url: ObjectUrl,
    stop: Arc<AtomicBool>,
    beat: Option<std::thread::JoinHandle<()>>,
}

/// Why a lock could not be taken.
#[derive(Debug)]
pub enum LockRefused {
    /// Held by a live run.
    Held(LockHolder),
    Store(StoreError),
}

impl From<StoreError> for LockRefused {
    fn from(e: StoreError) -> Self {
        LockRefused::Store(e)
    }
}

impl RemoteLock {
    /// Takes the lock object `url`, or says who holds it.
    pub fn acquire(url: ObjectUrl) -> Result<RemoteLock, LockRefused> {
        static ACQUIRED: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let n = ACQUIRED.fetch_add(1, Ordering::Relaxed);
        let token = format!("{:x}-{n}", nanos ^ u128::from(std::process::id()) << 64);
        let me = LockHolder::me(&token);
        let body = me.render();
        if !url.create(body.clone().into())? {
            let info = url.head()?;
            let current = match &info {
                Some(_) => url.get().map(|b| String::from_utf8_lossy(&b).into_owned()),
                None => Ok(String::new()),
            };
            let holder = current.as_deref().ok().and_then(LockHolder::parse);
            let etag = info.and_then(|i| i.etag);
            // Our own create, whose answer was lost and retried, also lands here.
            let mine = holder.as_ref().is_some_and(|h| h.token == me.token);
            let stale = holder.as_ref().is_none_or(|h| h.is_stale(now()));
            let taken = mine
                || match (stale, etag) {
                    (true, Some(tag)) => url.replace(body.clone().into(), &tag)?,
                    (true, None) => url.create(body.clone().into())?,
                    (false, _) => false,
                };
            if !taken {
                return Err(LockRefused::Held(holder.unwrap_or(LockHolder {
                    host: "another host".into(),
                    pid: 0,
                    expires: 0,
                    token: String::new(),
                })));
            }
            if !mine {
                tracing::info!(lock = %url, "took over a lock whose holder is gone");
            }
        }
        let etag = Arc::new(Mutex::new(url.head()?.and_then(|i| i.etag)));
        let stop = Arc::new(AtomicBool::new(false));
        let beat = {
            let (url, stop, etag) = (url.clone(), stop.clone(), etag.clone());
            std::thread::spawn(move || heartbeat(url, stop, etag, token))
        };
        Ok(RemoteLock {
            url,
            stop,
            beat: Some(beat),
        })
    }

    pub fn url(&self) -> &ObjectUrl {
        &self.url
    }
}

/// Pushes the lock's expiry forward every third of its lifetime until `stop`.
fn heartbeat(
    url: ObjectUrl,
    stop: Arc<AtomicBool>,
    etag: Arc<Mutex<Option<String>>>,
    token: String,
) {
    let every = Duration::from_secs((ttl() / 3).max(1));
    let mut slept = Duration::ZERO;
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        slept += Duration::from_millis(100);
        if slept < every {
            continue;
        }
        slept = Duration::ZERO;
        let me = LockHolder::me(&token);
        let tag = etag.lock().expect("not poisoned").clone();
        let ok = match tag {
            Some(t) => url.replace(me.render().into(), &t),
            None => url.put(me.render().into()).map(|_| true),
        };
        match ok {
            Ok(true) => {
                *etag.lock().expect("not poisoned") = url.head().ok().flatten().and_then(|i| i.etag)
            }
            Ok(false) => tracing::error!(lock = %url, "the run lock was taken by another run"),
            Err(e) => tracing::warn!(lock = %url, "cannot renew the run lock: {e}"),
        }
    }
}

impl Drop for RemoteLock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(b) = self.beat.take() {
            let _ = b.join();
        }
        let _ = self.url.delete();
    }
}
