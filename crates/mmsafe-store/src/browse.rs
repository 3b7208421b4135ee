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
