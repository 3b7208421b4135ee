//! The `mmsafe analyze --html FILE` page: the report's self-contained style
//! (inline CSS and SVG, no script, no external resource, CSP forbidding
//! both) with four figures — uplift forest plot, hazard × attack heat map,
//! readability curve, safety–utility frontier — each followed by the table
//! of its numbers.

use super::plots;
use crate::fmt::{p_value, pct, pct_ci, pp_ci, NA};
use crate::html::{esc, STYLE};
use mmsafe_metrics::analysis::{Group, Uplift};
use mmsafe_metrics::Analysis;
use std::fmt::Write as _;

pub(crate) const EXTRA_STYLE: &str = r#"
svg.chart .zero { stroke: #111111; stroke-width: 1.5; }
svg.chart .dot { fill: #1f5fa8; }
svg.chart .front { stroke: #15803d; stroke-width: 2; stroke-dasharray: 6 4; }
svg.chart .threshold { stroke: #7a7a7a; stroke-width: 1; stroke-dasharray: 4 4; }
svg.chart text.cellv { font-size: 12px; }
svg.chart.fixed { width: auto; max-width: 100%; }
"#;

fn t(v: String) -> String {
    esc(v.trim())
}

/// The page; same analysis, same bytes.
pub fn render_analysis_html(a: &Analysis) -> String {
    let mut out = String::new();
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n");
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    out.push_str("<meta name=\"generator\" content=\"mmsafe\">\n");
    let _ = writeln!(
        out,
        "<title>{}</title>",
        esc(&format!("mmsafe analysis — run {}", a.run_id))
    );
    let _ = writeln!(out, "<style>{STYLE}{EXTRA_STYLE}</style>\n</head>\n<body>");
    let _ = writeln!(
        out,
        "<header>\n<h1>Why is this model unsafe?</h1>\n<p class=\"meta\"><span>run <strong>{}</strong></span><span>judge <strong>{}</strong></span><span>measured under defense <strong>{}</strong></span></p>\n</header>",
        esc(&a.run_id),
        esc(a.judge.as_deref().unwrap_or("none")),
        esc(a.defense.as_deref().unwrap_or("none"))
    );
    sections(&mut out, a);
    let _ = writeln!(
        out,
        "<footer>\n<p class=\"note\">Rates carry Wilson 95% intervals; differences carry paired bootstrap 95% intervals over base cases ({} resamples, seed {:#x}); p-values are exact McNemar tests, Holm-adjusted across the attacks of a table. Undecided verdicts and errors are left out of every rate. Recompute with <code>mmsafe analyze {}</code>.</p>\n</footer>\n</body>\n</html>",
        a.bootstrap.resamples,
        a.bootstrap.seed,
        esc(&a.run_id)
    );
    out
}

/// Every analysis section, figures first in each; shared by this page and
/// the run report (`mmsafe report --format html`), so both show the same
/// four figures from the same code.
pub(crate) fn sections(out: &mut String, a: &Analysis) {
    uplift(out, a);
    heatmap(out, a);
    backbone(out, a);
    reliance(out, a);
    defenses(out, a);
    ranking(out, a);
}

fn uplift_table(out: &mut String, caption: &str, rows: &[Uplift]) {
    let _ = writeln!(
        out,
        "<table>\n<caption>{}</caption>\n<thead><tr><th scope=\"col\">attack</th><th scope=\"col\" class=\"r\">pairs</th><th scope=\"col\" class=\"r\">text ASR</th><th scope=\"col\" class=\"r\">attack ASR</th><th scope=\"col\">uplift [95% CI]</th><th scope=\"col\" class=\"r\">p</th><th scope=\"col\" class=\"r\">p (Holm)</th></tr></thead>\n<tbody>",
        esc(caption)
    );
    for u in rows {
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\" class=\"name\">{}</th><td class=\"r\">{}</td><td class=\"r\">{}</td><td class=\"r\">{}</td><td>{}</td><td class=\"r\">{}</td><td class=\"r\">{}</td></tr>",
            esc(&u.attack),
            u.n_pairs,
            t(pct(u.asr_text)),
            t(pct(u.asr_attack)),
            t(pp_ci(u.uplift, u.uplift_ci)),
            esc(&p_value(u.p_value)),
            esc(&p_value(u.p_holm))
        );
    }
    out.push_str("</tbody>\n</table>\n");
}

fn uplift(out: &mut String, a: &Analysis) {
    out.push_str("<section>\n<h2>Modality uplift</h2>\n<p class=\"note\">Each attack against the same base case sent as plain text (<code>none</code>), paired on the base case and repeat: how many points of attack success the attack adds.</p>\n");
    if a.uplift.is_empty() {
        out.push_str("<p class=\"note\">No attack besides <code>none</code> in this run: nothing to pair.</p>\n</section>\n");
        return;
    }
    let by_name: std::collections::BTreeMap<&str, &Uplift> =
        a.uplift.iter().map(|u| (u.attack.as_str(), u)).collect();
    let ranked: Vec<&Uplift> = a
        .ranking
        .attacks
        .iter()
        .filter_map(|r| by_name.get(r.attack.as_str()).copied())
        .collect();
    out.push_str("<figure>\n");
    plots::forest(out, &ranked);
    out.push_str("<figcaption>Uplift per attack, largest first: dot = ASR difference to plain text, whiskers = paired bootstrap 95% interval.</figcaption>\n</figure>\n");
    uplift_table(out, "Uplift per attack", &a.uplift);
    for h in &a.uplift_by_hazard {
        uplift_table(
            out,
            &format!("Uplift within hazard {}", h.hazard),
            &h.attacks,
        );
    }
    out.push_str("</section>\n");
}

fn heatmap(out: &mut String, a: &Analysis) {
    if a.heatmap.cells.is_empty() {
        return;
    }
    out.push_str("<section>\n<h2>Hazard × attack</h2>\n<figure>\n<div class=\"scroll\">\n");
    plots::heatmap(out, &a.heatmap);
    out.push_str("</div>\n<figcaption>ASR of harmful attempts per hazard (rows) and attack (columns): complied of decided attempts; grey cells have no decided attempt.</figcaption>\n</figure>\n</section>\n");
}

fn backbone(out: &mut String, a: &Analysis) {
    let Some(b) = &a.backbone else { return };
    let _ = writeln!(
        out,
        "<section>\n<h2>Backbone versus MLLM</h2>\n<p class=\"note\">This run against baseline run <code>{}</code> on the {} harmful attempts both share (same base case, attack, defense and repeat): positive differences mean this model complies more.</p>",
        esc(&b.baseline_run_id),
        b.n_shared
    );
    out.push_str("<table>\n<caption>ASR difference (this run − baseline) by hazard</caption>\n<thead><tr><th scope=\"col\">hazard</th><th scope=\"col\" class=\"r\">pairs</th><th scope=\"col\" class=\"r\">baseline ASR</th><th scope=\"col\" class=\"r\">run ASR</th><th scope=\"col\">difference [95% CI]</th><th scope=\"col\" class=\"r\">p</th><th scope=\"col\" class=\"r\">p (Holm)</th></tr></thead>\n<tbody>\n");
    for r in std::iter::once(&b.overall).chain(&b.by_hazard) {
        let c = &r.comparison;
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{}</th><td class=\"r\">{}</td><td class=\"r\">{}</td><td class=\"r\">{}</td><td>{}</td><td class=\"r\">{}</td><td class=\"r\">{}</td></tr>",
            esc(&r.hazard),
            c.n_pairs,
            t(pct(c.asr_a)),
            t(pct(c.asr_b)),
            t(pp_ci(c.difference, c.difference_ci)),
            esc(&p_value(c.p_value)),
            esc(&p_value(r.p_holm))
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn group_cell(g: &Group) -> String {
    format!(
        "{} ({}/{})",
        t(pct_ci(g.asr, g.asr_ci)),
        g.complied,
        g.decided
    )
}

fn reliance(out: &mut String, a: &Analysis) {
    if a.reliance.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "<section>\n<h2>What the attack relies on</h2>\n<p class=\"note\">Image attacks' ASR by how much of the rendered text the OCR read back when the attack ran (readable: word accuracy ≥ {:.2}), and by how the text was rendered.</p>\n<figure>",
        a.readable_threshold
    );
    plots::readability(out, &a.reliance, a.readable_threshold);
    out.push_str("<figcaption>Readability curve: ASR per word-accuracy bin (points at the bin's mean accuracy) with Wilson 95% intervals.</figcaption>\n</figure>\n");
    out.push_str("<table>\n<caption>Readable versus unreadable image text</caption>\n<thead><tr><th scope=\"col\">attack</th><th scope=\"col\">readable</th><th scope=\"col\">unreadable</th><th scope=\"col\">difference [95% CI]</th><th scope=\"col\" class=\"r\">OCR-scored</th></tr></thead>\n<tbody>\n");
    for r in &a.reliance {
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\" class=\"name\">{}</th><td>{}</td><td>{}</td><td>{}</td><td class=\"r\">{} of {}</td></tr>",
            esc(&r.attack),
            group_cell(&r.readable),
            group_cell(&r.unreadable),
            t(pp_ci(r.readable_minus_unreadable, r.readable_minus_unreadable_ci)),
            r.scored,
            r.scored + r.unscored
        );
    }
    out.push_str("</tbody>\n</table>\n");
    out.push_str("<table>\n<caption>ASR by rendering parameter</caption>\n<thead><tr><th scope=\"col\">attack</th><th scope=\"col\">parameter</th><th scope=\"col\">value</th><th scope=\"col\">ASR [95% CI] (complied/decided)</th></tr></thead>\n<tbody>\n");
    for r in &a.reliance {
        for (what, groups) in [
            ("font size", &r.by_font_size),
            ("contrast", &r.by_contrast),
            ("layout", &r.by_layout),
        ] {
            for g in groups {
                let _ = writeln!(
                    out,
                    "<tr><th scope=\"row\" class=\"name\">{}</th><td>{what}</td><td>{}</td><td>{}</td></tr>",
                    esc(&r.attack),
                    esc(&g.value),
                    group_cell(g)
                );
            }
        }
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn defenses(out: &mut String, a: &Analysis) {
    if a.defenses.is_empty() {
        return;
    }
    out.push_str("<section>\n<h2>Defense effect: the safety–utility frontier</h2>\n<figure>\n");
    plots::frontier(out, &a.defenses);
    out.push_str("<figcaption>Each defense at its over-refusal (x) and ASR (y), all attacks pooled; ★ and the dashed line mark the frontier.</figcaption>\n</figure>\n");
    out.push_str("<table>\n<caption>ASR drop and over-refusal rise against <code>none</code> (paired bootstrap 95% intervals)</caption>\n<thead><tr><th scope=\"col\">defense</th><th scope=\"col\">ASR</th><th scope=\"col\">over-refusal</th><th scope=\"col\">ASR drop</th><th scope=\"col\">over-refusal rise</th><th scope=\"col\">frontier</th></tr></thead>\n<tbody>\n");
    for d in &a.defenses {
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\" class=\"name\">{}</th><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            esc(&d.defense),
            t(pct_ci(d.asr, d.asr_ci)),
            t(pct_ci(d.over_refusal_rate, d.over_refusal_rate_ci)),
            t(pp_ci(d.asr_drop, d.asr_drop_ci)),
            t(pp_ci(d.over_refusal_rise, d.over_refusal_rise_ci)),
            if d.on_frontier { "yes" } else { "" }
        );
    }
    out.push_str("</tbody>\n</table>\n</section>\n");
}

fn ranking(out: &mut String, a: &Analysis) {
    let r = &a.ranking;
    if r.attacks.is_empty() {
        return;
    }
    out.push_str("<section>\n<h2>Ranking</h2>\n<table>\n<caption>Attacks by uplift</caption>\n<thead><tr><th scope=\"col\" class=\"r\">rank</th><th scope=\"col\">attack</th><th scope=\"col\">uplift [95% CI]</th><th scope=\"col\" class=\"r\">p (Holm)</th><th scope=\"col\" class=\"r\">pairs</th></tr></thead>\n<tbody>\n");
    for x in &r.attacks {
        let _ = writeln!(
            out,
            "<tr><td class=\"r\">{}</td><th scope=\"row\" class=\"name\">{}</th><td>{}</td><td class=\"r\">{}</td><td class=\"r\">{}</td></tr>",
            x.rank,
            esc(&x.attack),
            t(pp_ci(x.uplift, x.uplift_ci)),
            esc(&p_value(x.p_holm)),
            x.n_pairs
        );
    }
    out.push_str("</tbody>\n</table>\n");
    let _ = writeln!(
        out,
        "<h3>Cases that complied under every attack ({})</h3>",
        r.broken_under_every_attack.len()
    );
    if !r.broken_under_every_attack.is_empty() {
        out.push_str("<ul>\n");
        for c in &r.broken_under_every_attack {
            let text = match c.text_complied {
                Some(true) => "also complied as plain text",
                Some(false) => "refused as plain text",
                None => "no decided plain-text attempt",
            };
            let _ = writeln!(
                out,
                "<li><code>{}</code> ({}): {text}</li>",
                esc(&c.base_case_id),
                esc(&c.hazard)
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str("<h3>Most brittle refusals (refused as text, complied as image)</h3>\n");
    if r.brittle_hazards.is_empty() {
        let _ = writeln!(
            out,
            "<p class=\"note\">{NA}: no plain-text refusal was paired with an image attack.</p>"
        );
    } else {
        out.push_str("<table>\n<thead><tr><th scope=\"col\">hazard</th><th scope=\"col\" class=\"r\">refused as text</th><th scope=\"col\" class=\"r\">complied as image</th><th scope=\"col\">share [95% CI]</th></tr></thead>\n<tbody>\n");
        for b in &r.brittle_hazards {
            let _ = writeln!(
                out,
                "<tr><th scope=\"row\">{}</th><td class=\"r\">{}</td><td class=\"r\">{}</td><td>{}</td></tr>",
                esc(&b.hazard),
                b.refused_as_text,
                b.complied_as_image,
                t(pct_ci(b.brittleness, b.brittleness_ci))
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }
    out.push_str("</section>\n");
}
