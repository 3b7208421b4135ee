//! Confidence intervals: Wilson score for proportions, percentile bootstrap for
//! everything derived (ratios, differences, corrected rates, agreement scores).

use crate::rng::SplitMix64;

/// A two-sided 95% interval `[lo, hi]`; serializes as a two-element array.
pub type Ci = [f64; 2];

/// The 97.5% standard normal quantile.
pub const Z95: f64 = 1.959_963_984_540_054;

/// Bootstrap resamples used when the caller does not choose.
pub const DEFAULT_RESAMPLES: usize = 2000;

/// Fixed default seed ("mmsafe" in ASCII), so intervals are reproducible.
pub const DEFAULT_SEED: u64 = 0x6d6d_7361_6665;

/// `k / n`, or `None` when `n` is zero (a rate over nothing is undefined, not 0).
pub fn proportion(k: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| k as f64 / n as f64)
}

/// Wilson score 95% interval for `k` successes out of `n`; `None` when `n` is zero.
///
/// Chosen over the normal (Wald) interval because it stays inside [0, 1] and keeps
/// its coverage at the small counts and extreme rates typical of per-hazard cells.
pub fn wilson(k: u64, n: u64) -> Option<Ci> {
    if n == 0 {
        return None;
    }
    let n_f = n as f64;
    let p = k.min(n) as f64 / n_f;
    let z2 = Z95 * Z95;
    let denom = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denom;
    let half = Z95 / denom * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt();
    // At 0/n and n/n the bound is analytically 0 or 1; keep it exact rather
    // than 0.9999999 so reports and gates compare cleanly.
    let lo = if k == 0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let hi = if k >= n {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    Some([lo, hi])
}

/// Linear-interpolation quantile (type 7, as NumPy's default) of sorted data.
pub(crate) fn quantile_sorted(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q.clamp(0.0, 1.0) * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

/// Quantile of unsorted data (NaNs are dropped).
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_by(f64::total_cmp);
    quantile_sorted(&v, q)
}

/// Above this many values, [`Bootstrap::mean_ci`] uses the normal interval.
pub const MEAN_BOOTSTRAP_MAX: usize = 10_000;

/// Bootstrap settings: how many resamples and from which seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bootstrap {
    pub resamples: usize,
    pub seed: u64,
}

impl Default for Bootstrap {
    fn default() -> Bootstrap {
        Bootstrap {
            resamples: DEFAULT_RESAMPLES,
            seed: DEFAULT_SEED,
        }
    }
}

impl Bootstrap {
    /// Percentile 95% interval of `stat` over resamples of `n` units.
    ///
    /// `stat` receives the resampled unit indices (with repetition) and returns
    /// `None` when the figure is undefined on that resample (e.g. no decided
    /// attempts were drawn); such resamples are skipped. Returns `None` when
    /// `n` is zero or fewer than half of the resamples were defined, because a
    /// percentile over a small conditional subset would overstate precision.
    pub fn ci<F>(&self, n: usize, mut stat: F) -> Option<Ci>
    where
        F: FnMut(&[usize]) -> Option<f64>,
    {
        let [ci] = self.cis(n, |idx| [stat(idx)]);
        ci
    }

    /// Like [`Bootstrap::ci`] for `K` statistics computed on the same
    /// resamples (cheaper than `K` separate passes, and jointly consistent).
    pub fn cis<const K: usize, F>(&self, n: usize, mut stat: F) -> [Option<Ci>; K]
    where
        F: FnMut(&[usize]) -> [Option<f64>; K],
    {
        if n == 0 || self.resamples == 0 {
            return [None; K];
        }
        let mut rng = SplitMix64::new(self.seed);
        let mut idx = vec![0usize; n];
        let mut values: [Vec<f64>; K] = std::array::from_fn(|_| Vec::with_capacity(self.resamples));
        for _ in 0..self.resamples {
            for slot in idx.iter_mut() {
                *slot = rng.below(n);
            }
            for (vals, v) in values.iter_mut().zip(stat(&idx)) {
                if let Some(v) = v.filter(|v| v.is_finite()) {
                    vals.push(v);
                }
            }
        }
        values.map(|v| self.percentiles(v))
    }

