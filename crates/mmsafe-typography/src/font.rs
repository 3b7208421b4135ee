//! Fonts: bundled DejaVu faces (always available), system font files by path or
//! by family name. A font that cannot be found is an error; nothing here ever
//! substitutes another face silently. Every `Font` knows where it came from
//! ([`FontSource`]) so attacks can record the face actually used.

use crate::raster::GlyphCache;
use crate::Error;
use ab_glyph::{Font as _, FontArc, GlyphId};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Where a font's bytes came from; its `Display` form is what provenance records
/// (`bundled:dejavu-sans-mono-bold` or an absolute file path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FontSource {
    Bundled(&'static str),
    File(PathBuf),
}

impl fmt::Display for FontSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FontSource::Bundled(name) => write!(f, "bundled:{name}"),
            FontSource::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Bundled faces (DejaVu, Bitstream Vera derived licence, shipped by the `dejavu` crate).
/// Returns the bytes of a bundled font file.
pub type FontData = fn() -> &'static [u8];

pub const BUNDLED: &[(&str, FontData)] = &[
    ("dejavu-sans", dejavu::sans::regular),
    ("dejavu-sans-bold", dejavu::sans::bold),
    ("dejavu-sans-oblique", dejavu::sans::oblique),
    ("dejavu-sans-bold-oblique", dejavu::sans::bold_oblique),
    ("dejavu-sans-extra-light", dejavu::sans::extra_light),
    ("dejavu-sans-condensed", dejavu::sans_condensed::regular),
    ("dejavu-sans-condensed-bold", dejavu::sans_condensed::bold),
    ("dejavu-sans-mono", dejavu::sans_mono::regular),
    ("dejavu-sans-mono-bold", dejavu::sans_mono::bold),
    ("dejavu-serif", dejavu::serif::regular),
    ("dejavu-serif-bold", dejavu::serif::bold),
    ("dejavu-serif-italic", dejavu::serif::italic),
];

/// Directories searched for family names, in order. `MMSAFE_FONT_DIRS`
/// (colon-separated) is searched first.
pub fn font_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Ok(extra) = std::env::var("MMSAFE_FONT_DIRS") {
        dirs.extend(
            extra
                .split(':')
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
        );
    }
    dirs.push(PathBuf::from("/usr/share/fonts"));
    dirs.push(PathBuf::from("/usr/local/share/fonts"));
    if let Some(home) = std::env::var_os("HOME") {
        let home = PathBuf::from(home);
        dirs.push(home.join(".local/share/fonts"));
        dirs.push(home.join(".fonts"));
    }
    dirs
}

/// A loaded font face. Cheap to clone (shared), thread-safe, and carries a
/// cache of rasterized glyphs per size so repeated renders only blit.
#[derive(Clone)]
pub struct Font {
    inner: Arc<Inner>,
}

struct Inner {
    font: FontArc,
    source: FontSource,
    cache: GlyphCache,
}

impl fmt::Debug for Font {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Font")
            .field("source", &self.inner.source)
            .finish()
    }
}

impl Font {
    fn new(font: FontArc, source: FontSource) -> Font {
        Font {
            inner: Arc::new(Inner {
                font,
                source,
                cache: GlyphCache::default(),
            }),
        }
    }

