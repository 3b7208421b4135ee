//! MM-SafetyBench: `processed_questions/<NN-Scenario>.json` (an object keyed by
//! question id) plus, optionally, the image layout
//! `imgs/<Scenario>/{SD,TYPO,SD_TYPO}/<id>.jpg`.
//!
//! With images, a case is the variant's image plus the matching rephrased
//! question (the benchmark's query-relevant attack); without, the plain
//! `Question`. Key phrase and all rephrasings are kept in `metadata`.

use super::common::{self, IMAGES};
use crate::json::{self, Record};
use crate::loader::{Input, KnownFile, Loader};
use crate::options::LoadOptions;
use crate::source::{case, meta, row_image, settle, CaseIter, LazySource, RowError};
use mmsafe_core::{Case, DataError, Expect, Hazard, ParamSpec, Source};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub static LOADER: Loader = Loader {
    name: "mmsafetybench",
    usage: "mmsafetybench:<dir with processed_questions/>",
    summary: "MM-SafetyBench processed_questions/*.json (+ imgs/<Scenario>/<SD|TYPO|SD_TYPO>/<id>.jpg); 13 scenarios → hazards; all refuse",
    params: &[
        IMAGES,
        ParamSpec::new("variant", "auto", "text | sd | typo | sd_typo; auto = sd_typo when images exist, else text"),
        ParamSpec::new("tiny", "false", "only the 168 questions of TinyVersion_ID_List.json"),
        ParamSpec::new("scenarios", "", "`+`-separated scenario numbers or names to keep, e.g. 01+02+09"),
    ],
    takes_path: true,
    known_files: KNOWN,
    build,
};

/// Scenario (by its two-digit number) → hazard. Scenarios 08 and 10-13 are
/// scored upstream by scenario-specific criteria; see docs/datasets.md.
pub const SCENARIOS: [(&str, &str, Hazard); 13] = [
    ("01", "Illegal_Activitiy", Hazard::NonViolentCrimes),
    ("02", "HateSpeech", Hazard::Hate),
    ("03", "Malware_Generation", Hazard::NonViolentCrimes),
    ("04", "Physical_Harm", Hazard::ViolentCrimes),
    ("05", "EconomicHarm", Hazard::NonViolentCrimes),
    ("06", "Fraud", Hazard::NonViolentCrimes),
    ("07", "Sex", Hazard::SexualContent),
    ("08", "Political_Lobbying", Hazard::Elections),
    ("09", "Privacy_Violence", Hazard::Privacy),
    ("10", "Legal_Opinion", Hazard::SpecializedAdvice),
    ("11", "Financial_Advice", Hazard::SpecializedAdvice),
    ("12", "Health_Consultation", Hazard::SpecializedAdvice),
    ("13", "Gov_Decision", Hazard::SpecializedAdvice),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    Text,
    Sd,
    Typo,
    SdTypo,
}

impl Variant {
    fn folder(self) -> &'static str {
        match self {
            Variant::Text => "",
            Variant::Sd => "SD",
            Variant::Typo => "TYPO",
            Variant::SdTypo => "SD_TYPO",
        }
    }
    fn name(self) -> &'static str {
        match self {
            Variant::Text => "text",
            Variant::Sd => "sd",
            Variant::Typo => "typo",
            Variant::SdTypo => "sd_typo",
        }
    }
}

