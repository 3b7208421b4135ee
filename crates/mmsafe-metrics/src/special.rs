//! The two distribution tails the paired test needs.

/// Complementary error function (Numerical Recipes `erfcc`, relative error
/// below 1.2e-7 everywhere), enough for p-values printed to 4 digits.
pub(crate) fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let r = t * poly.exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// Upper tail of the chi-square distribution with one degree of freedom.
pub(crate) fn chi2_sf_df1(x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    erfc((x / 2.0).sqrt())
}

/// Two-sided exact binomial test p-value for `k` of `n` under p = 0.5:
/// `min(1, 2·P(X ≤ min(k, n−k)))`. Summed in log space so large `n` does not
/// underflow.
pub(crate) fn binom_two_sided_half(k: u64, n: u64) -> f64 {
    if n == 0 {
        return 1.0;
    }
    let m = k.min(n - k);
    let ln_half_n = -(n as f64) * std::f64::consts::LN_2;
    let mut ln_c = 0.0f64;
    let mut terms = Vec::with_capacity(m as usize + 1);
    terms.push(ln_half_n);
    for i in 1..=m {
        ln_c += ((n - i + 1) as f64).ln() - (i as f64).ln();
        terms.push(ln_c + ln_half_n);
    }
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let tail = max.exp() * terms.iter().map(|t| (t - max).exp()).sum::<f64>();
    (2.0 * tail).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn erfc_known_values() {
        assert!((erfc(0.0) - 1.0).abs() < 1e-7);
        assert!((erfc(1.0) - 0.157_299_207).abs() < 1e-7);
        assert!((erfc(-1.0) - 1.842_700_793).abs() < 1e-7);
    }

    #[test]
    fn chi2_df1_critical_value() {
        // 3.841459 is the 95% critical value.
        assert!((chi2_sf_df1(3.841_459) - 0.05).abs() < 1e-6);
        assert_eq!(chi2_sf_df1(0.0), 1.0);
    }

    #[test]
    fn binomial_two_sided() {
        // 1 of 10: 2 * (1 + 10) / 1024
        assert!((binom_two_sided_half(1, 10) - 22.0 / 1024.0).abs() < 1e-12);
        assert!((binom_two_sided_half(9, 10) - 22.0 / 1024.0).abs() < 1e-12);
        assert_eq!(binom_two_sided_half(5, 10), 1.0);
        assert_eq!(binom_two_sided_half(0, 0), 1.0);
        // Large n neither overflows nor turns into NaN: a far tail
        // underflows to 0, a moderate one matches the normal approximation
        // (z = 100/√1250 = 2.83 → p ≈ 0.0047).
        let p = binom_two_sided_half(100, 5000);
        assert!((0.0..1e-300).contains(&p), "{p}");
        let p = binom_two_sided_half(2400, 5000);
        assert!((0.004..0.006).contains(&p), "{p}");
    }
}
