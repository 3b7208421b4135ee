//! The `mmsafe report --html FILE` document: one self-contained page (inline
//! CSS and SVG, no script, no external resource) that can be attached to a
//! review or mailed to a platform team and still read the same offline.
//!
//! Every string that comes from a run (run id, judge, hazard, attack and
//! defense names) passes through [`esc`]; a Content-Security-Policy that
//! forbids scripts and fetches is a second line of defence should one slip.

use crate::fmt::{pct, pct_ci, score_ci, NA};
use crate::model::{safety_utility_rows, sections, Section, SU_HEADER, SU_RIGHT};
use mmsafe_metrics::{Analysis, Ci, LabelCounts, Rates, Summary};
use std::fmt::Write as _;

/// HTML-escape text for element content and quoted attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// A rate for display, `n/a` when undefined (the padding of [`pct`] removed).
fn rate(v: Option<f64>) -> String {
    pct(v).trim().to_string()
}

/// A rate with its interval, `36.8% [19.1–59.0]`.
fn rate_ci(v: Option<f64>, ci: Option<Ci>) -> String {
    pct_ci(v, ci).trim().to_string()
}

fn interval(ci: Option<Ci>) -> String {
    match ci {
        Some([lo, hi]) => format!("{:.1}–{:.1}%", lo * 100.0, hi * 100.0),
        None => NA.to_string(),
    }
}

/// A proportion clamped to [0, 1] for drawing; `None` if not a number.
fn unit(v: f64) -> Option<f64> {
    v.is_finite().then(|| v.clamp(0.0, 1.0))
}

pub(crate) const STYLE: &str = r#"
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 1100px; padding: 24px 32px 48px;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  color: #1a1a1a; background: #ffffff; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.2rem; margin: 32px 0 8px; padding-bottom: 4px; border-bottom: 1px solid #c8c8c8; }
h3 { font-size: 1rem; margin: 20px 0 6px; }
.meta { margin: 0 0 16px; color: #333333; }
.meta span + span::before { content: " · "; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr));
  gap: 10px; margin: 12px 0 8px; padding: 0; }
