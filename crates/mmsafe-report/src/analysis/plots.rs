//! The four figures of the analysis page, as inline SVG. Every figure carries
//! its numbers twice: drawn, and as `data-*` attributes and `<title>`s on the
//! marks, so a reader can hover and a test can check a mark against a value.
//! All run-derived strings go through `esc`.

use crate::html::esc;
use mmsafe_metrics::analysis::{DefenseEffect, Heatmap, Reliance, Uplift};
use mmsafe_metrics::Ci;
use std::fmt::Write as _;

/// Series colours (colour-blind-safe order); a series also has its own marker.
const SERIES: [&str; 6] = [
    "#1f5fa8", "#c2410c", "#15803d", "#7e22ce", "#a16207", "#444444",
];

fn f4(v: f64) -> String {
    format!("{v:.4}")
}

fn pct0(v: f64) -> String {
    format!("{:.0}%", v * 100.0)
}

fn svg_open(out: &mut String, id: &str, w: f64, h: f64, title: &str, desc: &str) {
    // The heat map grows with its columns: drawn at its own size, not stretched.
    let class = if id == "fig-heatmap" {
        "chart fixed"
    } else {
        "chart"
    };
    let _ = writeln!(
        out,
        "<svg class=\"{class}\" id=\"{id}\" viewBox=\"0 0 {w:.0} {h:.0}\" width=\"{w:.0}\" height=\"{h:.0}\" role=\"img\" aria-labelledby=\"{id}-t {id}-d\">\n<title id=\"{id}-t\">{}</title>\n<desc id=\"{id}-d\">{}</desc>",
        esc(title),
        esc(desc)
    );
}

