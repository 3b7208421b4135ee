//! Writing attacked cases to disk: each image once as `<sha256>.<ext>`, and
//! `manifest.jsonl` with one case per line whose image parts name their file
//! instead of inlining the bytes. Output depends only on the cases, so the
//! same seed gives byte-identical files.

use mmsafe_core::{Case, Part};
use serde_json::{json, Value};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Streams cases into `dir`.
pub struct Writer {
    dir: PathBuf,
    manifest: std::io::BufWriter<std::fs::File>,
    pub cases: usize,
    pub images: usize,
}

fn ext(media_type: &str) -> &'static str {
    match media_type {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        _ => "bin",
    }
}

impl Writer {
    pub fn create(dir: &Path) -> std::io::Result<Writer> {
        std::fs::create_dir_all(dir)?;
        let manifest = std::fs::File::create(dir.join("manifest.jsonl"))?;
        Ok(Writer {
            dir: dir.to_path_buf(),
            manifest: std::io::BufWriter::new(manifest),
            cases: 0,
            images: 0,
        })
    }

    pub fn write(&mut self, case: &Case) -> std::io::Result<()> {
        let mut messages = Vec::with_capacity(case.messages.len());
        for m in &case.messages {
            let mut content = Vec::with_capacity(m.content.len());
            for p in &m.content {
                match p {
                    Part::Text { text } => content.push(json!({"type": "text", "text": text})),
                    Part::Image { image } => {
                        let name = format!("{}.{}", image.sha256(), ext(image.media_type()));
                        let path = self.dir.join(&name);
                        if !path.exists() {
                            std::fs::write(&path, image.bytes())?;
                            self.images += 1;
                        }
                        content.push(json!({
                            "type": "image",
                            "file": name,
                            "sha256": image.sha256(),
                            "media_type": image.media_type(),
                        }));
                    }
                }
            }
            messages.push(json!({"role": m.role.as_str(), "content": content}));
        }
        let line: Value = json!({
            "id": case.id,
            "hazard": case.hazard.slug(),
            "expect": case.expect,
            "source": case.source,
            "seed": case.seed,
            "attack": case.attack_chain(),
            "messages": messages,
            "provenance": case.provenance,
            "metadata": case.metadata,
        });
        serde_json::to_writer(&mut self.manifest, &line)?;
        self.manifest.write_all(b"\n")?;
        self.cases += 1;
        Ok(())
    }

    pub fn finish(mut self) -> std::io::Result<()> {
        self.manifest.flush()
    }
}
