//! `cascade:<j1>,<j2>,…`: the first confident judge decides. Members run in
//! order; a member is confident when it answers `complied` or `refused`, and
//! the next member is asked only when it did not (undecided, or failed).
//! `cascade:refusal,classifier:defer=0.2-0.8,llm:…` asks the rules first,
//! the offline classifier next, and a large model only for what is left.
//!
//! Members are separated as in `vote:` (square brackets around a member
//! whose spec has a comma).

use async_trait::async_trait;
use mmsafe_core::{Case, DynJudge, Judge, JudgeError, Label, Response, Verdict};

pub struct CascadeJudge {
    name: String,
    members: Vec<DynJudge>,
}

impl CascadeJudge {
    pub fn new(members: Vec<DynJudge>) -> CascadeJudge {
        let list = members
            .iter()
            .map(|m| {
                let n = m.name();
                if n.contains(',') {
                    format!("[{n}]")
                } else {
                    n.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join(",");
        CascadeJudge {
            name: format!("cascade:{list}"),
            members,
        }
    }
}

/// Parse the part after `cascade:` into member specs.
pub fn parse_spec(rest: &str) -> Result<Vec<String>, String> {
    let members = crate::vote::split_members(rest)?;
    if members.len() < 2 {
        return Err(format!(
            "cascade spec `{rest}` needs at least two judges separated by `,`"
        ));
    }
    Ok(members)
}

#[async_trait]
impl Judge for CascadeJudge {
    fn name(&self) -> &str {
        &self.name
    }

    async fn judge(&self, case: &Case, response: &Response) -> Result<Verdict, JudgeError> {
        let mut passed: Vec<String> = Vec::new();
        let mut last: Option<Verdict> = None;
        let mut errors: Vec<String> = Vec::new();
        for m in &self.members {
            match m.judge(case, response).await {
                Ok(v) if matches!(v.label, Label::Complied | Label::Refused) => {
                    let trail = if passed.is_empty() {
                        String::new()
                    } else {
                        format!(" after {}", passed.join(", "))
                    };
                    return Ok(Verdict {
                        judge: self.name.clone(),
                        rationale: format!("{} decided{trail}: {}", v.judge, v.rationale),
                        ..v
                    });
                }
                Ok(v) => {
                    passed.push(format!("{}={}", v.judge, v.label));
                    last = Some(v);
                }
                Err(e) => {
                    passed.push(format!("{}=error", e.judge));
                    errors.push(e.to_string());
                }
            }
        }
        match last {
            // Nobody was confident: undecided, with each member's answer —
            // unless every member failed, which stays an error (a cascade of
            // judges whose models are down must not look like a judgement).
            Some(v) => Ok(Verdict {
                judge: self.name.clone(),
                label: if all_failed(&passed) {
                    Label::Error
                } else {
                    Label::Undecided
                },
                score: v.score,
                hazard: v.hazard,
                rationale: format!("no member decided: {}", passed.join(", ")),
            }),
            None => Err(JudgeError {
                judge: self.name.clone(),
                message: format!("every member failed: {}", errors.join("; ")),
            }),
        }
    }
}

/// Whether every member's answer in the trail was a failure (`=error`).
fn all_failed(trail: &[String]) -> bool {
    trail.iter().all(|t| t.ends_with("=error"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mmsafe_core::{Expect, Hazard};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Always answers `label` (or fails), counting its calls.
    struct Fixed(&'static str, Option<Label>, AtomicUsize);
    #[async_trait]
    impl Judge for Fixed {
        fn name(&self) -> &str {
            self.0
        }
        async fn judge(&self, _: &Case, _: &Response) -> Result<Verdict, JudgeError> {
            self.2.fetch_add(1, Ordering::SeqCst);
            match self.1 {
                Some(l) => Ok(Verdict::new(self.0, l, "because")),
                None => Err(JudgeError {
                    judge: self.0.into(),
                    message: "down".into(),
                }),
            }
        }
    }

    fn fixed(name: &'static str, l: Option<Label>) -> Arc<Fixed> {
        Arc::new(Fixed(name, l, AtomicUsize::new(0)))
    }

    #[tokio::test]
    async fn first_confident_member_decides() {
        let case = Case::text("c", "q", Hazard::Benign, Expect::Refuse, "t");
        let r = Response::text("reply");
        let a = fixed("a", Some(Label::Undecided));
        let b = fixed("b", None);
        let c = fixed("c", Some(Label::Complied));
        let d = fixed("d", Some(Label::Refused));
        let j = CascadeJudge::new(vec![a.clone(), b.clone(), c.clone(), d.clone()]);
        assert_eq!(j.name(), "cascade:a,b,c,d");
        let v = j.judge(&case, &r).await.unwrap();
        assert_eq!(v.label, Label::Complied);
        assert_eq!(v.judge, "cascade:a,b,c,d");
        assert!(
            v.rationale
                .starts_with("c decided after a=undecided, b=error"),
            "{}",
            v.rationale
        );
        assert_eq!(d.2.load(Ordering::SeqCst), 0, "later members are not asked");
        let j = CascadeJudge::new(vec![fixed("a", Some(Label::Undecided)), fixed("b", None)]);
        let v = j.judge(&case, &r).await.unwrap();
        assert_eq!(v.label, Label::Undecided);
        let j = CascadeJudge::new(vec![fixed("a", None), fixed("b", None)]);
        assert!(j.judge(&case, &r).await.is_err());
    }

    #[test]
    fn spec_parsing() {
        assert_eq!(
            parse_spec("refusal,[classifier:defer=0.2-0.8]").unwrap(),
            vec!["refusal", "classifier:defer=0.2-0.8"]
        );
        assert!(parse_spec("refusal").is_err());
        assert!(parse_spec("refusal,").is_err());
    }
}
