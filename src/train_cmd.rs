//! `sluice train`: runs the libtorch trainer when the binary is built with the `train`
//! feature (the default), and says how to get it when built without.

use std::path::Path;

#[cfg(feature = "train")]
use anyhow::Context;
use anyhow::Result;

/// Ok when this binary can train.
#[cfg(feature = "train")]
pub fn available() -> Result<()> {
    Ok(())
}

/// This binary was built without the trainer.
#[cfg(not(feature = "train"))]
pub fn available() -> Result<()> {
    anyhow::bail!(
        "this sluice was built without the `train` feature (no libtorch); rebuild with the \
         default features (`cargo build --release`, after `source scripts/env.sh`) to train"
    )
}

#[cfg(not(feature = "train"))]
pub fn train(config: &Path, _stop_after: Option<u64>) -> Result<()> {
    available().map_err(|e| e.context(format!("train {}", config.display())))
}

/// Trains on `config`; rank 0 writes `summary.json` and prints the summary.
#[cfg(feature = "train")]
pub fn train(config: &Path, stop_after: Option<u64>) -> Result<()> {
    let cfg =
        train::TrainConfig::load(config).with_context(|| format!("train {}", config.display()))?;
    let comm = train::comm::init();
    // One training run per output dir (overlapping cron runs would mix checkpoints): rank 0
    // takes the lock and every rank learns whether it got it.
    let lock = (comm.rank() == 0).then(|| pipeline::lock::RunLock::acquire(&cfg.run.out_dir));
    let mut ok = [if matches!(lock, Some(Err(_))) {
        0.0
    } else {
        1.0
    }];
    comm.allreduce_f32(&mut ok);
    if let Some(Err(e)) = lock {
        return Err(e).with_context(|| format!("train {}", config.display()));
    }
    if ok[0] < comm.size() as f32 {
        anyhow::bail!("rank 0 could not lock {}", cfg.run.out_dir.display());
    }
    let mut t =
        train::Trainer::new(cfg, comm).with_context(|| format!("train {}", config.display()))?;
    let s = t.run(stop_after).context("training")?;
    let sums = t.checksums_of_all_ranks();
    if t.rank() == 0 {
        let same = sums
            .iter()
            .all(|c| (c - sums[0]).abs() <= 1e-6 * sums[0].abs().max(1.0));
        let mut v = serde_json::to_value(&s)?;
        v["ranks"] = serde_json::json!(t.world());
        v["param_checksums"] = serde_json::json!(sums);
        v["ranks_in_sync"] = serde_json::json!(same);
        pipeline::durable::write_atomic(
            &s.out_dir.join("summary.json"),
            &serde_json::to_vec_pretty(&v)?,
        )
        .with_context(|| format!("writing {}", s.out_dir.join("summary.json").display()))?;
        println!(
            "trained {} steps{} on {} rank(s): train loss {:.4}, val loss {}",
            s.steps,
            if s.stopped_early { " (early stop)" } else { "" },
            t.world(),
            s.final_train_loss,
            s.val_loss
                .iter()
                .map(|(k, v)| format!("{k} {v:.3}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!(
            "mixture: {}",
            s.weights
                .iter()
                .map(|(k, v)| format!("{k} {v:.3}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if let Some(c) = t.shard_cache() {
            eprintln!(
                "shard cache: {} shards fetched ({:.1} MB), {} reads from the cache, {} evicted, peak {:.1} MB{}",
                c.fetched,
                c.fetched_bytes as f64 / 1e6,
                c.hits,
                c.evicted,
                c.peak_bytes as f64 / 1e6,
                c.limit_bytes
                    .map_or(String::new(), |l| format!(" of {:.1} MB", l as f64 / 1e6))
            );
        }
        println!("outputs in {}", s.out_dir.display());
        if !same {
            anyhow::bail!("ranks ended with different parameters: {sums:?}");
        }
    }
    Ok(())
}
