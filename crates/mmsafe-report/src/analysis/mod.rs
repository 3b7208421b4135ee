//! Renderers of an [`mmsafe_metrics::Analysis`] (`mmsafe analyze`): aligned
//! text, JSON, and one self-contained HTML page with four figures.

mod html;
mod plots;
mod text;

pub use html::render_analysis_html;
pub(crate) use html::{sections as analysis_sections, EXTRA_STYLE};
pub use text::render_analysis_text;

use mmsafe_metrics::Analysis;
use serde_json::Value;

/// `analyze --json`: the analysis under its stable keys (docs/analyze.md).
pub fn render_analysis_json(a: &Analysis) -> Value {
    serde_json::to_value(a).unwrap_or(Value::Null)
}
