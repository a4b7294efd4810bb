//! MinHash signatures and LSH banding.
//!
//! Permutation `i` maps a 32-bit shingle hash `x` to `(a_i·x + b_i mod 2^64) >> 32` with
//! random 64-bit `a_i` (odd) and `b_i` from a seeded generator: a multiply-shift universal
//! hash. On x86-64 with AVX2 a hand-written kernel keeps 16 permutations' minima in
//! registers while the shingles go by; elsewhere the inner loop runs over all permutations
//! for one shingle, which the compiler vectorises. Both give the same signature. Bands ×
//! rows are chosen from a target Jaccard threshold by minimising the weighted
//! false-positive and false-negative areas under the S-curve, as datasketch does.

use xxhash_rust::xxh3::xxh3_64_with_seed;

/// LSH banding: `bands` × `rows` ≤ `num_perm`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LshParams {
    pub num_perm: usize,
    pub bands: usize,
    pub rows: usize,
}

/// Probability that a pair at Jaccard `s` shares at least one band.
pub fn catch_probability(s: f64, bands: usize, rows: usize) -> f64 {
    1.0 - (1.0 - s.powi(rows as i32)).powi(bands as i32)
}

/// Catch probability required at the threshold itself.
const MIN_CATCH: f64 = 0.9;

fn integrate(f: impl Fn(f64) -> f64, a: f64, b: f64) -> f64 {
    let steps = 200;
    let h = (b - a) / steps as f64;
    (0..steps).map(|i| f(a + (i as f64 + 0.5) * h) * h).sum()
}

impl LshParams {
    /// The banding for `num_perm` permutations that catches a pair at exactly `threshold`
    /// with probability ≥ 0.9 and, among those, has the least false-positive area below the
    /// threshold. (The classic equal-weight optimum puts the S-curve's midpoint on the
    /// threshold and so misses about half of the pairs there: 9 × 13 at 0.8.)
    pub fn for_threshold(threshold: f64, num_perm: usize) -> LshParams {
        let mut best: Option<(f64, usize, usize)> = None;
        for rows in 1..=num_perm {
            for bands in 1..=num_perm / rows {
                if catch_probability(threshold, bands, rows) < MIN_CATCH {
                    continue;
                }
                let fp = integrate(|s| catch_probability(s, bands, rows), 0.0, threshold);
                if best.is_none_or(|b| fp < b.0 - 1e-12) {
                    best = Some((fp, bands, rows));
                }
                break; // more bands only add false positives
            }
        }
        let (_, bands, rows) = best.unwrap_or((0.0, num_perm, 1));
        LshParams {
            num_perm,
            bands,
            rows,
        }
    }

    /// One line: the banding and its catch probability at a few similarities.
    pub fn describe(&self) -> String {
        let pts = [0.5, 0.7, 0.8, 0.9]
            .iter()
            .map(|s| format!("P({s})={:.3}", catch_probability(*s, self.bands, self.rows)))
            .collect::<Vec<_>>()
            .join(" ");
        format!(
            "{} permutations, {} bands x {} rows: {pts}",
            self.num_perm, self.bands, self.rows
        )
    }
}

/// Computes signatures with fixed seeded permutations.
#[derive(Debug, Clone)]
pub struct MinHasher {
    // a and b split into 32-bit halves, so the kernel needs only 32×32-bit multiplies.
    a_hi: Vec<u32>,
    a_lo: Vec<u32>,
    b_hi: Vec<u32>,
    b_lo: Vec<u32>,
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// `((a·x + b) mod 2^64) >> 32` for every permutation from `from` on, folded into `sig` by
/// `min`, written with 32-bit halves: `a_hi·x + b_hi + ((a_lo·x + b_lo) >> 32)  (mod 2^32)`.
fn kernel(sig: &mut [u32], h: &MinHasher, from: usize, shingles: &[u32]) {
    for &x in shingles {
        let x64 = u64::from(x);
        for ((((s, &ah), &al), &bh), &bl) in sig[from..]
            .iter_mut()
            .zip(&h.a_hi[from..])
            .zip(&h.a_lo[from..])
            .zip(&h.b_hi[from..])
            .zip(&h.b_lo[from..])
        {
            let lo = ((u64::from(al) * x64 + u64::from(bl)) >> 32) as u32;
            let v = ah.wrapping_mul(x).wrapping_add(bh).wrapping_add(lo);
            *s = (*s).min(v);
        }
    }
}

/// [`kernel`] for AVX2, 16 permutations at a time: their minima stay in registers while
/// every shingle goes by, and each 8 permutations cost 10 instructions per shingle.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn kernel_avx2(sig: &mut [u32], h: &MinHasher, shingles: &[u32]) {
    use std::arch::x86_64::*;
    let mut p = 0;
    while p + 16 <= sig.len() {
        let blocks = [Perms8::load(h, p), Perms8::load(h, p + 8)];
        // SAFETY: p + 16 ≤ sig.len(); loadu and storeu take any alignment.
        let mut min = unsafe { [p, p + 8].map(|q| _mm256_loadu_si256(sig[q..].as_ptr().cast())) };
        for &x in shingles {
            let xv = _mm256_set1_epi32(x as i32);
            for (m, b) in min.iter_mut().zip(&blocks) {
                *m = _mm256_min_epu32(*m, b.hash(xv));
            }
        }
        for (q, m) in [p, p + 8].into_iter().zip(min) {
            // SAFETY: as for the loads above.
            unsafe { _mm256_storeu_si256(sig[q..].as_mut_ptr().cast(), m) };
        }
        p += 16;
    }
    kernel(sig, h, p, shingles);
}

