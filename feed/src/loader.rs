//! Turns the sample plan of a step into host buffers on a background thread: the global
//! batch is drawn from the mixture (a pure function of seed, step and weights), each rank
//! takes a strided slice, and a worker thread gathers the rows while the previous step
//! computes.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::data::{Row, ShardSet};
use crate::error::FeedError;
use crate::sampler::{epoch_order, pick_domain, unit, Cursor};

/// The global batch of one step: (domain, row) per sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub step: u64,
    pub samples: Vec<(usize, u32)>,
}

/// Per-sample reweighting inside a domain: pools of recently seen (loss, row) per domain.
pub struct Hard<'a> {
    pub pools: &'a [Vec<(f32, u32)>],
    pub fraction: f64,
    pub temperature: f64,
}

/// Draws a row of `pool` with probability ∝ exp(loss / temperature).
fn pick_hard(pool: &[(f32, u32)], temperature: f64, u: f64) -> u32 {
    let max = pool.iter().map(|p| p.0 as f64).fold(f64::MIN, f64::max);
    let w: Vec<f64> = pool
        .iter()
        .map(|p| ((p.0 as f64 - max) / temperature).exp())
        .collect();
    let total: f64 = w.iter().sum();
    let mut acc = 0.0;
    for (k, x) in w.iter().enumerate() {
        acc += x / total;
        if u < acc {
            return pool[k].1;
        }
    }
    pool[pool.len() - 1].1
}

/// Pool order: highest loss first, ties to the lower row.
fn pool_order(a: &(f32, u32), b: &(f32, u32)) -> std::cmp::Ordering {
    b.0.total_cmp(&a.0).then(a.1.cmp(&b.1))
}

/// Adds the losses of a step's samples to the pools, keeping the `cap` highest per domain
/// (ties to the lower row); a row already in the pool gets its new loss. Pools stay in
/// `pool_order`, so each sample is one removal and one binary-searched insertion.
pub fn update_pools(
    pools: &mut [Vec<(f32, u32)>],
    samples: &[(usize, u32)],
    losses: &[f64],
    cap: usize,
) {
    for (&(d, row), &l) in samples.iter().zip(losses) {
        if !l.is_finite() {
            continue;
        }
        let p = &mut pools[d];
        if let Some(k) = p.iter().position(|x| x.1 == row) {
            p.remove(k);
        }
        let new = (l as f32, row);
        let at = p.partition_point(|x| pool_order(x, &new).is_lt());
        if at < cap {
            p.insert(at, new);
            p.truncate(cap);
        }
    }
}

