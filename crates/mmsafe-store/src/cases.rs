//! Cases in the store: JSON bodies whose images are replaced by sha256
//! references into the content-addressed `images` table.

use crate::{Result, StoreError};
use base64::Engine as _;
use mmsafe_core::Case;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashSet;

pub(crate) fn put(
    conn: &Connection,
    known_images: &mut HashSet<String>,
    run_id: &str,
    attack: &str,
    case: &Case,
) -> Result<()> {
    let exists: Option<i64> = conn
        .prepare_cached("SELECT 1 FROM cases WHERE run_id = ?1 AND attack = ?2 AND case_id = ?3")?
        .query_row(params![run_id, attack, case.id], |r| r.get(0))
        .optional()?;
    if exists.is_some() {
        return Ok(());
    }
    {
        let mut img = conn.prepare_cached(
            "INSERT OR IGNORE INTO images (sha256, media_type, bytes) VALUES (?1, ?2, ?3)",
        )?;
        for image in case.images() {
            if known_images.contains(image.sha256()) {
                continue;
            }
            img.execute(params![image.sha256(), image.media_type(), image.bytes()])?;
            known_images.insert(image.sha256().to_string());
        }
    }
    let body = encode_body(case)?;
    let pair_id = pair_id(case);
    conn.prepare_cached(
        "INSERT OR IGNORE INTO cases (run_id, attack, case_id, base_case_id, hazard, expect, pair_id, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        run_id,
        attack,
        case.id,
        crate::base_case_id(case),
        case.hazard.slug(),
        case.expect.to_string(),
        pair_id,
        body,
    ])?;
    Ok(())
}

/// Rebuild a case from its stored body, reading its images back by hash.
pub(crate) fn decode(conn: &Connection, body: &str) -> Result<Case> {
    let mut st = conn.prepare_cached("SELECT bytes FROM images WHERE sha256 = ?1")?;
    decode_body(body, |sha| {
        Ok(st.query_row([sha], |r| r.get(0)).optional()?)
    })
}

/// A case as the store keeps it: JSON with every image's bytes left out (the
/// images go to the content-addressed table, by sha256). Shared by every
/// backend so a case reads back the same from any of them.
pub fn encode_body(case: &Case) -> Result<String> {
    let mut body = serde_json::to_value(case)
        .map_err(|e| StoreError::corrupt(format!("case {}: {e}", case.id)))?;
    for_each_image(&mut body, |img| {
        img.remove("base64");
        Ok(())
    })?;
    Ok(body.to_string())
}

/// The case's `pair_id` metadata as text (paired benign/harmful sets).
pub fn pair_id(case: &Case) -> Option<String> {
    match case.metadata.get("pair_id") {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    }
}

/// Rebuild a case from [`encode_body`]'s text, `image` giving the bytes of
/// an image by sha256 (`None`: missing, which is corruption).
pub fn decode_body(
    body: &str,
    mut image: impl FnMut(&str) -> Result<Option<Vec<u8>>>,
) -> Result<Case> {
    let mut v: serde_json::Value =
        serde_json::from_str(body).map_err(|e| StoreError::corrupt(format!("case body: {e}")))?;
    for_each_image(&mut v, |img| {
        let sha = img
            .get("sha256")
            .and_then(|s| s.as_str())
            .ok_or_else(|| StoreError::corrupt("case image without sha256"))?
            .to_string();
        let bytes = image(&sha)?
            .ok_or_else(|| StoreError::corrupt(format!("image {sha} is referenced but missing")))?;
        img.insert(
            "base64".into(),
            base64::engine::general_purpose::STANDARD
                .encode(bytes)
                .into(),
        );
        Ok(())
    })?;
    serde_json::from_value(v).map_err(|e| StoreError::corrupt(format!("case body: {e}")))
}

/// Visit the `image` object of every image part of every message.
fn for_each_image(
    case: &mut serde_json::Value,
    mut f: impl FnMut(&mut serde_json::Map<String, serde_json::Value>) -> Result<()>,
) -> Result<()> {
    let Some(messages) = case.get_mut("messages").and_then(|m| m.as_array_mut()) else {
        return Ok(());
    };
    for m in messages {
        let Some(parts) = m.get_mut("content").and_then(|c| c.as_array_mut()) else {
            continue;
        };
        for p in parts {
            if p.get("type").and_then(|t| t.as_str()) != Some("image") {
                continue;
            }
            if let Some(img) = p.get_mut("image").and_then(|i| i.as_object_mut()) {
                f(img)?;
            }
        }
    }
    Ok(())
}
