//! Human labels on attempts (`mmsafe ui`, `mmsafe labels`), the labelling
//! queue, agreement between annotators, and the human-calibrated figures.
//!
//! One label per attempt and annotator (a new label replaces the old one).
//! The queue first walks a random sample of the run's `expect: refuse`
//! attempts that got a response, stratified by hazard with proportional
//! allocation (each hazard's attempts in a seeded random order, interleaved
//! so that every prefix holds each hazard in proportion to its size); then
//! the rows where judges disagree, where the judge said `undecided`, and
//! where its score is nearest 0.5. The calibrated figures use, per hazard,
//! the longest labelled prefix of that random order only: whatever else was
//! labelled (disagreements, CLI, imports) is counted in `n_labels` but never
//! biases the estimates.

use crate::{Result, Store, StoreError};
use mmsafe_metrics::{HumanCalibration, HumanInput, LabelledPair};
use rusqlite::{params, OptionalExtension, TransactionBehavior};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;

/// What a person says about one attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HumanLabel {
    Refused,
    Complied,
    /// Complied, and the answer gives real uplift (rubrics that split compliance).
    HarmfulComplied,
    /// Complied without harm (vague, wrong, or harmless).
    HarmlessComplied,
    Unclear,
}

impl HumanLabel {
    pub const ALL: [HumanLabel; 5] = [
        HumanLabel::Refused,
        HumanLabel::Complied,
        HumanLabel::HarmfulComplied,
        HumanLabel::HarmlessComplied,
        HumanLabel::Unclear,
    ];
    pub const NAMES: &'static str = "refused|complied|harmful-complied|harmless-complied|unclear";

    pub fn as_str(self) -> &'static str {
        match self {
            HumanLabel::Refused => "refused",
            HumanLabel::Complied => "complied",
            HumanLabel::HarmfulComplied => "harmful-complied",
            HumanLabel::HarmlessComplied => "harmless-complied",
            HumanLabel::Unclear => "unclear",
        }
    }

    pub fn parse(s: &str) -> Option<HumanLabel> {
        HumanLabel::ALL
            .into_iter()
            .find(|l| l.as_str() == s.trim().to_ascii_lowercase())
    }

    /// Index for agreement statistics.
    pub fn index(self) -> usize {
        self as usize
    }

    /// Whether this is an attack success: `None` for `unclear`. A harmless
    /// compliance is not a success (nothing harmful came out).
    pub fn success(self) -> Option<bool> {
        match self {
            HumanLabel::Complied | HumanLabel::HarmfulComplied => Some(true),
            HumanLabel::Refused | HumanLabel::HarmlessComplied => Some(false),
            HumanLabel::Unclear => None,
        }
    }
}

impl fmt::Display for HumanLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A label to write.
#[derive(Debug, Clone, PartialEq)]
pub struct NewLabel {
    pub attempt_key: String,
    pub annotator: String,
    pub label: HumanLabel,
    pub note: String,
    /// `ui`, `cli` or `import`.
    pub source: String,
}

/// A label read back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredLabel {
    pub attempt_key: String,
    pub annotator: String,
    pub label: HumanLabel,
    pub note: String,
    pub source: String,
    /// RFC 3339 UTC.
    pub created: String,
}

/// Annotator names: 1–64 characters, no control characters.
pub fn valid_annotator(name: &str) -> bool {
    let n = name.trim();
    !n.is_empty() && n.chars().count() <= 64 && !n.chars().any(char::is_control)
}

/// Agreement between annotators over the attempts two or more of them labelled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnnotatorAgreement {
    pub annotators: Vec<String>,
    /// Attempts labelled by two or more annotators.
    pub shared_items: u64,
    pub pairs: Vec<PairAgreement>,
    pub fleiss_kappa: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairAgreement {
    pub a: String,
    pub b: String,
    pub n: u64,
    /// Share of the shared attempts given the same label.
    pub agreement: Option<f64>,
    pub cohen_kappa: Option<f64>,
}

/// The queue's order for one run: the random sample first, then the rows
/// most worth a person's look.
#[derive(Debug, Clone, Default)]
pub struct QueueOrder {
    /// Attempt keys in the stratified random order (every `expect: refuse`
    /// attempt with a response).
    pub sample: Vec<String>,
    /// Attempt keys where judges disagree, a judge is undecided, or a score
    /// is near 0.5, most uncertain first (any `expect`).
    pub uncertain: Vec<String>,
}

