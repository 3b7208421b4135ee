//! Number formatting shared by every renderer, so the terminal, Markdown and
//! diff views print a figure identically.

use mmsafe_metrics::Ci;

/// Shown for a figure whose denominator is empty.
pub const NA: &str = "n/a";

/// `12.0% [8.1–17.3]`, the value padded to a fixed width so a column of
/// them lines up on the `%`. `n/a` (padded alike) when undefined.
pub fn pct_ci(v: Option<f64>, ci: Option<Ci>) -> String {
    match (v, ci) {
        (Some(v), Some([lo, hi])) => {
            format!("{:>5.1}% [{:.1}–{:.1}]", v * 100.0, lo * 100.0, hi * 100.0)
        }
        (Some(v), None) => format!("{:>5.1}%", v * 100.0),
        (None, _) => format!("{NA:>6}"),
    }
}

/// `12.0%`, padded like [`pct_ci`].
pub fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| format!("{NA:>6}"), |v| format!("{:>5.1}%", v * 100.0))
}

/// A signed difference of rates in percentage points: `+8.0 pp [4.0, 12.1]`.
/// Intervals of signed figures use a comma, since a dash would read as a minus.
pub fn pp_ci(v: Option<f64>, ci: Option<Ci>) -> String {
    match (v, ci) {
        (Some(v), Some([lo, hi])) => format!(
            "{:+.1} pp [{:+.1}, {:+.1}]",
            v * 100.0,
            lo * 100.0,
            hi * 100.0
        ),
        (Some(v), None) => format!("{:+.1} pp", v * 100.0),
        (None, _) => NA.to_string(),
    }
}

/// A signed millisecond figure, `+12.3 ms`.
pub fn ms_signed(v: Option<f64>) -> String {
    v.map_or_else(|| NA.to_string(), |v| format!("{v:+.1} ms"))
}

/// A plain number with `digits` decimals.
pub fn num(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| NA.to_string(), |v| format!("{v:.digits$}"))
}

/// `0.213 [0.180–0.250]` for scores in [0, 1].
pub fn score_ci(v: Option<f64>, ci: Option<Ci>) -> String {
    match (v, ci) {
        (Some(v), Some([lo, hi])) => format!("{v:.3} [{lo:.3}–{hi:.3}]"),
        (Some(v), None) => format!("{v:.3}"),
        (None, _) => NA.to_string(),
    }
}

/// A p-value: four decimals, or `< 0.0001`.
pub fn p_value(p: f64) -> String {
    if p < 1e-4 {
        "< 0.0001".to_string()
    } else {
        format!("{p:.4}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(
            pct_ci(Some(0.12), Some([0.081, 0.173])),
            " 12.0% [8.1–17.3]"
        );
        assert_eq!(pct_ci(Some(1.0), Some([0.72, 1.0])), "100.0% [72.0–100.0]");
        assert_eq!(pct_ci(None, None), "   n/a");
        assert_eq!(pct(Some(0.05)), "  5.0%");
        assert_eq!(
            pp_ci(Some(0.08), Some([0.04, 0.121])),
            "+8.0 pp [+4.0, +12.1]"
        );
        assert_eq!(pp_ci(Some(-0.02), None), "-2.0 pp");
        assert_eq!(ms_signed(Some(12.34)), "+12.3 ms");
        assert_eq!(p_value(0.00001), "< 0.0001");
        assert_eq!(p_value(0.0213), "0.0213");
        assert_eq!(
            score_ci(Some(0.2), Some([0.15, 0.25])),
            "0.200 [0.150–0.250]"
        );
    }
}
