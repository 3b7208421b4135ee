//! Report renderers over one summary model: terminal table, Markdown, JSON.
//!
//! Every renderer takes a [`mmsafe_metrics::Summary`] (or a paired test) and
//! returns a string or JSON value; none does IO, so the CLI decides where the
//! output goes and every report is recomputable from the store.

mod analysis;
mod diff;
pub mod fmt;
mod html;
mod markdown;
mod model;
mod table;
mod terminal;

pub use analysis::{render_analysis_html, render_analysis_json, render_analysis_text};
pub use diff::{render_diff, render_diff_json};
pub use html::{render_html, render_html_with_analysis};
pub use markdown::render_markdown;
pub use model::{human_line, safety_utility_rows, SU_HEADER};
pub use terminal::render_terminal;

use mmsafe_metrics::Summary;
use serde_json::Value;

/// The machine-readable summary (`--json`, `--format json`).
pub fn render_json(s: &Summary) -> Value {
    // Serializing plain structs with string map keys cannot fail; a null is
    // still better than a panic if it ever does.
    serde_json::to_value(s).unwrap_or(Value::Null)
}
