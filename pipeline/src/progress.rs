//! Progress: a bar on a TTY, plain `tracing` lines otherwise (cron, CI, pipes).

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use crate::stats::ShardStats;

pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    total: usize,
    done: std::sync::atomic::AtomicUsize,
}

impl Progress {
    pub(crate) fn new(label: &str, total: usize, already_done: usize) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let b = ProgressBar::new(total as u64);
            b.set_style(
                ProgressStyle::with_template(
                    "{prefix} [{bar:40}] {pos}/{len} shards {elapsed_precise} eta {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            b.set_prefix(label.to_string());
            b.set_position(already_done as u64);
            b
        });
        if already_done > 0 {
            tracing::info!("{label}: resuming, {already_done}/{total} shards already done");
        }
        Progress {
            bar,
            label: label.to_string(),
            total,
            done: already_done.into(),
        }
    }

    pub(crate) fn shard_done(&self, shard: usize, stats: &ShardStats) {
        let done = self.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        match &self.bar {
            Some(b) => b.inc(1),
            None => {
                let docs_in = stats.stages.values().next().map_or(0, |s| s.docs_in);
                tracing::info!(
                    "{}: shard {shard:05} done ({done}/{}): {docs_in} in, {} out",
                    self.label,
                    self.total,
                    stats.output_docs
                );
            }
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}
