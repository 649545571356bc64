//! A mergeable quantile sketch with a relative error bound (DDSketch, Masson, Rim and Lee, VLDB
//! 2019, with its "linearly interpolated" index mapping).
//!
//! A value's bucket is its binary exponent and the top 6 bits of its mantissa: each power-of-two
//! range `[2^e, 2^(e+1))` is cut into 64 equal buckets of width `2^(e-6)`. A quantile is
//! answered with its bucket's midpoint, which is within half a bucket of every value in it:
//! `2^(e-7) / 2^e = 1/128`, under 0.8% — so a reported quantile `q̂` of a true quantile `q`
//! satisfies `|q̂ − q| ≤ 0.0079·q`. The index is a few bit operations (no logarithm), and the
//! representatives are exact binary values, identical on every platform. Two sketches merge by
//! adding bucket counts, exactly, in any order.

/// The relative accuracy bound: reported quantiles are within 1% of the true value (the mapping
/// gives 1/128 ≈ 0.78%).
pub const RELATIVE_ACCURACY: f64 = 0.01;

/// Values below this (in the sketch's unit) count as zero.
const MIN_VALUE: f64 = 1e-6;
/// Sub-buckets per power of two, as a bit count (64 buckets).
const SUB_BITS: u32 = 6;
/// Most buckets per sketch: 64 powers of two (a ratio of 1.8e19 between the smallest and the
/// largest value kept apart; beyond it the extremes share the end buckets).
const MAX_BUCKETS: usize = 64 << SUB_BITS;

/// A DDSketch over non-negative values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sketch {
    /// Bucket index of `counts[0]`.
    offset: i32,
    counts: Vec<u64>,
    zeros: u64,
    total: u64,
}

impl Sketch {
    /// The bucket of a positive, finite, normal `v`: biased exponent and top mantissa bits.
    #[inline]
    fn key(v: f64) -> i32 {
        (v.to_bits() >> (52 - SUB_BITS)) as i32
    }

    /// The midpoint of bucket `k`.
    fn value(k: i32) -> f64 {
        f64::from_bits(((k as u64) << (52 - SUB_BITS)) | (1 << (51 - SUB_BITS)))
    }

    /// Adds one value (negative and NaN values count as zero).
    pub fn add(&mut self, v: f64) {
        self.total += 1;
        if v.is_nan() || v < MIN_VALUE {
            self.zeros += 1;
            return;
        }
        let k = Self::key(v.min(f64::MAX));
        self.add_key(k, 1);
    }

    fn add_key(&mut self, k: i32, n: u64) {
        if self.counts.is_empty() {
            self.offset = k;
            self.counts.push(n);
            return;
        }
        let end = self.offset + self.counts.len() as i32;
        if k < self.offset {
            let grow = (self.offset - k) as usize;
            if self.counts.len() + grow > MAX_BUCKETS {
                // Collapse the lowest values into the lowest bucket (they keep their rank).
                self.counts[0] += n;
                return;
            }
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = k;
        } else if k >= end {
            let grow = (k - end + 1) as usize;
            if self.counts.len() + grow > MAX_BUCKETS {
                let last = self.counts.len() - 1;
                self.counts[last] += n;
                return;
            }
            self.counts.resize(self.counts.len() + grow, 0);
        }
        self.counts[(k - self.offset) as usize] += n;
    }

    /// Adds every value of `other` (exact: the result is the sketch of both streams).
    pub fn merge(&mut self, other: &Sketch) {
        self.zeros += other.zeros;
        self.total += other.total;
        for (i, n) in other.counts.iter().enumerate() {
            if *n > 0 {
                self.add_key(other.offset + i as i32, *n);
            }
        }
    }

    /// Back to empty, keeping the memory (no allocation: a fork handler calls it).
    #[cfg(unix)]
    pub(crate) fn clear(&mut self) {
        self.counts.clear();
        self.offset = 0;
        self.zeros = 0;
        self.total = 0;
    }

    /// The sketch's parts: the first bucket's index, the bucket counts, the zeros and the
    /// total (what a metrics file holds, [`super::files`]).
    #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
    pub(crate) fn parts(&self) -> (i32, &[u64], u64, u64) {
        (self.offset, &self.counts, self.zeros, self.total)
    }

