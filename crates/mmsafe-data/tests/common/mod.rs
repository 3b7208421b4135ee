//! Helpers shared by the loader tests (fixtures are written to temp dirs).
#![allow(dead_code)]

use mmsafe_core::{Case, DataError};
use mmsafe_data::LoadOptions;
use std::path::{Path, PathBuf};

pub fn write(dir: &Path, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, content).unwrap();
    p
}

/// All results of a spec, with default options.
pub fn load(spec: &str) -> Vec<Result<Case, DataError>> {
    load_with(spec, &LoadOptions::default())
}

pub fn load_with(spec: &str, opts: &LoadOptions) -> Vec<Result<Case, DataError>> {
    let mut src = mmsafe_data::open(spec, opts).unwrap_or_else(|e| panic!("open {spec}: {e}"));
    src.cases().collect()
}

/// Cases of a spec that must load without any error.
pub fn cases(spec: &str) -> Vec<Case> {
    load(spec)
        .into_iter()
        .map(|r| r.unwrap_or_else(|e| panic!("{spec}: {e}")))
        .collect()
}

pub fn errors(spec: &str) -> Vec<String> {
    load(spec)
        .into_iter()
        .filter_map(|r| r.err())
        .map(|e| e.to_string())
        .collect()
}

pub fn open_err(spec: &str) -> String {
    match mmsafe_data::open(spec, &LoadOptions::default()) {
        Ok(_) => panic!("{spec}: expected an error"),
        Err(e) => e.to_string(),
    }
}

/// A real PNG of the given size.
pub fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(w, h, image::Rgb([200, 10, 10]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// A real JPEG.
pub fn jpeg(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbImage::from_pixel(w, h, image::Rgb([10, 200, 10]));
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Jpeg).unwrap();
    out.into_inner()
}

/// A PNG cut short: right magic number, undecodable body.
pub fn truncated_png() -> Vec<u8> {
    let mut p = png(32, 32);
    p.truncate(40);
    p
}

pub fn spec(loader: &str, path: &Path) -> String {
    format!("{loader}:{}", path.display())
}