    /// Bootstrap of a figure that depends only on the number of successes
    /// among `n` Bernoulli units, `k` of which succeeded. Resampling `n` such
    /// units with replacement draws the success count from Binomial(n, k/n),
    /// so the count is drawn directly (inverse CDF): the same distribution
    /// as [`Bootstrap::ci`] at O(log n) per resample instead of O(n).
    pub fn binomial_ci<F>(&self, k: u64, n: u64, mut stat: F) -> Option<Ci>
    where
        F: FnMut(u64, u64) -> Option<f64>,
    {
        if n == 0 || self.resamples == 0 {
            return None;
        }
        let cdf = binomial_cdf(k.min(n), n);
        let mut rng = SplitMix64::new(self.seed);
        let mut values = Vec::with_capacity(self.resamples);
        for _ in 0..self.resamples {
            let u = (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
            let hits = cdf.partition_point(|&c| c <= u).min(cdf.len() - 1) as u64;
            if let Some(v) = stat(hits, n).filter(|v| v.is_finite()) {
                values.push(v);
            }
        }
        self.percentiles(values)
    }

    /// Interval for the mean of `values`: percentile bootstrap up to
    /// [`MEAN_BOOTSTRAP_MAX`] values; above that, the normal interval
    /// `mean ± z·s/√n` the bootstrap converges to, which costs O(n) instead
    /// of O(n × resamples).
    pub fn mean_ci(&self, values: &[f64]) -> Option<Ci> {
        let n = values.len();
        if n == 0 {
            return None;
        }
        if n <= MEAN_BOOTSTRAP_MAX {
            return self.ci(n, |idx| {
                Some(idx.iter().map(|&i| values[i]).sum::<f64>() / n as f64)
            });
        }
        let mean = values.iter().sum::<f64>() / n as f64;
        let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        let half = Z95 * (var / n as f64).sqrt();
        Some([mean - half, mean + half])
    }

    pub(crate) fn percentiles(&self, mut values: Vec<f64>) -> Option<Ci> {
        if values.len() * 2 < self.resamples {
            return None;
        }
        values.sort_by(f64::total_cmp);
        Some([
            quantile_sorted(&values, 0.025)?,
            quantile_sorted(&values, 0.975)?,
        ])
    }
}

/// Cumulative distribution of Binomial(n, k/n) at 0..=n, computed in log
/// space so large `n` does not underflow.
pub(crate) fn binomial_cdf(k: u64, n: u64) -> Vec<f64> {
    let size = n as usize + 1;
    if k == 0 || k == n {
        // Degenerate: every resample has exactly k successes.
        let mut cdf = vec![0.0; size];
        for c in cdf.iter_mut().skip(k as usize) {
            *c = 1.0;
        }
        return cdf;
    }
    let p = k as f64 / n as f64;
    let (lp, lq) = (p.ln(), (1.0 - p).ln());
    let mut logs = Vec::with_capacity(size);
    let mut ln_c = 0.0f64;
    for x in 0..=n {
        if x > 0 {
            ln_c += ((n - x + 1) as f64).ln() - (x as f64).ln();
        }
        logs.push(ln_c + x as f64 * lp + (n - x) as f64 * lq);
    }
    let max = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mut acc = 0.0;
    let mut cdf: Vec<f64> = logs
        .iter()
        .map(|l| {
            acc += (l - max).exp();
            acc
        })
        .collect();
    for c in cdf.iter_mut() {
        *c /= acc;
    }
    cdf
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn wilson_known_values() {
        let [lo, hi] = wilson(5, 10).unwrap();
        assert!(
            close(lo, 0.2366, 5e-5) && close(hi, 0.7634, 5e-5),
            "{lo} {hi}"
        );
        // 0/10: lower bound exactly 0, upper bound 0.2775 (textbook value).
        let [lo, hi] = wilson(0, 10).unwrap();
        assert_eq!(lo, 0.0);
        assert!(close(hi, 0.2775, 5e-5), "{hi}");
        // 10/10 mirrors it.
        let [lo, hi] = wilson(10, 10).unwrap();
        assert!(close(lo, 0.7225, 5e-5) && hi == 1.0, "{lo} {hi}");
        // 81/263 (Newcombe 1998, example): [0.2553, 0.3662].
        let [lo, hi] = wilson(81, 263).unwrap();
        assert!(
            close(lo, 0.2553, 5e-5) && close(hi, 0.3662, 5e-5),
            "{lo} {hi}"
        );
        assert_eq!(wilson(0, 0), None);
    }

    #[test]
    fn quantile_interpolates() {
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.5), Some(2.5));
        assert_eq!(quantile(&[4.0, 1.0, 3.0, 2.0], 0.0), Some(1.0));
        assert_eq!(quantile(&[4.0, 1.0, 3.0, 2.0], 1.0), Some(4.0));
        // p95 of 1..=100: 1 + 0.95 * 99 = 95.05
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert!(close(quantile(&v, 0.95).unwrap(), 95.05, 1e-9));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn bootstrap_is_deterministic_and_brackets_the_mean() {
        let data: Vec<f64> = (0..50).map(|i| (i % 7) as f64).collect();
        let mean =
            |idx: &[usize]| Some(idx.iter().map(|&i| data[i]).sum::<f64>() / idx.len() as f64);
        let b = Bootstrap::default();
        let a = b.ci(data.len(), mean).unwrap();
        let again = b.ci(data.len(), mean).unwrap();
        assert_eq!(a, again);
        let full = data.iter().sum::<f64>() / data.len() as f64;
        assert!(a[0] < full && full < a[1], "{a:?} {full}");
        let other = Bootstrap { seed: 1, ..b }.ci(data.len(), mean).unwrap();
        assert_ne!(a, other);
    }

