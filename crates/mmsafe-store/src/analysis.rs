//! The store side of `mmsafe analyze`: a run's observations, what its cases'
//! provenance records about their images, and the baseline run's
//! observations, handed to the pure [`mmsafe_metrics::analyze`].

use crate::{Result, Store, StoreError};
use mmsafe_core::ProvenanceStep;
use mmsafe_metrics::{analyze, Analysis, AnalysisInput, Bootstrap, CaseFacts, FactsMap};
use serde::Deserialize;

/// The parts of a stored case body the analysis reads; images stay unread.
#[derive(Deserialize)]
struct Body {
    #[serde(default)]
    messages: Vec<BodyMessage>,
    #[serde(default)]
    provenance: Vec<ProvenanceStep>,
}

#[derive(Deserialize)]
struct BodyMessage {
    #[serde(default)]
    content: Vec<BodyPart>,
}

#[derive(Deserialize)]
struct BodyPart {
    #[serde(rename = "type")]
    kind: String,
}

/// What to analyse and against what.
#[derive(Debug, Clone, Default)]
pub struct AnalyzeRequest<'a> {
    /// Run id, name, unique prefix or `latest`.
    pub run: &'a str,
    /// A baseline run (the backbone, or another model on the same suite).
    pub baseline: Option<&'a str>,
    /// Judge whose verdicts are analysed [default: the run's first judge].
    pub judge: Option<&'a str>,
    pub bootstrap: Bootstrap,
}

impl Store {
    /// Image facts of every case of a run, by (attack, case id).
    pub fn case_facts(&self, run_id: &str) -> Result<FactsMap> {
        self.case_facts_inner(run_id)
            .map_err(|e| e.at(&self.display))
    }

    fn case_facts_inner(&self, run_id: &str) -> Result<FactsMap> {
        let mut st = self
            .conn
            .prepare("SELECT attack, case_id, body FROM cases WHERE run_id = ?1")?;
        let mut rows = st.query([run_id])?;
        let mut out = FactsMap::new();
        while let Some(r) = rows.next()? {
            let attack: String = r.get(0)?;
            let case_id: String = r.get(1)?;
            let body: String = r.get(2)?;
            let b: Body = serde_json::from_str(&body).map_err(|e| {
                StoreError::corrupt(format!("case {case_id} (attack {attack}): body: {e}"))
            })?;
            let images = b
                .messages
                .iter()
                .flat_map(|m| &m.content)
                .filter(|p| p.kind == "image")
                .count() as u32;
            out.insert(
                (attack, case_id),
                CaseFacts::from_provenance(images, &b.provenance),
            );
        }
        Ok(out)
    }

    /// `mmsafe analyze`: resolve the runs, read them, analyse.
    pub fn analyze(&self, req: &AnalyzeRequest<'_>) -> Result<Analysis> {
        let run = self.resolve_run(req.run)?;
        if let Some(j) = req.judge {
            let known = self.judges(&run.id)?;
            if !known.iter().any(|k| k == j) {
                return Err(StoreError::UnknownJudge {
                    path: self.display.clone(),
                    run: run.id,
                    judge: j.to_string(),
                    known: known.join(", "),
                });
            }
        }
        let judge = req
            .judge
            .map(str::to_string)
            .or_else(|| run.plan.judges.first().cloned());
        let obs = self.observations(&run.id, judge.as_deref())?;
        // The plan's first judge may have left no verdicts (a re-judged run):
        // fall back to whatever judge the run has.
        let (obs, judge) = if obs.is_empty() && req.judge.is_none() {
            let all = self.observations(&run.id, None)?;
            let first = all.first().map(|o| o.judge.clone());
            (all, first)
        } else {
            (obs, judge)
        };
        let facts = self.case_facts(&run.id)?;
        let baseline = match req.baseline {
            Some(q) => {
                let b = self.resolve_run(q)?;
                let bobs = self.observations(&b.id, judge.as_deref())?;
                Some((b.id, bobs))
            }
            None => None,
        };
        Ok(analyze(&AnalysisInput {
            run_id: &run.id,
            judge: judge.as_deref(),
            observations: &obs,
            facts: &facts,
            baseline: baseline.as_ref().map(|(id, o)| (id.as_str(), o.as_slice())),
            bootstrap: req.bootstrap,
        }))
    }
}
