//! A synthetic run of any size, for `mmsafe bench ui` and the app's tests:
//! text cases over every hazard, several attacks, defenses and repeats, two
//! judges that disagree on about one attempt in ten, some target errors, and
//! labels on the queue's first random-sample attempts.

use mmsafe_core::{Case, Expect, Hazard, Label, Response, Verdict};
use mmsafe_store::{
    attempt_key, AttemptError, HumanLabel, NewAttempt, NewCase, NewLabel, NewRun, Plan,
    RequestSummary, Store, StoreError,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

const ATTACKS: [&str; 5] = ["none", "figstep", "jailbreak:dan", "mm-safetybench", "vpi"];
const DEFENSES: [&str; 2] = ["none", "balanced"];
const REPEATS: u32 = 2;
/// Attempts per case: attacks × defenses × repeats.
const PER_CASE: usize = ATTACKS.len() * DEFENSES.len() * REPEATS as usize;

/// Write a run of about `attempts` attempts (rounded down to whole cases) into
/// the store at `path` and label `labels` attempts of its random sample.
/// Returns the run id.
pub fn generate(path: &Path, attempts: usize, labels: usize) -> Result<String, StoreError> {
    let mut store = Store::open(path)?;
    let run = store.create_run(&NewRun {
        name: Some("synthetic".into()),
        plan: Plan {
            target: "openai-compatible:http://127.0.0.1:9/v1#synthetic".into(),
            suites: vec!["synthetic".into()],
            attacks: ATTACKS.iter().map(|s| s.to_string()).collect(),
            defenses: DEFENSES.iter().map(|s| s.to_string()).collect(),
            judges: vec!["refusal".into(), "classifier".into()],
            repeats: REPEATS,
            max_tokens: Some(256),
            options: Default::default(),
        },
        seed: 7,
        versions: BTreeMap::new(),
    })?;
    let hazards: Vec<Hazard> = Hazard::ALL.to_vec();
    let cases = attempts / PER_CASE;
    let mut batch_cases = Vec::new();
    let mut batch = Vec::new();
    for c in 0..cases {
        let hazard = hazards[c % hazards.len()];
        let expect = if hazard == Hazard::Benign {
            Expect::Comply
        } else {
            Expect::Refuse
        };
        for attack in ATTACKS {
            let base = Case::text(
                format!("case-{c}"),
                format!(
                    "Synthetic request {c} about {} (placeholder text).",
                    hazard.slug()
                ),
                hazard,
                expect,
                "synthetic",
            );
            let case = if attack == "none" {
                base
            } else {
                let msg = base.messages.clone();
                base.derive(attack, &BTreeMap::new(), 1, None, msg)
            };
            for defense in DEFENSES {
                for repeat in 0..REPEATS {
                    let n = batch.len() + c;
                    let key = attempt_key(&run.id, &case.id, attack, defense, repeat);
                    let complied = (c * 7 + repeat as usize + attack.len()).is_multiple_of(4);
                    let first = if complied {
                        Label::Complied
                    } else {
                        Label::Refused
                    };
                    let second = if n % 10 == 3 {
                        if complied {
                            Label::Refused
                        } else {
                            Label::Complied
                        }
                    } else if n % 17 == 5 {
                        Label::Undecided
                    } else {
                        first
                    };
                    let outcome = if n % 97 == 0 {
                        Err(AttemptError {
                            kind: "timeout".into(),
                            message: "timed out after 30s".into(),
                            retries: 2,
                            latency_ms: 30_000.0,
                        })
                    } else if complied {
                        Ok(Response::text(format!(
                            "Sure. Here is a synthetic placeholder answer number {c} in several sentences, none of which say anything real. It goes on for a while so that previews are cut."
                        )))
                    } else {
                        Ok(Response::text(format!(
                            "I can't help with that (synthetic refusal {c}). If you have another question, I am happy to help."
                        )))
                    };
                    let verdicts = if outcome.is_err() {
                        vec![
                            Verdict::new("refusal", Label::Error, "target error"),
                            Verdict::new("classifier", Label::Error, "target error"),
                        ]
                    } else {
                        let mut v2 = Verdict::new("classifier", second, "synthetic");
                        v2.score = Some(((c % 100) as f64) / 100.0);
                        vec![Verdict::new("refusal", first, "synthetic"), v2]
                    };
                    batch.push(NewAttempt {
                        key,
                        case_id: case.id.clone(),
                        attack: attack.to_string(),
                        defense: defense.to_string(),
                        repeat,
                        request: RequestSummary {
                            max_tokens: Some(256),
                            temperature: Some(0.0),
                            seed: None,
                            target: "openai-compatible:http://127.0.0.1:9/v1#synthetic".into(),
                        },
                        outcome,
                        verdicts,
                    });
                }
            }
            batch_cases.push(NewCase {
                attack: attack.to_string(),
                case: Arc::new(case),
            });
        }
        if batch.len() >= 4000 {
            store.put_batch(&run.id, &batch_cases, &batch)?;
            batch.clear();
            batch_cases.clear();
        }
    }
    store.put_batch(&run.id, &batch_cases, &batch)?;
    store.close_run(&run.id, mmsafe_store::RunStatus::Completed)?;
    if labels > 0 {
        let order = store.queue_order(&run.id, run.seed, Some("refusal"))?;
        let new: Vec<NewLabel> = order
            .sample
            .iter()
            .take(labels)
            .enumerate()
            .map(|(i, k)| NewLabel {
                attempt_key: k.clone(),
                annotator: if i % 5 == 0 {
                    "bob".into()
                } else {
                    "ann".into()
                },
                label: match i % 6 {
                    0 => HumanLabel::HarmfulComplied,
                    1 => HumanLabel::Complied,
                    5 => HumanLabel::Unclear,
                    _ => HumanLabel::Refused,
                },
                note: String::new(),
                source: "synthetic".into(),
            })
            .collect();
        store.put_labels(&run.id, &new)?;
    }
    Ok(run.id)
}
