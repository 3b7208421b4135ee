//! SafeBench (Ying et al., 2024; not FigStep's `safebench.csv`): 23 risk
//! scenarios × 100 harmful queries, each with a generated image. Laid out as
//! upstream's evaluation scripts read it: `text/<N>.csv` (or `text/text/`),
//! one query per record in the first column, no header, and the image of the
//! k-th record at `<N>/<k>.png` (k from 1), for scenario N = 1…23.
//!
//! The scenario names live in the release's `category.csv`, whose layout we
//! could not establish, so every case gets `hazard=` (default
//! non_violent_crimes) and keeps its scenario number in metadata. All refuse.

use super::common::{self, IMAGES, TEXT_ONLY};
use crate::csvrows::{self, Header};
use crate::options::LoadOptions;
use crate::registry::{Input, Loader};
use crate::source::{case, meta, row_image, settle, CaseIter, LazySource, RowError};
use mmsafe_core::{Case, DataError, Expect, Hazard, ParamSpec, Source};
use std::path::PathBuf;
use std::sync::Arc;

pub static LOADER: Loader = Loader {
    name: "safebench-mm",
    usage: "safebench-mm:<dir with text/<N>.csv and <N>/<k>.png>[:scenarios=1+2,hazard=…]",
    summary: "SafeBench (Ying et al.) text/<N>.csv (one query per line) + <N>/<k>.png, 23 scenarios; hazard= for all (no published category map read); all refuse",
    params: &[
        IMAGES,
        TEXT_ONLY,
        ParamSpec::new("scenarios", "", "`+`-separated scenario numbers to keep (default all found)"),
        ParamSpec::new("hazard", "non_violent_crimes", "hazard of every case (SafeBench's scenario names are not mapped)"),
    ],
    takes_path: true,
    known_files: &[],
    build,
};

const COLUMNS: &[&str] = &["query"];

struct Ctx {
    source: String,
    files: Vec<(PathBuf, u32)>,
    images: Option<PathBuf>,
    hazard: Hazard,
    opts: LoadOptions,
}

fn build(input: &Input<'_>) -> Result<Box<dyn Source>, DataError> {
    let root = input.path.to_path_buf();
    if root.is_file() {
        return Err(DataError::new(
            root.display().to_string(),
            "safebench-mm reads SafeBench's folder (text/<N>.csv + <N>/<k>.png); FigStep's safebench.csv loads with `figstep:`",
        ));
    }
    let text = [root.join("text").join("text"), root.join("text")]
        .into_iter()
        .find(|d| d.is_dir())
        .ok_or_else(|| {
            DataError::new(
                root.display().to_string(),
                "no SafeBench `text/` folder (expected text/<N>.csv)",
            )
        })?;
    let mut keep = Vec::new();
    for s in input.params.str("scenarios").split('+').map(str::trim) {
        if s.is_empty() {
            continue;
        }
        let n: u32 = s
            .parse()
            .map_err(|_| common::param_error(input, format!("scenario `{s}` is not a number")))?;
        keep.push(n);
    }
    let mut files = Vec::new();
    for n in 1..=23u32 {
        if !keep.is_empty() && !keep.contains(&n) {
            continue;
        }
        let f = text.join(format!("{n}.csv"));
        if f.is_file() {
            files.push((f, n));
        }
    }
    if files.is_empty() {
        return Err(DataError::new(
            text.display().to_string(),
            "no scenario file `<N>.csv` (N = 1…23) found",
        ));
    }
    let mut len = 0;
    for (f, _) in &files {
        let _ = csvrows::read(f, Header::Fixed(COLUMNS), COLUMNS)?;
        len += csvrows::count(f, Header::Fixed(COLUMNS)).unwrap_or(0);
    }
    let images = common::images_dir(input, std::slice::from_ref(&root))?;
    let ctx = Arc::new(Ctx {
        source: input.spec.to_string(),
        files,
        images,
        hazard: common::hazard_param(input)?,
        opts: input.opts.clone(),
    });
    Ok(LazySource::new(input.spec, Some(len), move || Ok(cases(ctx.clone()))).boxed())
}

fn cases(ctx: Arc<Ctx>) -> CaseIter {
    let files = ctx.files.clone();
    Box::new(files.into_iter().flat_map(move |(file, n)| {
        let ctx = ctx.clone();
        let rows: CaseIter = match csvrows::read(&file, Header::Fixed(COLUMNS), COLUMNS) {
            Err(e) => Box::new(std::iter::once(Err(e))),
            Ok(rows) => Box::new(rows.enumerate().filter_map(move |(i, row)| {
                let result = row.map_err(RowError::Data).and_then(|r| {
                    // Records, not lines, count: a quoted query may span lines.
                    to_case(&r, n, i + 1, &ctx)
                });
                settle(&ctx.opts, result)
            })),
        };
        rows
    }))
}

fn to_case(row: &csvrows::CsvRow, n: u32, k: usize, ctx: &Ctx) -> Result<Case, RowError> {
    let loc = row.loc();
    let query = row.text("query")?;
    let mut images = Vec::new();
    let rel = format!("{n}/{k}.png");
    if let Some(dir) = &ctx.images {
        let path = crate::images::resolve(dir, &rel, &loc, "query")?;
        images.push(row_image(&path, &loc)?);
    }
    let mut c = case(
        format!("safebench-mm-{n}-{k}"),
        &ctx.source,
        &loc,
        query,
        images,
        ctx.hazard,
        Expect::Refuse,
    );
    meta(&mut c, "question", query);
    meta(&mut c, "scenario", n);
    meta(&mut c, "image_file", rel);
    Ok(c)
}
