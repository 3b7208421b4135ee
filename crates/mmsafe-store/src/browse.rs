//! Read paths of the browser (`mmsafe ui`): filtered, paginated attempts;
//! one attempt with everything recorded about it; images by hash; facets;
//! agreement between judges. Filters are SQL over indexed columns so a page
//! stays fast on a 100,000-attempt run (`mmsafe bench ui`).

use crate::labels::{HumanLabel, StoredLabel};
use crate::model::RequestSummary;
use crate::{Result, Store, StoreError};
use mmsafe_core::{GuardEvent, ProvenanceStep, Verdict};
use rusqlite::types::Value;
use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};

/// Filters of the attempts table; every field is optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttemptFilter {
    pub hazard: Option<String>,
    pub attack: Option<String>,
    pub defense: Option<String>,
    pub repeat: Option<u32>,
    /// With `verdict`: that judge's verdict; with `undecided`: that judge's.
    pub judge: Option<String>,
    /// `refused`, `complied`, `undecided` or `error`.
    pub verdict: Option<String>,
    /// Judges disagree (two decided verdicts with different labels).
    pub disagree: bool,
    /// Some judge (or `judge`) said `undecided`.
    pub undecided: bool,
    /// The target call failed.
    pub errors: bool,
    /// `Some(true)`: labelled by someone; `Some(false)`: by nobody.
    pub labelled: Option<bool>,
    /// Substring of the reply or the request (case-insensitive for ASCII).
    pub q: Option<String>,
}

/// One line of the attempts table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptRow {
    pub key: String,
    pub case_id: String,
    pub hazard: String,
    pub expect: String,
    pub attack: String,
    pub defense: String,
    pub repeat: u32,
    pub error_kind: Option<String>,
    /// The reply's first characters (whole characters, never a split one).
    pub preview: String,
    /// (judge, label), by judge.
    pub verdicts: Vec<(String, String)>,
    /// (annotator, label).
    pub labels: Vec<(String, HumanLabel)>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptPage {
    pub rows: Vec<AttemptRow>,
    pub offset: u64,
    pub limit: u64,
    /// Attempts matching the filters.
    pub total: u64,
}

/// The values each filter can take in a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facets {
    pub hazards: Vec<String>,
    pub attacks: Vec<String>,
    pub defenses: Vec<String>,
    pub repeats: Vec<u32>,
    pub judges: Vec<String>,
}

/// A part of a message as sent: text, or an image by hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PartView {
    Text { text: String },
    Image { sha256: String, media_type: String },
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MessageView {
    pub role: String,
    pub parts: Vec<PartView>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReplyView {
    pub text: String,
    pub finish_reason: Option<String>,
    pub model: Option<String>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub cached: bool,
}

/// Everything recorded about one attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptDetail {
    pub key: String,
    pub run_id: String,
    pub case_id: String,
    pub base_case_id: String,
    pub source: String,
    pub hazard: String,
    pub expect: String,
    pub attack: String,
    pub defense: String,
    pub repeat: u32,
    pub request: RequestSummary,
    pub messages: Vec<MessageView>,
    pub provenance: Vec<ProvenanceStep>,
    pub reply: Option<ReplyView>,
    /// (kind, message) when the target call failed.
    pub error: Option<(String, String)>,
    pub latency_ms: f64,
    pub retries: u32,
    pub guard_events: Vec<GuardEvent>,
    pub verdicts: Vec<Verdict>,
    pub labels: Vec<StoredLabel>,
}

/// Agreement of two judges over the attempts both decided.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JudgePair {
    pub a: String,
    pub b: String,
    pub n: u64,
    pub agree: u64,
}

const PREVIEW_CHARS: usize = 140;

fn like_pattern(q: &str) -> String {
    let esc = q
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{esc}%")
}

