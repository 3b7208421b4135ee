//! Records → one JSON object per line, in the layouts trainers read.
//!
//! - `openai`: chat `messages` with `image_url` parts holding data URLs (SFT);
//!   `input` / `preferred_output` / `non_preferred_output` (preference tuning).
//! - `llava`: `id`, `image` (file name under the images folder, a list when
//!   there are several), `conversations` of `human`/`gpt` turns with one
//!   `<image>` token per image; DPO adds `chosen` / `rejected` strings.
//! - `sharegpt` (LLaMA-Factory): `conversations`, `system`, `images`; DPO adds
//!   `chosen` / `rejected` turns.

use crate::select::{Answer, Record, Target};
use crate::ExportError;
use mmsafe_core::{Case, Image, Part, Role};
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::HashSet;
use std::io::Write as _;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    Openai,
    Llava,
    Sharegpt,
}

impl Format {
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Openai => "openai",
            Format::Llava => "llava",
            Format::Sharegpt => "sharegpt",
        }
    }

    /// Whether images go to a folder (and the lines hold file names).
    pub fn writes_image_files(self) -> bool {
        !matches!(self, Format::Openai)
    }
}

/// Where image bytes go: inline data URLs, or files named by sha256.
pub(crate) enum ImageSink {
    Inline,
    Dir {
        dir: PathBuf,
        seen: HashSet<String>,
        written: u64,
    },
}

impl ImageSink {
    /// Files go to `dir`, created when the first image is written (a failed
    /// export that never got that far leaves no empty folder behind).
    pub(crate) fn dir(dir: &Path) -> ImageSink {
        ImageSink::Dir {
            dir: dir.to_path_buf(),
            seen: HashSet::new(),
            written: 0,
        }
    }

    /// Images written to disk by this export (existing identical files are
    /// left alone and not counted).
    pub(crate) fn written(&self) -> u64 {
        match self {
            ImageSink::Inline => 0,
            ImageSink::Dir { written, .. } => *written,
        }
    }

    /// The file name for `img`, writing the file the first time it is seen.
    fn file(&mut self, img: &Image) -> Result<String, ExportError> {
        let ImageSink::Dir { dir, seen, written } = self else {
            return Err(ExportError::Encode {
                what: format!("image {}", img.sha256()),
                message: "no images folder".into(),
            });
        };
        let name = format!("{}.{}", img.sha256(), extension(img.media_type()));
        if seen.insert(img.sha256().to_string()) {
            if seen.len() == 1 {
                std::fs::create_dir_all(&*dir)
                    .map_err(|e| ExportError::io("create folder", dir, e))?;
            }
            let path = dir.join(&name);
            let intact = std::fs::read(&path)
                .map(|b| mmsafe_core::seed::sha256_hex(&b) == img.sha256())
                .unwrap_or(false);
            if !intact {
                write_atomic(&path, img.bytes())?;
                *written += 1;
            }
        }
        Ok(name)
    }
}

fn extension(media_type: &str) -> &'static str {
    match media_type {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "image/bmp" => "bmp",
        _ => "bin",
    }
}

/// Write via a temporary sibling and rename, so a reader never sees half a file.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    let tmp = tmp_sibling(path);
    let res = std::fs::File::create(&tmp)
        .and_then(|mut f| f.write_all(bytes).and_then(|_| f.sync_all()))
        .and_then(|_| std::fs::rename(&tmp, path));
    if let Err(e) = res {
        let _ = std::fs::remove_file(&tmp);
        return Err(ExportError::io("write", path, e));
    }
    Ok(())
}

pub(crate) fn tmp_sibling(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp{}", std::process::id()))
}

/// One output line for `record`.
pub(crate) fn render(
    record: &Record,
    format: Format,
    sink: &mut ImageSink,
    with_meta: bool,
) -> Result<Value, ExportError> {
    let mut obj = match format {
        Format::Openai => openai(record),
        Format::Llava => llava(record, sink)?,
        Format::Sharegpt => sharegpt(record, sink)?,
    };
    if with_meta {
        obj.insert("meta".into(), meta(record)?);
    }
    Ok(Value::Object(obj))
}

