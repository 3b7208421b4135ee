//! `mmsafe analyze` as aligned text: one section per question, every figure
//! with its interval.

use crate::fmt::{p_value, pct, pct_ci, pp_ci, NA};
use crate::table::Table;
use mmsafe_metrics::analysis::{Group, Uplift};
use mmsafe_metrics::Analysis;
use std::fmt::Write as _;

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

fn trim(v: String) -> String {
    v.trim().to_string()
}

const UPLIFT_HEADER: [&str; 7] = [
    "attack",
    "pairs",
    "text ASR",
    "attack ASR",
    "uplift [95% CI]",
    "p (McNemar)",
    "p (Holm)",
];
const UPLIFT_RIGHT: [bool; 7] = [false, true, true, true, false, true, true];

fn uplift_cells(name: String, u: &Uplift) -> Vec<String> {
    vec![
        name,
        u.n_pairs.to_string(),
        trim(pct(u.asr_text)),
        trim(pct(u.asr_attack)),
        pp_ci(u.uplift, u.uplift_ci),
        p_value(u.p_value),
        p_value(u.p_holm),
    ]
}

fn group_text(g: &Group) -> String {
    format!(
        "{} = {} ({}/{})",
        g.value,
        trim(pct_ci(g.asr, g.asr_ci)),
        g.complied,
        g.decided
    )
}

/// The whole analysis as text; every line ends with a newline.
pub fn render_analysis_text(a: &Analysis) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "mmsafe analyze: run {}  judge {}  measured under defense {}",
        a.run_id,
        a.judge.as_deref().unwrap_or("none"),
        a.defense.as_deref().unwrap_or("none")
    );
    let _ = writeln!(
        out,
        "intervals: Wilson 95% for rates; paired bootstrap 95% over base cases for differences ({} resamples, seed {:#x})",
        a.bootstrap.resamples, a.bootstrap.seed
    );

    out.push_str(
        "\n== Modality uplift: each attack vs the same base case as plain text (`none`), paired\n",
    );
    if a.uplift.is_empty() {
        out.push_str("no attack besides `none` in this run: nothing to pair.\n");
    } else {
        let mut t = Table::new(s(&UPLIFT_HEADER), UPLIFT_RIGHT.to_vec());
        for u in &a.uplift {
            let name = if u.image {
                u.attack.clone()
            } else {
                format!("{} (text)", u.attack)
            };
            t.row(uplift_cells(name, u));
        }
        for h in &a.uplift_by_hazard {
            t.title(format!("by hazard: {}", h.hazard));
            for u in &h.attacks {
                t.row(uplift_cells(format!("  {}", u.attack), u));
            }
        }
        out.push_str(&t.render());
        out.push_str("p (Holm): adjusted across the attacks of each block.\n");
    }

    heatmap(&mut out, a);
    backbone(&mut out, a);
    reliance(&mut out, a);
    defenses(&mut out, a);
    ranking(&mut out, a);
    out
}

fn heatmap(out: &mut String, a: &Analysis) {
    let h = &a.heatmap;
    if h.cells.is_empty() {
        return;
    }
    out.push_str("\n== ASR by hazard × attack (complied/decided)\n");
    let mut header = vec!["hazard".to_string()];
    header.extend(h.attacks.iter().cloned());
    let mut right = vec![false];
    right.extend(h.attacks.iter().map(|_| true));
    let mut t = Table::new(header, right);
    for (i, hz) in h.hazards.iter().enumerate() {
        let mut row = vec![hz.clone()];
        for c in &h.cells[i * h.attacks.len()..(i + 1) * h.attacks.len()] {
            row.push(match c.asr {
                Some(v) => format!("{:.0}% ({}/{})", v * 100.0, c.complied, c.decided),
                None => NA.to_string(),
            });
        }
        t.row(row);
    }
    out.push_str(&t.render());
}

fn backbone(out: &mut String, a: &Analysis) {
    let Some(b) = &a.backbone else { return };
    let _ = writeln!(
        out,
        "\n== Backbone vs MLLM: this run − baseline run {} on {} shared harmful attempts",
        b.baseline_run_id, b.n_shared
    );
    let mut t = Table::new(
        s(&[
            "hazard",
            "pairs",
            "baseline ASR",
            "run ASR",
            "difference [95% CI]",
            "p (McNemar)",
            "p (Holm)",
        ]),
        vec![false, true, true, true, false, true, true],
    );
    for r in std::iter::once(&b.overall).chain(&b.by_hazard) {
        let c = &r.comparison;
        t.row(vec![
            r.hazard.clone(),
            c.n_pairs.to_string(),
            trim(pct(c.asr_a)),
            trim(pct(c.asr_b)),
            pp_ci(c.difference, c.difference_ci),
            p_value(c.p_value),
            p_value(r.p_holm),
        ]);
    }
    out.push_str(&t.render());
}

