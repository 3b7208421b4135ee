//! Which attempts become examples, paired with which answers. Format-free:
//! rendering to JSONL happens in `render`.

use crate::label::{JudgeLabel, NotSelected, SkipReason};
use crate::pool::{Item, Pool};
use crate::templates::{TemplateChoice, Templates};
use mmsafe_core::{seed, Case, Expect, Hazard, Label, Part};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What to build.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Supervised fine-tuning: prompt → one answer.
    Sft,
    /// Preference pairs: prompt → chosen, rejected.
    Dpo,
}

impl Task {
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Sft => "sft",
            Task::Dpo => "dpo",
        }
    }
}

/// What an example teaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// SFT: a harmful request the model complied with → our refusal.
    Refusal,
    /// SFT: a benign request the model refused → a judged complied answer.
    OverRefusalFix,
    /// SFT (`--include-benign`): a benign request answered → that answer.
    Benign,
    /// DPO: refusal preferred over the complied response.
    HarmfulPair,
    /// DPO: complied answer preferred over the over-refusal.
    BenignPair,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Refusal => "refusal",
            Kind::OverRefusalFix => "over_refusal_fix",
            Kind::Benign => "benign",
            Kind::HarmfulPair => "harmful_pair",
            Kind::BenignPair => "benign_pair",
        }
    }
}

/// A recorded response used as an answer, with where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResponseRef {
    pub run_id: String,
    pub attempt_key: String,
    pub case_id: String,
    pub attack: String,
    pub defense: String,
    pub finish_reason: String,
    pub judges: Vec<JudgeLabel>,
    #[serde(skip)]
    pub text: String,
}

impl ResponseRef {
    fn of(item: &Item) -> ResponseRef {
        ResponseRef {
            run_id: item.run_id.clone(),
            attempt_key: item.key.clone(),
            case_id: item.case.id.clone(),
            attack: item.attack.clone(),
            defense: item.defense.clone(),
            finish_reason: item
                .reply
                .as_ref()
                .map(|r| r.finish.as_str().to_string())
                .unwrap_or_default(),
            judges: item
                .judged
                .as_ref()
                .map(|j| j.judges.clone())
                .unwrap_or_default(),
            text: item.text().to_string(),
        }
    }
}

/// An assistant turn to train on or to rank.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// One of our refusal templates.
    Template(TemplateChoice),
    /// A response recorded in a run.
    Response(ResponseRef),
}

impl Answer {
    pub fn text(&self) -> &str {
        match self {
            Answer::Template(t) => &t.text,
            Answer::Response(r) => &r.text,
        }
    }

    /// Provenance for `meta`, never the text itself.
    pub fn meta(&self) -> serde_json::Value {
        match self {
            Answer::Template(t) => serde_json::json!({"source": "template", "template": t.id}),
            Answer::Response(r) => {
                let mut v = serde_json::to_value(r).unwrap_or_default();
                if let Some(o) = v.as_object_mut() {
                    o.insert("source".into(), "response".into());
                }
                v
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Sft { answer: Answer },
    Dpo { chosen: Answer, rejected: Answer },
}

/// The attempt an example is built from (its prompt is this attempt's case).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Origin {
    pub run_id: String,
    pub attempt_key: String,
    pub case_id: String,
    pub base_case_id: String,
    pub hazard: Hazard,
    pub expect: Expect,
    pub attack: String,
    pub attack_chain: String,
    pub defense: String,
    pub repeat: u32,
    pub judges: Vec<JudgeLabel>,
}

impl Origin {
    fn of(item: &Item) -> Origin {
        Origin {
            run_id: item.run_id.clone(),
            attempt_key: item.key.clone(),
            case_id: item.case.id.clone(),
            base_case_id: item.base_case_id.clone(),
            hazard: item.case.hazard,
            expect: item.case.expect,
            attack: item.attack.clone(),
            attack_chain: item.case.attack_chain(),
            defense: item.defense.clone(),
            repeat: item.repeat,
            judges: item
                .judged
                .as_ref()
                .map(|j| j.judges.clone())
                .unwrap_or_default(),
        }
    }
}

/// One training example before rendering.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub kind: Kind,
    pub origin: Origin,
    pub prompt: Arc<Case>,
    pub target: Target,
}

/// An attempt that produced no example, and why. Holds no content.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    pub run_id: String,
    pub attempt_key: String,
    pub case_id: String,
    pub base_case_id: String,
    pub hazard: Hazard,
    pub expect: Expect,
    pub attack: String,
    pub defense: String,
    pub repeat: u32,
    pub reason: SkipReason,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<String>,
}

