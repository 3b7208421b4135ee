//! MOSSBench over-sensitivity: `benign/information.json` (300 benign
//! image+question pairs that look risky → `expect: comply`) and
//! `contrast/information.json` (the questions rewritten to be harmful →
//! `expect: refuse`). Each file is an object keyed by pid; `image` is relative
//! to the file's folder (`images/<pid>.png`).

use super::common::{self, IMAGES, TEXT_ONLY};
use crate::json::{self, Record};
use crate::loader::{Input, KnownFile, Loader};
use crate::options::LoadOptions;
use crate::source::{case, meta, row_image, settle, CaseIter, LazySource, RowError};
use mmsafe_core::{Case, DataError, Expect, Hazard, ParamSpec, Source};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub static LOADER: Loader = Loader {
    name: "mossbench",
    usage: "mossbench:<dir with benign/ and contrast/>[:set=benign|contrast]",
    summary: "MOSSBench information.json (pid → image,question,metadata) + images; benign → comply, contrast → refuse",
    params: &[
        IMAGES,
        TEXT_ONLY,
        ParamSpec::new("set", "all", "benign | contrast | all"),
        ParamSpec::new("hazard", "violent_crimes", "hazard of contrast cases (MOSSBench gives them no category)"),
    ],
    takes_path: true,
    known_files: &[
        KnownFile::new("benign/information.json", "a5f7701c0a068391a3ba10714dd95f3357d664c84faf47b747e425ff9806a352", Some(300)),
        KnownFile::new("contrast/information.json", "ec00786d6be370284bb398dd61978c279e372f0fd9114e8ca39032e20ea14f1e", Some(244)),
    ],
    build,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Set {
    Benign,
    Contrast,
}

impl Set {
    fn name(self) -> &'static str {
        match self {
            Set::Benign => "benign",
            Set::Contrast => "contrast",
        }
    }
}

struct Ctx {
    source: String,
    files: Vec<(PathBuf, Set, Option<PathBuf>)>,
    contrast_hazard: Hazard,
    opts: LoadOptions,
}

fn build(input: &Input<'_>) -> Result<Box<dyn Source>, DataError> {
    let path = input.path;
    let want = input.params.str("set");
    if !matches!(want, "all" | "benign" | "contrast") {
        return Err(common::param_error(
            input,
            format!("set `{want}` is not benign, contrast or all"),
        ));
    }
    let set_of = |dir: &Path| {
        if dir.file_name().is_some_and(|n| {
            n.to_string_lossy()
                .to_ascii_lowercase()
                .contains("contrast")
        }) {
            Set::Contrast
        } else {
            Set::Benign
        }
    };
    let mut found: Vec<(PathBuf, Set)> = Vec::new();
    if path.is_file() {
        found.push((path.to_path_buf(), set_of(&common::parent(path))));
    } else if path.join("information.json").is_file() {
        found.push((path.join("information.json"), set_of(path)));
    } else {
        for set in [Set::Benign, Set::Contrast] {
            let f = path.join(set.name()).join("information.json");
            if f.is_file() {
                found.push((f, set));
            }
        }
    }
    found.retain(|(_, s)| want == "all" || s.name() == want);
    if found.is_empty() {
        return Err(DataError::new(
            path.display().to_string(),
            format!("no MOSSBench information.json found (set={want})"),
        ));
    }
    let mut files = Vec::new();
    let mut len = 0;
    for (file, set) in found {
        len += read_items(&file)?.len();
        let images = common::images_dir(input, &[common::parent(&file)])?;
        files.push((file, set, images));
    }
    let ctx = Arc::new(Ctx {
        source: input.spec.to_string(),
        files,
        contrast_hazard: common::hazard_param(input)?,
        opts: input.opts.clone(),
    });
    Ok(LazySource::new(input.spec, Some(len), move || Ok(cases(ctx.clone()))).boxed())
}

fn read_items(file: &Path) -> Result<Vec<(String, serde_json::Value)>, DataError> {
    match json::read(file)? {
        serde_json::Value::Object(map) => {
            let mut items: Vec<(String, serde_json::Value)> = map.into_iter().collect();
            items.sort_by_key(|(k, _)| (k.parse::<u64>().unwrap_or(u64::MAX), k.clone()));
            Ok(items)
        }
        other => Err(DataError::new(
            file.display().to_string(),
            format!(
                "expected an object keyed by pid, found {}",
                json::kind(&other)
            ),
        )),
    }
}

fn cases(ctx: Arc<Ctx>) -> CaseIter {
    let files = ctx.files.clone();
    Box::new(files.into_iter().flat_map(move |(file, set, images)| {
        let ctx = ctx.clone();
        let name = file.display().to_string();
        let rows: Vec<Result<Case, DataError>> = match read_items(&file) {
            Err(e) => vec![Err(e)],
            Ok(items) => items
                .iter()
                .filter_map(|(pid, v)| {
                    let rec = Record::new(format!("{name}: pid \"{pid}\""), v);
                    settle(&ctx.opts, to_case(&rec, pid, set, images.as_deref(), &ctx))
                })
                .collect(),
        };
        rows.into_iter()
    }))
}

fn to_case(
    rec: &Record<'_>,
    pid: &str,
    set: Set,
    images: Option<&Path>,
    ctx: &Ctx,
) -> Result<Case, RowError> {
    let question = rec.str("question")?;
    let image_name = rec.str("image")?;
    let mut imgs = Vec::new();
    if let Some(dir) = images {
        let path = crate::images::resolve(dir, image_name, &rec.loc, "image")?;
        imgs.push(row_image(&path, &rec.loc)?);
    }
    let (hazard, expect) = match set {
        Set::Benign => (Hazard::Benign, Expect::Comply),
        Set::Contrast => (ctx.contrast_hazard, Expect::Refuse),
    };
    let mut c = case(
        format!("mossbench-{}-{pid}", set.name()),
        &ctx.source,
        &rec.loc,
        question,
        imgs,
        hazard,
        expect,
    );
    meta(&mut c, "question", question);
    meta(&mut c, "set", set.name());
    meta(&mut c, "image_file", image_name);
    if let Some(m) = rec.get("metadata") {
        if let Some(over) = m.get("over").and_then(|v| v.as_str()) {
            meta(&mut c, "over", over);
        }
        if let Some(harm) = m.get("harm") {
            meta(&mut c, "harm", harm.clone());
        }
    }
    Ok(c)
}
