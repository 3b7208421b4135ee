//! Layout: wrapped lines placed in a box with Pillow's metrics (the `la`
//! anchor puts a line's top at the ascender; lines advance by the bottom of
//! "A" plus `spacing`), and the overflow policy that decides what happens when
//! the text does not fit.

use crate::font::Font;
use crate::wrap::{wrap_chars, wrap_pixels, wrap_pixels_continuation};
use crate::Error;
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Center,
    Right,
}

impl FromStr for Align {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "left" => Ok(Align::Left),
            "center" | "centre" => Ok(Align::Center),
            "right" => Ok(Align::Right),
            other => Err(format!("`{other}` is not one of left, center, right")),
        }
    }
}

/// How text is broken into lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wrap {
    /// Only explicit newlines break lines.
    None,
    /// Python `textwrap` at this many characters per line.
    Chars(usize),
    /// Greedy by pixel width: the box width.
    Pixels,
    /// MM-SafetyBench's pixel wrap (continuation lines start with a space).
    PixelsContinuation,
}

/// What to do when laid-out text does not fit its box.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overflow {
    /// Reduce the font size (re-wrapping each time) down to a minimum size;
    /// an error if it still does not fit.
    Shrink,
    /// Split the lines over several images.
    Paginate,
    /// Draw as laid out and cut at the box edge (FigStep's behaviour).
    Clip,
    /// Refuse with an error that says how much is missing.
    Error,
}

impl FromStr for Overflow {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "shrink" => Ok(Overflow::Shrink),
            "paginate" => Ok(Overflow::Paginate),
            "clip" => Ok(Overflow::Clip),
            "error" => Ok(Overflow::Error),
            other => Err(format!(
                "`{other}` is not one of shrink, paginate, clip, error"
            )),
        }
    }
}

impl fmt::Display for Overflow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Overflow::Shrink => "shrink",
            Overflow::Paginate => "paginate",
            Overflow::Clip => "clip",
            Overflow::Error => "error",
        })
    }
}

/// An axis-aligned box in image pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    pub x: i32,
    pub y: i32,
    pub w: u32,
    pub h: u32,
}

impl Rect {
    pub fn new(x: i32, y: i32, w: u32, h: u32) -> Rect {
        Rect { x, y, w, h }
    }
}

/// Font, size and line spacing of a text block.
#[derive(Debug, Clone)]
pub struct TextStyle {
    pub font: Font,
    /// Em size in pixels (Pillow's `ImageFont.truetype(…, size)`).
    pub size: f32,
    /// Extra pixels between lines (Pillow's `spacing`, default 4).
    pub spacing: f32,
    pub align: Align,
}

impl TextStyle {
    pub fn new(font: Font, size: f32) -> TextStyle {
        TextStyle {
            font,
            size,
            spacing: 4.0,
            align: Align::Left,
        }
    }
}

/// One placed line: `x` is the pen start, `top` the ascender line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub text: String,
    pub x: i32,
    pub top: i32,
    pub width: i32,
}

/// Lines placed on an image, ready to rasterize.
#[derive(Debug, Clone)]
pub struct Layout {
    pub font: Font,
    pub size: f32,
    pub pitch: i32,
    pub ascent: i32,
    pub descent: i32,
    pub lines: Vec<Line>,
}

impl Layout {
    /// Place `lines` with the first line's top-left at `origin`; alignment is
    /// relative to `align_width` (or the widest line).
    pub fn place(
        lines: &[String],
        style: &TextStyle,
        origin: (i32, i32),
        align_width: Option<u32>,
    ) -> Layout {
        let font = &style.font;
        let size = style.size;
        let pitch = font.line_pitch(size, style.spacing);
        let widths: Vec<i32> = lines.iter().map(|l| font.text_width(l, size)).collect();
        let box_w = align_width
            .map(|w| w as i32)
            .unwrap_or_else(|| widths.iter().copied().max().unwrap_or(0));
        let placed = lines
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (text, &w))| {
                let dx = match style.align {
                    Align::Left => 0,
                    Align::Center => (box_w - w) / 2,
                    Align::Right => box_w - w,
                };
                Line {
                    text: text.clone(),
                    x: origin.0 + dx,
                    top: origin.1 + i as i32 * pitch,
                    width: w,
                }
            })
            .collect();
        Layout {
            font: font.clone(),
            size,
            pitch,
            ascent: font.ascent_px(size),
            descent: font.descent_px(size),
            lines: placed,
        }
    }

    /// Height from the first line's top to the last line's descender.
    pub fn height(&self) -> i32 {
        match self.lines.len() {
            0 => 0,
            n => (n as i32 - 1) * self.pitch + self.ascent + self.descent,
        }
    }

    pub fn max_width(&self) -> i32 {
        self.lines.iter().map(|l| l.width).max().unwrap_or(0)
    }

    /// The pen x position of every character of line `i`, plus the end
    /// position (so character `k` spans `xs[k]..xs[k+1]`).
    pub fn char_positions(&self, i: usize) -> Vec<i32> {
        let Some(line) = self.lines.get(i) else {
            return Vec::new();
        };
        let mut xs = Vec::with_capacity(line.text.chars().count() + 1);
        let mut x = line.x;
        let mut prev = None;
        for c in line.text.chars() {
            let id = self.font.glyph(c);
            if let Some(p) = prev {
                x += self.font.kern_px(p, id, self.size);
            }
            xs.push(x);
            x += self.font.advance_px(id, self.size);
            prev = Some(id);
        }
        xs.push(x);
        xs
    }
}