    /// A sketch from [`Sketch::parts`], checked: the buckets within the index range a value
    /// can have, at most as many as a sketch keeps, and the total their sum with the zeros.
    #[cfg(all(feature = "native", not(target_arch = "wasm32")))]
    pub(crate) fn from_parts(
        offset: i32,
        counts: Vec<u64>,
        zeros: u64,
        total: u64,
    ) -> Option<Sketch> {
        // A key is the top 18 bits of a non-negative f64 below infinity.
        const KEYS: i64 = 1 << (64 - 1 - (52 - SUB_BITS));
        let end = i64::from(offset) + counts.len() as i64;
        let sum = counts
            .iter()
            .try_fold(zeros, |acc, n| acc.checked_add(*n))?;
        (offset >= 0 && end <= KEYS && counts.len() <= MAX_BUCKETS && sum == total).then_some(
            Sketch {
                offset,
                counts,
                zeros,
                total,
            },
        )
    }

    /// Values added.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The `q` quantile (0.0..=1.0), within [`RELATIVE_ACCURACY`] of the true value; `None`
    /// when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        // The rank of the lower value, as DDSketch and `numpy.quantile(..., method="lower")`.
        let rank = (q * (self.total - 1) as f64).floor() as u64;
        if rank < self.zeros {
            return Some(0.0);
        }
        let mut seen = self.zeros;
        for (i, n) in self.counts.iter().enumerate() {
            seen += n;
            if seen > rank {
                return Some(Self::value(self.offset + i as i32));
            }
        }
        self.counts
            .len()
            .checked_sub(1)
            .map(|i| Self::value(self.offset + i as i32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(sorted: &[f64], q: f64) -> f64 {
        sorted[(q * (sorted.len() - 1) as f64).floor() as usize]
    }

    #[test]
    fn quantiles_are_within_the_stated_relative_error() {
        // A skewed latency distribution over five orders of magnitude.
        let mut values: Vec<f64> = (1..=20_000)
            .map(|i| {
                let x = f64::from(i) / 20_000.0;
                0.05 * (x * 11.0).exp()
            })
            .collect();
        let mut s = Sketch::default();
        for v in &values {
            s.add(*v);
        }
        values.sort_by(f64::total_cmp);
        for q in [0.0, 0.01, 0.25, 0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
            let want = exact(&values, q);
            let got = s.quantile(q).unwrap();
            assert!(
                (got - want).abs() <= RELATIVE_ACCURACY * want + 1e-12,
                "q={q}: got {got}, want {want}"
            );
        }
    }

    #[test]
    fn merging_equals_sketching_the_union() {
        let (mut a, mut b, mut both) = (Sketch::default(), Sketch::default(), Sketch::default());
        for i in 0..1000 {
            let v = f64::from(i) * 1.7 + 0.3;
            if i % 3 == 0 {
                a.add(v)
            } else {
                b.add(v)
            }
            both.add(v);
        }
        b.add(0.0);
        both.add(0.0);
        let mut merged = a.clone();
        merged.merge(&b);
        assert_eq!(merged, both);
        assert_eq!(merged.count(), 1001);
    }

    #[test]
    fn the_order_values_come_in_does_not_change_the_sketch() {
        // Values into buckets the sketch has, below its first bucket and above its last
        // (growing either way), in three orders: one sketch.
        let values: Vec<f64> = (0..500).map(|i| 0.01 * 1.03f64.powi(i % 250)).collect();
        let sketch = |order: &mut dyn Iterator<Item = f64>| {
            let mut s = Sketch::default();
            order.for_each(|v| s.add(v));
            s
        };
        let as_made = sketch(&mut values.iter().copied());
        let reversed = sketch(&mut values.iter().rev().copied());
        let halves_swapped = sketch(&mut values[250..].iter().chain(&values[..250]).copied());
        assert_eq!(as_made, reversed);
        assert_eq!(as_made, halves_swapped);
        assert_eq!(as_made.count(), 500);
        let lowest = as_made.quantile(0.0).unwrap();
        assert!(
            (lowest - 0.01).abs() <= 0.01 * RELATIVE_ACCURACY,
            "{lowest}"
        );
    }

    #[test]
    fn every_value_is_within_1_over_128_of_its_representative() {
        for i in 1..100_000 {
            let v = f64::from(i) * 0.0137 + 1e-5;
            let r = Sketch::value(Sketch::key(v));
            assert!((r - v).abs() <= v / 128.0, "{v} -> {r}");
        }
    }

    #[test]
    fn zeros_and_empty() {
        let mut s = Sketch::default();
        assert_eq!(s.quantile(0.5), None);
        s.add(0.0);
        s.add(-3.0);
        s.add(10.0);
        assert_eq!(s.quantile(0.5), Some(0.0));
        let top = s.quantile(1.0).unwrap();
        assert!((top - 10.0).abs() <= 10.0 / 128.0, "{top}");
        assert_eq!(s.quantile(1.5), None);
    }
}