/// Eight permutations' constants in AVX2 lanes. `vpmuludq` multiplies the low halves of
/// 64-bit lanes, so `a_lo·x + b_lo` is worked out for the even permutations in one product
/// and for the odd ones (their halves shifted down) in another; a shift and a blend put the
/// high halves back in permutation order.
#[cfg(target_arch = "x86_64")]
struct Perms8 {
    a_hi: std::arch::x86_64::__m256i,
    b_hi: std::arch::x86_64::__m256i,
    a_lo_even: std::arch::x86_64::__m256i,
    a_lo_odd: std::arch::x86_64::__m256i,
    b_lo_even: std::arch::x86_64::__m256i,
    b_lo_odd: std::arch::x86_64::__m256i,
}

#[cfg(target_arch = "x86_64")]
impl Perms8 {
    /// Permutations `p..p + 8` of `h` (which has at least `p + 8`).
    #[target_feature(enable = "avx2")]
    fn load(h: &MinHasher, p: usize) -> Self {
        use std::arch::x86_64::*;
        // SAFETY: the slices have at least eight values; loadu takes any alignment.
        let load = |v: &[u32]| unsafe { _mm256_loadu_si256(v[p..p + 8].as_ptr().cast()) };
        let (a_lo, b_lo) = (load(&h.a_lo), load(&h.b_lo));
        Perms8 {
            a_hi: load(&h.a_hi),
            b_hi: load(&h.b_hi),
            a_lo_even: a_lo,
            a_lo_odd: _mm256_srli_epi64(a_lo, 32),
            b_lo_even: _mm256_and_si256(b_lo, _mm256_set1_epi64x(0xFFFF_FFFF)),
            b_lo_odd: _mm256_srli_epi64(b_lo, 32),
        }
    }

    /// The eight permutations of the shingle hash broadcast in `xv`.
    #[inline]
    #[target_feature(enable = "avx2")]
    fn hash(&self, xv: std::arch::x86_64::__m256i) -> std::arch::x86_64::__m256i {
        use std::arch::x86_64::*;
        let even = _mm256_add_epi64(_mm256_mul_epu32(xv, self.a_lo_even), self.b_lo_even);
        let odd = _mm256_add_epi64(_mm256_mul_epu32(xv, self.a_lo_odd), self.b_lo_odd);
        let carry = _mm256_blend_epi32::<0b1010_1010>(_mm256_srli_epi64(even, 32), odd);
        let top = _mm256_add_epi32(_mm256_mullo_epi32(xv, self.a_hi), self.b_hi);
        _mm256_add_epi32(top, carry)
    }
}

impl MinHasher {
    pub fn new(num_perm: usize, seed: u64) -> Self {
        let mut st = seed;
        let mut h = MinHasher {
            a_hi: Vec::with_capacity(num_perm),
            a_lo: Vec::with_capacity(num_perm),
            b_hi: Vec::with_capacity(num_perm),
            b_lo: Vec::with_capacity(num_perm),
        };
        for _ in 0..num_perm {
            let a = splitmix(&mut st) | 1;
            let b = splitmix(&mut st);
            h.a_hi.push((a >> 32) as u32);
            h.a_lo.push(a as u32);
            h.b_hi.push((b >> 32) as u32);
            h.b_lo.push(b as u32);
        }
        h
    }

    pub fn num_perm(&self) -> usize {
        self.a_hi.len()
    }