    /// A bundled face by name (see [`BUNDLED`]).
    pub fn bundled(name: &str) -> Result<Font, Error> {
        let (name, data) =
            BUNDLED
                .iter()
                .find(|(n, _)| *n == name)
                .ok_or_else(|| Error::FontNotFound {
                    spec: format!("bundled:{name}"),
                    detail: format!(
                        "bundled fonts: {}",
                        BUNDLED
                            .iter()
                            .map(|(n, _)| *n)
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })?;
        let font = FontArc::try_from_slice(data()).map_err(|e| Error::BadFont {
            source_name: format!("bundled:{name}"),
            detail: e.to_string(),
        })?;
        Ok(Font::new(font, FontSource::Bundled(name)))
    }

    /// A font file (TrueType/OpenType).
    pub fn from_path(path: impl AsRef<Path>) -> Result<Font, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error::FontNotFound {
            spec: path.display().to_string(),
            detail: e.to_string(),
        })?;
        let font = FontArc::try_from_vec(bytes).map_err(|e| Error::BadFont {
            source_name: path.display().to_string(),
            detail: e.to_string(),
        })?;
        let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
        Ok(Font::new(font, FontSource::File(abs)))
    }

    /// A system font by family (file) name, e.g. `FreeMonoBold`,
    /// `Liberation Sans`, `DejaVu Sans Bold`: case, spaces, `-` and `_` are
    /// ignored, and a trailing `Regular` may be omitted. Searches [`font_dirs`].
    pub fn from_family(family: &str) -> Result<Font, Error> {
        match find_family(family, &font_dirs()) {
            Some(path) => Font::from_path(path),
            None => Err(Error::FontNotFound {
                spec: family.to_string(),
                detail: format!(
                    "no font file named like it under {}",
                    font_dirs()
                        .iter()
                        .map(|d| d.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }

    /// Load from a user-facing spec: `bundled:NAME`, a path (contains `/` or
    /// ends in `.ttf`/`.otf`), or a family name.
    pub fn load(spec: &str) -> Result<Font, Error> {
        let spec = spec.trim();
        if let Some(name) = spec.strip_prefix("bundled:") {
            return Font::bundled(name);
        }
        let lower = spec.to_ascii_lowercase();
        if spec.contains('/') || lower.ends_with(".ttf") || lower.ends_with(".otf") {
            return Font::from_path(spec);
        }
        Font::from_family(spec)
    }

    /// The first spec in `candidates` that loads. Callers list their fallback
    /// explicitly and record [`Font::source`], so a fallback is never silent.
    pub fn first_available(candidates: &[&str]) -> Result<Font, Error> {
        let mut errors = Vec::new();
        for c in candidates {
            match Font::load(c) {
                Ok(f) => return Ok(f),
                Err(e) => errors.push(e.to_string()),
            }
        }
        Err(Error::FontNotFound {
            spec: candidates.join(" | "),
            detail: errors.join("; "),
        })
    }

    pub fn source(&self) -> &FontSource {
        &self.inner.source
    }

    pub(crate) fn ab(&self) -> &FontArc {
        &self.inner.font
    }

    pub(crate) fn cache(&self) -> &GlyphCache {
        &self.inner.cache
    }

    /// Pixels per font unit at a Pillow/FreeType size (em size in pixels).
    pub(crate) fn units_to_px(&self, size: f32) -> f32 {
        size / self.inner.font.units_per_em().unwrap_or(1000.0)
    }

    /// Ascender in whole pixels, rounded up as FreeType's grid-fitted size
    /// metrics do (Pillow places the `la` anchor there).
    pub fn ascent_px(&self, size: f32) -> i32 {
        (self.inner.font.ascent_unscaled() * self.units_to_px(size)).ceil() as i32
    }

    /// Descender in whole pixels (positive, below the baseline).
    pub fn descent_px(&self, size: f32) -> i32 {
        (-self.inner.font.descent_unscaled() * self.units_to_px(size)).ceil() as i32
    }

    pub(crate) fn glyph(&self, c: char) -> GlyphId {
        self.inner.font.glyph_id(c)
    }

    /// Whether the face has a glyph for `c` (missing glyphs render as `.notdef`).
    pub fn has_glyph(&self, c: char) -> bool {
        c.is_whitespace() || self.inner.font.glyph_id(c).0 != 0
    }

    /// Advance of a glyph in whole pixels (hinted renderers round advances).
    pub(crate) fn advance_px(&self, id: GlyphId, size: f32) -> i32 {
        (self.inner.font.h_advance_unscaled(id) * self.units_to_px(size)).round() as i32
    }

    pub(crate) fn kern_px(&self, a: GlyphId, b: GlyphId, size: f32) -> i32 {
        (self.inner.font.kern_unscaled(a, b) * self.units_to_px(size)).round() as i32
    }

    /// Width of one line of text in pixels (sum of rounded advances and kerning).
    pub fn text_width(&self, text: &str, size: f32) -> i32 {
        let mut w = 0;
        let mut prev: Option<GlyphId> = None;
        for c in text.chars() {
            let id = self.glyph(c);
            if let Some(p) = prev {
                w += self.kern_px(p, id, size);
            }
            w += self.advance_px(id, size);
            prev = Some(id);
        }
        w
    }

    /// Pillow's multi-line pitch: bottom of the bbox of "A" (drawn at the
    /// ascender anchor) plus `spacing`.
    pub fn line_pitch(&self, size: f32, spacing: f32) -> i32 {
        let a = self.glyph('A');
        let bottom = self
            .cache()
            .get(self, a, size)
            .map_or(0, |g| g.top + g.height as i32);
        self.ascent_px(size) + bottom + spacing.round() as i32
    }
}

fn normalize(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Walk `dirs` (sorted, so the result does not depend on directory order) for
/// a `.ttf`/`.otf` whose stem matches `family`.
fn find_family(family: &str, dirs: &[PathBuf]) -> Option<PathBuf> {
    let want = normalize(family);
    if want.is_empty() {
        return None;
    }
    let want_regular = format!("{want}regular");
    for dir in dirs {
        let mut stack = vec![dir.clone()];
        let mut files = Vec::new();
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    files.push(p);
                }
            }
        }
        files.sort();
        for p in files {
            let ext = p
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase);
            if !matches!(ext.as_deref(), Some("ttf" | "otf")) {
                continue;
            }
            let stem = p.file_stem().and_then(|s| s.to_str()).map(normalize);
            if stem.as_deref() == Some(&want) || stem.as_deref() == Some(&want_regular) {
                return Some(p);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_always_loads_and_reports_source() {
        for (name, _) in BUNDLED {
            let f = Font::bundled(name).unwrap();
            assert_eq!(f.source().to_string(), format!("bundled:{name}"));
        }
        assert!(Font::load("bundled:nope").is_err());
    }

    #[test]
    fn missing_font_is_an_error_naming_it() {
        let err = Font::load("/nonexistent/Font.ttf").unwrap_err().to_string();
        assert!(err.contains("/nonexistent/Font.ttf"), "{err}");
        let err = Font::load("No Such Family 123").unwrap_err().to_string();
        assert!(err.contains("No Such Family 123"), "{err}");
    }

    #[test]
    fn family_search_normalizes_names() {
        let dir = std::env::temp_dir().join(format!("mmsafe-typo-fonts-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        let path = dir.join("sub/My-Test_Font-Regular.ttf");
        std::fs::write(&path, dejavu::sans::regular()).unwrap();
        let found = find_family("my test font", std::slice::from_ref(&dir)).unwrap();
        assert_eq!(found, path);
        assert!(find_family("other", std::slice::from_ref(&dir)).is_none());
        std::fs::remove_dir_all(&dir).ok();
    }
}
