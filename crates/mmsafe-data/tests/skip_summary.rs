//! Skipped rows: every one in the skip log, one summary line per source on stderr.

mod common;
use common::*;
use mmsafe_data::LoadOptions;
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, Mutex};

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn skips_are_listed_in_full_and_logged_once_per_source() {
    let dir = tempfile::tempdir().unwrap();
    let items: Vec<_> = (1..=30)
        .map(|i| json!({"question_id": i, "image": format!("S-{i}.png"), "question": "q", "category": "morality"}))
        .collect();
    let f = write(dir.path(), "siuo_gen.json", json!(items).to_string());
    write(dir.path(), "images/S-1.png", png(2, 2));
    let opts = LoadOptions {
        skip_broken: true,
        ..Default::default()
    };
    let buf = Buf::default();
    let w = buf.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_writer(move || w.clone())
        .finish();
    let res = tracing::subscriber::with_default(subscriber, || load_with(&spec("siuo", &f), &opts));
    assert_eq!(res.len(), 1);
    let skipped = opts.skipped.take();
    assert_eq!(skipped.len(), 29);
    assert!(skipped[0].to_string().contains("item 1"), "{}", skipped[0]);
    let log = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains("WARN")
            && lines[0].contains("skipped 29 row(s)")
            && lines[0].contains("siuo_gen.json: item 1"),
        "{log}"
    );
}
