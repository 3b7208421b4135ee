//! Every attempt of the given runs, labelled once, with an index by base case
//! so that answers and refusals can be found across runs.

use crate::label::{resolve, JudgeRule, Judged, SkipReason};
use crate::ExportError;
use mmsafe_core::{Case, Expect, FinishReason, Image, Label, Part};
use mmsafe_store::{Run, Store};
use std::collections::HashMap;
use std::sync::Arc;

/// What the target said.
#[derive(Debug, Clone)]
pub struct Reply {
    pub text: String,
    pub finish: FinishReason,
}

/// One attempt as the export sees it.
#[derive(Debug, Clone)]
pub struct Item {
    pub run_id: String,
    pub key: String,
    pub case: Arc<Case>,
    pub base_case_id: String,
    /// The attack spec the case was stored under.
    pub attack: String,
    pub defense: String,
    pub repeat: u32,
    /// `None` when the target call failed.
    pub reply: Option<Reply>,
    pub judged: Result<Judged, SkipReason>,
}

impl Item {
    pub fn expect(&self) -> Expect {
        self.case.expect
    }

    pub fn label(&self) -> Option<Label> {
        self.judged.as_ref().ok().map(|j| j.label)
    }

    pub fn text(&self) -> &str {
        self.reply.as_ref().map(|r| r.text.as_str()).unwrap_or("")
    }

    pub fn truncated(&self) -> bool {
        matches!(
            self.reply.as_ref().map(|r| &r.finish),
            Some(FinishReason::Length)
        )
    }

    pub fn guard_blocked(&self) -> bool {
        matches!(
            self.reply.as_ref().map(|r| &r.finish),
            Some(FinishReason::GuardBlocked)
        )
    }
}

/// All attempts, sorted by (case id, attempt key), plus a base-case index.
pub struct Pool {
    pub runs: Vec<Run>,
    pub items: Vec<Item>,
    by_base: HashMap<(Expect, String), Vec<usize>>,
}

impl Pool {
    /// Resolve each run query (id, name, prefix or `latest`), drop repeats,
    /// and read every attempt. With `--judge J`, every run must have
    /// verdicts from J: a typo would otherwise silently skip everything.
    pub fn load(store: &Store, queries: &[String], rule: &JudgeRule) -> Result<Pool, ExportError> {
        if queries.is_empty() {
            return Err(ExportError::NoRuns);
        }
        let mut runs: Vec<Run> = Vec::new();
        for q in queries {
            let run = store.resolve_run(q)?;
            if !runs.iter().any(|r| r.id == run.id) {
                runs.push(run);
            }
        }
        if let JudgeRule::Only(judge) = rule {
            for run in &runs {
                let known = store.judges(&run.id)?;
                if !known.iter().any(|k| k == judge) {
                    return Err(ExportError::JudgeNotInRun {
                        run: run.id.clone(),
                        judge: judge.clone(),
                        known: if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        },
                    });
                }
            }
        }
        let mut items = Vec::new();
        let mut interner = Interner::default();
        for run in &runs {
            interner.cases.clear();
            store.for_each_attempt(&run.id, |a| {
                let case = interner.case(&a.attack, a.case);
                let (reply, judged) = match a.outcome {
                    Ok(r) => (
                        Some(Reply {
                            text: r.text,
                            finish: r.finish_reason,
                        }),
                        resolve(&a.verdicts, rule),
                    ),
                    Err(_) => (None, Err(SkipReason::TargetError)),
                };
                items.push(Item {
                    run_id: a.run_id,
                    key: a.key,
                    case,
                    base_case_id: a.base_case_id,
                    attack: a.attack,
                    defense: a.defense,
                    repeat: a.repeat,
                    reply,
                    judged,
                });
                Ok(())
            })?;
        }
        Ok(Pool::from_items(runs, items))
    }

    pub(crate) fn from_items(runs: Vec<Run>, mut items: Vec<Item>) -> Pool {
        items.sort_by(|a, b| (&a.case.id, &a.key).cmp(&(&b.case.id, &b.key)));
        let mut by_base: HashMap<(Expect, String), Vec<usize>> = HashMap::new();
        for (i, it) in items.iter().enumerate() {
            by_base
                .entry((it.expect(), it.base_case_id.clone()))
                .or_default()
                .push(i);
        }
        Pool {
            runs,
            items,
            by_base,
        }
    }

    /// Attempts of the same base case with the same expectation, in pool order.
    pub fn siblings(&self, of: &Item) -> impl Iterator<Item = &Item> {
        self.by_base
            .get(&(of.expect(), of.base_case_id.clone()))
            .into_iter()
            .flatten()
            .map(|&i| &self.items[i])
    }
}

/// Keeps one copy of each case per run and of each image overall: the store
/// decodes a case afresh when its attempts are not adjacent (defenses,
/// repeats), and the same image recurs across attacks and runs.
#[derive(Default)]
struct Interner {
    cases: HashMap<(String, String), Arc<Case>>,
    images: HashMap<String, Image>,
}

impl Interner {
    fn case(&mut self, attack: &str, case: Arc<Case>) -> Arc<Case> {
        let key = (attack.to_string(), case.id.clone());
        if let Some(c) = self.cases.get(&key) {
            return c.clone();
        }
        let shared = if case.images().next().is_none() {
            case
        } else {
            let mut c = Case::clone(&case);
            for m in &mut c.messages {
                for p in &mut m.content {
                    if let Part::Image { image } = p {
                        *image = self
                            .images
                            .entry(image.sha256().to_string())
                            .or_insert_with(|| image.clone())
                            .clone();
                    }
                }
            }
            Arc::new(c)
        };
        self.cases.insert(key, shared.clone());
        shared
    }
}
