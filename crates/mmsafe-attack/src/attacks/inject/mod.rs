//! The visual prompt injection family, one file per variant.

pub mod alpha;
pub mod corner;
pub mod document;
pub mod grid;
pub mod low_contrast;
pub mod micro;
pub mod overlay;
pub mod rotated;
pub mod split;