/// Break `text` into lines for a box of `width` pixels.
pub fn wrap_text(text: &str, style: &TextStyle, wrap: Wrap, width: u32) -> Vec<String> {
    match wrap {
        Wrap::None => text.split('\n').map(str::to_string).collect(),
        Wrap::Chars(n) => text
            .split('\n')
            .flat_map(|p| {
                let w = wrap_chars(p, n.max(1));
                if w.is_empty() {
                    vec![String::new()]
                } else {
                    w
                }
            })
            .collect(),
        Wrap::Pixels => wrap_pixels(&style.font, style.size, text, width),
        Wrap::PixelsContinuation => wrap_pixels_continuation(&style.font, style.size, text, width),
    }
}

/// Options for [`fit`].
#[derive(Debug, Clone, Copy)]
pub struct Fit {
    pub rect: Rect,
    pub wrap: Wrap,
    pub overflow: Overflow,
    /// Smallest size `Overflow::Shrink` may go down to.
    pub min_size: f32,
}

/// Wrap and place `text` in `fit.rect`, applying the overflow policy. Returns
/// one layout per page (exactly one unless paginating).
pub fn fit(text: &str, style: &TextStyle, fit: &Fit) -> Result<Vec<Layout>, Error> {
    let rect = fit.rect;
    let place = |style: &TextStyle| {
        let lines = wrap_text(text, style, fit.wrap, rect.w);
        Layout::place(&lines, style, (rect.x, rect.y), Some(rect.w))
    };
    let fits = |l: &Layout| l.height() <= rect.h as i32 && l.max_width() <= rect.w as i32;
    let layout = place(style);
    if fits(&layout) || fit.overflow == Overflow::Clip {
        return Ok(vec![layout]);
    }
    match fit.overflow {
        Overflow::Clip => Ok(vec![layout]),
        Overflow::Error => Err(Error::Overflow(format!(
            "text needs {}x{} px at size {} but the box is {}x{} (choose overflow=shrink, paginate or clip)",
            layout.max_width(),
            layout.height(),
            style.size,
            rect.w,
            rect.h
        ))),
        Overflow::Shrink => {
            let mut s = style.clone();
            while s.size > fit.min_size {
                s.size = (s.size - (s.size * 0.05).max(1.0)).max(fit.min_size);
                let l = place(&s);
                if fits(&l) {
                    return Ok(vec![l]);
                }
            }
            Err(Error::Overflow(format!(
                "text does not fit a {}x{} box even at the minimum size {} (choose overflow=paginate or clip, or a larger box)",
                rect.w, rect.h, fit.min_size
            )))
        }
        Overflow::Paginate => {
            if layout.max_width() > rect.w as i32 {
                return Err(Error::Overflow(format!(
                    "a line is {} px wide but the box is {} px; paginating cannot fix width (use wrap)",
                    layout.max_width(),
                    rect.w
                )));
            }
            let usable = rect.h as i32 - layout.ascent - layout.descent;
            if usable < 0 {
                return Err(Error::Overflow(format!(
                    "one line needs {} px but the box is {} px high",
                    layout.ascent + layout.descent,
                    rect.h
                )));
            }
            let per_page = (usable / layout.pitch.max(1) + 1).max(1) as usize;
            let texts: Vec<String> = layout.lines.iter().map(|l| l.text.clone()).collect();
            Ok(texts
                .chunks(per_page)
                .map(|chunk| Layout::place(chunk, style, (rect.x, rect.y), Some(rect.w)))
                .collect())
        }
    }
}