impl Skipped {
    fn of(o: &Origin, reason: SkipReason) -> Skipped {
        Skipped {
            run_id: o.run_id.clone(),
            attempt_key: o.attempt_key.clone(),
            case_id: o.case_id.clone(),
            base_case_id: o.base_case_id.clone(),
            hazard: o.hazard,
            expect: o.expect,
            attack: o.attack.clone(),
            defense: o.defense.clone(),
            repeat: o.repeat,
            reason,
            duplicate_of: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SelectOptions {
    pub task: Task,
    /// SFT only: also emit answered benign attempts.
    pub include_benign: bool,
    /// Use answers cut off at the token limit.
    pub allow_truncated: bool,
    pub templates: Templates,
    pub seed: u64,
    pub max: Option<usize>,
}

/// Examples in output order, and an account of every other attempt.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub records: Vec<Record>,
    pub skipped: Vec<Skipped>,
    pub not_selected: BTreeMap<NotSelected, u64>,
    pub attempts: u64,
}

/// Build the examples. Every attempt ends in exactly one place: a record,
/// `skipped` (with a reason) or `not_selected`.
pub fn select(pool: &Pool, opts: &SelectOptions) -> Selection {
    let mut sel = Selection {
        attempts: pool.items.len() as u64,
        ..Selection::default()
    };
    for item in &pool.items {
        let origin = Origin::of(item);
        let Ok(judged) = &item.judged else {
            if let Err(reason) = item.judged {
                sel.skipped.push(Skipped::of(&origin, reason));
            }
            continue;
        };
        let built = match (opts.task, item.expect(), judged.label) {
            (_, Expect::Refuse, Label::Refused) => {
                Err(Left::NotSelected(NotSelected::HarmfulRefused))
            }
            (Task::Sft, Expect::Refuse, _) => Ok((
                Kind::Refusal,
                Target::Sft {
                    answer: Answer::Template(template_for(item, opts)),
                },
            )),
            (Task::Dpo, Expect::Refuse, _) => {
                if item.text().trim().is_empty() {
                    Err(Left::Skip(SkipReason::EmptyResponse))
                } else {
                    let chosen = match best_refusal(pool, item, opts.allow_truncated) {
                        Some(r) => Answer::Response(ResponseRef::of(r)),
                        None => Answer::Template(template_for(item, opts)),
                    };
                    Ok((
                        Kind::HarmfulPair,
                        Target::Dpo {
                            chosen,
                            rejected: Answer::Response(ResponseRef::of(item)),
                        },
                    ))
                }
            }
            (Task::Sft, Expect::Comply, Label::Refused) => {
                good_answer(pool, item, opts.allow_truncated)
                    .map(|a| {
                        (
                            Kind::OverRefusalFix,
                            Target::Sft {
                                answer: Answer::Response(ResponseRef::of(a)),
                            },
                        )
                    })
                    .ok_or(Left::Skip(SkipReason::NoGoodAnswer))
            }
            (Task::Dpo, Expect::Comply, Label::Refused) => {
                if item.text().trim().is_empty() {
                    Err(Left::Skip(SkipReason::EmptyResponse))
                } else {
                    good_answer(pool, item, opts.allow_truncated)
                        .map(|a| {
                            (
                                Kind::BenignPair,
                                Target::Dpo {
                                    chosen: Answer::Response(ResponseRef::of(a)),
                                    rejected: Answer::Response(ResponseRef::of(item)),
                                },
                            )
                        })
                        .ok_or(Left::Skip(SkipReason::NoGoodAnswer))
                }
            }
            (Task::Sft, Expect::Comply, _) if opts.include_benign => {
                match answer_problem(item, opts.allow_truncated) {
                    Some(reason) => Err(Left::Skip(reason)),
                    None => Ok((
                        Kind::Benign,
                        Target::Sft {
                            answer: Answer::Response(ResponseRef::of(item)),
                        },
                    )),
                }
            }
            (_, Expect::Comply, _) => Err(Left::NotSelected(NotSelected::BenignAnswered)),
        };
        match built {
            Ok((kind, target)) => sel.records.push(Record {
                kind,
                origin,
                prompt: item.case.clone(),
                target,
            }),
            Err(Left::Skip(reason)) => sel.skipped.push(Skipped::of(&origin, reason)),
            Err(Left::NotSelected(n)) => *sel.not_selected.entry(n).or_default() += 1,
        }
    }
    // Within a case, kinds in enum order: when a benign answer and an
    // over-refusal fix are the same line, the fix is the one kept and counted.
    sel.records.sort_by(|a, b| {
        (&a.origin.case_id, a.kind, &a.origin.attempt_key).cmp(&(
            &b.origin.case_id,
            b.kind,
            &b.origin.attempt_key,
        ))
    });
    dedup(&mut sel);
    sample(&mut sel, opts);
    sel.skipped.sort_by(|a, b| {
        (&a.case_id, &a.attempt_key, a.reason).cmp(&(&b.case_id, &b.attempt_key, b.reason))
    });
    sel
}

enum Left {
    Skip(SkipReason),
    NotSelected(NotSelected),
}

fn template_for(item: &Item, opts: &SelectOptions) -> TemplateChoice {
    let pick = seed::derive(opts.seed, &["refusal", &item.case.id]);
    opts.templates.choose(item.case.hazard, pick)
}

/// Why `item`'s response cannot be a training target, if it cannot.
fn answer_problem(item: &Item, allow_truncated: bool) -> Option<SkipReason> {
    if item.text().trim().is_empty() {
        Some(SkipReason::EmptyResponse)
    } else if item.truncated() && !allow_truncated {
        Some(SkipReason::TruncatedAnswer)
    } else {
        None
    }
}

/// A complied answer to the same base case (benign), preferring the very same
/// prompt, then the unattacked case, then undefended runs; ties by run id and
/// attempt key so the choice never depends on input order.
fn good_answer<'a>(pool: &'a Pool, item: &Item, allow_truncated: bool) -> Option<&'a Item> {
    pool.siblings(item)
        .filter(|s| s.label() == Some(Label::Complied))
        .filter(|s| answer_problem(s, allow_truncated).is_none())
        // Judges of different runs may label the same text differently.
        .filter(|s| s.text() != item.text())
        .min_by_key(|s| {
            (
                s.case.id != item.case.id,
                !s.case.provenance.is_empty(),
                s.defense != "none",
                &s.run_id,
                &s.key,
            )
        })
}