/// `WHERE` clause and parameters of a filter (attempts `a`, cases `c`).
fn where_clause(run_id: &str, f: &AttemptFilter) -> (String, Vec<Value>) {
    let mut sql = String::from("a.run_id = ?");
    let mut p: Vec<Value> = vec![Value::Text(run_id.to_string())];
    let eq = |col: &str, v: &Option<String>, sql: &mut String, p: &mut Vec<Value>| {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            sql.push_str(&format!(" AND {col} = ?"));
            p.push(Value::Text(v.clone()));
        }
    };
    eq("c.hazard", &f.hazard, &mut sql, &mut p);
    eq("a.attack", &f.attack, &mut sql, &mut p);
    eq("a.defense", &f.defense, &mut sql, &mut p);
    if let Some(r) = f.repeat {
        sql.push_str(" AND a.repeat = ?");
        p.push(Value::Integer(r as i64));
    }
    let judge = f.judge.clone().filter(|j| !j.is_empty());
    if let Some(v) = f.verdict.as_ref().filter(|v| !v.is_empty()) {
        match &judge {
            Some(j) => {
                sql.push_str(" AND EXISTS (SELECT 1 FROM verdicts v WHERE v.attempt_key = a.key AND v.judge = ? AND v.label = ?)");
                p.push(Value::Text(j.clone()));
            }
            None => sql.push_str(
                " AND EXISTS (SELECT 1 FROM verdicts v WHERE v.attempt_key = a.key AND v.label = ?)",
            ),
        }
        p.push(Value::Text(v.clone()));
    }
    if f.undecided {
        match &judge {
            Some(j) => {
                sql.push_str(" AND EXISTS (SELECT 1 FROM verdicts v WHERE v.attempt_key = a.key AND v.judge = ? AND v.label = 'undecided')");
                p.push(Value::Text(j.clone()));
            }
            None => sql.push_str(" AND EXISTS (SELECT 1 FROM verdicts v WHERE v.attempt_key = a.key AND v.label = 'undecided')"),
        }
    }
    if f.disagree {
        sql.push_str(
            " AND EXISTS (SELECT 1 FROM verdicts v1 JOIN verdicts v2 ON v2.attempt_key = v1.attempt_key
               WHERE v1.attempt_key = a.key AND v1.label IN ('refused','complied')
                 AND v2.label IN ('refused','complied') AND v1.label <> v2.label)",
        );
    }
    if f.errors {
        sql.push_str(" AND a.error_kind IS NOT NULL");
    }
    match f.labelled {
        Some(true) => {
            sql.push_str(" AND EXISTS (SELECT 1 FROM labels l WHERE l.attempt_key = a.key)")
        }
        Some(false) => {
            sql.push_str(" AND NOT EXISTS (SELECT 1 FROM labels l WHERE l.attempt_key = a.key)")
        }
        None => {}
    }
    if let Some(q) = f.q.as_ref().map(|q| q.trim()).filter(|q| !q.is_empty()) {
        sql.push_str(" AND (a.response_text LIKE ? ESCAPE '\\' OR c.body LIKE ? ESCAPE '\\')");
        let pat = like_pattern(q);
        p.push(Value::Text(pat.clone()));
        p.push(Value::Text(pat));
    }
    (sql, p)
}

fn preview(text: &str) -> String {
    let mut out: String = text.chars().take(PREVIEW_CHARS).collect();
    if text.chars().nth(PREVIEW_CHARS).is_some() {
        out.push('…');
    }
    out
}

impl Store {
    /// One page of a run's attempts matching `f`, in write order.
    pub fn browse_attempts(
        &self,
        run_id: &str,
        f: &AttemptFilter,
        offset: u64,
        limit: u64,
    ) -> Result<AttemptPage> {
        self.browse_inner(run_id, f, offset, limit)
            .map_err(|e| e.at(&self.display))
    }

