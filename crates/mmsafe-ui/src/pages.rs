//! The pages, server-rendered with maud (every `(expr)` is HTML-escaped).
//! No inline script or style: behaviour comes from `/static/app.js`, looks
//! from `/static/app.css`, data for the script from `data-*` attributes.

use crate::{DetailQuery, FilterQuery, UiError, UiResult, PAGE_SIZE};
use maud::{html, Markup, DOCTYPE};
use mmsafe_metrics::{
    mcnemar_with_judge, Ci, HumanCalibration, McNemar, Observation, Rates, Summary, SummaryOptions,
};
use mmsafe_report::fmt::{pct, pct_ci};
use mmsafe_store::{
    AnnotatorAgreement, AttemptDetail, AttemptPage, Facets, HumanLabel, JudgePair, PartView, Run,
    RunSummary, Store,
};
use std::collections::BTreeMap;

pub(crate) struct Ctx {
    pub csrf: String,
    pub annotator: Option<String>,
}

/// Percent-encode a path segment or query value.
pub(crate) fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn rate(v: Option<f64>, ci: Option<Ci>) -> String {
    pct_ci(v, ci).trim().to_string()
}

fn layout(ctx: &Ctx, title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="csrf-token" content=(ctx.csrf);
                title { (title) " · mmsafe ui" }
                link rel="stylesheet" href="/static/app.css";
                script src="/static/app.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" { "mmsafe ui" }
                    nav {
                        a href="/" { "runs" }
                        a href="/compare" { "compare" }
                        a id="who" href="/annotator" {
                            @match &ctx.annotator {
                                Some(a) => { "annotator: " (a) }
                                None => { "choose annotator" }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

pub(crate) fn error_page(status: u16, msg: &str) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head { meta charset="utf-8"; title { "error " (status) } link rel="stylesheet" href="/static/app.css"; }
            body { main { h1 { "Error " (status) } p.error { (msg) } p { a href="/" { "back to runs" } } } }
        }
    }
    .into_string()
}

pub(crate) fn runs(ctx: &Ctx, q: &str, runs: &[(RunSummary, usize)]) -> Markup {
    layout(
        ctx,
        "runs",
        html! {
            h1 { "Runs" }
            form.search method="get" action="/" {
                input type="search" name="q" value=(q) placeholder="search id, name, target" aria-label="search runs";
                button type="submit" { "search" }
            }
            p.note { "The browser never deletes a run or its attempts: the only write it makes is a label. Runs with labels are marked protected — their labels calibrate the report." }
            table id="runs" {
                thead { tr { th { "run" } th { "name" } th { "created" } th { "status" } th.num { "attempts" } th.num { "errors" } th.num { "labels" } th { "target" } } }
                tbody {
                    @for (r, labels) in runs {
                        tr {
                            td { a href={ "/runs/" (enc(&r.run.id)) } { (r.run.id) } }
                            td { (r.run.name.as_deref().unwrap_or("")) }
                            td { (r.run.created) }
                            td { (r.run.status.as_str()) }
                            td.num { (r.attempts) }
                            td.num { (r.errors) }
                            td.num { (labels) @if *labels > 0 { " " span.badge title="has human labels" { "protected" } } }
                            td.mono { (r.run.plan.target) }
                        }
                    }
                }
            }
            @if runs.is_empty() { p { "No runs match." } }
        },
    )
}

pub(crate) fn annotator(ctx: &Ctx, next: &str) -> Markup {
    layout(
        ctx,
        "annotator",
        html! {
            h1 { "Who is labelling?" }
            p { "Each person labels under one name; agreement between annotators is measured by name." }
            form id="annotator-form" method="post" action="/annotator" {
                input type="hidden" name="csrf" value=(ctx.csrf);
                input type="hidden" name="next" value=(next);
                label for="name" { "name " }
                input id="name" type="text" name="name" required maxlength="64" autofocus value=(ctx.annotator.as_deref().unwrap_or(""));
                button type="submit" { "start" }
            }
        },
    )
}

pub(crate) struct OverviewData {
    run: Run,
    summary: Summary,
    judges: Vec<String>,
    attacks: Vec<String>,
    heat: BTreeMap<String, BTreeMap<String, Rates>>,
    pairs: Vec<JudgePair>,
    agreement: AnnotatorAgreement,
    other_runs: Vec<(String, String)>,
}

pub(crate) fn overview_data(s: &Store, run: &str, judge: Option<&str>) -> UiResult<OverviewData> {
    let mut run = s.resolve_run(run)?;
    run.plan.target = mmsafe_target::redact_spec(&run.plan.target);
    let judges = s.judges(&run.id)?;
    let judge = judge
        .filter(|j| !j.is_empty())
        .map(str::to_string)
        .or_else(|| run.plan.judges.iter().find(|j| judges.contains(j)).cloned())
        .or_else(|| judges.first().cloned());
    if let Some(j) = &judge {
        if !judges.contains(j) {
            return Err(UiError::NotFound(format!(
                "run {} has no verdicts from judge {j}",
                run.id
            )));
        }
    }
    // One judge's observations: the headline, the breakdowns and the heatmap.
    let obs = match &judge {
        Some(j) => s.observations(&run.id, Some(j))?,
        None => Vec::new(),
    };
    let mut summary = mmsafe_metrics::summarize(
        &run.id,
        &obs,
        &SummaryOptions {
            judge: judge.clone(),
            ..SummaryOptions::default()
        },
    );
    if let Some(j) = &judge {
        summary.human = s.human_calibration(&run.id, run.seed, j)?;
    }
    let mut cells: BTreeMap<String, BTreeMap<String, Vec<&Observation>>> = BTreeMap::new();
    for o in &obs {
        cells
            .entry(o.hazard.slug().to_string())
            .or_default()
            .entry(o.attack.clone())
            .or_default()
            .push(o);
    }
    let heat = cells
        .into_iter()
        .map(|(h, m)| {
            (
                h,
                m.into_iter()
                    .map(|(a, v)| (a, Rates::from_observations(v)))
                    .collect(),
            )
        })
        .collect();
    let attacks = summary.by_attack.keys().cloned().collect();
    let other_runs = s
        .list_runs()?
        .into_iter()
        .filter(|r| r.run.id != run.id)
        .map(|r| (r.run.id, r.run.name.unwrap_or_default()))
        .collect();
    Ok(OverviewData {
        pairs: s.judge_pairs(&run.id)?,
        agreement: s.annotator_agreement(&run.id)?,
        run,
        summary,
        judges,
        attacks,
        heat,
        other_runs,
    })
}

fn heat_class(r: &Rates) -> String {
    match r.asr {
        Some(a) => format!("heat heat-{}", (a * 10.0).round().clamp(0.0, 10.0) as u32),
        None => "heat heat-na".into(),
    }
}

fn rates_table(caption: &str, key: &str, rows: &BTreeMap<String, Rates>) -> Markup {
    html! {
        table {
            caption { (caption) }
            thead { tr { th { (key) } th.num { "n" } th { "ASR" } th { "refusal" } th { "over-refusal" } th.num { "undecided" } th.num { "errors" } } }
            tbody {
                @for (k, r) in rows {
                    tr {
                        td { (k) } td.num { (r.n) } td { (rate(r.asr, r.asr_ci)) } td { (rate(r.refusal_rate, r.refusal_rate_ci)) }
                        td { (rate(r.over_refusal_rate, r.over_refusal_rate_ci)) } td.num { (pct(r.undecided_rate).trim()) } td.num { (pct(r.error_rate).trim()) }
                    }
                }
            }
        }
    }
}

fn human_section(h: &HumanCalibration) -> Markup {
    html! {
        table id="human" {
            caption { "Judge " (h.judge) " measured against people on this run" }
            thead { tr { th { "figure" } th { "value [95% interval]" } } }
            tbody {
                tr { td { "labelled attempts" } td.num { (h.n_labels) } }
                tr { td { "in the random sample (used below)" } td.num { (h.n_sample) } }
                tr { td { "judge accuracy" } td { (rate(h.judge_accuracy, h.judge_accuracy_ci)) } }
                tr { td { "sensitivity" } td { (rate(h.sensitivity, h.sensitivity_ci)) } }
                tr { td { "specificity" } td { (rate(h.specificity, h.specificity_ci)) } }
                tr { td { "ASR (judge, raw)" } td { (rate(h.asr_raw, h.asr_raw_ci)) } }
                tr.strong { td { "ASR calibrated by people" } td { (rate(h.asr_calibrated, h.asr_calibrated_ci)) } }
            }
        }
        p.note { (h.method) }
    }
}

pub(crate) fn overview(ctx: &Ctx, d: &OverviewData) -> Markup {
    let s = &d.summary;
    let id = enc(&d.run.id);
    layout(
        ctx,
        &d.run.id,
        html! {
            h1 { "Run " (d.run.id) @if let Some(n) = &d.run.name { " · " (n) } }
            p.meta { "status " (d.run.status.as_str()) " · target " span.mono { (d.run.plan.target) } " · judge " (s.judge.as_deref().unwrap_or("none")) " · " (s.attempts) " attempts" }
            p.actions {
                a.button id="to-attempts" href={ "/runs/" (id) "/attempts" } { "attempts · a" }
                a.button href={ "/runs/" (id) "/attempts?disagree=1" } { "judges disagree" }
                a.button id="to-queue" href={ "/runs/" (id) "/queue" } { "label (queue) · q" }
                @if d.judges.len() > 1 {
                    form.inline method="get" action={ "/runs/" (id) } {
                        select name="judge" aria-label="headline judge" {
                            @for j in &d.judges { option value=(j) selected[Some(j) == s.judge.as_ref()] { (j) } }
                        }
                        button type="submit" { "judge" }
                    }
                }
            }
            section {
                h2 { "Headline" }
                dl.cards {
                    div { dt { "ASR" } dd { (rate(s.asr, s.asr_ci)) } }
                    div { dt { "refusal" } dd { (rate(s.refusal_rate, s.refusal_rate_ci)) } }
                    div { dt { "over-refusal" } dd { (rate(s.over_refusal_rate, s.over_refusal_rate_ci)) } }
                    div { dt { "undecided" } dd { (rate(s.undecided.rate, s.undecided.rate_ci)) } }
                    div { dt { "errors" } dd { (rate(s.error_rate, s.error_rate_ci)) } }
                    @if let Some(h) = &s.human { div.human { dt { "ASR calibrated by people" } dd { (rate(h.asr_calibrated, h.asr_calibrated_ci)) } } }
                }
            }
            @if let Some(h) = &s.human { section { h2 { "Human labels" } (human_section(h)) } }
            section {
                h2 { "ASR by hazard × attack" }
                div.scroll {
                    table id="heatmap" {
                        thead { tr { th { "hazard" } @for a in &d.attacks { th { (a) } } } }
                        tbody {
                            @for (h, row) in &d.heat {
                                tr {
                                    th scope="row" { a href={ "/runs/" (id) "/attempts?hazard=" (enc(h)) } { (h) } }
                                    @for a in &d.attacks {
                                        @match row.get(a) {
                                            Some(r) => td class=(heat_class(r)) title={ "n=" (r.n) } { a href={ "/runs/" (id) "/attempts?hazard=" (enc(h)) "&attack=" (enc(a)) } { (pct(r.asr).trim()) } },
                                            None => td.heat.heat-na { "" },
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            section { h2 { "Breakdowns" } (rates_table("by hazard", "hazard", &s.by_hazard)) (rates_table("by attack", "attack", &s.by_attack)) (rates_table("by defense", "defense", &s.by_defense)) }
            @let su = mmsafe_report::safety_utility_rows(s);
            @if !su.is_empty() {
                section {
                    h2 { "Defense safety–utility" }
                    div.scroll { table id="safety-utility" {
                        thead { tr { @for h in mmsafe_report::SU_HEADER { th { (h) } } } }
                        tbody { @for row in &su { tr { @for c in row { td { (c.trim()) } } } } }
                    } }
                }
            }
            section {
                h2 { "Judge agreement" }
                @if d.pairs.is_empty() { p { "One judge only." } } @else {
                    // A matrix, judge by judge: each cell is the pair's agreement on
                    // the attempts both decided, linking to where they disagree.
                    @let judges = judge_names(&d.pairs);
                    div.scroll { table id="judge-agreement" {
                        thead { tr { th { "judge" } @for j in &judges { th { (j) } } } }
                        tbody { @for r in &judges { tr {
                            th { (r) }
                            @for c in &judges {
                                @if r == c { td { "—" } } @else {
                                    @match judge_pair(&d.pairs, r, c) {
                                        Some(p) => td title={ (p.n) " attempts both decided" } {
                                            a href={ "/runs/" (id) "/attempts?disagree=1" } { (rate(mmsafe_metrics::proportion(p.agree, p.n), mmsafe_metrics::wilson(p.agree, p.n))) }
                                        },
                                        None => td { "n/a" },
                                    }
                                }
                            }
                        } } }
                    } }
                }
                @if !d.agreement.annotators.is_empty() {
                    h3 { "Between annotators" }
                    p { (d.agreement.annotators.len()) " annotator(s), " (d.agreement.shared_items) " attempt(s) labelled by two or more; Fleiss' κ "
                        (d.agreement.fleiss_kappa.map(|k| format!("{k:.3}")).unwrap_or_else(|| "n/a".into())) }
                    @if !d.agreement.pairs.is_empty() {
                        table { thead { tr { th { "annotator" } th { "annotator" } th.num { "shared" } th { "agreement" } th { "Cohen's κ" } } }
                            tbody { @for p in &d.agreement.pairs { tr { td { (p.a) } td { (p.b) } td.num { (p.n) } td { (pct(p.agreement).trim()) } td { (p.cohen_kappa.map(|k| format!("{k:.3}")).unwrap_or_else(|| "n/a".into())) } } } } }
                    }
                }
            }
            @if !d.other_runs.is_empty() {
                section {
                    h2 { "Compare" }
                    form.inline method="get" action="/compare" {
                        input type="hidden" name="a" value=(d.run.id);
                        select name="b" aria-label="run to compare with" { @for (rid, name) in &d.other_runs { option value=(rid) { (rid) @if !name.is_empty() { " · " (name) } } } }
                        button type="submit" { "compare on shared cases" }
                    }
                }
            }
        },
    )
}

fn select(name: &str, label: &str, values: &[String], current: &str) -> Markup {
    html! {
        label { (label) " "
            select name=(name) {
                option value="" { "any" }
                @for v in values { option value=(v) selected[v == current] { (v) } }
            }
        }
    }
}

fn check(name: &str, label: &str, current: &str) -> Markup {
    html! { label.check { input type="checkbox" name=(name) value="1" checked[current == "1" || current == "on"]; " " (label) } }
}

fn verdict_class(label: &str) -> &'static str {
    match label {
        "complied" => "v v-complied",
        "refused" => "v v-refused",
        "undecided" => "v v-undecided",
        _ => "v v-error",
    }
}

pub(crate) fn attempts(
    ctx: &Ctx,
    run: &Run,
    facets: &Facets,
    q: &FilterQuery,
    page: u64,
    p: &AttemptPage,
) -> Markup {
    let id = enc(&run.id);
    let qs = q.query_string();
    let pages = p.total.div_ceil(PAGE_SIZE).max(1);
    let repeats: Vec<String> = facets.repeats.iter().map(u32::to_string).collect();
    layout(
        ctx,
        "attempts",
        html! {
            h1 { a href={ "/runs/" (id) } { "Run " (run.id) } " · attempts" }
            form id="filters" method="get" action={ "/runs/" (id) "/attempts" } {
                (select("hazard", "hazard", &facets.hazards, &q.hazard))
                (select("attack", "attack", &facets.attacks, &q.attack))
                (select("defense", "defense", &facets.defenses, &q.defense))
                (select("repeat", "repeat", &repeats, &q.repeat))
                (select("judge", "judge", &facets.judges, &q.judge))
                (select("verdict", "verdict", &["refused".into(), "complied".into(), "undecided".into(), "error".into()], &q.verdict))
                (check("disagree", "judges disagree", &q.disagree))
                (check("undecided", "undecided", &q.undecided))
                (check("errors", "errors", &q.errors))
                label { "labelled "
                    select name="labelled" {
                        option value="" { "any" }
                        option value="yes" selected[q.labelled == "yes"] { "labelled" }
                        option value="no" selected[q.labelled == "no"] { "not labelled" }
                    }
                }
                input type="search" name="q" value=(q.q) placeholder="text in request or reply" aria-label="text search";
                button id="apply" type="submit" { "filter" }
            }
            p.meta id="count" { (p.total) " attempt(s) · page " (page + 1) " of " (pages) " · keys: j/k move, Enter open" }
            table id="attempts" {
                thead { tr { th { "#" } th { "hazard" } th { "attack" } th { "defense" } th.num { "rep" } th { "verdicts" } th { "labels" } th { "reply" } } }
                tbody {
                    @for (n, r) in p.rows.iter().enumerate() {
                        @let i = p.offset + n as u64;
                        @let href = format!("/runs/{}/attempts/{}?i={}{}{}", id, enc(&r.key), i, if qs.is_empty() { "" } else { "&" }, qs);
                        tr.row data-href=(href) {
                            td.num { a.open href=(href) { (i + 1) } }
                            td { (r.hazard) @if r.expect == "comply" { " " span.badge { "benign" } } }
                            td { (r.attack) }
                            td { (r.defense) }
                            td.num { (r.repeat) }
                            td { @for (j, l) in &r.verdicts { span class=(verdict_class(l)) title=(j) { (j) ": " (l) } " " } }
                            td.labels { @for (a, l) in &r.labels { span.lab title=(a) { (l.as_str()) } " " } }
                            td.reply { @if let Some(e) = &r.error_kind { span.v.v-error { "error " (e) } " " } (r.preview) }
                        }
                    }
                }
            }
            nav.pager {
                @if page > 0 { a id="prev-page" href={ "/runs/" (id) "/attempts?" (qs) (if qs.is_empty() { "" } else { "&" }) "page=" (page - 1) } { "← previous" } }
                @if page + 1 < pages { " " a id="next-page" href={ "/runs/" (id) "/attempts?" (qs) (if qs.is_empty() { "" } else { "&" }) "page=" (page + 1) } { "next →" } }
            }
        },
    )
}

fn key_hint(l: HumanLabel) -> &'static str {
    match l {
        HumanLabel::Refused => "1",
        HumanLabel::Complied => "2",
        HumanLabel::HarmfulComplied => "3",
        HumanLabel::HarmlessComplied => "4",
        HumanLabel::Unclear => "5",
    }
}

pub(crate) fn attempt(
    ctx: &Ctx,
    run: &Run,
    d: &AttemptDetail,
    q: &DetailQuery,
    prev: Option<(String, u64)>,
    next: Option<(String, u64)>,
) -> Markup {
    let id = enc(&run.id);
    let qs = q.filter.query_string();
    let amp = if qs.is_empty() { "" } else { "&" };
    let in_queue = q.queue == "1";
    let self_url = if in_queue {
        format!("/runs/{}/attempts/{}?queue=1", id, enc(&d.key))
    } else {
        match q.i {
            Some(i) => format!("/runs/{}/attempts/{}?i={i}{amp}{qs}", id, enc(&d.key)),
            None => format!("/runs/{}/attempts/{}", id, enc(&d.key)),
        }
    };
    let (prev_url, next_url) = if in_queue {
        (
            (!q.from.is_empty()).then(|| format!("/runs/{}/attempts/{}?queue=1", id, enc(&q.from))),
            Some(format!("/runs/{}/queue?from={}", id, enc(&d.key))),
        )
    } else {
        let link = |p: &Option<(String, u64)>| {
            p.as_ref()
                .map(|(k, i)| format!("/runs/{}/attempts/{}?i={i}{amp}{qs}", id, enc(k)))
        };
        (link(&prev), link(&next))
    };
    let mine = ctx
        .annotator
        .as_ref()
        .and_then(|a| d.labels.iter().find(|l| &l.annotator == a));
    let label_url = format!("/runs/{}/attempts/{}/label", id, enc(&d.key));
    layout(
        ctx,
        "attempt",
        html! {
            div id="attempt" data-key=(d.key) data-label-url=(label_url) data-next=(next_url.clone().unwrap_or_default())
                data-prev=(prev_url.clone().unwrap_or_default()) data-self=(self_url)
                data-mine=(mine.map(|l| l.label.as_str()).unwrap_or(""))
                data-annotator=(ctx.annotator.as_deref().unwrap_or("")) {
                h1 { a href={ "/runs/" (id) } { "Run " (run.id) } " · attempt " span.mono { (d.key.get(..12).unwrap_or(&d.key)) } }
                nav.pager {
                    @if let Some(u) = &prev_url { a id="prev" href=(u) { "← previous (k)" } }
                    " "
                    @if in_queue { span.badge { "queue" } } @else { a href={ "/runs/" (id) "/attempts?" (qs) } { "back to list" } }
                    " "
                    @if let Some(u) = &next_url { a id="next" href=(u) { "next (j) →" } }
                }
                section id="labelling" {
                    @match &ctx.annotator {
                        None => p { a href={ "/annotator?next=" (enc(&self_url)) } { "Choose an annotator name" } " to label." },
                        Some(a) => {
                            form id="label-form" method="post" action=(label_url) {
                                input type="hidden" name="csrf" value=(ctx.csrf);
                                input type="hidden" name="next" value=(next_url.clone().unwrap_or_else(|| self_url.clone()));
                                p.meta { "labelling as " strong { (a) } " · your label: " strong id="my-label" { (mine.map(|l| l.label.as_str()).unwrap_or("none")) } " · keys 1–5 label, u undo, n note, j/k next/previous" }
                                div.buttons {
                                    @for l in HumanLabel::ALL {
                                        button type="submit" name="label" value=(l.as_str()) class={ "lab-btn" @if mine.map(|m| m.label) == Some(l) { " chosen" } } data-key=(key_hint(l)) {
                                            kbd { (key_hint(l)) } " " (l.as_str())
                                        }
                                    }
                                }
                                label for="note" { "note " }
                                textarea id="note" name="note" rows="2" maxlength="4000" { (mine.map(|l| l.note.as_str()).unwrap_or("")) }
                            }
                            p.meta id="status" aria-live="polite" {}
                        }
                    }
                    @if !d.labels.is_empty() {
                        p.meta { "labels: " @for l in &d.labels { span.lab { (l.annotator) ": " (l.label.as_str()) } " " } }
                    }
                }
                section {
                    h2 { "Case" }
                    p.meta { "hazard " (d.hazard) " · expect " (d.expect) " · attack " span.mono { (d.attack) } " · defense " (d.defense) " · repeat " (d.repeat) " · case " span.mono { (d.case_id) } " (from " span.mono { (d.base_case_id) } ", " (d.source) ")" }
                    h3 { "Request as sent" }
                    @for m in &d.messages {
                        div.msg {
                            div.role { (m.role) }
                            @for p in &m.parts {
                                @match p {
                                    PartView::Text { text } => pre.text { (text) },
                                    PartView::Image { sha256, media_type } => figure {
                                        img src={ "/img/" (enc(sha256)) } alt={ "image " (sha256.get(..12).unwrap_or(sha256)) } loading="lazy";
                                        figcaption.mono { (media_type) " · sha256 " (sha256) }
                                    },
                                }
                            }
                        }
                    }
                    p.meta { "target " span.mono { (mmsafe_target::redact_spec(&d.request.target)) }
                        @if let Some(m) = d.request.max_tokens { " · max_tokens " (m) }
                        @if let Some(t) = d.request.temperature { " · temperature " (t) }
                        @if let Some(s) = d.request.seed { " · seed " (s) } }
                }
                section {
                    h2 { "Reply" }
                    @if let Some((k, m)) = &d.error { p.error { "target error " (k) ": " (m) } }
                    @if let Some(r) = &d.reply {
                        pre.text id="reply" { (r.text) }
                        p.meta { "finish " (r.finish_reason.as_deref().unwrap_or("?")) " · model " (r.model.as_deref().unwrap_or("?")) " · tokens " (r.prompt_tokens) "+" (r.completion_tokens) " · " (format!("{:.0}", d.latency_ms)) " ms" @if r.cached { " · cached" } " · retries " (d.retries) }
                    }
                }
                section {
                    h2 { "Verdicts" }
                    table id="verdicts" {
                        thead { tr { th { "judge" } th { "verdict" } th.num { "score" } th { "hazard" } th { "rationale" } } }
                        tbody { @for v in &d.verdicts { tr {
                            td.mono { (v.judge) } td { span class=(verdict_class(v.label.as_str())) { (v.label.as_str()) } }
                            td.num { (v.score.map(|s| format!("{s:.3}")).unwrap_or_default()) } td { (v.hazard.map(|h| h.slug()).unwrap_or("")) }
                            td { pre.text.small { (v.rationale) } }
                        } } }
                    }
                }
                @if !d.provenance.is_empty() {
                    section {
                        h2 { "Attack provenance" }
                        ol id="provenance" { @for p in &d.provenance { li {
                            strong.mono { (p.attack) } " · seed " (p.seed) " · parent " span.mono { (p.parent) }
                            @if !p.params.is_empty() { table.params { tbody { @for (k, v) in &p.params { tr { th { (k) } td.mono { (v) } } } } } }
                            @if !p.detail.is_null() { pre.text.small { (serde_json::to_string_pretty(&p.detail).unwrap_or_default()) } }
                        } } }
                    }
                }
                @if !d.guard_events.is_empty() {
                    section {
                        h2 { "Guard events" }
                        table id="guard" { thead { tr { th { "layer" } th { "decision" } th { "reason" } th.num { "ms" } } }
                            tbody { @for e in &d.guard_events { tr { td.mono { (e.layer) } td { (e.decision) } td { (e.reason) } td.num { (format!("{:.1}", e.latency_ms)) } } } } }
                    }
                }
            }
        },
    )
}

pub(crate) fn queue_done(ctx: &Ctx, run: &str) -> Markup {
    layout(
        ctx,
        "queue",
        html! {
            h1 { "Queue done" }
            p id="queue-done" { "You have labelled every attempt the queue holds for this run. " a href={ "/runs/" (enc(run)) } { "Back to the run" } }
        },
    )
}

pub(crate) struct CompareData {
    runs: Vec<(String, String)>,
    a: Option<String>,
    b: Option<String>,
    overall: Option<McNemar>,
    by_attack: Vec<(String, McNemar)>,
    by_hazard: Vec<(String, McNemar)>,
}

pub(crate) fn compare_data(s: &Store, a: &str, b: &str, judge: &str) -> UiResult<CompareData> {
    let runs = s
        .list_runs()?
        .into_iter()
        .map(|r| (r.run.id, r.run.name.unwrap_or_default()))
        .collect();
    let mut out = CompareData {
        runs,
        a: None,
        b: None,
        overall: None,
        by_attack: Vec::new(),
        by_hazard: Vec::new(),
    };
    if a.is_empty() || b.is_empty() {
        return Ok(out);
    }
    let (ra, rb) = (s.resolve_run(a)?, s.resolve_run(b)?);
    let (oa, ob) = (s.observations(&ra.id, None)?, s.observations(&rb.id, None)?);
    let judge = if judge.is_empty() {
        oa.iter()
            .map(|o| o.judge.clone())
            .find(|j| ob.iter().any(|o| &o.judge == j))
    } else {
        Some(judge.to_string())
    };
    out.a = Some(ra.id);
    out.b = Some(rb.id);
    let Some(j) = judge else { return Ok(out) };
    out.overall = Some(mcnemar_with_judge(&oa, &ob, &j));
    let group = |f: &dyn Fn(&Observation) -> String| -> Vec<(String, McNemar)> {
        let mut keys: Vec<String> = oa.iter().map(f).collect();
        keys.sort();
        keys.dedup();
        keys.into_iter()
            .map(|k| {
                let a: Vec<Observation> = oa.iter().filter(|o| f(o) == k).cloned().collect();
                let b: Vec<Observation> = ob.iter().filter(|o| f(o) == k).cloned().collect();
                let m = mcnemar_with_judge(&a, &b, &j);
                (k, m)
            })
            .filter(|(_, m)| m.n_shared > 0)
            .collect()
    };
    out.by_attack = group(&|o| o.attack.clone());
    out.by_hazard = group(&|o| o.hazard.slug().to_string());
    Ok(out)
}

fn mcnemar_rows(key: &str, rows: &[(String, McNemar)]) -> Markup {
    html! {
        table {
            thead { tr { th { (key) } th.num { "pairs" } th { "ASR A" } th { "ASR B" } th.num { "A only" } th.num { "B only" } th { "p (exact)" } } }
            tbody { @for (k, m) in rows { tr {
                td { (k) } td.num { (m.n) } td { (pct(m.asr_a).trim()) } td { (pct(m.asr_b).trim()) } td.num { (m.b10) } td.num { (m.b01) }
                td { (mmsafe_report::fmt::p_value(m.p_value)) }
            } } }
        }
    }
}

pub(crate) fn compare(ctx: &Ctx, d: &CompareData) -> Markup {
    let pick = |name: &str, cur: &Option<String>| {
        html! { select name=(name) aria-label=(name) { @for (id, n) in &d.runs { option value=(id) selected[Some(id) == cur.as_ref()] { (id) @if !n.is_empty() { " · " (n) } } } } }
    };
    layout(
        ctx,
        "compare",
        html! {
            h1 { "Compare two runs on shared cases" }
            form.inline method="get" action="/compare" { "A " (pick("a", &d.a)) " B " (pick("b", &d.b)) button type="submit" { "compare" } }
            p.note { "Paired McNemar test on attack success over the attempts both runs share (same case, attack, defense, repeat), `expect: refuse` only, undecided and errors left out." }
            @if let Some(m) = &d.overall {
                p id="compare-overall" { "judge " (m.judge.as_deref().unwrap_or("?")) " · " (m.n) " pairs · ASR A " (pct(m.asr_a).trim()) " → B " (pct(m.asr_b).trim()) " · p = " (mmsafe_report::fmt::p_value(m.p_value)) }
                h2 { "Per attack" } (mcnemar_rows("attack", &d.by_attack))
                h2 { "Per hazard" } (mcnemar_rows("hazard", &d.by_hazard))
            } @else if d.a.is_some() { p { "These runs share no judge." } }
        },
    )
}

/// The judges of a run's agreement pairs, in first-seen order.
fn judge_names(pairs: &[JudgePair]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in pairs {
        for j in [&p.a, &p.b] {
            if !out.contains(j) {
                out.push(j.clone());
            }
        }
    }
    out
}

fn judge_pair<'a>(pairs: &'a [JudgePair], a: &str, b: &str) -> Option<&'a JudgePair> {
    pairs
        .iter()
        .find(|p| (p.a == a && p.b == b) || (p.a == b && p.b == a))
}