/// A judged refusal to the same base case (harmful), preferring the same
/// prompt and the model's own words over a guard's canned block.
fn best_refusal<'a>(pool: &'a Pool, item: &Item, allow_truncated: bool) -> Option<&'a Item> {
    pool.siblings(item)
        .filter(|s| s.label() == Some(Label::Refused))
        .filter(|s| answer_problem(s, allow_truncated).is_none())
        .filter(|s| s.text() != item.text())
        .min_by_key(|s| {
            (
                s.case.id != item.case.id,
                s.guard_blocked(),
                &s.run_id,
                &s.key,
            )
        })
}

/// Identity of an example's content: the prompt (images by hash) and the
/// answer text(s).
fn content_digest(r: &Record) -> String {
    let messages: Vec<serde_json::Value> = r
        .prompt
        .messages
        .iter()
        .map(|m| {
            let parts: Vec<serde_json::Value> = m
                .content
                .iter()
                .map(|p| match p {
                    Part::Text { text } => serde_json::json!(["t", text]),
                    Part::Image { image } => serde_json::json!(["i", image.sha256()]),
                })
                .collect();
            serde_json::json!([m.role.as_str(), parts])
        })
        .collect();
    let answers = match &r.target {
        Target::Sft { answer } => serde_json::json!([answer.text()]),
        Target::Dpo { chosen, rejected } => serde_json::json!([chosen.text(), rejected.text()]),
    };
    let v = serde_json::json!([messages, answers]);
    seed::sha256_hex(v.to_string().as_bytes())
}

fn dedup(sel: &mut Selection) {
    let mut first: HashMap<String, String> = HashMap::new();
    let mut kept = Vec::with_capacity(sel.records.len());
    for r in std::mem::take(&mut sel.records) {
        let d = content_digest(&r);
        match first.get(&d) {
            Some(k) => {
                let mut s = Skipped::of(&r.origin, SkipReason::Duplicate);
                s.duplicate_of = Some(k.clone());
                sel.skipped.push(s);
            }
            None => {
                first.insert(d, r.origin.attempt_key.clone());
                kept.push(r);
            }
        }
    }
    sel.records = kept;
}

/// Keep `max` records chosen by a seeded hash of their attempt key (uniform,
/// reproducible, independent of how many runs were given); keep output order.
fn sample(sel: &mut Selection, opts: &SelectOptions) {
    let Some(max) = opts.max else { return };
    if sel.records.len() <= max {
        return;
    }
    let mut ranks: Vec<(u64, usize)> = sel
        .records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            (
                seed::derive(opts.seed, &["sample", &r.origin.attempt_key]),
                i,
            )
        })
        .collect();
    ranks.sort_unstable();
    let mut keep = vec![false; sel.records.len()];
    for &(_, i) in ranks.iter().take(max) {
        keep[i] = true;
    }
    let records = std::mem::take(&mut sel.records);
    for (r, k) in records.into_iter().zip(keep) {
        if k {
            sel.records.push(r);
        } else {
            sel.skipped
                .push(Skipped::of(&r.origin, SkipReason::SampledOut));
        }
    }
}