    fn browse_inner(
        &self,
        run_id: &str,
        f: &AttemptFilter,
        offset: u64,
        limit: u64,
    ) -> Result<AttemptPage> {
        const FROM: &str = "FROM attempts a JOIN cases c ON c.run_id = a.run_id AND c.attack = a.attack AND c.case_id = a.case_id";
        let (wh, params) = where_clause(run_id, f);
        let total: i64 = self.conn.query_row(
            &format!("SELECT count(*) {FROM} WHERE {wh}"),
            rusqlite::params_from_iter(params.iter()),
            |r| r.get(0),
        )?;
        let mut page_params = params.clone();
        page_params.push(Value::Integer(limit.min(500) as i64));
        page_params.push(Value::Integer(offset.min(i64::MAX as u64) as i64));
        let mut st = self.conn.prepare(&format!(
            "SELECT a.key, a.case_id, c.hazard, c.expect, a.attack, a.defense, a.repeat, a.error_kind,
                    substr(coalesce(a.response_text, a.error_message, ''), 1, {})
             {FROM} WHERE {wh} ORDER BY a.rowid LIMIT ? OFFSET ?",
            PREVIEW_CHARS + 1
        ))?;
        let mut rows = st.query(rusqlite::params_from_iter(page_params.iter()))?;
        let mut verdicts = self.conn.prepare_cached(
            "SELECT judge, label FROM verdicts WHERE attempt_key = ?1 ORDER BY judge",
        )?;
        let mut labels = self.conn.prepare_cached(
            "SELECT annotator, label FROM labels WHERE attempt_key = ?1 ORDER BY annotator",
        )?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let key: String = r.get(0)?;
            let vs = verdicts
                .query_map([&key], |v| Ok((v.get(0)?, v.get(1)?)))?
                .collect::<rusqlite::Result<Vec<(String, String)>>>()?;
            let mut ls = Vec::new();
            for l in labels.query_map([&key], |v| {
                Ok((v.get::<_, String>(0)?, v.get::<_, String>(1)?))
            })? {
                let (a, l) = l?;
                let label = HumanLabel::parse(&l)
                    .ok_or_else(|| StoreError::corrupt(format!("unknown human label `{l}`")))?;
                ls.push((a, label));
            }
            let text: String = r.get(8)?;
            out.push(AttemptRow {
                case_id: r.get(1)?,
                hazard: r.get(2)?,
                expect: r.get(3)?,
                attack: r.get(4)?,
                defense: r.get(5)?,
                repeat: r.get(6)?,
                error_kind: r.get(7)?,
                preview: preview(&text),
                verdicts: vs,
                labels: ls,
                key,
            });
        }
        Ok(AttemptPage {
            rows: out,
            offset,
            limit,
            total: total as u64,
        })
    }

    /// The distinct hazards, attacks, defenses, repeats and judges of a run.
    pub fn facets(&self, run_id: &str) -> Result<Facets> {
        let run = || -> Result<Facets> {
            let strings = |sql: &str| -> Result<Vec<String>> {
                let mut st = self.conn.prepare_cached(sql)?;
                let rows = st.query_map([run_id], |r| r.get(0))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            };
            let mut repeats_st = self.conn.prepare_cached(
                "SELECT DISTINCT repeat FROM attempts WHERE run_id = ?1 ORDER BY repeat",
            )?;
            let repeats = repeats_st
                .query_map([run_id], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(Facets {
                hazards: strings(
                    "SELECT DISTINCT hazard FROM cases WHERE run_id = ?1 ORDER BY hazard",
                )?,
                attacks: strings(
                    "SELECT DISTINCT attack FROM attempts WHERE run_id = ?1 ORDER BY attack",
                )?,
                defenses: strings(
                    "SELECT DISTINCT defense FROM attempts WHERE run_id = ?1 ORDER BY defense",
                )?,
                repeats,
                judges: Vec::new(),
            })
        };
        let mut f = run().map_err(|e| e.at(&self.display))?;
        f.judges = self.judges(run_id)?;
        Ok(f)
    }

    /// One attempt of `run_id` with its case, reply, verdicts, guard events
    /// and labels; `None` when the run has no such attempt.
    pub fn attempt_detail(&self, run_id: &str, key: &str) -> Result<Option<AttemptDetail>> {
        self.detail_inner(run_id, key)
            .map_err(|e| e.at(&self.display))
    }

    fn detail_inner(&self, run_id: &str, key: &str) -> Result<Option<AttemptDetail>> {
        let row = self
            .conn
            .query_row(
                "SELECT a.case_id, c.base_case_id, c.hazard, c.expect, a.attack, a.defense, a.repeat, a.request,
                        a.response_text, a.finish_reason, a.model, a.latency_ms, a.prompt_tokens,
                        a.completion_tokens, a.error_kind, a.error_message, a.retries, a.cached, a.guard_events, c.body
                 FROM attempts a JOIN cases c ON c.run_id = a.run_id AND c.attack = a.attack AND c.case_id = a.case_id
                 WHERE a.run_id = ?1 AND a.key = ?2",
                [run_id, key],
                |r| {
                    Ok((
                        (r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?),
                        (r.get::<_, String>(4)?, r.get::<_, String>(5)?, r.get::<_, u32>(6)?, r.get::<_, String>(7)?),
                        (
                            r.get::<_, Option<String>>(8)?,
                            r.get::<_, Option<String>>(9)?,
                            r.get::<_, Option<String>>(10)?,
                            r.get::<_, f64>(11)?,
                            r.get::<_, i64>(12)?,
                            r.get::<_, i64>(13)?,
                        ),
                        (
                            r.get::<_, Option<String>>(14)?,
                            r.get::<_, Option<String>>(15)?,
                            r.get::<_, u32>(16)?,
                            r.get::<_, bool>(17)?,
                            r.get::<_, Option<String>>(18)?,
                            r.get::<_, String>(19)?,
                        ),
                    ))
                },
            )
            .optional()?;
        let Some((
            (case_id, base_case_id, hazard, expect),
            (attack, defense, repeat, request),
            (text, finish, model, latency_ms, ptok, ctok),
            (error_kind, error_message, retries, cached, events, body),
        )) = row
        else {
            return Ok(None);
        };
        let corrupt = |what: &str, e: serde_json::Error| {
            StoreError::corrupt(format!("attempt {key}: {what}: {e}"))
        };
        let request: RequestSummary =
            serde_json::from_str(&request).map_err(|e| corrupt("request", e))?;
        let body: serde_json::Value =
            serde_json::from_str(&body).map_err(|e| corrupt("case", e))?;
        let mut messages = Vec::new();
        for m in body["messages"].as_array().into_iter().flatten() {
            let mut parts = Vec::new();
            for p in m["content"].as_array().into_iter().flatten() {
                match p["type"].as_str() {
                    Some("image") => parts.push(PartView::Image {
                        sha256: p["image"]["sha256"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        media_type: p["image"]["media_type"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    }),
                    _ => parts.push(PartView::Text {
                        text: p["text"].as_str().unwrap_or_default().to_string(),
                    }),
                }
            }
            messages.push(MessageView {
                role: m["role"].as_str().unwrap_or("user").to_string(),
                parts,
            });
        }
        let provenance: Vec<ProvenanceStep> =
            serde_json::from_value(body["provenance"].clone()).unwrap_or_default();
        let guard_events: Vec<GuardEvent> = match events {
            Some(e) => serde_json::from_str(&e).map_err(|e| corrupt("guard events", e))?,
            None => Vec::new(),
        };
        let mut vst = self.conn.prepare_cached(
            "SELECT judge, label, score, hazard, rationale FROM verdicts WHERE attempt_key = ?1 ORDER BY judge",
        )?;
        let mut vrows = vst.query([key])?;
        let mut verdicts = Vec::new();
        while let Some(v) = vrows.next()? {
            verdicts.push(crate::row_to_verdict(v)?);
        }
        let error = error_kind.map(|k| (k, error_message.unwrap_or_default()));
        Ok(Some(AttemptDetail {
            key: key.to_string(),
            run_id: run_id.to_string(),
            source: body["source"].as_str().unwrap_or_default().to_string(),
            case_id,
            base_case_id,
            hazard,
            expect,
            attack,
            defense,
            repeat,
            request,
            messages,
            provenance,
            reply: if error.is_some() {
                None
            } else {
                Some(ReplyView {
                    text: text.unwrap_or_default(),
                    finish_reason: finish,
                    model,
                    prompt_tokens: ptok as u64,
                    completion_tokens: ctok as u64,
                    cached,
                })
            },
            error,
            latency_ms,
            retries,
            guard_events,
            verdicts,
            labels: self.labels_of(key)?,
        }))
    }

    /// The bytes of a stored image, by sha256 (lower-case hex).
    pub fn image_bytes(&self, sha256: &str) -> Result<Option<Vec<u8>>> {
        self.conn
            .query_row(
                "SELECT bytes FROM images WHERE sha256 = ?1",
                [sha256],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| StoreError::from(e).at(&self.display))
    }

    /// For every pair of judges of a run, how many attempts both decided and
    /// on how many they agree.
    pub fn judge_pairs(&self, run_id: &str) -> Result<Vec<JudgePair>> {
        let run = || -> Result<Vec<JudgePair>> {
            let mut st = self.conn.prepare(
                "SELECT v1.judge, v2.judge, count(*), sum(v1.label = v2.label)
                 FROM attempts a JOIN verdicts v1 ON v1.attempt_key = a.key
                 JOIN verdicts v2 ON v2.attempt_key = a.key AND v2.judge > v1.judge
                 WHERE a.run_id = ?1 AND v1.label IN ('refused','complied') AND v2.label IN ('refused','complied')
                 GROUP BY v1.judge, v2.judge ORDER BY v1.judge, v2.judge",
            )?;
            let rows = st.query_map([run_id], |r| {
                Ok(JudgePair {
                    a: r.get(0)?,
                    b: r.get(1)?,
                    n: r.get::<_, i64>(2)? as u64,
                    agree: r.get::<_, i64>(3)? as u64,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<_>>()?)
        };
        run().map_err(|e| e.at(&self.display))
    }
}

/// Verdict codes in a [`RunIndex`].
const V_NONE: u8 = 0;
const V_REFUSED: u8 = 1;
const V_COMPLIED: u8 = 2;
const V_UNDECIDED: u8 = 3;
const V_ERROR: u8 = 4;

fn verdict_code(label: &str) -> u8 {
    match label {
        "refused" => V_REFUSED,
        "complied" => V_COMPLIED,
        "undecided" => V_UNDECIDED,
        "error" => V_ERROR,
        _ => V_NONE,
    }
}

fn intern(
    names: &mut Vec<String>,
    map: &mut std::collections::HashMap<String, u32>,
    s: String,
) -> u32 {
    if let Some(&i) = map.get(&s) {
        return i;
    }
    let i = names.len() as u32;
    names.push(s.clone());
    map.insert(s, i);
    i
}

/// A compact, in-memory index of one run's attempts (a few dozen bytes per
/// attempt) that the browser filters in microseconds per thousand rows
/// instead of asking SQLite for a count over joins on every page. Built once
/// per run and rebuilt when the store's attempts change ([`Store::attempts_version`]).
#[derive(Debug, Clone, Default)]
pub struct RunIndex {
    pub run_id: String,
    /// The store's attempts version this index was built at.
    pub version: i64,
    keys: Vec<String>,
    case: Vec<u32>,
    hazard: Vec<u32>,
    attack: Vec<u32>,
    defense: Vec<u32>,
    repeat: Vec<u32>,
    error: Vec<bool>,
    /// `keys.len() × judges.len()` verdict codes.
    verdicts: Vec<u8>,
    /// (attack, case id) of each case index.
    cases: Vec<(String, String)>,
    hazards: Vec<String>,
    attacks: Vec<String>,
    defenses: Vec<String>,
    judges: Vec<String>,
}

impl RunIndex {
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn key(&self, i: usize) -> &str {
        &self.keys[i]
    }

    /// The values each filter can take.
    pub fn facets(&self) -> Facets {
        let sorted = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v
        };
        let mut repeats: Vec<u32> = self.repeat.clone();
        repeats.sort_unstable();
        repeats.dedup();
        Facets {
            hazards: sorted(&self.hazards),
            attacks: sorted(&self.attacks),
            defenses: sorted(&self.defenses),
            repeats,
            judges: sorted(&self.judges),
        }
    }

    /// Positions (in write order) of the attempts matching `f`. `labelled`
    /// holds the keys with a label (needed only when `f.labelled` is set);
    /// `text` the keys and case indices matching `f.q` (see
    /// [`Store::text_matches`]).
    pub fn select(
        &self,
        f: &AttemptFilter,
        labelled: &std::collections::HashSet<String>,
        text: Option<&TextMatches>,
    ) -> Vec<usize> {
        let pos = |names: &[String], v: &Option<String>| -> Option<Option<u32>> {
            let v = v.as_ref().filter(|v| !v.is_empty())?;
            // A value the run does not have matches nothing (Some(None)).
            Some(names.iter().position(|n| n == v).map(|i| i as u32))
        };
        let hazard = pos(&self.hazards, &f.hazard);
        let attack = pos(&self.attacks, &f.attack);
        let defense = pos(&self.defenses, &f.defense);
        let judge = pos(&self.judges, &f.judge);
        let verdict = f
            .verdict
            .as_deref()
            .filter(|v| !v.is_empty())
            .map(verdict_code);
        let nj = self.judges.len();
        let mut out = Vec::new();
        for i in 0..self.keys.len() {
            let matches = |want: Option<Option<u32>>, have: u32| match want {
                None => true,
                Some(Some(w)) => w == have,
                Some(None) => false,
            };
            if !matches(hazard, self.hazard[i])
                || !matches(attack, self.attack[i])
                || !matches(defense, self.defense[i])
                || f.repeat.is_some_and(|r| r != self.repeat[i])
                || (f.errors && !self.error[i])
            {
                continue;
            }
            let vs = &self.verdicts[i * nj..(i + 1) * nj];
            let judged = |code: u8| -> bool {
                match judge {
                    None => vs.contains(&code),
                    Some(Some(j)) => vs[j as usize] == code,
                    Some(None) => false,
                }
            };
            if let Some(code) = verdict {
                if !judged(code) {
                    continue;
                }
            }
            if f.undecided && !judged(V_UNDECIDED) {
                continue;
            }
            if f.disagree {
                let decided = vs.iter().filter(|v| matches!(**v, V_REFUSED | V_COMPLIED));
                let (mut r, mut c) = (false, false);
                for v in decided {
                    r |= *v == V_REFUSED;
                    c |= *v == V_COMPLIED;
                }
                if !(r && c) {
                    continue;
                }
            }
            if let Some(want) = f.labelled {
                if labelled.contains(&self.keys[i]) != want {
                    continue;
                }
            }
            if let Some(t) = text {
                if !t.keys.contains(&self.keys[i]) && !t.cases.contains(&self.case[i]) {
                    continue;
                }
            }
            out.push(i);
        }
        out
    }
}

/// Attempts whose reply matches a text search, and cases whose request does.
#[derive(Debug, Clone, Default)]
pub struct TextMatches {
    keys: std::collections::HashSet<String>,
    cases: std::collections::HashSet<u32>,
}

impl Store {
    /// Changes whenever attempts are added or replaced anywhere in the store
    /// (the highest attempt rowid, an O(log n) lookup).
    pub fn attempts_version(&self) -> Result<i64> {
        self.conn
            .query_row("SELECT coalesce(max(rowid), 0) FROM attempts", [], |r| {
                r.get(0)
            })
            .map_err(|e| StoreError::from(e).at(&self.display))
    }

    /// Build the in-memory index of a run's attempts.
    pub fn run_index(&self, run_id: &str) -> Result<RunIndex> {
        self.run_index_inner(run_id)
            .map_err(|e| e.at(&self.display))
    }

    fn run_index_inner(&self, run_id: &str) -> Result<RunIndex> {
        use std::collections::HashMap;
        let version =
            self.conn
                .query_row("SELECT coalesce(max(rowid), 0) FROM attempts", [], |r| {
                    r.get(0)
                })?;
        let mut idx = RunIndex {
            run_id: run_id.to_string(),
            version,
            ..RunIndex::default()
        };
        let (mut hz, mut at, mut df, mut cs) = (
            HashMap::new(),
            HashMap::new(),
            HashMap::new(),
            HashMap::new(),
        );
        let mut case_names: Vec<String> = Vec::new();
        let mut st = self.conn.prepare(
            "SELECT a.key, c.hazard, a.attack, a.defense, a.repeat, a.error_kind IS NOT NULL, a.case_id
             FROM attempts a JOIN cases c ON c.run_id = a.run_id AND c.attack = a.attack AND c.case_id = a.case_id
             WHERE a.run_id = ?1 ORDER BY a.rowid",
        )?;
        let mut rows = st.query([run_id])?;
        let mut pos: HashMap<String, usize> = HashMap::new();
        while let Some(r) = rows.next()? {
            let key: String = r.get(0)?;
            let attack: String = r.get(2)?;
            let case_id: String = r.get(6)?;
            let ci = intern(&mut case_names, &mut cs, format!("{attack}\0{case_id}"));
            if ci as usize == idx.cases.len() {
                idx.cases.push((attack.clone(), case_id));
            }
            idx.hazard
                .push(intern(&mut idx.hazards, &mut hz, r.get(1)?));
            idx.attack.push(intern(&mut idx.attacks, &mut at, attack));
            idx.defense
                .push(intern(&mut idx.defenses, &mut df, r.get(3)?));
            idx.repeat.push(r.get(4)?);
            idx.error.push(r.get(5)?);
            idx.case.push(ci);
            pos.insert(key.clone(), idx.keys.len());
            idx.keys.push(key);
        }
        idx.judges = self.judges(run_id)?;
        let nj = idx.judges.len();
        idx.verdicts = vec![V_NONE; idx.keys.len() * nj];
        let mut st = self.conn.prepare(
            "SELECT v.attempt_key, v.judge, v.label FROM verdicts v JOIN attempts a ON a.key = v.attempt_key
             WHERE a.run_id = ?1",
        )?;
        let mut rows = st.query([run_id])?;
        while let Some(r) = rows.next()? {
            let key: String = r.get(0)?;
            let judge: String = r.get(1)?;
            let label: String = r.get(2)?;
            let (Some(&i), Some(j)) = (pos.get(&key), idx.judges.iter().position(|x| *x == judge))
            else {
                continue;
            };
            idx.verdicts[i * nj + j] = verdict_code(&label);
        }
        Ok(idx)
    }

    /// Keys of the run's attempts with at least one label.
    pub fn labelled_any(&self, run_id: &str) -> Result<std::collections::HashSet<String>> {
        self.keys_where(
            run_id,
            "SELECT DISTINCT attempt_key FROM labels WHERE run_id = ?1",
        )
    }

    /// What a text search matches in a run: replies (SQL `LIKE`) and case
    /// bodies (each case read once, not once per attempt).
    pub fn text_matches(&self, index: &RunIndex, q: &str) -> Result<TextMatches> {
        let run = || -> Result<TextMatches> {
            let pat = like_pattern(q.trim());
            let mut st = self.conn.prepare_cached(
                "SELECT key FROM attempts WHERE run_id = ?1 AND response_text LIKE ?2 ESCAPE '\\'",
            )?;
            let keys = st
                .query_map(rusqlite::params![index.run_id, pat], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut st = self.conn.prepare_cached(
                "SELECT attack, case_id FROM cases WHERE run_id = ?1 AND body LIKE ?2 ESCAPE '\\'",
            )?;
            let hits: std::collections::HashSet<(String, String)> = st
                .query_map(rusqlite::params![index.run_id, pat], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?
                .collect::<rusqlite::Result<_>>()?;
            let cases = index
                .cases
                .iter()
                .enumerate()
                .filter(|(_, c)| hits.contains(*c))
                .map(|(i, _)| i as u32)
                .collect();
            Ok(TextMatches { keys, cases })
        };
        run().map_err(|e| e.at(&self.display))
    }

    /// A page of attempts under `f`, filtered through `index`.
    pub fn browse_indexed(
        &self,
        index: &RunIndex,
        f: &AttemptFilter,
        offset: u64,
        limit: u64,
    ) -> Result<AttemptPage> {
        let labelled = match f.labelled {
            Some(_) => self.labelled_any(&index.run_id)?,
            None => Default::default(),
        };
        let text = match f.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            Some(q) => Some(self.text_matches(index, q)?),
            None => None,
        };
        let hits = index.select(f, &labelled, text.as_ref());
        let keys: Vec<&str> = hits
            .iter()
            .skip(offset.min(usize::MAX as u64) as usize)
            .take(limit.min(500) as usize)
            .map(|&i| index.key(i))
            .collect();
        Ok(AttemptPage {
            rows: self.attempt_rows(&index.run_id, &keys)?,
            offset,
            limit,
            total: hits.len() as u64,
        })
    }

    /// Table rows for the given attempt keys, in the given order.
    pub fn attempt_rows(&self, run_id: &str, keys: &[&str]) -> Result<Vec<AttemptRow>> {
        let run = || -> Result<Vec<AttemptRow>> {
            let mut st = self.conn.prepare_cached(&format!(
                "SELECT a.key, a.case_id, c.hazard, c.expect, a.attack, a.defense, a.repeat, a.error_kind,
                        substr(coalesce(a.response_text, a.error_message, ''), 1, {})
                 FROM attempts a JOIN cases c ON c.run_id = a.run_id AND c.attack = a.attack AND c.case_id = a.case_id
                 WHERE a.run_id = ?1 AND a.key = ?2",
                PREVIEW_CHARS + 1
            ))?;
            let mut verdicts = self.conn.prepare_cached(
                "SELECT judge, label FROM verdicts WHERE attempt_key = ?1 ORDER BY judge",
            )?;
            let mut labels = self.conn.prepare_cached(
                "SELECT annotator, label FROM labels WHERE attempt_key = ?1 ORDER BY annotator",
            )?;
            let mut out = Vec::with_capacity(keys.len());
            for key in keys {
                let Some(mut row) = st
                    .query_row(rusqlite::params![run_id, key], |r| {
                        let text: String = r.get(8)?;
                        Ok(AttemptRow {
                            key: r.get(0)?,
                            case_id: r.get(1)?,
                            hazard: r.get(2)?,
                            expect: r.get(3)?,
                            attack: r.get(4)?,
                            defense: r.get(5)?,
                            repeat: r.get(6)?,
                            error_kind: r.get(7)?,
                            preview: preview(&text),
                            verdicts: Vec::new(),
                            labels: Vec::new(),
                        })
                    })
                    .optional()?
                else {
                    continue;
                };
                row.verdicts = verdicts
                    .query_map([key], |v| Ok((v.get(0)?, v.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                for l in labels.query_map([key], |v| {
                    Ok((v.get::<_, String>(0)?, v.get::<_, String>(1)?))
                })? {
                    let (a, l) = l?;
                    let label = HumanLabel::parse(&l)
                        .ok_or_else(|| StoreError::corrupt(format!("unknown human label `{l}`")))?;
                    row.labels.push((a, label));
                }
                out.push(row);
            }
            Ok(out)
        };
        run().map_err(|e| e.at(&self.display))
    }
}