fn label(name: &str, max: usize) -> String {
    if name.chars().count() <= max {
        name.to_string()
    } else {
        let mut t: String = name.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

// ---- heat map ----------------------------------------------------------

pub(crate) const HM_LABEL_W: f64 = 210.0;
pub(crate) const HM_HEAD_H: f64 = 96.0;
pub(crate) const HM_CELL_H: f64 = 30.0;
pub(crate) const HM_CELL_W: f64 = 96.0;

/// White (0%) to dark red (100%).
pub(crate) fn heat_colour(v: f64) -> String {
    let v = v.clamp(0.0, 1.0);
    let mix = |lo: f64, hi: f64| (lo + (hi - lo) * v).round() as u8;
    format!(
        "#{:02x}{:02x}{:02x}",
        mix(255.0, 153.0),
        mix(255.0, 27.0),
        mix(255.0, 30.0)
    )
}

pub(crate) fn heatmap(out: &mut String, h: &Heatmap) {
    let cols = h.attacks.len();
    let w = HM_LABEL_W + HM_CELL_W * cols as f64 + 20.0;
    let ht = HM_HEAD_H + HM_CELL_H * h.hazards.len() as f64 + 10.0;
    svg_open(
        out,
        "fig-heatmap",
        w.max(400.0),
        ht,
        "ASR by hazard and attack",
        "Heat map: one row per hazard, one column per attack; the darker the cell, the higher the attack success rate. Each cell shows complied of decided harmful attempts.",
    );
    for (j, a) in h.attacks.iter().enumerate() {
        let x = HM_LABEL_W + HM_CELL_W * (j as f64 + 0.5);
        let _ = writeln!(
            out,
            "<text class=\"tick\" transform=\"translate({x:.1} {:.1}) rotate(-35)\">{}<title>{}</title></text>",
            HM_HEAD_H - 8.0,
            esc(&label(a, 16)),
            esc(a)
        );
    }
    for (i, hz) in h.hazards.iter().enumerate() {
        let y = HM_HEAD_H + HM_CELL_H * i as f64;
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            HM_LABEL_W - 8.0,
            y + HM_CELL_H / 2.0 + 4.0,
            esc(&label(hz, 28))
        );
        for (j, c) in h.cells[i * cols..(i + 1) * cols].iter().enumerate() {
            let x = HM_LABEL_W + HM_CELL_W * j as f64;
            // The ink goes in `style`: the page's `svg.chart text` rule would
            // override a `fill` attribute and draw dark text on dark red.
            let (fill, text, ink, asr_attr) = match c.asr {
                Some(v) => (
                    heat_colour(v),
                    format!("{} ({}/{})", pct0(v), c.complied, c.decided),
                    if v > 0.55 { "#ffffff" } else { "#1a1a1a" },
                    f4(v),
                ),
                None => (
                    "#eeeeee".to_string(),
                    "n/a".to_string(),
                    "#444444",
                    String::new(),
                ),
            };
            let _ = writeln!(
                out,
                "<g class=\"cell\" data-hazard=\"{}\" data-attack=\"{}\" data-asr=\"{asr_attr}\" data-complied=\"{}\" data-decided=\"{}\"><title>{} × {}: ASR {}</title><rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{fill}\" stroke=\"#d0d0d0\" stroke-width=\"1\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" style=\"fill:{ink}\" class=\"cellv\">{}</text></g>",
                esc(&c.hazard),
                esc(&c.attack),
                c.complied,
                c.decided,
                esc(&c.hazard),
                esc(&c.attack),
                esc(&text),
                HM_CELL_W,
                HM_CELL_H,
                x + HM_CELL_W / 2.0,
                y + HM_CELL_H / 2.0 + 4.0,
                esc(&text)
            );
        }
    }
    out.push_str("</svg>\n");
}

// ---- forest plot -------------------------------------------------------

pub(crate) const FP_X0: f64 = 220.0;
pub(crate) const FP_W: f64 = 440.0;
pub(crate) const FP_TOP: f64 = 30.0;
pub(crate) const FP_ROW: f64 = 28.0;

/// Uplift in [−1, 1] → x.
pub(crate) fn fp_x(v: f64) -> f64 {
    FP_X0 + (v.clamp(-1.0, 1.0) + 1.0) / 2.0 * FP_W
}

fn whisker_h(out: &mut String, class: &str, ci: Option<Ci>, y: f64, map: impl Fn(f64) -> f64) {
    if let Some([lo, hi]) = ci {
        if lo.is_finite() && hi.is_finite() {
            let (x1, x2) = (map(lo), map(hi));
            let _ = writeln!(
                out,
                "<path class=\"{class}\" fill=\"none\" d=\"M{x1:.1} {y:.1}H{x2:.1}M{x1:.1} {:.1}V{:.1}M{x2:.1} {:.1}V{:.1}\"/>",
                y - 5.0,
                y + 5.0,
                y - 5.0,
                y + 5.0
            );
        }
    }
}

/// One row per attack, in the given (ranked) order.
pub(crate) fn forest(out: &mut String, rows: &[&Uplift]) {
    let h = FP_TOP + FP_ROW * rows.len() as f64 + 12.0;
    svg_open(
        out,
        "fig-forest",
        880.0,
        h,
        "Modality uplift per attack",
        "Forest plot: for each attack, the ASR difference to the same base cases as plain text, in percentage points (dot), with its paired bootstrap 95% interval (whiskers). Right of zero, the attack adds attack success.",
    );
    let bottom = FP_TOP + FP_ROW * rows.len() as f64;
    for t in [-1.0, -0.5, 0.0, 0.5, 1.0] {
        let x = fp_x(t);
        let class = if t == 0.0 { "zero" } else { "grid" };
        let _ = writeln!(
            out,
            "<line class=\"{class}\" x1=\"{x:.1}\" y1=\"{:.1}\" x2=\"{x:.1}\" y2=\"{bottom:.1}\"/><text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{:+.0} pp</text>",
            FP_TOP - 6.0,
            FP_TOP - 10.0,
            t * 100.0
        );
    }
    for (i, u) in rows.iter().enumerate() {
        let y = FP_TOP + FP_ROW * (i as f64 + 0.5);
        let value = crate::fmt::pp_ci(u.uplift, u.uplift_ci);
        let _ = writeln!(
            out,
            "<g class=\"row\" data-attack=\"{}\" data-uplift=\"{}\" data-lo=\"{}\" data-hi=\"{}\" data-p-holm=\"{}\"><title>{}: uplift {} (p Holm {}, {} pairs)</title>",
            esc(&u.attack),
            u.uplift.map(f4).unwrap_or_default(),
            u.uplift_ci.map(|c| f4(c[0])).unwrap_or_default(),
            u.uplift_ci.map(|c| f4(c[1])).unwrap_or_default(),
            f4(u.p_holm),
            esc(&u.attack),
            esc(&value),
            esc(&crate::fmt::p_value(u.p_holm)),
            u.n_pairs
        );
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            FP_X0 - 10.0,
            y + 4.0,
            esc(&label(&u.attack, 26))
        );
        match u.uplift {
            Some(v) => {
                whisker_h(out, "whisker", u.uplift_ci, y, fp_x);
                let _ = writeln!(
                    out,
                    "<circle class=\"dot\" cx=\"{:.1}\" cy=\"{y:.1}\" r=\"5\"/>",
                    fp_x(v)
                );
                let _ = writeln!(
                    out,
                    "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
                    FP_X0 + FP_W + 12.0,
                    y + 4.0,
                    esc(&value)
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "<text class=\"na\" x=\"{:.1}\" y=\"{:.1}\">n/a: no decided pairs</text>",
                    FP_X0 + 4.0,
                    y + 4.0
                );
            }
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
}

// ---- scatter axes shared by the frontier and the readability curve -----

pub(crate) const SC_X0: f64 = 80.0;
pub(crate) const SC_Y0: f64 = 20.0;
pub(crate) const SC_W: f64 = 480.0;
pub(crate) const SC_H: f64 = 300.0;

pub(crate) fn sc_x(v: f64) -> f64 {
    SC_X0 + v.clamp(0.0, 1.0) * SC_W
}

pub(crate) fn sc_y(v: f64) -> f64 {
    SC_Y0 + (1.0 - v.clamp(0.0, 1.0)) * SC_H
}

fn axes(out: &mut String, x_label: &str, y_label: &str, x_pct: bool) {
    for t in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let (x, y) = (sc_x(t), sc_y(t));
        let xt = if x_pct { pct0(t) } else { format!("{t:.2}") };
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{x:.1}\" y1=\"{SC_Y0:.1}\" x2=\"{x:.1}\" y2=\"{:.1}\"/><text class=\"tick\" x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{xt}</text>",
            SC_Y0 + SC_H,
            SC_Y0 + SC_H + 18.0
        );
        let _ = writeln!(
            out,
            "<line class=\"grid\" x1=\"{SC_X0:.1}\" y1=\"{y:.1}\" x2=\"{:.1}\" y2=\"{y:.1}\"/><text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            SC_X0 + SC_W,
            SC_X0 - 8.0,
            y + 4.0,
            pct0(t)
        );
    }
    let _ = writeln!(
        out,
        "<path class=\"axis\" fill=\"none\" d=\"M{SC_X0:.1} {SC_Y0:.1}V{:.1}H{:.1}\"/>",
        SC_Y0 + SC_H,
        SC_X0 + SC_W
    );
    let _ = writeln!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text><text transform=\"translate(18 {:.1}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        SC_X0 + SC_W / 2.0,
        SC_Y0 + SC_H + 40.0,
        esc(x_label),
        SC_Y0 + SC_H / 2.0,
        esc(y_label)
    );
}