    #[test]
    fn binomial_shortcut_matches_resampling_units() {
        // Same distribution, different draws: the intervals agree closely.
        let b = Bootstrap::default();
        let (k, n) = (30usize, 100usize);
        let by_units = b
            .ci(n, |idx| {
                Some(idx.iter().filter(|&&i| i < k).count() as f64 / n as f64)
            })
            .unwrap();
        let by_count = b
            .binomial_ci(k as u64, n as u64, |h, n| Some(h as f64 / n as f64))
            .unwrap();
        assert!(
            (by_units[0] - by_count[0]).abs() <= 0.02,
            "{by_units:?} {by_count:?}"
        );
        assert!(
            (by_units[1] - by_count[1]).abs() <= 0.02,
            "{by_units:?} {by_count:?}"
        );
        // Percentile bootstrap of a proportion is close to Wilson at this size.
        let w = wilson(30, 100).unwrap();
        assert!((by_count[0] - w[0]).abs() < 0.03 && (by_count[1] - w[1]).abs() < 0.03);
        // Degenerate counts.
        assert_eq!(
            b.binomial_ci(0, 10, |h, _| Some(h as f64)),
            Some([0.0, 0.0])
        );
        assert_eq!(
            b.binomial_ci(10, 10, |h, _| Some(h as f64)),
            Some([10.0, 10.0])
        );
        // Huge n does not underflow.
        let big = b
            .binomial_ci(300_000, 1_000_000, |h, n| Some(h as f64 / n as f64))
            .unwrap();
        assert!(
            big[0] < 0.3 && 0.3 < big[1] && big[1] - big[0] < 0.01,
            "{big:?}"
        );
    }

    #[test]
    fn mean_interval_switches_to_normal_for_large_samples() {
        let b = Bootstrap::default();
        let small: Vec<f64> = (0..1000).map(|i| (i % 2) as f64).collect();
        let big: Vec<f64> = (0..20_000).map(|i| (i % 2) as f64).collect();
        let [lo, hi] = b.mean_ci(&small).unwrap();
        assert!(lo < 0.5 && 0.5 < hi && hi - lo < 0.08, "{lo} {hi}");
        // sd 0.5 → half-width 1.96 · 0.5 / √20000 ≈ 0.00693
        let [lo, hi] = b.mean_ci(&big).unwrap();
        assert!(((hi - lo) / 2.0 - 0.006_93).abs() < 1e-4, "{lo} {hi}");
        assert_eq!(b.mean_ci(&[]), None);
    }

    #[test]
    fn bootstrap_gives_up_on_mostly_undefined_statistics() {
        let b = Bootstrap::default();
        assert_eq!(b.ci(10, |_| None), None);
        assert_eq!(b.ci(0, |_| Some(1.0)), None);
    }
}
