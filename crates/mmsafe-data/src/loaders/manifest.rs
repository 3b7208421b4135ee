//! `manifest.jsonl` written by `mmsafe attack … --out DIR` (typographic,
//! injection and adversarial attacks alike): one case per line whose image
//! parts name a file beside the manifest instead of inlining bytes. Loading it
//! turns materialized attacks back into cases for an ordinary scan; each image
//! must still hash to the sha256 the line records.

use super::common;
use crate::json::{self, Record};
use crate::loader::{Input, Loader};
use crate::source::{row_image, settle, LazySource, RowError};
use mmsafe_core::{Case, DataError, Expect, Hazard, Message, Part, ProvenanceStep, Role, Source};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

pub static LOADER: Loader = Loader {
    name: "manifest",
    usage: "manifest:<dir/manifest.jsonl>",
    summary: "cases materialized by `mmsafe attack … --out DIR`; images by file, checked against their sha256",
    params: &[],
    takes_path: true,
    known_files: &[],
    build,
};

fn build(input: &Input<'_>) -> Result<Box<dyn Source>, DataError> {
    let path = if input.path.is_dir() {
        input.path.join("manifest.jsonl")
    } else {
        input.path.to_path_buf()
    };
    let _ = json::lines(&path)?;
    let len = json::count_lines(&path);
    let base = common::parent(&path);
    let opts = input.opts.clone();
    Ok(LazySource::new(input.spec, len, move || {
        let (base, opts) = (base.clone(), opts.clone());
        let name = path.display().to_string();
        let lines = json::lines(&path)?;
        Ok(Box::new(lines.filter_map(move |line| {
            let r = line
                .map_err(RowError::Data)
                .and_then(|(n, v)| parse_line(&Record::new(format!("{name}:{n}"), &v), &base));
            settle(&opts, r)
        })))
    })
    .boxed())
}

fn parse_line(rec: &Record<'_>, base: &Path) -> Result<Case, RowError> {
    let id = rec.id("id")?;
    let hazard: Hazard = rec
        .str("hazard")?
        .parse()
        .map_err(|e: String| rec.field_error("hazard", e))?;
    let expect = match rec.str("expect")? {
        "refuse" => Expect::Refuse,
        "comply" => Expect::Comply,
        other => {
            return Err(rec
                .field_error("expect", format!("`{other}` is not refuse or comply"))
                .into())
        }
    };
    let Some(Value::Array(raw_messages)) = rec.get("messages") else {
        return Err(rec
            .field_error("messages", "missing or not an array")
            .into());
    };
    let mut messages = Vec::with_capacity(raw_messages.len());
    for (i, m) in raw_messages.iter().enumerate() {
        let field = format!("messages[{i}]");
        let role = match m.get("role").and_then(Value::as_str) {
            Some("system") => Role::System,
            Some("user") => Role::User,
            Some("assistant") => Role::Assistant,
            other => {
                return Err(rec
                    .field_error(
                        &field,
                        format!("role {other:?} is not system, user or assistant"),
                    )
                    .into())
            }
        };
        let Some(Value::Array(parts)) = m.get("content") else {
            return Err(rec
                .field_error(&field, "content is missing or not an array")
                .into());
        };
        let mut content = Vec::with_capacity(parts.len());
        for p in parts {
            match p.get("type").and_then(Value::as_str) {
                Some("text") => content.push(Part::text(
                    p.get("text").and_then(Value::as_str).unwrap_or_default(),
                )),
                Some("image") => {
                    let file = p
                        .get("file")
                        .and_then(Value::as_str)
                        .ok_or_else(|| rec.field_error(&field, "image part has no `file`"))?;
                    let path = crate::images::resolve(base, file, &rec.loc, "file")?;
                    let image = row_image(&path, &rec.loc)?;
                    if let Some(want) = p.get("sha256").and_then(Value::as_str) {
                        if want != image.sha256() {
                            return Err(RowError::Image(rec.field_error(
                                &field,
                                format!(
                                    "{} hashes to {}, the manifest says {want}",
                                    path.display(),
                                    image.sha256()
                                ),
                            )));
                        }
                    }
                    content.push(Part::image(image));
                }
                other => {
                    return Err(rec
                        .field_error(&field, format!("part type {other:?} is not text or image"))
                        .into())
                }
            }
        }
        messages.push(Message { role, content });
    }
    let provenance: Vec<ProvenanceStep> = match rec.get("provenance") {
        Some(v) => {
            serde_json::from_value(v.clone()).map_err(|e| rec.field_error("provenance", e))?
        }
        None => Vec::new(),
    };
    let mut metadata: BTreeMap<String, Value> = match rec.get("metadata") {
        Some(Value::Object(m)) => m.clone().into_iter().collect(),
        _ => BTreeMap::new(),
    };
    // The dataset row it was made from is recorded upstream; this source's
    // row is the manifest line.
    metadata.insert(crate::source::LOCATION.to_string(), rec.loc.clone().into());
    Ok(Case {
        id,
        messages,
        hazard,
        expect,
        source: rec.opt_str("source").unwrap_or("manifest").to_string(),
        seed: rec.get("seed").and_then(Value::as_u64).unwrap_or(0),
        provenance,
        metadata,
    })
}
