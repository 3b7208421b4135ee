//! The compact table printed at the end of a scan and by `mmsafe report`.

use crate::model::{
    headline, notes, rates_cells, safety_utility_rows, sections, RATES_HEADER, RATES_RIGHT,
    SU_HEADER, SU_RIGHT,
};
use crate::table::Table;
use mmsafe_metrics::Summary;

fn strings(h: &[&str]) -> Vec<String> {
    h.iter().map(|s| s.to_string()).collect()
}

/// Plain aligned text, no colour; every line ends with a newline.
pub fn render_terminal(s: &Summary) -> String {
    let mut out = headline(s);
    out.push_str("\n\n");
    let mut t = Table::new(strings(&RATES_HEADER), RATES_RIGHT.to_vec());
    t.row(rates_cells("overall", &s.overall()));
    for sec in sections(s) {
        t.title(sec.title);
        for (name, r) in sec.rows {
            t.row(rates_cells(&format!("  {name}"), &r));
        }
    }
    out.push_str(&t.render());
    out.push('\n');
    for n in notes(s) {
        out.push_str(&n);
        out.push('\n');
    }
    let su = safety_utility_rows(s);
    if !su.is_empty() {
        out.push_str("\nsafety–utility (differences vs none)\n");
        let mut t = Table::new(strings(&SU_HEADER), SU_RIGHT.to_vec());
        for r in su {
            t.row(r);
        }
        out.push_str(&t.render());
    }
    out
}