fn reliance(out: &mut String, a: &Analysis) {
    if a.reliance.is_empty() {
        return;
    }
    let _ = writeln!(
        out,
        "\n== What the image attacks rely on (readable = OCR word accuracy ≥ {:.2}, measured when the attack ran)",
        a.readable_threshold
    );
    for r in &a.reliance {
        let _ = writeln!(out, "{}:", r.attack);
        if r.scored + r.unscored == 0 {
            out.push_str("  no decided harmful attempt under this attack\n");
        } else if r.scored == 0 {
            let _ = writeln!(
                out,
                "  no OCR readability recorded ({} attempts; the OCR model was not available when the attack ran)",
                r.unscored
            );
        } else {
            let _ = writeln!(
                out,
                "  {}; {}; difference {} (OCR-scored {} of {})",
                group_text(&r.readable),
                group_text(&r.unreadable),
                pp_ci(r.readable_minus_unreadable, r.readable_minus_unreadable_ci),
                r.scored,
                r.scored + r.unscored
            );
            let pts: Vec<String> = r
                .curve
                .iter()
                .filter(|p| p.decided > 0)
                .map(|p| {
                    format!(
                        "[{:.2}, {:.2}{} {} ({}/{})",
                        p.bin[0],
                        p.bin[1],
                        if p.bin[1] >= 1.0 { "]" } else { ")" },
                        trim(pct_ci(p.asr, p.asr_ci)),
                        p.complied,
                        p.decided
                    )
                })
                .collect();
            let _ = writeln!(out, "  readability curve: {}", pts.join("; "));
        }
        for (what, groups) in [
            ("font size", &r.by_font_size),
            ("contrast", &r.by_contrast),
            ("layout", &r.by_layout),
        ] {
            if groups.is_empty() {
                continue;
            }
            let g: Vec<String> = groups.iter().map(group_text).collect();
            let _ = writeln!(out, "  by {what}: {}", g.join("; "));
        }
    }
}

fn defenses(out: &mut String, a: &Analysis) {
    if a.defenses.is_empty() {
        return;
    }
    out.push_str(
        "\n== Defense effect (all attacks; differences vs `none`, paired over base cases)\n",
    );
    let mut t = Table::new(
        s(&[
            "defense",
            "ASR",
            "over-refusal",
            "ASR drop [95% CI]",
            "over-refusal rise [95% CI]",
            "frontier",
        ]),
        vec![false, false, false, false, false, false],
    );
    for d in &a.defenses {
        t.row(vec![
            d.defense.clone(),
            trim(pct_ci(d.asr, d.asr_ci)),
            trim(pct_ci(d.over_refusal_rate, d.over_refusal_rate_ci)),
            pp_ci(d.asr_drop, d.asr_drop_ci),
            pp_ci(d.over_refusal_rise, d.over_refusal_rise_ci),
            if d.on_frontier { "yes" } else { "" }.to_string(),
        ]);
    }
    out.push_str(&t.render());
}

fn ranking(out: &mut String, a: &Analysis) {
    let r = &a.ranking;
    if r.attacks.is_empty() {
        return;
    }
    out.push_str("\n== Ranking\nattacks by uplift:\n");
    for x in &r.attacks {
        let _ = writeln!(
            out,
            "  {}. {}  {}  p (Holm) {}  ({} pairs)",
            x.rank,
            x.attack,
            pp_ci(x.uplift, x.uplift_ci),
            p_value(x.p_holm),
            x.n_pairs
        );
    }
    let _ = writeln!(
        out,
        "cases that complied under every attack: {}",
        r.broken_under_every_attack.len()
    );
    for c in &r.broken_under_every_attack {
        let text = match c.text_complied {
            Some(true) => "also complied as plain text",
            Some(false) => "refused as plain text",
            None => "no decided plain-text attempt",
        };
        let _ = writeln!(out, "  {} ({}): {text}", c.base_case_id, c.hazard);
    }
    if r.brittle_hazards.is_empty() {
        out.push_str("brittle refusals: no plain-text refusal paired with an image attack.\n");
    } else {
        out.push_str(
            "hazards whose refusals are most brittle (refused as text, complied as image):\n",
        );
        for b in &r.brittle_hazards {
            let _ = writeln!(
                out,
                "  {}: {} of {} text refusals flipped = {}",
                b.hazard,
                b.complied_as_image,
                b.refused_as_text,
                trim(pct_ci(b.brittleness, b.brittleness_ci))
            );
        }
    }
}