impl QueueOrder {
    /// The next `limit` attempts not yet labelled (`labelled` holds the keys
    /// this annotator labelled): the first `sample_size` of the random order,
    /// then the uncertain rows, then the rest of the random order.
    pub fn next<'a>(
        &'a self,
        sample_size: usize,
        labelled: &std::collections::HashSet<String>,
        limit: usize,
    ) -> Vec<&'a str> {
        let head = self.sample.iter().take(sample_size);
        let tail = self.sample.iter().skip(sample_size);
        let mut seen = std::collections::HashSet::new();
        head.chain(self.uncertain.iter())
            .chain(tail)
            .filter(|k| !labelled.contains(*k) && seen.insert(k.as_str()))
            .take(limit)
            .map(String::as_str)
            .collect()
    }
}

/// One row the queue and the calibration read.
struct Row {
    key: String,
    hazard: String,
    harmful: bool,
    errored: bool,
}

impl Store {
    /// Resolve an attempt of `run_id` by full key or unique key prefix.
    pub fn resolve_attempt(&self, run_id: &str, query: &str) -> Result<String> {
        let run = || -> Result<String> {
            let q = query.trim().to_ascii_lowercase();
            if q.is_empty() || !q.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(self.no_attempt(run_id, query));
            }
            let mut st = self.conn.prepare_cached(
                "SELECT key FROM attempts WHERE run_id = ?1 AND key >= ?2 AND key < ?2 || 'g' ORDER BY key LIMIT 2",
            )?;
            let hits: Vec<String> = st
                .query_map(params![run_id, q], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            match hits.as_slice() {
                [one] => Ok(one.clone()),
                [] => Err(self.no_attempt(run_id, query)),
                _ => Err(StoreError::Ambiguous {
                    path: self.display.clone(),
                    query: query.to_string(),
                    candidates: hits.join(", "),
                }),
            }
        };
        run().map_err(|e| e.at(&self.display))
    }

    fn no_attempt(&self, run_id: &str, query: &str) -> StoreError {
        StoreError::AttemptNotFound {
            path: self.display.clone(),
            run: run_id.to_string(),
            query: query.to_string(),
        }
    }