fn meta(record: &Record) -> Result<Value, ExportError> {
    let mut m = serde_json::to_value(&record.origin).map_err(|e| ExportError::Encode {
        what: format!("meta of attempt {}", record.origin.attempt_key),
        message: e.to_string(),
    })?;
    if let Some(o) = m.as_object_mut() {
        o.insert("kind".into(), record.kind.as_str().into());
        match &record.target {
            Target::Sft { answer } => {
                o.insert("answer".into(), answer.meta());
            }
            Target::Dpo { chosen, rejected } => {
                o.insert("chosen".into(), chosen.meta());
                o.insert("rejected".into(), rejected.meta());
            }
        }
    }
    Ok(m)
}

fn openai_messages(case: &Case) -> Vec<Value> {
    case.messages
        .iter()
        .map(|m| {
            let content = if m.images().next().is_some() {
                Value::Array(
                    m.content
                        .iter()
                        .map(|p| match p {
                            Part::Text { text } => json!({"type": "text", "text": text}),
                            Part::Image { image } => {
                                json!({"type": "image_url", "image_url": {"url": image.data_url()}})
                            }
                        })
                        .collect(),
                )
            } else {
                Value::String(m.text())
            };
            json!({"role": m.role.as_str(), "content": content})
        })
        .collect()
}

fn assistant(a: &Answer) -> Value {
    json!({"role": "assistant", "content": a.text()})
}

fn openai(record: &Record) -> Map<String, Value> {
    let mut messages = openai_messages(&record.prompt);
    let mut obj = Map::new();
    match &record.target {
        Target::Sft { answer } => {
            messages.push(assistant(answer));
            obj.insert("messages".into(), Value::Array(messages));
        }
        Target::Dpo { chosen, rejected } => {
            obj.insert("input".into(), json!({ "messages": messages }));
            obj.insert("preferred_output".into(), json!([assistant(chosen)]));
            obj.insert("non_preferred_output".into(), json!([assistant(rejected)]));
        }
    }
    obj
}