/// Draws the global batch of `step` and advances the per-domain cursors.
#[allow(clippy::too_many_arguments)]
pub fn plan_step(
    set: &ShardSet,
    weights: &[f64],
    seed: u64,
    step: u64,
    batch: usize,
    cursor: &mut Cursor,
    orders: &mut [(u64, Vec<u32>)],
    hard: Option<&Hard>,
) -> Plan {
    let mut samples = Vec::with_capacity(batch);
    for i in 0..batch {
        let d = pick_domain(weights, seed, step, i as u64);
        if let Some(h) = hard {
            let pool = &h.pools[d];
            if !pool.is_empty() && unit(seed ^ 0x4A2D, step, i as u64) < h.fraction {
                let u = unit(seed ^ 0x91E7, step, i as u64);
                samples.push((d, pick_hard(pool, h.temperature, u)));
                continue;
            }
        }
        let n = set.domains[d].train.len();
        if cursor.pos[d] as usize >= n {
            cursor.epoch[d] += 1;
            cursor.pos[d] = 0;
        }
        if orders[d].0 != cursor.epoch[d] || orders[d].1.len() != n {
            orders[d] = (cursor.epoch[d], epoch_order(seed, d, cursor.epoch[d], n));
        }
        let row = set.domains[d].train[orders[d].1[cursor.pos[d] as usize] as usize];
        cursor.pos[d] += 1;
        samples.push((d, row));
    }
    Plan { step, samples }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The insertion keeps exactly what re-sorting the whole pool after each sample kept.
        #[test]
        fn pools_match_a_full_sort(
            steps in prop::collection::vec((0usize..2, 0u32..40, -1.0f64..10.0), 0..300),
            cap in 1usize..12,
        ) {
            let mut fast = vec![vec![]; 2];
            let mut slow: Vec<Vec<(f32, u32)>> = vec![vec![]; 2];
            for &(d, row, l) in &steps {
                // Round to a few values so equal losses (ties) happen often.
                let l = if l < 0.0 { f64::NAN } else { (l * 2.0).round() / 2.0 };
                update_pools(&mut fast, &[(d, row)], &[l], cap);
                if l.is_finite() {
                    let p = &mut slow[d];
                    p.retain(|x| x.1 != row);
                    p.push((l as f32, row));
                    p.sort_by(pool_order);
                    p.truncate(cap);
                }
            }
            prop_assert_eq!(fast, slow);
        }
    }

    #[test]
    fn pools_keep_the_highest_losses_and_draws_favour_them() {
        let mut pools = vec![vec![]];
        let samples: Vec<(usize, u32)> = (0..10).map(|r| (0, r)).collect();
        let losses: Vec<f64> = (0..10).map(|r| r as f64).collect();
        update_pools(&mut pools, &samples, &losses, 4);
        assert_eq!(
            pools[0].iter().map(|p| p.1).collect::<Vec<_>>(),
            vec![9, 8, 7, 6]
        );
        // Row 9 seen again with a low loss moves to the bottom, then falls out.
        update_pools(&mut pools, &[(0, 9)], &[0.5], 4);
        assert_eq!(
            pools[0].iter().map(|p| p.1).collect::<Vec<_>>(),
            vec![8, 7, 6, 9]
        );
        update_pools(&mut pools, &[(0, 2)], &[2.0], 4);
        assert_eq!(
            pools[0].iter().map(|p| p.1).collect::<Vec<_>>(),
            vec![8, 7, 6, 2]
        );
        let mut hits = [0usize; 10];
        for k in 0..2000 {
            hits[pick_hard(&pools[0], 0.5, unit(3, k, 0)) as usize] += 1;
        }
        assert!(
            hits[8] > hits[7] && hits[7] > hits[6] && hits[6] > 0,
            "{hits:?}"
        );
    }
}

/// One rank's micro-batch as host buffers.
#[derive(Debug, Clone)]
pub struct HostBatch {
    pub n: usize,
    pub t: usize,
    pub inputs: Vec<i64>,
    /// -100 where there is no target (padding).
    pub targets: Vec<i64>,
    pub domains: Vec<i64>,
    pub doc_starts: Vec<Vec<u32>>,
    /// Real targets per row (the entries of `targets` that are not -100).
    pub target_counts: Vec<usize>,
}

/// Number of real target tokens of a row: positions j < T with j + 1 < valid_len.
pub fn row_targets(valid_len: usize, t: usize) -> usize {
    valid_len.saturating_sub(1).min(t)
}

/// One row as the model sees it: `t` input ids, `t` target ids (the inputs shifted by one;
/// -100 past the row's real tokens), where its documents start, and its real target count.
pub struct RowIo {
    row: Row,
    t: usize,
    pub doc_starts: Vec<u32>,
    pub targets: usize,
}

impl RowIo {
    pub fn inputs(&self) -> impl Iterator<Item = i64> + '_ {
        self.row.ids()[..self.t].iter().map(|&x| x as i64)
    }
    pub fn targets(&self) -> impl Iterator<Item = i64> + '_ {
        let valid = self.targets;
        (self.row.ids()[1..=self.t].iter().enumerate())
            .map(move |(j, &x)| if j < valid { x as i64 } else { -100 })
    }
}

/// Row `r` of domain `d` as inputs and targets.
pub fn row_io(set: &ShardSet, d: usize, r: u32) -> Result<RowIo, FeedError> {
    let t = set.seq_len();
    let row = set.row(d, r as usize)?;
    Ok(RowIo {
        doc_starts: row.doc_starts(),
        targets: row_targets(row.valid_len(), t),
        row,
        t,
    })
}