    /// The signature of a shingle set into `sig` (resized to `num_perm`). An empty set
    /// gives all `u32::MAX`. Uses AVX2 where the CPU has it; the result is the same.
    pub fn signature_into(&self, shingles: &[u32], sig: &mut Vec<u32>) {
        sig.clear();
        sig.resize(self.num_perm(), u32::MAX);
        #[cfg(target_arch = "x86_64")]
        if std::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            unsafe { kernel_avx2(sig, self, shingles) };
            return;
        }
        kernel(sig, self, 0, shingles)
    }

    pub fn signature(&self, shingles: &[u32]) -> Vec<u32> {
        let mut s = Vec::new();
        self.signature_into(shingles, &mut s);
        s
    }
}

/// The LSH key of each band of `sig`: the band's values hashed with the band index as seed,
/// so equal values in different bands never collide.
pub fn band_keys(sig: &[u32], p: &LshParams, out: &mut Vec<u64>) {
    out.clear();
    for band in 0..p.bands {
        let vals = &sig[band * p.rows..(band + 1) * p.rows];
        let mut bytes = [0u8; 4 * 64];
        let n = vals.len().min(64);
        for (i, v) in vals[..n].iter().enumerate() {
            bytes[i * 4..i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        let mut h = xxh3_64_with_seed(&bytes[..n * 4], band as u64);
        if vals.len() > 64 {
            for v in &vals[64..] {
                h = xxh3_64_with_seed(&v.to_le_bytes(), h);
            }
        }
        out.push(h);
    }
}

/// Share of equal positions: the signature's estimate of Jaccard similarity.
pub fn estimated_jaccard(a: &[u32], b: &[u32]) -> f64 {
    let eq = a.iter().zip(b).filter(|(x, y)| x == y).count();
    eq as f64 / a.len().max(1) as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shingle::jaccard;

    #[test]
    fn banding_for_common_thresholds() {
        let p = LshParams::for_threshold(0.8, 128);
        assert!(p.bands * p.rows <= 128);
        // Catch most pairs at 0.9 and few at 0.5.
        assert!(
            catch_probability(0.9, p.bands, p.rows) > 0.98,
            "{}",
            p.describe()
        );
        assert!(
            catch_probability(0.5, p.bands, p.rows) < 0.05,
            "{}",
            p.describe()
        );
        let lo = LshParams::for_threshold(0.5, 128);
        assert!(lo.rows < p.rows);
    }

    #[test]
    fn split_kernel_equals_the_64_bit_formula() {
        let h = MinHasher::new(64, 3);
        let xs: Vec<u32> = (0..500u32).map(|i| i.wrapping_mul(2_654_435_761)).collect();
        let got = h.signature(&xs);
        let mut st = 3u64;
        for (i, g) in got.iter().enumerate() {
            let a = splitmix(&mut st) | 1;
            let b = splitmix(&mut st);
            let want = xs
                .iter()
                .map(|&x| (a.wrapping_mul(u64::from(x)).wrapping_add(b) >> 32) as u32)
                .min()
                .unwrap();
            assert_eq!(*g, want, "permutation {i}");
        }
    }

    proptest::proptest! {
        /// The AVX2 kernel (where the CPU has it) gives the portable kernel's signature, for
        /// permutation counts around its 16-wide blocks and shingles at the extremes.
        #[test]
        fn signature_equals_the_portable_kernel(
            num_perm in proptest::prop_oneof![1usize..40, 120usize..140],
            seed in 0u64..1000,
            xs in proptest::collection::vec(
                proptest::prop_oneof![proptest::num::u32::ANY, proptest::strategy::Just(0u32), proptest::strategy::Just(u32::MAX)],
                0..300,
            ),
        ) {
            let h = MinHasher::new(num_perm, seed);
            let mut want = vec![u32::MAX; num_perm];
            kernel(&mut want, &h, 0, &xs);
            proptest::prop_assert_eq!(h.signature(&xs), want);
        }
    }

    #[test]
    fn signature_estimates_jaccard() {
        let h = MinHasher::new(256, 7);
        let a: Vec<u32> = (0..1000).map(|i| i * 7919).collect();
        let mut b: Vec<u32> = (250..1250).map(|i| i * 7919).collect();
        b.sort_unstable();
        let truth = jaccard(&a, &b);
        let est = estimated_jaccard(&h.signature(&a), &h.signature(&b));
        assert!((est - truth).abs() < 0.08, "est {est} truth {truth}");
        assert_eq!(h.signature(&a), MinHasher::new(256, 7).signature(&a));
    }
}
