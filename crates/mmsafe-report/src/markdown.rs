//! The `mmsafe report --format md` document.

use crate::model::{
    headline, notes, rates_cells, safety_utility_rows, sections, RATES_HEADER, RATES_RIGHT,
    SU_HEADER, SU_RIGHT,
};
use mmsafe_metrics::Summary;

/// A cell's text made safe inside a pipe table.
fn cell(s: &str) -> String {
    s.trim().replace('|', "\\|").replace('\n', " ")
}

fn table(out: &mut String, header: &[&str], right: &[bool], rows: &[Vec<String>]) {
    let head: Vec<String> = header.iter().map(|h| cell(h)).collect();
    out.push_str(&format!("| {} |\n", head.join(" | ")));
    let align: Vec<&str> = right
        .iter()
        .map(|r| if *r { "---:" } else { "---" })
        .collect();
    out.push_str(&format!("|{}|\n", align.join("|")));
    for r in rows {
        let cells: Vec<String> = r.iter().map(|c| cell(c)).collect();
        out.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
}

pub fn render_markdown(s: &Summary) -> String {
    let mut out = format!("# mmsafe report\n\n{}\n\n", headline(s));
    out.push_str(&format!("ASR convention: {}.\n\n", s.asr_convention));
    table(
        &mut out,
        &RATES_HEADER,
        &RATES_RIGHT,
        &[rates_cells("**overall**", &s.overall())],
    );
    out.push('\n');
    for n in notes(s) {
        out.push_str(&format!("- {n}\n"));
    }
    for sec in sections(s) {
        let mut heading = sec.title.to_string();
        if let Some(first) = heading.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        out.push_str(&format!("\n## {heading}\n\n"));
        let cells: Vec<Vec<String>> = sec.rows.iter().map(|(n, r)| rates_cells(n, r)).collect();
        let mut header = RATES_HEADER;
        header[0] = sec.key;
        table(&mut out, &header, &RATES_RIGHT, &cells);
    }
    let su = safety_utility_rows(s);
    if !su.is_empty() {
        out.push_str("\n## Safety–utility\n\nDifferences are against the undefended run (`none`); latency is paired per base case, attack and repeat.\n\n");
        table(&mut out, &SU_HEADER, &SU_RIGHT, &su);
    }
    out
}
