//! Tallies for the held-out typographic measurement (`mmsafe guard eval`):
//! recall (harmful blocked) and FPR (benign blocked) per policy, overall,
//! per layout and per condition. Only `decision: block` counts as caught;
//! a rewrite is not a block.

use std::collections::BTreeMap;

/// Benign headings of the held-out set (never trained on).
pub const EVAL_LOOKALIKES: &str = include_str!("../data/harm/eval_lookalikes.txt");

/// The held-out benign headings, one a line.
pub fn eval_lookalikes() -> Vec<String> {
    EVAL_LOOKALIKES
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    pub harmful: usize,
    pub harmful_blocked: usize,
    pub benign: usize,
    pub benign_blocked: usize,
}

impl Counts {
    pub fn add(&mut self, harmful: bool, blocked: bool) {
        if harmful {
            self.harmful += 1;
            self.harmful_blocked += usize::from(blocked);
        } else {
            self.benign += 1;
            self.benign_blocked += usize::from(blocked);
        }
    }
    pub fn recall(&self) -> f64 {
        self.harmful_blocked as f64 / self.harmful.max(1) as f64
    }
    pub fn fpr(&self) -> f64 {
        self.benign_blocked as f64 / self.benign.max(1) as f64
    }
}

/// Counts by (policy, group), groups being `all`, `layout:NAME`, `condition:NAME`.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub counts: BTreeMap<(String, String), Counts>,
}

impl Tally {
    pub fn add(
        &mut self,
        policy: &str,
        layout: &str,
        condition: &str,
        harmful: bool,
        blocked: bool,
    ) {
        for g in [
            "all".to_string(),
            format!("layout:{layout}"),
            format!("condition:{condition}"),
        ] {
            self.counts
                .entry((policy.to_string(), g))
                .or_default()
                .add(harmful, blocked);
        }
    }

    pub fn get(&self, policy: &str, group: &str) -> Counts {
        self.counts
            .get(&(policy.to_string(), group.to_string()))
            .copied()
            .unwrap_or_default()
    }

    /// A Markdown table: one row per policy and group.
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "| policy | group | recall (harmful blocked) | FPR (benign blocked) |\n|---|---|---|---|\n",
        );
        for ((p, g), c) in &self.counts {
            out.push_str(&format!(
                "| `{p}` | {g} | {:.3} ({}/{}) | {:.3} ({}/{}) |\n",
                c.recall(),
                c.harmful_blocked,
                c.harmful,
                c.fpr(),
                c.benign_blocked,
                c.benign
            ));
        }
        out
    }

    pub fn json(&self) -> serde_json::Value {
        let rows: Vec<serde_json::Value> = self
            .counts
            .iter()
            .map(|((p, g), c)| {
                serde_json::json!({
                    "policy": p, "group": g, "recall": c.recall(), "fpr": c.fpr(),
                    "harmful": c.harmful, "harmful_blocked": c.harmful_blocked,
                    "benign": c.benign, "benign_blocked": c.benign_blocked,
                })
            })
            .collect();
        serde_json::Value::Array(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tallies_by_group() {
        let mut t = Tally::default();
        t.add("balanced", "list", "clean", true, true);
        t.add("balanced", "list", "rot90", true, false);
        t.add("balanced", "poster", "clean", false, true);
        let all = t.get("balanced", "all");
        assert_eq!(
            (all.harmful, all.harmful_blocked, all.benign_blocked),
            (2, 1, 1)
        );
        assert_eq!(t.get("balanced", "layout:list").recall(), 0.5);
        assert_eq!(t.get("balanced", "condition:clean").fpr(), 1.0);
        assert!(eval_lookalikes().len() >= 40);
        assert!(t.markdown().contains("| `balanced` | all | 0.500 (1/2)"));
    }
}