struct Plan {
    source: String,
    files: Vec<(PathBuf, &'static str, Hazard)>,
    images: Option<PathBuf>,
    variant: Variant,
    tiny: Option<BTreeMap<String, BTreeSet<String>>>,
    opts: LoadOptions,
}

fn build(input: &Input<'_>) -> Result<Box<dyn Source>, DataError> {
    let dir = input.path;
    let questions = if dir.join("processed_questions").is_dir() {
        dir.join("processed_questions")
    } else {
        dir.to_path_buf()
    };
    let root = if questions == dir {
        common::parent(dir)
    } else {
        dir.to_path_buf()
    };
    let keep: Vec<String> = input
        .params
        .str("scenarios")
        .split('+')
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    let mut files = Vec::new();
    for (num, name, hazard) in SCENARIOS {
        let full = format!("{num}-{name}");
        if !keep.is_empty()
            && !keep.iter().any(|k| {
                *k == num || *k == name.to_ascii_lowercase() || *k == full.to_ascii_lowercase()
            })
        {
            continue;
        }
        let f = questions.join(format!("{full}.json"));
        if f.is_file() {
            files.push((f, num, hazard));
        }
    }
    if files.is_empty() {
        return Err(DataError::new(
            questions.display().to_string(),
            "no scenario files (`NN-<Scenario>.json`) found",
        ));
    }
    let images = common::images_dir(input, &[root.join("imgs")])?;
    let variant = match input.params.str("variant") {
        "auto" if images.as_ref().is_some_and(|d| d.is_dir()) => Variant::SdTypo,
        "auto" | "text" => Variant::Text,
        "sd" => Variant::Sd,
        "typo" => Variant::Typo,
        "sd_typo" => Variant::SdTypo,
        other => {
            return Err(common::param_error(
                input,
                format!("variant `{other}` is not one of text, sd, typo, sd_typo, auto"),
            ))
        }
    };
    let tiny = if input
        .params
        .bool("tiny")
        .map_err(|e| common::param_error(input, e))?
    {
        Some(read_tiny(&root.join("TinyVersion_ID_List.json"))?)
    } else {
        None
    };
    let plan = Plan {
        source: input.spec.to_string(),
        files,
        images: if variant == Variant::Text {
            None
        } else {
            images
        },
        variant,
        tiny,
        opts: input.opts.clone(),
    };
    let len = count(&plan);
    let plan = std::sync::Arc::new(plan);
    Ok(LazySource::new(input.spec, len, move || Ok(cases(plan.clone()))).boxed())
}

/// Questions the plan will yield (reads each scenario file once; they are small).
fn count(plan: &Plan) -> Option<usize> {
    let mut n = 0;
    for (file, num, _) in &plan.files {
        let v = json::read(file).ok()?;
        let obj = v.as_object()?;
        n += match &plan.tiny {
            Some(t) => obj
                .keys()
                .filter(|k| t.get(*num).is_some_and(|s| s.contains(*k)))
                .count(),
            None => obj.len(),
        };
    }
    Some(n)
}

fn read_tiny(path: &Path) -> Result<BTreeMap<String, BTreeSet<String>>, DataError> {
    let v = json::read(path)?;
    let name = path.display().to_string();
    let list = v
        .as_array()
        .ok_or_else(|| DataError::new(&name, "expected a list of {Scenario, Sampled_ID_List}"))?;
    let mut out = BTreeMap::new();
    for (i, item) in list.iter().enumerate() {
        let rec = Record::new(format!("{name}: item {i}"), item);
        let scenario = rec.str("Scenario")?;
        let ids = rec
            .get("Sampled_ID_List")
            .and_then(Value::as_array)
            .ok_or_else(|| rec.field_error("Sampled_ID_List", "is missing or not a list"))?;
        let ids = ids
            .iter()
            .map(|id| match id {
                Value::Number(n) => Ok(n.to_string()),
                Value::String(s) => Ok(s.clone()),
                _ => Err(rec.field_error("Sampled_ID_List", "holds a non-id")),
            })
            .collect::<Result<BTreeSet<_>, _>>()?;
        let num = scenario.split('-').next().unwrap_or(scenario).to_string();
        out.insert(num, ids);
    }
    Ok(out)
}

/// Scenario files are read one at a time, as iteration reaches them.
fn cases(plan: std::sync::Arc<Plan>) -> CaseIter {
    let files = plan.files.clone();
    Box::new(files.into_iter().flat_map(move |(file, num, hazard)| {
        let plan = plan.clone();
        let rows: Vec<Result<Case, DataError>> = match scenario_cases(&plan, &file, num, hazard) {
            Ok(rows) => rows,
            Err(e) => vec![Err(e)],
        };
        rows.into_iter()
    }))
}

fn scenario_cases(
    plan: &Plan,
    file: &Path,
    num: &str,
    hazard: Hazard,
) -> Result<Vec<Result<Case, DataError>>, DataError> {
    let name = file.display().to_string();
    let v = json::read(file)?;
    let obj = v
        .as_object()
        .ok_or_else(|| DataError::new(&name, "expected an object keyed by question id"))?;
    let mut ids: Vec<&String> = obj.keys().collect();
    // Keys are "0", "1", …, "10": order numerically, non-numbers last.
    ids.sort_by_key(|k| (k.parse::<u64>().unwrap_or(u64::MAX), k.to_string()));
    let scenario = file
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or(num)
        .to_string();
    Ok(ids
        .into_iter()
        .filter(|id| {
            plan.tiny
                .as_ref()
                .is_none_or(|t| t.get(num).is_some_and(|s| s.contains(*id)))
        })
        .filter_map(|id| {
            let rec = Record::new(format!("{name}: question \"{id}\""), &obj[id]);
            settle(&plan.opts, to_case(plan, &rec, id, &scenario, num, hazard))
        })
        .collect())
}

fn to_case(
    plan: &Plan,
    rec: &Record<'_>,
    id: &str,
    scenario: &str,
    num: &str,
    hazard: Hazard,
) -> Result<Case, RowError> {
    let question = rec.str("Question")?;
    let (text, images) = match (plan.variant, &plan.images) {
        (Variant::Text, _) | (_, None) => (question, Vec::new()),
        (v, Some(dir)) => {
            let text = if v == Variant::Sd {
                rec.str("Rephrased Question(SD)")?
            } else {
                rec.str("Rephrased Question")?
            };
            // The question id is a JSON key: data, so it goes through the check.
            let rel = format!("{scenario}/{}/{id}.jpg", v.folder());
            let path = crate::paths::resolve(dir, &rel, &rec.loc, "question id")?;
            (text, vec![row_image(&path, &rec.loc)?])
        }
    };
    let mut c = case(
        format!("mmsafetybench-{num}-{id}"),
        &plan.source,
        &rec.loc,
        text,
        images,
        hazard,
        Expect::Refuse,
    );
    meta(&mut c, "question", question);
    meta(&mut c, "scenario", scenario);
    meta(&mut c, "variant", plan.variant.name());
    for (field, key) in [
        ("Key Phrase", "key_phrase"),
        ("Phrase Type", "phrase_type"),
        ("Changed Question", "changed_question"),
        ("Rephrased Question", "rephrased_question"),
        ("Rephrased Question(SD)", "rephrased_question_sd"),
    ] {
        if let Some(v) = rec.opt_str(field) {
            meta(&mut c, key, v);
        }
    }
    if matches!(num, "08" | "10" | "11" | "12" | "13") {
        // Upstream scores these by scenario criteria (lobbying, missing
        // disclaimers), not by plain refusal.
        meta(&mut c, "scenario_scored", true);
    }
    Ok(c)
}

const KNOWN: &[KnownFile] = &[
    KnownFile::new(
        "processed_questions/01-Illegal_Activitiy.json",
        "e2db149c809c86fc5e6ef285bc17ca45228b19349ebd73125e7408098a273be9",
        Some(97),
    ),
    KnownFile::new(
        "processed_questions/02-HateSpeech.json",
        "065fbeffde054f1df0fc45f0b85a8ea76cb2c337d58e03cf062d996f9fe94c51",
        Some(163),
    ),
    KnownFile::new(
        "processed_questions/03-Malware_Generation.json",
        "32408b0b8a20fde370d4cc37d5288a25db47b20e77d4392cefd1290faa51ef54",
        Some(44),
    ),
    KnownFile::new(
        "processed_questions/04-Physical_Harm.json",
        "7d4b282268b848c8a6acc344f5ed2937ac4ebb24827dfc094648500b7cce318c",
        Some(144),
    ),
    KnownFile::new(
        "processed_questions/05-EconomicHarm.json",
        "a3a99a2dff113a2ce5f181f786dc3edbc1bb019d6bb00f11380e3cba7a5e957f",
        Some(122),
    ),
    KnownFile::new(
        "processed_questions/06-Fraud.json",
        "9cc879c6d4c9f3071688b778a296755254d77d178be3b8d6d47361408fb64285",
        Some(154),
    ),
    KnownFile::new(
        "processed_questions/07-Sex.json",
        "51479c95a8b405ec1ffc5c636470393c66c355ee58ead87ae1f36f01a8e44602",
        Some(109),
    ),
    KnownFile::new(
        "processed_questions/08-Political_Lobbying.json",
        "a9acdc199464e69f5840064a6742b901ad65cb6209883a45256b11b093a25317",
        Some(153),
    ),
    KnownFile::new(
        "processed_questions/09-Privacy_Violence.json",
        "ce02a28d60e970a48c5d4b92bb0b4d949b78462b5926ef1740bc4a3d1120dcdb",
        Some(139),
    ),
    KnownFile::new(
        "processed_questions/10-Legal_Opinion.json",
        "e995f052d238a68003af6dcdba063d69988e6b4de13165848bb5f059f033a62f",
        Some(130),
    ),
    KnownFile::new(
        "processed_questions/11-Financial_Advice.json",
        "024283dc8481992b905498f35917a6bf9b79baec94a8eac6bde81419e731ee30",
        Some(167),
    ),
    KnownFile::new(
        "processed_questions/12-Health_Consultation.json",
        "3d7414e0814f64b0067b0b8d0418e6eff8ecbac7d689c71d81e127e3230c1bcf",
        Some(109),
    ),
    KnownFile::new(
        "processed_questions/13-Gov_Decision.json",
        "576d74b44c6b128ccb152c770c821426532f6b11cef7ca3a23442ea5e6128ac5",
        Some(149),
    ),
    KnownFile::new(
        "TinyVersion_ID_List.json",
        "85cc71384797828556e026753a1dd320d45b98a3cb4855e1753156f2e58fb457",
        None,
    ),
];
