//! Progress of a phase by bytes read (the first phase) or documents (phases after a barrier),
//! with the rate and an ETA: a bar on a TTY, plain `tracing` lines every few seconds otherwise
//! (cron, CI, pipes), so a single big file shows movement long before its shard is done.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, HumanCount, HumanDuration, ProgressBar, ProgressStyle};

/// What a phase's progress counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unit {
    /// Input bytes on disk (phase 1 reads the inputs).
    Bytes,
    /// Documents (later phases read what the previous one kept).
    Docs,
}

pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    unit: Unit,
    total: u64,
    /// Units, documents and shards done, counting work found done at the start.
    pos: AtomicU64,
    docs: AtomicU64,
    shards: AtomicUsize,
    shards_total: usize,
    started: Instant,
    /// Units done when this invocation started (the rate counts only this invocation's work).
    start_pos: u64,
    last_line: Mutex<Instant>,
    every: Duration,
}

impl Progress {
    pub(crate) fn new(
        label: &str,
        unit: Unit,
        (total, done): (u64, u64),
        (shards_total, shards_done): (usize, usize),
    ) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(total);
            let tpl = match unit {
                Unit::Bytes => {
                    "{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg} eta {eta}"
                }
                Unit::Docs => {
                    "{prefix} [{bar:30}] {human_pos}/{human_len} docs {per_sec} {msg} eta {eta}"
                }
            };
            b.set_style(
                ProgressStyle::with_template(tpl)
                    .expect("valid template")
                    .progress_chars("=> "),
            );
            b.set_prefix(label.to_string());
            b.set_position(done);
            b
        });
        if shards_done > 0 {
            tracing::info!("{label}: resuming, {shards_done}/{shards_total} shards already done");
        }
        let every = std::env::var("SLUICE_PROGRESS_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .map_or(Duration::from_secs(10), Duration::from_secs_f64);
        Progress {
            bar,
            label: label.to_string(),
            unit,
            total,
            pos: done.into(),
            docs: 0.into(),
            shards: shards_done.into(),
            shards_total,
            started: Instant::now(),
            start_pos: done,
            last_line: Mutex::new(Instant::now()),
            every,
        }
    }

    /// `units` more bytes (or documents) and `docs` more documents read.
    pub(crate) fn advance(&self, units: u64, docs: u64) {
        self.pos.fetch_add(units, Ordering::Relaxed);
        self.docs.fetch_add(docs, Ordering::Relaxed);
        self.report(false);
    }

    pub(crate) fn shard_done(&self) {
        self.shards.fetch_add(1, Ordering::Relaxed);
        self.report(false);
    }

    fn report(&self, force: bool) {
        let pos = self.pos.load(Ordering::Relaxed);
        let docs = self.docs.load(Ordering::Relaxed);
        let shards = self.shards.load(Ordering::Relaxed);
        let msg = format!(
            "{} docs, {shards}/{} shards",
            HumanCount(docs),
            self.shards_total
        );
        if let Some(b) = &self.bar {
            b.set_position(pos);
            b.set_message(msg);
            return;
        }
        {
            let mut last = self.last_line.lock().expect("not poisoned");
            if !force && last.elapsed() < self.every {
                return;
            }
            *last = Instant::now();
        }
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = (pos - self.start_pos) as f64 / secs;
        let eta = if rate > 0.0 && pos < self.total {
            HumanDuration(Duration::from_secs_f64((self.total - pos) as f64 / rate)).to_string()
        } else {
            "-".into()
        };
        let pct = 100.0 * pos as f64 / self.total.max(1) as f64;
        let (done, total, rate) = match self.unit {
            Unit::Bytes => (
                HumanBytes(pos).to_string(),
                HumanBytes(self.total).to_string(),
                format!("{}/s", HumanBytes(rate as u64)),
            ),
            Unit::Docs => (
                HumanCount(pos).to_string(),
                format!("{} docs", HumanCount(self.total)),
                format!("{} docs/s", HumanCount(rate as u64)),
            ),
        };
        tracing::info!(
            "{}: {done} of {total} ({pct:.0}%), {msg}, {rate}, eta {eta}",
            self.label
        );
    }

    pub(crate) fn finish(&self) {
        match &self.bar {
            Some(b) => b.finish_and_clear(),
            None => self.report(true),
        }
    }
}
