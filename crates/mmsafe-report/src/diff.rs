//! `mmsafe runs diff A B`: two summaries side by side and the paired test.

use crate::fmt::{p_value, pct_ci, pp_ci};
use crate::table::Table;
use mmsafe_metrics::{McNemar, Summary};
use serde_json::{json, Value};
use std::collections::BTreeSet;

fn delta(a: Option<f64>, b: Option<f64>) -> String {
    pp_ci(a.zip(b).map(|(a, b)| b - a), None)
}

/// Text report of a paired comparison of run `a` (before) with run `b` (after).
pub fn render_diff(m: &McNemar, a: &Summary, b: &Summary) -> String {
    let mut out = format!(
        "runs diff · A = {} · B = {} · judge {}\n\n",
        a.run_id,
        b.run_id,
        m.judge.as_deref().unwrap_or("none")
    );
    let mut t = Table::new(
        vec![String::new(), "A".into(), "B".into(), "B − A".into()],
        vec![false, false, false, false],
    );
    t.row(vec![
        "ASR".into(),
        pct_ci(a.asr, a.asr_ci),
        pct_ci(b.asr, b.asr_ci),
        delta(a.asr, b.asr),
    ]);
    t.row(vec![
        "over-refusal".into(),
        pct_ci(a.over_refusal_rate, a.over_refusal_rate_ci),
        pct_ci(b.over_refusal_rate, b.over_refusal_rate_ci),
        delta(a.over_refusal_rate, b.over_refusal_rate),
    ]);
    let mut attacks: Vec<&String> = a
        .by_attack
        .keys()
        .chain(b.by_attack.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    attacks.sort_by_key(|k| (k.as_str() != "none", k.as_str()));
    if !attacks.is_empty() {
        t.title("ASR by attack");
    }
    for k in attacks {
        let ra = a.by_attack.get(k);
        let rb = b.by_attack.get(k);
        let asr_a = ra.and_then(|r| r.asr);
        let asr_b = rb.and_then(|r| r.asr);
        t.row(vec![
            format!("  {k}"),
            pct_ci(asr_a, ra.and_then(|r| r.asr_ci)),
            pct_ci(asr_b, rb.and_then(|r| r.asr_ci)),
            delta(asr_a, asr_b),
        ]);
    }
    out.push_str(&t.render());
    out.push('\n');
    out.push_str(&format!(
        "paired (McNemar): {} shared attempts, {} harmful pairs decided on both sides, {} excluded\n",
        m.n_shared, m.n, m.excluded
    ));
    out.push_str(&format!(
        "  succeeded only in A: {} · only in B: {} · both: {} · neither: {}\n",
        m.b10, m.b01, m.b11, m.b00
    ));
    out.push_str(&format!(
        "  paired ASR: A {} → B {} ({})\n",
        pct_ci(m.asr_a, None).trim_start(),
        pct_ci(m.asr_b, None).trim_start(),
        delta(m.asr_a, m.asr_b)
    ));
    let mut test = format!("  exact p = {}", p_value(m.p_value));
    if let (Some(c), Some(p)) = (m.chi2, m.chi2_p_value) {
        test.push_str(&format!(
            "; χ² (continuity-corrected) = {c:.2}, p = {}",
            p_value(p)
        ));
    }
    out.push_str(&test);
    out.push('\n');
    out
}

/// The `--json` form of `runs diff`: both run ids, their headline figures and
/// the paired test.
pub fn render_diff_json(m: &McNemar, a: &Summary, b: &Summary) -> Value {
    let side = |s: &Summary| {
        json!({
            "run_id": s.run_id,
            "attempts": s.attempts,
            "asr": s.asr,
            "asr_ci": s.asr_ci,
            "over_refusal_rate": s.over_refusal_rate,
            "over_refusal_rate_ci": s.over_refusal_rate_ci,
        })
    };
    json!({
        "a": side(a),
        "b": side(b),
        "mcnemar": serde_json::to_value(m).unwrap_or(Value::Null),
    })
}
