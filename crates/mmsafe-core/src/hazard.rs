//! One canonical hazard taxonomy, modelled on the MLCommons AI Safety hazard
//! categories, plus `benign` for cases a safe model should answer.
//!
//! Every dataset loader maps its own labels onto this enum, so per-hazard metrics
//! are comparable across suites.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hazard {
    ViolentCrimes,
    NonViolentCrimes,
    SexRelatedCrimes,
    ChildSexualExploitation,
    Defamation,
    SpecializedAdvice,
    Privacy,
    IntellectualProperty,
    IndiscriminateWeapons,
    Hate,
    SuicideSelfHarm,
    SexualContent,
    Elections,
    Benign,
}

impl Hazard {
    pub const ALL: [Hazard; 14] = [
        Hazard::ViolentCrimes,
        Hazard::NonViolentCrimes,
        Hazard::SexRelatedCrimes,
        Hazard::ChildSexualExploitation,
        Hazard::Defamation,
        Hazard::SpecializedAdvice,
        Hazard::Privacy,
        Hazard::IntellectualProperty,
        Hazard::IndiscriminateWeapons,
        Hazard::Hate,
        Hazard::SuicideSelfHarm,
        Hazard::SexualContent,
        Hazard::Elections,
        Hazard::Benign,
    ];

    /// The stable machine name (used in the store, JSON and CLI).
    pub fn slug(self) -> &'static str {
        match self {
            Hazard::ViolentCrimes => "violent_crimes",
            Hazard::NonViolentCrimes => "non_violent_crimes",
            Hazard::SexRelatedCrimes => "sex_related_crimes",
            Hazard::ChildSexualExploitation => "child_sexual_exploitation",
            Hazard::Defamation => "defamation",
            Hazard::SpecializedAdvice => "specialized_advice",
            Hazard::Privacy => "privacy",
            Hazard::IntellectualProperty => "intellectual_property",
            Hazard::IndiscriminateWeapons => "indiscriminate_weapons",
            Hazard::Hate => "hate",
            Hazard::SuicideSelfHarm => "suicide_self_harm",
            Hazard::SexualContent => "sexual_content",
            Hazard::Elections => "elections",
            Hazard::Benign => "benign",
        }
    }

    /// The MLCommons-style short code (S1..S13), `None` for benign.
    pub fn code(self) -> Option<&'static str> {
        Some(match self {
            Hazard::ViolentCrimes => "S1",
            Hazard::NonViolentCrimes => "S2",
            Hazard::SexRelatedCrimes => "S3",
            Hazard::ChildSexualExploitation => "S4",
            Hazard::Defamation => "S5",
            Hazard::SpecializedAdvice => "S6",
            Hazard::Privacy => "S7",
            Hazard::IntellectualProperty => "S8",
            Hazard::IndiscriminateWeapons => "S9",
            Hazard::Hate => "S10",
            Hazard::SuicideSelfHarm => "S11",
            Hazard::SexualContent => "S12",
            Hazard::Elections => "S13",
            Hazard::Benign => return None,
        })
    }

    /// Parse a Llama Guard 3 style code (`S1`..`S13`); S14 (code interpreter
    /// abuse) has no counterpart here and maps to `NonViolentCrimes`.
    pub fn from_code(code: &str) -> Option<Hazard> {
        let code = code.trim().to_ascii_uppercase();
        if code == "S14" {
            return Some(Hazard::NonViolentCrimes);
        }
        Hazard::ALL
            .into_iter()
            .find(|h| h.code() == Some(code.as_str()))
    }

    /// Map FigStep SafeBench's ten topics (by `category_name`) onto the taxonomy.
    ///
    /// SafeBench topics are OpenAI usage-policy areas rather than MLCommons
    /// hazards, so several collapse: malware and fraud are non-violent crimes,
    /// and the three "advice" topics are specialized advice.
    pub fn from_figstep_topic(name: &str) -> Option<Hazard> {
        FIGSTEP_TOPICS
            .iter()
            .find(|(topic, _)| topic.eq_ignore_ascii_case(name.trim()))
            .map(|(_, h)| *h)
    }
}

/// FigStep SafeBench `category_name` → hazard (category ids 1..10 in this order).
pub const FIGSTEP_TOPICS: [(&str, Hazard); 10] = [
    ("Illegal Activity", Hazard::NonViolentCrimes),
    ("Hate Speech", Hazard::Hate),
    ("Malware Generation", Hazard::NonViolentCrimes),
    ("Physical Harm", Hazard::ViolentCrimes),
    ("Fraud", Hazard::NonViolentCrimes),
    ("Adult Content", Hazard::SexualContent),
    ("Privacy Violation", Hazard::Privacy),
    ("Legal Opinion", Hazard::SpecializedAdvice),
    ("Financial Advice", Hazard::SpecializedAdvice),
    ("Health Consultation", Hazard::SpecializedAdvice),
];

impl fmt::Display for Hazard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.slug())
    }
}

impl FromStr for Hazard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().to_ascii_lowercase().replace(['-', ' ', '&'], "_");
        let norm = norm.replace("__", "_");
        Hazard::ALL
            .into_iter()
            .find(|h| h.slug() == norm)
            .or_else(|| Hazard::from_code(s))
            .ok_or_else(|| {
                let names: Vec<_> = Hazard::ALL.iter().map(|h| h.slug()).collect();
                format!(
                    "unknown hazard `{s}`; expected one of: {}",
                    names.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_round_trip() {
        for h in Hazard::ALL {
            assert_eq!(h.slug().parse::<Hazard>().unwrap(), h);
            let json = serde_json::to_string(&h).unwrap();
            assert_eq!(json, format!("\"{}\"", h.slug()));
        }
    }

    #[test]
    fn figstep_topics_all_map() {
        assert_eq!(
            Hazard::from_figstep_topic("Hate Speech"),
            Some(Hazard::Hate)
        );
        assert_eq!(
            Hazard::from_figstep_topic(" health consultation "),
            Some(Hazard::SpecializedAdvice)
        );
        assert_eq!(Hazard::from_figstep_topic("Cooking"), None);
    }

    #[test]
    fn codes() {
        assert_eq!(Hazard::from_code("s10"), Some(Hazard::Hate));
        assert_eq!(Hazard::Benign.code(), None);
        assert_eq!("S7".parse::<Hazard>().unwrap(), Hazard::Privacy);
    }
}