pub fn gather(set: &ShardSet, rows: &[(usize, u32)]) -> Result<HostBatch, FeedError> {
    let t = set.seq_len();
    let mut b = HostBatch {
        n: rows.len(),
        t,
        inputs: Vec::with_capacity(rows.len() * t),
        targets: Vec::with_capacity(rows.len() * t),
        domains: Vec::with_capacity(rows.len()),
        doc_starts: Vec::with_capacity(rows.len()),
        target_counts: Vec::with_capacity(rows.len()),
    };
    for &(d, r) in rows {
        let row = row_io(set, d, r)?;
        b.inputs.extend(row.inputs());
        b.targets.extend(row.targets());
        b.domains.push(d as i64);
        b.target_counts.push(row.targets);
        b.doc_starts.push(row.doc_starts);
    }
    Ok(b)
}

/// Position ids and document segments of rows of `t` tokens from their `doc_starts`:
/// positions restart at 0 where a document starts; `seg` numbers the documents of a row
/// (attention stays within one segment). Row-major `[rows, t]`.
pub fn doc_positions(starts: &[Vec<u32>], t: usize) -> (Vec<i64>, Vec<i64>) {
    let mut pos = vec![0i64; starts.len() * t];
    let mut seg = vec![0i64; starts.len() * t];
    for (r, s) in starts.iter().enumerate() {
        let (mut cur_start, mut cur_seg) = (0usize, 0i64);
        let mut next = s.iter().map(|&x| x as usize).filter(|&x| x > 0).peekable();
        for i in 0..t {
            while next.peek() == Some(&i) {
                cur_start = i;
                cur_seg += 1;
                next.next();
            }
            pos[r * t + i] = (i - cur_start) as i64;
            seg[r * t + i] = cur_seg;
        }
    }
    (pos, seg)
}

/// The rows of `plan` that `rank` of `world` trains on, split into `accum` micro-batches.
pub fn rank_micro_batches(
    plan: &Plan,
    rank: usize,
    world: usize,
    accum: usize,
) -> Vec<Vec<(usize, u32)>> {
    let mine: Vec<(usize, u32)> = plan
        .samples
        .iter()
        .enumerate()
        .filter(|(i, _)| i % world == rank)
        .map(|(_, s)| *s)
        .collect();
    let per = mine.len().div_ceil(accum).max(1);
    mine.chunks(per).map(|c| c.to_vec()).collect()
}

/// One rank's micro-batches of a step, as (domain, row) lists.
pub type MicroPlan = Vec<Vec<(usize, u32)>>;

/// A step's micro-batches, or why one of them could not be read.
pub type Gathered = Result<Vec<HostBatch>, FeedError>;

/// A background thread that gathers micro-batches ahead of the training step.
pub struct Prefetcher {
    tx: Option<SyncSender<MicroPlan>>,
    rx: Receiver<Gathered>,
    handle: Option<JoinHandle<()>>,
}

impl Prefetcher {
    pub fn new(set: Arc<ShardSet>) -> Self {
        let (tx, jobs) = sync_channel::<MicroPlan>(2);
        let (done, rx) = sync_channel::<Gathered>(2);
        let handle = std::thread::Builder::new()
            .name("sluice-loader".into())
            .spawn(move || {
                for job in jobs {
                    let out = job.iter().map(|rows| gather(&set, rows)).collect();
                    if done.send(out).is_err() {
                        return;
                    }
                }
            })
            .expect("spawn loader thread");
        Prefetcher {
            tx: Some(tx),
            rx,
            handle: Some(handle),
        }
    }

    pub fn submit(&self, micro: Vec<Vec<(usize, u32)>>) {
        self.tx
            .as_ref()
            .expect("open")
            .send(micro)
            .expect("loader thread alive");
    }

    pub fn take(&self) -> Gathered {
        self.rx.recv().expect("loader thread alive")
    }
}

impl Drop for Prefetcher {
    fn drop(&mut self) {
        self.tx.take();
        while self.rx.try_recv().is_ok() {}
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}
