//! Lock-free union-find over dense document indices for the connected-components phase.
//! Every union links the larger root under the smaller one, so each component's root is its
//! smallest index whatever order the edges arrive in: the result is deterministic when the
//! edges are added from many threads.

use std::sync::atomic::{AtomicU32, Ordering};

pub struct UnionFind {
    parent: Vec<AtomicU32>,
}

impl UnionFind {
    /// `n` singletons; `n` must fit in 32 bits.
    pub fn new(n: usize) -> Self {
        UnionFind {
            parent: (0..n as u32).map(AtomicU32::new).collect(),
        }
    }

    pub fn len(&self) -> usize {
        self.parent.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parent.is_empty()
    }

    pub fn find(&self, mut x: u32) -> u32 {
        loop {
            let p = self.parent[x as usize].load(Ordering::Acquire);
            if p == x {
                return x;
            }
            let gp = self.parent[p as usize].load(Ordering::Acquire);
            if gp != p {
                // Path halving; losing the race is harmless.
                let _ = self.parent[x as usize].compare_exchange(
                    p,
                    gp,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                );
            }
            x = gp;
        }
    }

    pub fn union(&self, a: u32, b: u32) {
        loop {
            let (ra, rb) = (self.find(a), self.find(b));
            if ra == rb {
                return;
            }
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            if self.parent[hi as usize]
                .compare_exchange(hi, lo, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rayon::prelude::*;

    #[test]
    fn parallel_unions_give_min_roots() {
        let n = 100_000u32;
        let uf = UnionFind::new(n as usize);
        // Components: i ~ i+3 within blocks of 30 (ten classes by residue per block).
        let edges: Vec<(u32, u32)> = (0..n)
            .filter(|i| i % 30 < 27 && i + 3 < n)
            .map(|i| (i + 3, i))
            .rev()
            .collect();
        edges.par_iter().for_each(|&(a, b)| uf.union(a, b));
        for i in 0..n {
            let want = (i / 30) * 30 + i % 3;
            assert_eq!(uf.find(i), want, "node {i}");
        }
    }
}