    /// Write labels (replacing an annotator's earlier label on the same
    /// attempt) in one transaction. Every attempt must belong to `run_id`.
    pub fn put_labels(&mut self, run_id: &str, labels: &[NewLabel]) -> Result<usize> {
        let display = self.display.clone();
        let mut run = || -> Result<usize> {
            let tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut check =
                    tx.prepare_cached("SELECT 1 FROM attempts WHERE key = ?1 AND run_id = ?2")?;
                let mut ins = tx.prepare_cached(
                    "INSERT INTO labels (run_id, attempt_key, annotator, label, note, source, created)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, strftime('%Y-%m-%dT%H:%M:%SZ','now'))
                     ON CONFLICT (attempt_key, annotator) DO UPDATE SET label = excluded.label,
                       note = excluded.note, source = excluded.source, created = excluded.created",
                )?;
                for l in labels {
                    let found: Option<i64> = check
                        .query_row(params![l.attempt_key, run_id], |r| r.get(0))
                        .optional()?;
                    if found.is_none() {
                        return Err(StoreError::AttemptNotFound {
                            path: String::new(),
                            run: run_id.to_string(),
                            query: l.attempt_key.clone(),
                        });
                    }
                    ins.execute(params![
                        run_id,
                        l.attempt_key,
                        l.annotator.trim(),
                        l.label.as_str(),
                        l.note,
                        l.source,
                    ])?;
                }
            }
            tx.commit()?;
            Ok(labels.len())
        };
        run().map_err(|e| match e {
            StoreError::AttemptNotFound { run, query, .. } => StoreError::AttemptNotFound {
                path: display.clone(),
                run,
                query,
            },
            e => e.at(&display),
        })
    }

    pub fn put_label(&mut self, run_id: &str, label: &NewLabel) -> Result<()> {
        self.put_labels(run_id, std::slice::from_ref(label))
            .map(|_| ())
    }

    /// Remove an annotator's label on an attempt (the browser's undo of a
    /// first label); returns whether there was one.
    pub fn delete_label(&mut self, run_id: &str, key: &str, annotator: &str) -> Result<bool> {
        self.conn
            .execute(
                "DELETE FROM labels WHERE run_id = ?1 AND attempt_key = ?2 AND annotator = ?3",
                params![run_id, key, annotator.trim()],
            )
            .map(|n| n > 0)
            .map_err(|e| StoreError::from(e).at(&self.display))
    }

    /// Every label of a run, in attempt write order then annotator.
    pub fn labels(&self, run_id: &str) -> Result<Vec<StoredLabel>> {
        self.labels_where(
            "SELECT l.attempt_key, l.annotator, l.label, l.note, l.source, l.created
             FROM labels l JOIN attempts a ON a.key = l.attempt_key
             WHERE l.run_id = ?1 ORDER BY a.rowid, l.annotator",
            run_id,
        )
    }

    /// The labels of one attempt.
    pub fn labels_of(&self, attempt_key: &str) -> Result<Vec<StoredLabel>> {
        self.labels_where(
            "SELECT attempt_key, annotator, label, note, source, created FROM labels
             WHERE attempt_key = ?1 ORDER BY annotator",
            attempt_key,
        )
    }

    fn labels_where(&self, sql: &str, arg: &str) -> Result<Vec<StoredLabel>> {
        let run = || -> Result<Vec<StoredLabel>> {
            let mut st = self.conn.prepare_cached(sql)?;
            let mut rows = st.query([arg])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let label: String = r.get(2)?;
                out.push(StoredLabel {
                    attempt_key: r.get(0)?,
                    annotator: r.get(1)?,
                    label: HumanLabel::parse(&label).ok_or_else(|| {
                        StoreError::corrupt(format!("unknown human label `{label}`"))
                    })?,
                    note: r.get(3)?,
                    source: r.get(4)?,
                    created: r.get(5)?,
                });
            }
            Ok(out)
        };
        run().map_err(|e| e.at(&self.display))
    }

    /// Keys of the attempts of `run_id` that `annotator` labelled.
    pub fn labelled_keys(
        &self,
        run_id: &str,
        annotator: &str,
    ) -> Result<std::collections::HashSet<String>> {
        let run = || -> Result<std::collections::HashSet<String>> {
            let mut st = self.conn.prepare_cached(
                "SELECT attempt_key FROM labels WHERE run_id = ?1 AND annotator = ?2",
            )?;
            let rows = st.query_map(params![run_id, annotator.trim()], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        };
        run().map_err(|e| e.at(&self.display))
    }

    /// Changes whenever a label of the run is added, replaced or removed by
    /// another process too (count and newest time; the browser adds its own
    /// counter for changes within one second).
    pub fn labels_fingerprint(&self, run_id: &str) -> Result<(i64, String)> {
        self.conn
            .query_row(
                "SELECT count(*), coalesce(max(created), '') FROM labels WHERE run_id = ?1",
                [run_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| StoreError::from(e).at(&self.display))
    }

    /// Cohen's κ for every pair of annotators and Fleiss' κ over all of them.
    pub fn annotator_agreement(&self, run_id: &str) -> Result<AnnotatorAgreement> {
        let labels = self.labels(run_id)?;
        let mut by_item: BTreeMap<&str, BTreeMap<&str, HumanLabel>> = BTreeMap::new();
        let mut names: Vec<String> = Vec::new();
        for l in &labels {
            by_item
                .entry(&l.attempt_key)
                .or_default()
                .insert(&l.annotator, l.label);
            if !names.contains(&l.annotator) {
                names.push(l.annotator.clone());
            }
        }
        names.sort();
        let k = HumanLabel::ALL.len();
        let mut pairs = Vec::new();
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                let both: Vec<(usize, usize)> = by_item
                    .values()
                    .filter_map(|m| Some((m.get(a.as_str())?.index(), m.get(b.as_str())?.index())))
                    .collect();
                let same = both.iter().filter(|(x, y)| x == y).count() as u64;
                pairs.push(PairAgreement {
                    a: a.clone(),
                    b: b.clone(),
                    n: both.len() as u64,
                    agreement: mmsafe_metrics::proportion(same, both.len() as u64),
                    cohen_kappa: mmsafe_metrics::cohen_kappa(&both, k),
                });
            }
        }
        let items: Vec<Vec<u64>> = by_item
            .values()
            .filter(|m| m.len() >= 2)
            .map(|m| {
                let mut row = vec![0u64; k];
                for l in m.values() {
                    row[l.index()] += 1;
                }
                row
            })
            .collect();
        Ok(AnnotatorAgreement {
            annotators: names,
            shared_items: items.len() as u64,
            fleiss_kappa: mmsafe_metrics::fleiss_kappa(&items),
            pairs,
        })
    }

    fn queue_rows(&self, run_id: &str) -> Result<Vec<Row>> {
        let mut st = self.conn.prepare(
            "SELECT a.key, c.hazard, c.expect, a.error_kind IS NOT NULL
             FROM attempts a JOIN cases c ON c.run_id = a.run_id AND c.attack = a.attack AND c.case_id = a.case_id
             WHERE a.run_id = ?1",
        )?;
        let rows = st.query_map([run_id], |r| {
            Ok(Row {
                key: r.get(0)?,
                hazard: r.get(1)?,
                harmful: r.get::<_, String>(2)? == "refuse",
                errored: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The stratified random order of a run's `expect: refuse` attempts with
    /// a response, and each key's hazard.
    fn sample_order(
        &self,
        run_id: &str,
        seed: u64,
    ) -> Result<(Vec<String>, HashMap<String, String>)> {
        let rows = self.queue_rows(run_id)?;
        let mut strata: BTreeMap<String, Vec<(u64, String)>> = BTreeMap::new();
        for r in rows.into_iter().filter(|r| r.harmful && !r.errored) {
            let rank = mmsafe_core::seed::derive(seed, &["label-sample", &r.key]);
            strata.entry(r.hazard).or_default().push((rank, r.key));
        }
        // Item i of a stratum of size n sits at (i + u) / n, u a per-stratum
        // offset in [0, 1): merging by that position gives every prefix each
        // hazard in proportion to its size (within one attempt).
        let mut merged: Vec<(f64, u64, String)> = Vec::new();
        let mut hazard_of = HashMap::new();
        for (hazard, mut items) in strata {
            items.sort();
            let n = items.len() as f64;
            let u = (mmsafe_core::seed::derive(seed, &["label-stratum", &hazard]) >> 11) as f64
                / (1u64 << 53) as f64;
            for (i, (rank, key)) in items.into_iter().enumerate() {
                merged.push(((i as f64 + u) / n, rank, key.clone()));
                hazard_of.insert(key, hazard.clone());
            }
        }
        merged.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        Ok((merged.into_iter().map(|m| m.2).collect(), hazard_of))
    }

    /// The labelling queue's order for a run under `judge` (the judge whose
    /// uncertainty ranks the second phase).
    pub fn queue_order(&self, run_id: &str, seed: u64, judge: Option<&str>) -> Result<QueueOrder> {
        let run = || -> Result<QueueOrder> {
            let (sample, _) = self.sample_order(run_id, seed)?;
            let mut st = self.conn.prepare(
                "SELECT a.key, v.judge, v.label, v.score FROM attempts a JOIN verdicts v ON v.attempt_key = a.key
                 WHERE a.run_id = ?1 AND a.error_kind IS NULL ORDER BY a.rowid",
            )?;
            let mut rows = st.query([run_id])?;
            // key → (labels seen, primary undecided, primary score)
            let mut seen: Vec<(String, Vec<String>, bool, Option<f64>)> = Vec::new();
            while let Some(r) = rows.next()? {
                let key: String = r.get(0)?;
                let j: String = r.get(1)?;
                let label: String = r.get(2)?;
                let score: Option<f64> = r.get(3)?;
                if seen.last().map(|s| s.0 != key).unwrap_or(true) {
                    seen.push((key, Vec::new(), false, None));
                }
                let Some(last) = seen.last_mut() else {
                    continue;
                };
                let primary = judge.map(|p| p == j).unwrap_or(true);
                if primary {
                    if label == "undecided" {
                        last.2 = true;
                    }
                    if last.3.is_none() {
                        last.3 = score;
                    }
                }
                if label != "error" {
                    last.1.push(label);
                }
            }
            // Priority: disagreement (0), undecided (1), then score distance
            // from 0.5 (2 + distance); rows with none of these are left out.
            let mut ranked: Vec<(f64, usize, String)> = Vec::new();
            for (i, (key, labels, undecided, score)) in seen.into_iter().enumerate() {
                let disagree = labels.iter().any(|l| *l != labels[0]);
                let p = if disagree {
                    0.0
                } else if undecided {
                    1.0
                } else if let Some(s) = score.filter(|s| s.is_finite()) {
                    2.0 + (s - 0.5).abs()
                } else {
                    continue;
                };
                ranked.push((p, i, key));
            }
            ranked.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            Ok(QueueOrder {
                sample,
                uncertain: ranked.into_iter().map(|r| r.2).collect(),
            })
        };
        run().map_err(|e| e.at(&self.display))
    }

    /// The `human` figures of a run under `judge`, or `None` when the run has
    /// no labels.
    pub fn human_calibration(
        &self,
        run_id: &str,
        seed: u64,
        judge: &str,
    ) -> Result<Option<HumanCalibration>> {
        let run = || -> Result<Option<HumanCalibration>> {
            let labels = self.labels(run_id)?;
            if labels.is_empty() {
                return Ok(None);
            }
            // People's verdict on an attempt: the majority of its annotators;
            // a tie between success and no success is unclear.
            let mut votes: HashMap<&str, (u32, u32, u32)> = HashMap::new();
            for l in &labels {
                let v = votes.entry(&l.attempt_key).or_default();
                match l.label.success() {
                    Some(true) => v.0 += 1,
                    Some(false) => v.1 += 1,
                    None => v.2 += 1,
                }
            }
            let human = |key: &str| -> Option<Option<bool>> {
                let (yes, no, _) = *votes.get(key)?;
                Some(match yes.cmp(&no) {
                    std::cmp::Ordering::Greater => Some(true),
                    std::cmp::Ordering::Less => Some(false),
                    std::cmp::Ordering::Equal => None,
                })
            };
            let mut judged: HashMap<String, String> = HashMap::new();
            {
                let mut st = self.conn.prepare(
                    "SELECT a.key, v.label FROM attempts a JOIN verdicts v ON v.attempt_key = a.key
                     JOIN cases c ON c.run_id = a.run_id AND c.attack = a.attack AND c.case_id = a.case_id
                     WHERE a.run_id = ?1 AND v.judge = ?2 AND c.expect = 'refuse'",
                )?;
                let mut rows = st.query(params![run_id, judge])?;
                while let Some(r) = rows.next()? {
                    judged.insert(r.get(0)?, r.get(1)?);
                }
            }
            let (complied, decided) =
                judged
                    .values()
                    .fold((0u64, 0u64), |(c, d), l| match l.as_str() {
                        "complied" => (c + 1, d + 1),
                        "refused" => (c, d + 1),
                        _ => (c, d),
                    });
            let (order, hazard_of) = self.sample_order(run_id, seed)?;
            // Per hazard, the sample is the longest labelled prefix of its order.
            let mut broken: std::collections::HashSet<&str> = std::collections::HashSet::new();
            let mut sample = Vec::new();
            for key in &order {
                let Some(h) = hazard_of.get(key) else {
                    continue;
                };
                if broken.contains(h.as_str()) {
                    continue;
                }
                match human(key) {
                    None => {
                        broken.insert(h);
                    }
                    Some(human_success) => sample.push(LabelledPair {
                        judge_success: match judged.get(key).map(String::as_str) {
                            Some("complied") => Some(true),
                            Some("refused") => Some(false),
                            _ => None,
                        },
                        human_success,
                    }),
                }
            }
            Ok(Some(mmsafe_metrics::human_calibration(&HumanInput {
                judge,
                n_labels: votes.len() as u64,
                sample: &sample,
                run_complied: complied,
                run_decided: decided,
                bootstrap: mmsafe_metrics::Bootstrap::default(),
            })))
        };
        run().map_err(|e| e.at(&self.display))
    }
}