fn whisker_v(out: &mut String, ci: Option<Ci>, x: f64) {
    if let Some([lo, hi]) = ci {
        let (y1, y2) = (sc_y(lo), sc_y(hi));
        let _ = writeln!(
            out,
            "<path class=\"whisker\" fill=\"none\" d=\"M{x:.1} {y1:.1}V{y2:.1}M{:.1} {y1:.1}H{:.1}M{:.1} {y2:.1}H{:.1}\"/>",
            x - 4.0,
            x + 4.0,
            x - 4.0,
            x + 4.0
        );
    }
}

// ---- safety–utility frontier -------------------------------------------

pub(crate) fn frontier(out: &mut String, rows: &[DefenseEffect]) {
    svg_open(
        out,
        "fig-frontier",
        880.0,
        SC_Y0 + SC_H + 56.0,
        "Safety–utility frontier",
        "Scatter: each defense at its over-refusal rate (x) and attack success rate (y), with Wilson 95% intervals on both axes. Lower left is better; the line joins the defenses no other defense beats on both.",
    );
    axes(
        out,
        "over-refusal rate (benign requests refused)",
        "attack success rate",
        true,
    );
    let mut front: Vec<(f64, f64)> = rows
        .iter()
        .filter(|d| d.on_frontier)
        .filter_map(|d| d.over_refusal_rate.zip(d.asr))
        .collect();
    front.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
    if front.len() > 1 {
        let pts: Vec<String> = front
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", sc_x(*x), sc_y(*y)))
            .collect();
        let _ = writeln!(
            out,
            "<polyline class=\"front\" fill=\"none\" points=\"{}\"/>",
            pts.join(" ")
        );
    }
    let mut legend_y = SC_Y0 + 10.0;
    for (i, d) in rows.iter().enumerate() {
        let colour = SERIES[i % SERIES.len()];
        let Some((x, y)) = d.over_refusal_rate.zip(d.asr) else {
            let _ = writeln!(
                out,
                "<text class=\"na\" x=\"{:.1}\" y=\"{legend_y:.1}\">{}: n/a</text>",
                SC_X0 + SC_W + 20.0,
                esc(&label(&d.defense, 20))
            );
            legend_y += 20.0;
            continue;
        };
        let (px, py) = (sc_x(x), sc_y(y));
        let _ = writeln!(
            out,
            "<g class=\"point\" data-defense=\"{}\" data-x=\"{}\" data-y=\"{}\" data-frontier=\"{}\"><title>{}: ASR {}, over-refusal {}{}</title>",
            esc(&d.defense),
            f4(x),
            f4(y),
            d.on_frontier,
            esc(&d.defense),
            esc(crate::fmt::pct_ci(d.asr, d.asr_ci).trim()),
            esc(crate::fmt::pct_ci(d.over_refusal_rate, d.over_refusal_rate_ci).trim()),
            if d.on_frontier { " (on the frontier)" } else { "" }
        );
        whisker_v(out, d.asr_ci, px);
        if let Some([lo, hi]) = d.over_refusal_rate_ci {
            let _ = writeln!(
                out,
                "<path class=\"whisker\" fill=\"none\" d=\"M{:.1} {py:.1}H{:.1}\"/>",
                sc_x(lo),
                sc_x(hi)
            );
        }
        let _ = writeln!(
            out,
            "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"6\" fill=\"{colour}\"/>"
        );
        let _ = writeln!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            px + 9.0,
            py - 7.0,
            esc(&label(&d.defense, 20))
        );
        out.push_str("</g>\n");
        let _ = writeln!(
            out,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"5\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{:.1}\">{}{}</text>",
            SC_X0 + SC_W + 26.0,
            legend_y - 4.0,
            SC_X0 + SC_W + 36.0,
            legend_y,
            esc(&label(&d.defense, 24)),
            if d.on_frontier { " ★" } else { "" }
        );
        legend_y += 20.0;
    }
    out.push_str("</svg>\n");
}