.cards div { border: 1px solid #b8b8b8; border-radius: 6px; padding: 8px 12px; }
.cards dt { font-size: 0.85rem; color: #333333; }
.cards dd { margin: 0; font-size: 1.5rem; font-weight: 600; font-variant-numeric: tabular-nums; }
.cards dd small { display: block; font-size: 0.8rem; font-weight: 400; color: #333333; }
.cards .headline { border-color: #1d4f91; border-width: 2px; }
table { border-collapse: collapse; margin: 6px 0 12px; font-variant-numeric: tabular-nums; }
caption { text-align: left; font-weight: 600; padding: 4px 0; }
th, td { padding: 4px 10px; border-bottom: 1px solid #d0d0d0; text-align: left; vertical-align: top; }
/* A figure and its interval stay on one line; prose cells wrap. */
td { white-space: nowrap; }
td.text { white-space: normal; }
.ci { font-size: 0.85em; color: #333333; }
.scroll { overflow-x: auto; }
table.wide { font-size: 0.9rem; }
table.wide th, table.wide td { padding: 4px 7px; }
thead th { border-bottom: 2px solid #555555; font-size: 0.85rem; }
tbody th { font-weight: 600; }
td.r, th.r { text-align: right; }
.name { overflow-wrap: anywhere; min-width: 7em; max-width: 320px; }
.note { color: #333333; font-size: 0.9rem; }
figure { margin: 8px 0 4px; }
figcaption { font-size: 0.9rem; color: #333333; }
svg.chart { width: 100%; max-width: 880px; height: auto; display: block; }
svg.chart text { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  font-size: 13px; fill: #1a1a1a; }
svg.chart .axis { stroke: #8a8a8a; stroke-width: 1; }
svg.chart .grid { stroke: #dddddd; stroke-width: 1; }
svg.chart .bar { fill: #2f6db5; }
svg.chart .base { fill: #6b6b6b; }
svg.chart .whisker { stroke: #111111; stroke-width: 1.5; }
svg.chart .na { fill: #444444; font-style: italic; }
svg.chart .tick { fill: #333333; font-size: 12px; }
footer { margin-top: 36px; font-size: 0.9rem; }
footer dt { font-weight: 600; margin-top: 6px; }
footer dd { margin: 0 0 0 16px; }
code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 0.9em; }
@media print {
  @page { margin: 14mm; }
  body { max-width: none; padding: 0; font-size: 10pt; }
  h2 { break-after: avoid; }
  figure, table, .cards, footer { break-inside: avoid; }
  .scroll { overflow: visible; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"#;

/// The page; same summary, same bytes.
pub fn render_html(s: &Summary) -> String {
    render_html_with_analysis(s, None)
}

/// The page with the run's analysis (`mmsafe analyze`) after the breakdowns:
/// uplift forest plot, hazard × attack heat map, readability curve and
/// safety–utility frontier, each with its table. `None` gives exactly
/// [`render_html`]'s page.
pub fn render_html_with_analysis(s: &Summary, analysis: Option<&Analysis>) -> String {
    let mut out = String::new();
    let title = format!("mmsafe report — run {}", s.run_id);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    // Defence in depth for a file that carries user-chosen names: no script,
    // no fetch of any kind, only the inline stylesheet.
    out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<meta name=\"generator\" content=\"mmsafe\">\n");
    let _ = writeln!(out, "<title>{}</title>", esc(&title));
    let extra = if analysis.is_some() {
        crate::analysis::EXTRA_STYLE
    } else {
        ""
    };
    let _ = writeln!(out, "<style>{STYLE}{extra}</style>\n</head>\n<body>");
    header(&mut out, s);
    if s.attempts == 0 {
        out.push_str(
            "<p class=\"note\">This run has no judged attempts: there is nothing to chart.</p>\n",
        );
    }
    for (i, sec) in sections(s).iter().enumerate() {
        if sec.rows.is_empty() {
            continue;
        }
        breakdown(&mut out, sec, i);
    }
    safety_utility(&mut out, s);
    if let Some(a) = analysis {
        out.push_str("<section>\n<h2>Why: the run analysed</h2>\n<p class=\"note\">The sections below are <code>mmsafe analyze</code>'s, computed from the same stored attempts (docs/analyze.md).</p>\n</section>\n");
        crate::analysis::analysis_sections(&mut out, a);
    }
    extras(&mut out, s);
    definitions(&mut out, s);
    out.push_str("</body>\n</html>\n");
    out
}

fn card(
    out: &mut String,
    class: &str,
    label: &str,
    value: Option<f64>,
    ci: Option<Ci>,
    basis: &str,
) {
    let class_attr = if class.is_empty() {
        String::new()
    } else {
        format!(" class=\"{class}\"")
    };
    let ci_text = match ci {
        Some(_) => format!("95% CI {}", interval(ci)),
        None => "no interval".to_string(),
    };
    let _ = writeln!(
        out,
        "<div{class_attr}><dt>{}</dt><dd>{}<small>{}</small><small>{}</small></dd></div>",
        esc(label),
        esc(&rate(value)),
        esc(&ci_text),
        esc(basis)
    );
}

fn of(k: u64, n: u64, what: &str) -> String {
    format!("{k} of {n} {what}")
}

fn header(out: &mut String, s: &Summary) {
    out.push_str("<header>\n<h1>mmsafe safety report</h1>\n<p class=\"meta\">");
    let _ = write!(
        out,
        "<span>run <strong>{}</strong></span><span>judge <strong>{}</strong></span><span>{} attempts</span>",
        esc(&s.run_id),
        esc(s.judge.as_deref().unwrap_or("none")),
        s.attempts
    );
    if s.judges.len() > 1 {
        let all: Vec<String> = s.judges.iter().map(|j| esc(j)).collect();
        let _ = write!(out, "<span>judges seen: {}</span>", all.join(", "));
    }
    out.push_str("</p>\n<dl class=\"cards\">\n");
    let h = &s.counts.expect_refuse;
    let b = &s.counts.expect_comply;
    card(
        out,
        "headline",
        "Attack success rate (ASR)",
        s.asr,
        s.asr_ci,
        &of(h.complied, h.decided(), "decided harmful"),
    );
    card(
        out,
        "",
        "Refusal rate",
        s.refusal_rate,
        s.refusal_rate_ci,
        &of(h.refused, h.decided(), "decided harmful"),
    );
    let over_basis = if b.decided() == 0 {
        "no decided benign attempts".to_string()
    } else {
        of(b.refused, b.decided(), "decided benign")
    };
    card(
        out,
        "",
        "Over-refusal rate",
        s.over_refusal_rate,
        s.over_refusal_rate_ci,
        &over_basis,
    );
    card(
        out,
        "",
        "Undecided",
        s.undecided.rate,
        s.undecided.rate_ci,
        &of(s.undecided.count, s.attempts, "attempts"),
    );
    card(
        out,
        "",
        "Errors (target calls)",
        s.error_rate,
        s.error_rate_ci,
        &of(s.counts.target_errors, s.attempts, "attempts"),
    );
    out.push_str("</dl>\n");
    out.push_str("<table>\n<caption>Attempts by expected behaviour and verdict</caption>\n<thead><tr><th scope=\"col\">cases</th><th scope=\"col\" class=\"r\">attempts</th><th scope=\"col\" class=\"r\">refused</th><th scope=\"col\" class=\"r\">complied</th><th scope=\"col\" class=\"r\">undecided</th><th scope=\"col\" class=\"r\">error</th></tr></thead>\n<tbody>\n");
    counts_row(out, "harmful (expect refuse)", h);
    counts_row(out, "benign (expect comply)", b);
    out.push_str("</tbody>\n</table>\n");
    if s.counts.target_errors > 0 || s.counts.judge_errors() > 0 {
        let _ = writeln!(
            out,
            "<p class=\"note\">Errors: {} target call(s) failed, {} judging failure(s); excluded from ASR, never counted as safe.</p>",
            s.counts.target_errors,
            s.counts.judge_errors()
        );
    }
    out.push_str("</header>\n");
}

fn counts_row(out: &mut String, label: &str, c: &LabelCounts) {
    let _ = writeln!(
        out,
        "<tr><th scope=\"row\">{}</th><td class=\"r\">{}</td><td class=\"r\">{}</td><td class=\"r\">{}</td><td class=\"r\">{}</td><td class=\"r\">{}</td></tr>",
        esc(label),
        c.total(),
        c.refused,
        c.complied,
        c.undecided,
        c.error
    );
}

/// A chart of ASR per row of a breakdown, then the full table of its rates.
fn breakdown(out: &mut String, sec: &Section, index: usize) {
    let heading = match sec.title.get(0..1) {
        Some(first) => format!("{}{}", first.to_ascii_uppercase(), &sec.title[1..]),
        None => sec.title.to_string(),
    };
    let _ = writeln!(out, "<section>\n<h2>{}</h2>", esc(&heading));
    // The by-judge section compares judges, not attack surfaces: its table
    // is enough, and the brief's charts are per hazard, attack and defense.
    if sec.key != "judge" {
        chart(out, sec, index);
    }
    rates_table(out, sec);
    out.push_str("</section>\n");
}

// Geometry of the bar charts, in SVG user units.
const CHART_W: f64 = 880.0;
const LABEL_W: f64 = 200.0;
const BAR_X: f64 = 210.0;
const BAR_W: f64 = 460.0;
const VALUE_X: f64 = 684.0;
const ROW_H: f64 = 26.0;
const AXIS_H: f64 = 28.0;
/// Longest label drawn in full; the full name stays in the row's `<title>`
/// and in the table below.
const LABEL_CHARS: usize = 28;

fn label_text(name: &str) -> String {
    if name.chars().count() <= LABEL_CHARS {
        name.to_string()
    } else {
        let mut t: String = name.chars().take(LABEL_CHARS - 1).collect();
        t.push('…');
        t
    }
}

fn x_of(v: f64) -> f64 {
    BAR_X + v * BAR_W
}

fn chart(out: &mut String, sec: &Section, index: usize) {
    let id = format!("chart-{index}");
    let height = AXIS_H + ROW_H * sec.rows.len() as f64 + 8.0;
    let _ = writeln!(
        out,
        "<figure>\n<svg class=\"chart\" viewBox=\"0 0 {CHART_W:.0} {height:.0}\" width=\"{CHART_W:.0}\" height=\"{height:.0}\" role=\"img\" aria-labelledby=\"{id}-t {id}-d\">"
    );
    let _ = writeln!(
        out,
        "<title id=\"{id}-t\">Attack success rate {} with 95% intervals</title>",
        esc(sec.title)
    );
    let _ = writeln!(
        out,
        "<desc id=\"{id}-d\">Horizontal bars: ASR per {} from 0 to 100%; whiskers mark the Wilson 95% interval. The table below holds the same figures.</desc>",
        esc(sec.key)
    );
    let bottom = AXIS_H + ROW_H * sec.rows.len() as f64;
    for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let x = x_of(t);
        let class = if t == 0.0 { "axis" } else { "grid" };
        let _ = writeln!(
            out,
            "<line class=\"{class}\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\"/><text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{:.0}%</text>",
            AXIS_H - 6.0,
            AXIS_H - 10.0,
            t * 100.0
        );
    }
    for (i, (name, r)) in sec.rows.iter().enumerate() {
        let y = AXIS_H + ROW_H * i as f64;
        let mid = y + ROW_H / 2.0;
        let summary = format!(
            "{} {}: ASR {} (n = {})",
            sec.key,
            name,
            rate_ci(r.asr, r.asr_ci),
            r.n
        );
        let _ = writeln!(out, "<g><title>{}</title>", esc(&summary));
        let _ = writeln!(
            out,
            "<text x=\"{LABEL_W:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            mid + 4.0,
            esc(&label_text(name))
        );
        match r.asr.and_then(unit) {
            Some(v) => {
                // The `none` row is the baseline the others are read against.
                let class = if name == "none" { "bar base" } else { "bar" };
                let _ = writeln!(
                    out,
                    "<rect class=\"{class}\" x=\"{BAR_X:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"/>",
                    y + 5.0,
                    v * BAR_W,
                    ROW_H - 10.0
                );
                if let Some([lo, hi]) = r.asr_ci {
                    if let (Some(lo), Some(hi)) = (unit(lo), unit(hi)) {
                        let (x1, x2) = (x_of(lo), x_of(hi));
                        let _ = writeln!(
                            out,
                            "<path class=\"whisker\" fill=\"none\" d=\"M{x1:.1} {mid:.1}H{x2:.1}M{x1:.1} {:.1}V{:.1}M{x2:.1} {:.1}V{:.1}\"/>",
                            mid - 5.0,
                            mid + 5.0,
                            mid - 5.0,
                            mid + 5.0
                        );
                    }
                }
                let _ = writeln!(
                    out,
                    "<text x=\"{VALUE_X:.1}\" y=\"{:.1}\">{}</text>",
                    mid + 4.0,
                    esc(&rate_ci(r.asr, r.asr_ci))
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "<text class=\"na\" x=\"{:.1}\" y=\"{:.1}\">n/a: no decided harmful attempts</text>",
                    BAR_X + 4.0,
                    mid + 4.0
                );
            }
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    let _ = writeln!(
        out,
        "<figcaption>ASR per {} (bars) with 95% Wilson intervals (whiskers){}.</figcaption>\n</figure>",
        esc(sec.key),
        if sec.rows.iter().any(|(n, _)| n == "none") {
            "; the grey bar is the baseline <code>none</code>"
        } else {
            ""
        }
    );
}

fn rates_table(out: &mut String, sec: &Section) {
    let _ = writeln!(
        out,
        "<table>\n<caption>Rates {} (95% Wilson intervals)</caption>",
        esc(sec.title)
    );
    let _ = writeln!(
        out,
        "<thead><tr><th scope=\"col\">{}</th><th scope=\"col\" class=\"r\">n</th><th scope=\"col\">ASR</th><th scope=\"col\">refusal</th><th scope=\"col\">over-refusal</th><th scope=\"col\" class=\"r\">undecided</th><th scope=\"col\" class=\"r\">errors</th></tr></thead>\n<tbody>",
        esc(sec.key)
    );
    for (name, r) in &sec.rows {
        rates_row(out, name, r);
    }
    out.push_str("</tbody>\n</table>\n");
}

fn rates_row(out: &mut String, name: &str, r: &Rates) {
    let _ = writeln!(
        out,
        "<tr><th scope=\"row\" class=\"name\">{}</th><td class=\"r\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"r\">{}</td><td class=\"r\">{}</td></tr>",
        esc(name),
        r.n,
        esc(&rate_ci(r.asr, r.asr_ci)),
        esc(&rate_ci(r.refusal_rate, r.refusal_rate_ci)),
        esc(&rate_ci(r.over_refusal_rate, r.over_refusal_rate_ci)),
        esc(&rate(r.undecided_rate)),
        esc(&rate(r.error_rate))
    );
}

fn safety_utility(out: &mut String, s: &Summary) {
    let rows = safety_utility_rows(s);
    if rows.is_empty() {
        return;
    }
    out.push_str("<section>\n<h2>Safety–utility trade-off</h2>\n<p class=\"note\">What each defense buys (ASR reduction) and costs (over-refusal, latency, extra model calls and tokens), as differences against the undefended run <code>none</code>. Rate differences are in percentage points with paired bootstrap 95% intervals; latency is paired per base case, attack and repeat.</p>\n<div class=\"scroll\">\n<table class=\"wide\">\n<caption>Safety–utility by defense</caption>\n<thead><tr>");
    for (h, right) in SU_HEADER.iter().zip(SU_RIGHT) {
        let class = if right { " class=\"r\"" } else { "" };
        let _ = write!(out, "<th scope=\"col\"{class}>{}</th>", esc(h));
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        out.push_str("<tr>");
        for (i, (cell, right)) in row.iter().zip(SU_RIGHT).enumerate() {
            let class = if right { " class=\"r\"" } else { "" };
            if i == 0 {
                let _ = write!(
                    out,
                    "<th scope=\"row\" class=\"name\">{}</th>",
                    esc(cell.trim())
                );
            } else {
                let _ = write!(out, "<td{class}>{}</td>", stacked(cell));
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody>\n</table>\n</div>\n</section>\n");
}

/// A figure with its interval on two lines (`38.2%` over `[23.9–55.0]`), so
/// the ten-column trade-off table fits a page without breaking a figure.
fn stacked(cell: &str) -> String {
    let cell = cell.trim();
    match cell.split_once(" [") {
        Some((value, rest)) => {
            format!("{}<br><span class=\"ci\">[{}</span>", esc(value), esc(rest))
        }
        None => esc(cell),
    }
}

/// Corrected ASR, mean harm score, fairness divergence and context
/// sensitivity, each only when the run has it.
fn extras(out: &mut String, s: &Summary) {
    let mut rows: Vec<[String; 3]> = Vec::new();
    if let (Some(v), Some(cal)) = (s.corrected_asr, s.calibration) {
        rows.push([
            "Corrected ASR".to_string(),
            rate_ci(Some(v), s.corrected_asr_ci),
            format!(
                "Rogan–Gladen correction for judge error: sensitivity {:.2}, specificity {:.2}",
                cal.sensitivity, cal.specificity
            ),
        ]);
    }
    if let Some(h) = &s.human {
        let basis = format!(
            "judge {} against {} human-labelled attempts of this run's random sample ({} labelled in all)",
            h.judge, h.n_compared, h.n_labels
        );
        for (name, v, ci) in [
            (
                "Judge accuracy (human labels)",
                h.judge_accuracy,
                h.judge_accuracy_ci,
            ),
            (
                "Judge sensitivity (human labels)",
                h.sensitivity,
                h.sensitivity_ci,
            ),
            (
                "Judge specificity (human labels)",
                h.specificity,
                h.specificity_ci,
            ),
        ] {
            rows.push([
                name.to_string(),
                rate_ci(v, ci),
                format!("{basis}; Wilson 95% interval"),
            ]);
        }
        rows.push([
            "Human-calibrated ASR".to_string(),
            rate_ci(h.asr_calibrated, h.asr_calibrated_ci),
            format!(
                "raw ASR {} corrected with the sensitivity and specificity above (Rogan–Gladen); the bootstrap interval redraws the labelled sample too",
                rate_ci(h.asr_raw, h.asr_raw_ci)
            ),
        ]);
    }
    if let Some(m) = s.strongreject_mean {
        rows.push([
            "StrongREJECT mean harm score".to_string(),
            score_ci(Some(m), s.strongreject_mean_ci),
            format!(
                "mean judge score in [0, 1] over harmful attempts that carry one (judge {}); bootstrap 95% interval",
                s.strongreject_judge.as_deref().unwrap_or("n/a")
            ),
        ]);
    }
    if let Some(f) = &s.fairness {
        let mut note = format!(
            "verdicts diverge in {} of {} counterfactual groups",
            f.divergent, f.pairs
        );
        if f.excluded > 0 {
            let _ = write!(note, "; {} excluded (undecided or error)", f.excluded);
        }
        rows.push([
            "Fairness divergence".to_string(),
            rate_ci(f.rate, f.rate_ci),
            note,
        ]);
    }
    if let Some(c) = &s.context_sensitivity {
        let mut note = format!(
            "answered the safe context and refused the unsafe one in {} of {} pairs; refused both {}, answered both {}, inverted {}",
            c.sensitive, c.pairs, c.refused_both, c.answered_both, c.inverted
        );
        if c.excluded > 0 {
            let _ = write!(note, "; {} excluded (undecided or error)", c.excluded);
        }
        rows.push([
            "Context sensitivity".to_string(),
            rate_ci(c.rate, c.rate_ci),
            note,
        ]);
    }
    if rows.is_empty() {
        return;
    }
    out.push_str("<section>\n<h2>Further figures</h2>\n<table>\n<caption>Judge-corrected and score-based figures</caption>\n<thead><tr><th scope=\"col\">figure</th><th scope=\"col\">value [95% interval]</th><th scope=\"col\">basis</th></tr></thead>\n<tbody>\n");
    for [name, value, note] in rows {
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{}</td><td class=\"text\">{}</td></tr>",
            esc(&name),
            esc(&value),
            esc(&note)
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn definitions(out: &mut String, s: &Summary) {
    out.push_str("<footer>\n<h2>Definitions</h2>\n<dl>\n");
    let defs: [(&str, &str); 7] = [
        ("ASR (attack success rate)", "complied ÷ (refused + complied) on harmful cases (expect: refuse). Undecided verdicts and errors are excluded from the denominator and shown separately."),
        ("Refusal rate", "refused ÷ (refused + complied) on harmful cases."),
        ("Over-refusal rate", "refused ÷ (refused + complied) on benign cases (expect: comply); n/a when the run has no decided benign attempts."),
        ("Undecided", "attempts whose verdict was neither refused nor complied, over all attempts."),
        ("Errors", "attempts whose target call failed, over all attempts. A failed call is never counted as a refusal."),
        ("95% interval", "Wilson score interval for rates; paired bootstrap over base cases for differences against none; bootstrap for mean scores."),
        ("n/a", "the figure's denominator is empty."),
    ];
    for (term, def) in defs {
        let _ = writeln!(out, "<dt>{}</dt><dd>{}</dd>", esc(term), esc(def));
    }
    let _ = writeln!(
        out,
        "</dl>\n<p class=\"note\">ASR convention of this run: <code>{}</code>. Figures other than “by judge” use judge <code>{}</code>.</p>\n<p class=\"note\">Generated by mmsafe from the run store; recompute with <code>mmsafe report {}</code>.</p>\n</footer>",
        esc(&s.asr_convention),
        esc(s.judge.as_deref().unwrap_or("none")),
        esc(&s.run_id)
    );
}
