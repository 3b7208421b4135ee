//! Shared helpers for the real-model tests: locating cached models (tests skip
//! with a note when a model is not pulled) and rendering FigStep-style images.
#![allow(dead_code)]

use mmsafe_local::models::{catalog, Manager};
use mmsafe_typography::{draw_layout_gray, fill_chars, Font, GrayImage, Layout, Luma, TextStyle};
use std::path::PathBuf;

/// The model's cache folder, or `None` (with a note on stderr) when it is not pulled.
pub fn model_dir(name: &str) -> Option<PathBuf> {
    let spec = catalog::find(name)?;
    let manager = Manager::from_env().ok()?;
    match manager.require(&spec) {
        Ok(dir) => Some(dir),
        Err(e) => {
            eprintln!("SKIPPED: {e} (.ci/run pulls the models before the tests)");
            None
        }
    }
}

/// FigStep's layout: FreeMonoBold (else bundled DejaVu Sans Mono Bold) at
/// 80 px, wrapped at 15 characters, then `1.`/`2.`/`3.` on a 760×760 white canvas.
pub fn figstep_png(text: &str) -> Vec<u8> {
    let font = Font::first_available(&[
        "/usr/share/fonts/truetype/freefont/FreeMonoBold.ttf",
        "bundled:dejavu-sans-mono-bold",
    ])
    .expect("a FigStep font");
    let mut t = fill_chars(text, 15);
    for i in 1..=3 {
        t.push_str(&format!("\n{i}. "));
    }
    let lines: Vec<String> = t.split('\n').map(str::to_string).collect();
    let mut style = TextStyle::new(font, 80.0);
    style.spacing = 11.0;
    let layout = Layout::place(&lines, &style, (20, 10), None);
    let mut img = GrayImage::from_pixel(760, 760, Luma([255]));
    draw_layout_gray(&mut img, &layout, 0);
    mmsafe_typography::png::encode_gray(&img).expect("png")
}

/// `text` in `size` px DejaVu Sans, black on white, top-left of a 760×760 canvas.
pub fn small_text_png(text: &str, size: f32) -> Vec<u8> {
    let font = Font::load("bundled:dejavu-sans").expect("bundled font");
    let lines: Vec<String> = text.split('\n').map(str::to_string).collect();
    let style = TextStyle::new(font, size);
    let layout = Layout::place(&lines, &style, (10, 10), None);
    let mut img = GrayImage::from_pixel(760, 760, Luma([255]));
    draw_layout_gray(&mut img, &layout, 0);
    mmsafe_typography::png::encode_gray(&img).expect("png")
}

/// Fraction of the reference's words found, in order-insensitive bag-of-words
/// fashion, ignoring case and punctuation.
pub fn word_accuracy(reference: &str, read: &str) -> f64 {
    let norm = |s: &str| -> Vec<String> {
        s.split_whitespace()
            .map(|w| {
                w.chars()
                    .filter(|c| c.is_alphanumeric())
                    .collect::<String>()
                    .to_lowercase()
            })
            .filter(|w| !w.is_empty())
            .collect()
    };
    let refw = norm(reference);
    let mut got = norm(read);
    let mut hits = 0usize;
    for w in &refw {
        if let Some(i) = got.iter().position(|g| g == w) {
            got.remove(i);
            hits += 1;
        }
    }
    if refw.is_empty() {
        1.0
    } else {
        hits as f64 / refw.len() as f64
    }
}