// ---- readability curve -------------------------------------------------

pub(crate) fn readability(out: &mut String, rows: &[Reliance], threshold: f64) {
    svg_open(
        out,
        "fig-readability",
        880.0,
        SC_Y0 + SC_H + 56.0,
        "Attack success by readability of the image text",
        "Line chart: for each image attack, the attack success rate (y) of attempts grouped by how many of the rendered words the OCR read back (x, word accuracy bins of 0.25), with Wilson 95% intervals. A rising line means the attack works through the text the model reads.",
    );
    axes(
        out,
        "OCR word accuracy of the image text",
        "attack success rate",
        false,
    );
    let tx = sc_x(threshold);
    let _ = writeln!(
        out,
        "<line class=\"threshold\" x1=\"{tx:.1}\" y1=\"{SC_Y0:.1}\" x2=\"{tx:.1}\" y2=\"{:.1}\"/><text class=\"tick\" x=\"{:.1}\" y=\"{:.1}\">readable →</text>",
        SC_Y0 + SC_H,
        tx + 4.0,
        SC_Y0 + 12.0
    );
    let mut legend_y = SC_Y0 + 10.0;
    for (i, r) in rows.iter().enumerate() {
        let colour = SERIES[i % SERIES.len()];
        let pts: Vec<(f64, f64, &mmsafe_metrics::analysis::CurvePoint)> = r
            .curve
            .iter()
            .filter_map(|p| p.mean_accuracy.zip(p.asr).map(|(x, y)| (x, y, p)))
            .collect();
        let _ = writeln!(
            out,
            "<g class=\"series\" data-attack=\"{}\" data-points=\"{}\">",
            esc(&r.attack),
            pts.len()
        );
        if pts.len() > 1 {
            let line: Vec<String> = pts
                .iter()
                .map(|(x, y, _)| format!("{:.1},{:.1}", sc_x(*x), sc_y(*y)))
                .collect();
            let _ = writeln!(
                out,
                "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"/>",
                line.join(" ")
            );
        }
        for (x, y, p) in &pts {
            let (px, py) = (sc_x(*x), sc_y(*y));
            let _ = writeln!(
                out,
                "<g class=\"point\" data-x=\"{}\" data-y=\"{}\" data-complied=\"{}\" data-decided=\"{}\"><title>{}: word accuracy {:.2}–{:.2} (mean {:.2}): ASR {} ({}/{})</title>",
                f4(*x),
                f4(*y),
                p.complied,
                p.decided,
                esc(&r.attack),
                p.bin[0],
                p.bin[1],
                x,
                esc(crate::fmt::pct_ci(p.asr, p.asr_ci).trim()),
                p.complied,
                p.decided
            );
            whisker_v(out, p.asr_ci, px);
            let _ = writeln!(
                out,
                "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"5\" fill=\"{colour}\"/></g>"
            );
        }
        out.push_str("</g>\n");
        let note = if pts.is_empty() {
            " (no OCR score recorded)"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"14\" height=\"4\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{legend_y:.1}\">{}{}</text>",
            SC_X0 + SC_W + 20.0,
            legend_y - 6.0,
            SC_X0 + SC_W + 40.0,
            esc(&label(&r.attack, 22)),
            note
        );
        legend_y += 20.0;
    }
    out.push_str("</svg>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_by_hand() {
        assert_eq!(heat_colour(0.0), "#ffffff");
        assert_eq!(heat_colour(1.0), "#991b1e");
        assert_eq!(fp_x(-1.0), 220.0);
        assert_eq!(fp_x(0.0), 440.0);
        assert_eq!(fp_x(0.5), 550.0);
        assert_eq!(sc_x(0.25), 200.0);
        assert_eq!(sc_y(0.25), 245.0);
    }
}
