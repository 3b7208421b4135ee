//! MM-Harmful Bench (InferAligner): `questions.jsonl`, one `{image_url,
//! question}` per line; the image of line n (0-based) is `images/<n>.jpg`.
//! No categories: every row gets the `hazard=` parameter; all `expect: refuse`.

use super::common::{self, IMAGES, TEXT_ONLY};
use crate::json::{self, Record};
use crate::loader::{Input, KnownFile, Loader};
use crate::source::{case, meta, row_image, settle, LazySource, RowError};
use mmsafe_core::{DataError, Expect, ParamSpec, Source};

pub static LOADER: Loader = Loader {
    name: "mm-harmfulbench",
    usage: "mm-harmfulbench:<questions.jsonl>[:images=<dir>]",
    summary: "MM-Harmful Bench JSONL (image_url,question) + images/<line-1>.jpg; no categories (hazard= param); all refuse",
    params: &[
        IMAGES,
        TEXT_ONLY,
        ParamSpec::new("hazard", "non_violent_crimes", "hazard for every row (the file has no categories)"),
    ],
    takes_path: true,
    known_files: &[KnownFile::new(
        "questions.jsonl",
        "7b8902fc28bf4b0379f05b24ade2bc164fea1e988de21433348056376169b3d9",
        Some(100),
    )],
    build,
};

fn build(input: &Input<'_>) -> Result<Box<dyn Source>, DataError> {
    let path = input.path.to_path_buf();
    let hazard = common::hazard_param(input)?;
    let images = common::images_dir(input, &[common::parent(&path).join("images")])?;
    let _ = json::lines(&path)?;
    let len = json::count_lines(&path);
    let source = input.spec.to_string();
    let opts = input.opts.clone();
    Ok(LazySource::new(input.spec, len, move || {
        let (source, images, opts) = (source.clone(), images.clone(), opts.clone());
        let name = path.display().to_string();
        let lines = json::lines(&path)?;
        Ok(Box::new(lines.filter_map(move |line| {
            let r = line.map_err(RowError::Data).and_then(|(n, v)| {
                let rec = Record::new(format!("{name}:{n}"), &v);
                let question = rec.str("question")?;
                let index = n - 1;
                let mut imgs = Vec::new();
                if let Some(dir) = &images {
                    let path =
                        crate::paths::resolve(dir, &format!("{index}.jpg"), &rec.loc, "line")?;
                    imgs.push(row_image(&path, &rec.loc)?);
                }
                let mut c = case(
                    format!("mm-harmfulbench-{index}"),
                    &source,
                    &rec.loc,
                    question,
                    imgs,
                    hazard,
                    Expect::Refuse,
                );
                meta(&mut c, "question", question);
                if let Some(u) = rec.opt_str("image_url") {
                    meta(&mut c, "image_url", u);
                }
                Ok(c)
            });
            settle(&opts, r)
        })))
    })
    .boxed())
}