/// A case as `human`/`gpt` turns with `<image>` tokens where its images were.
struct Turns {
    system: Option<String>,
    turns: Vec<(&'static str, String)>,
    images: Vec<String>,
}

fn turns(case: &Case, sink: &mut ImageSink) -> Result<Turns, ExportError> {
    let mut out = Turns {
        system: None,
        turns: Vec::new(),
        images: Vec::new(),
    };
    // Images in a system message have no turn of their own: they lead the next human turn.
    let mut pending: Vec<String> = Vec::new();
    for m in &case.messages {
        if m.role == Role::System {
            let mut text: Vec<&str> = Vec::new();
            for p in &m.content {
                match p {
                    Part::Text { text: t } => text.push(t),
                    Part::Image { image } => {
                        out.images.push(sink.file(image)?);
                        pending.push("<image>".to_string());
                    }
                }
            }
            let text = text.join("\n");
            out.system = Some(match out.system.take() {
                Some(s) => format!("{s}\n\n{text}"),
                None => text,
            });
            continue;
        }
        let mut pieces: Vec<String> = Vec::new();
        for p in &m.content {
            match p {
                Part::Text { text } => pieces.push(text.clone()),
                Part::Image { image } => {
                    out.images.push(sink.file(image)?);
                    pieces.push("<image>".to_string());
                }
            }
        }
        let from = if m.role == Role::User { "human" } else { "gpt" };
        if from == "human" && !pending.is_empty() {
            pieces.splice(0..0, pending.drain(..));
        }
        let value = pieces.join("\n");
        // Trainers expect alternating turns; consecutive same-role messages merge.
        match out.turns.last_mut() {
            Some((f, v)) if *f == from => {
                v.push('\n');
                v.push_str(&value);
            }
            _ => out.turns.push((from, value)),
        }
    }
    if !pending.is_empty() {
        out.turns.insert(0, ("human", pending.join("\n")));
    }
    Ok(out)
}

fn turn(from: &str, value: &str) -> Value {
    json!({"from": from, "value": value})
}

fn llava(record: &Record, sink: &mut ImageSink) -> Result<Map<String, Value>, ExportError> {
    let t = turns(&record.prompt, sink)?;
    let mut conv: Vec<(&str, String)> = t.turns;
    // LLaVA has no system role: the system text leads the first human turn.
    if let Some(system) = t.system.filter(|s| !s.is_empty()) {
        match conv.iter_mut().find(|(f, _)| *f == "human") {
            Some((_, v)) => *v = format!("{system}\n\n{v}"),
            None => conv.insert(0, ("human", system)),
        }
    }
    let mut obj = Map::new();
    obj.insert("id".into(), record.origin.attempt_key.clone().into());
    match t.images.len() {
        0 => {}
        1 => {
            obj.insert("image".into(), t.images[0].clone().into());
        }
        _ => {
            obj.insert("image".into(), json!(t.images));
        }
    }
    let mut conversations: Vec<Value> = conv.iter().map(|(f, v)| turn(f, v)).collect();
    match &record.target {
        Target::Sft { answer } => conversations.push(turn("gpt", answer.text())),
        Target::Dpo { chosen, rejected } => {
            obj.insert("chosen".into(), chosen.text().into());
            obj.insert("rejected".into(), rejected.text().into());
        }
    }
    obj.insert("conversations".into(), Value::Array(conversations));
    Ok(obj)
}

fn sharegpt(record: &Record, sink: &mut ImageSink) -> Result<Map<String, Value>, ExportError> {
    let t = turns(&record.prompt, sink)?;
    let mut obj = Map::new();
    let mut conversations: Vec<Value> = t.turns.iter().map(|(f, v)| turn(f, v)).collect();
    match &record.target {
        Target::Sft { answer } => conversations.push(turn("gpt", answer.text())),
        Target::Dpo { chosen, rejected } => {
            obj.insert("chosen".into(), turn("gpt", chosen.text()));
            obj.insert("rejected".into(), turn("gpt", rejected.text()));
        }
    }
    obj.insert("conversations".into(), Value::Array(conversations));
    if let Some(system) = t.system.filter(|s| !s.is_empty()) {
        obj.insert("system".into(), system.into());
    }
    if !t.images.is_empty() {
        obj.insert("images".into(), json!(t.images));
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::{Kind, Origin};
    use crate::templates::TemplateChoice;
    use mmsafe_core::{Expect, Hazard, Message};
    use std::sync::Arc;

    fn img(tag: u8) -> Image {
        Image::png(vec![0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n', tag])
    }

    fn record(messages: Vec<Message>) -> Record {
        let mut case = Case::text("c", "", Hazard::Hate, Expect::Refuse, "t");
        case.messages = messages;
        Record {
            kind: Kind::Refusal,
            origin: Origin {
                run_id: "r".into(),
                attempt_key: "k".into(),
                case_id: "c".into(),
                base_case_id: "c".into(),
                hazard: Hazard::Hate,
                expect: Expect::Refuse,
                attack: "none".into(),
                attack_chain: "none".into(),
                defense: "none".into(),
                repeat: 0,
                judges: Vec::new(),
            },
            prompt: Arc::new(case),
            target: Target::Sft {
                answer: Answer::Template(TemplateChoice {
                    id: "hate#0".into(),
                    text: "No.".into(),
                }),
            },
        }
    }

    #[test]
    fn system_text_multiple_images_and_merged_turns() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (img(1), img(2));
        let r = record(vec![
            Message::system("Sys."),
            Message::user(vec![Part::text("one"), Part::image(a.clone())]),
            Message::user(vec![Part::image(b.clone()), Part::text("two")]),
        ]);
        let mut sink = ImageSink::dir(&dir.path().join("imgs"));
        let l = render(&r, Format::Llava, &mut sink, false).unwrap();
        assert_eq!(
            l["image"],
            json!([format!("{}.png", a.sha256()), format!("{}.png", b.sha256())])
        );
        assert_eq!(
            l["conversations"],
            json!([
                {"from": "human", "value": "Sys.\n\none\n<image>\n<image>\ntwo"},
                {"from": "gpt", "value": "No."}
            ])
        );
        assert!(l.get("meta").is_none());
        let s = render(&r, Format::Sharegpt, &mut sink, true).unwrap();
        assert_eq!(s["system"], "Sys.");
        assert_eq!(s["conversations"][0]["value"], "one\n<image>\n<image>\ntwo");
        assert_eq!(s["images"].as_array().unwrap().len(), 2);
        assert_eq!(s["meta"]["answer"]["template"], "hate#0");
        assert_eq!(sink.written(), 2, "each image written once");

        let o = render(&r, Format::Openai, &mut ImageSink::Inline, false).unwrap();
        assert_eq!(
            o["messages"][0],
            json!({"role": "system", "content": "Sys."})
        );
        assert_eq!(o["messages"][2]["content"][0]["type"], "image_url");
        assert_eq!(
            o["messages"][3],
            json!({"role": "assistant", "content": "No."})
        );
    }
}
