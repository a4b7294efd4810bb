//! Tokens/s of the loader alone (sample plan + gather of rows from the mapped shards) and of
//! whole training steps (loader + forward + backward + AdamW), same config, one process.
//! Used by benches/train_bench.py, which runs the same model in PyTorch beside it.
//!
//!     cargo run --release -p sluice-train --example train_bench -- TRAIN.toml STEPS

use std::time::Instant;

use train::comm::Single;
use train::data::ShardSet;
use train::loader::{gather, plan_step};
use train::sampler::Cursor;
use train::{TrainConfig, Trainer};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mut cfg = TrainConfig::load(args[1].as_ref()).expect("config");
    let steps: u64 = args[2].parse().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    cfg.run.out_dir = tmp.path().join("run");
    cfg.optim.max_steps = steps;
    cfg.eval.every = 0;
    cfg.run.checkpoint_every = 0;

    // Loader alone: as many steps as it takes to fill ~0.5 s, for a steady number.
    let set = ShardSet::open(&cfg.data.manifest, cfg.data.val_fraction, None).unwrap();
    let d = set.domains.len();
    let weights = vec![1.0 / d as f64; d];
    let mut cursor = Cursor::new(d);
    let mut orders = vec![(u64::MAX, vec![]); d];
    let t0 = Instant::now();
    let mut n = 0u64;
    let mut sink = 0i64;
    while t0.elapsed().as_secs_f64() < 0.5 {
        let p = plan_step(
            &set,
            &weights,
            1,
            n,
            cfg.optim.batch_size,
            &mut cursor,
            &mut orders,
            None,
        );
        let b = gather(&set, &p.samples).unwrap();
        sink += b.inputs[0];
        n += 1;
    }
    let loader_tps =
        (n as usize * cfg.optim.batch_size * set.seq_len()) as f64 / t0.elapsed().as_secs_f64();

    let mut t = Trainer::new(cfg.clone(), Box::new(Single)).unwrap();
    let s = t.run(None).unwrap();
    let log = std::fs::read_to_string(cfg.run.out_dir.join("log.jsonl")).unwrap();
    let tps: Vec<f64> = log
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter_map(|v| v["tokens_per_s"].as_f64())
        .skip(3)
        .collect();
    let step_tps = median(tps);
    let tokens_per_step = (cfg.optim.batch_size * set.seq_len()) as f64;
    println!(
        "{}",
        serde_json::json!({
            "loader_tokens_per_s": loader_tps,
            "train_tokens_per_s": step_tps,
            "step_ms": 1000.0 * tokens_per_step / step_tps,
            "loader_over_train": loader_tps / step_tps,
            "final_loss": s.final_train_loss,
            "threads": tch::get_num_threads(),
            "sink": sink % 2,
        })
    );
}
