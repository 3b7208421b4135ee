//! FigStep SafeBench (`safebench.csv`, `SafeBench-Tiny.csv`).
//!
//! Columns `dataset,category_id,task_id,category_name,question,instruction`.
//! The case text is the plain `question`; the declarative `instruction` that
//! the `figstep` attack renders into its image is kept in `metadata`.
//! Every row is harmful (`expect: refuse`).

use crate::csvrows::CsvRow;
use crate::loader::{Input, KnownFile, Loader};
use crate::source::{case, meta};
use mmsafe_core::hazard::FIGSTEP_TOPICS;
use mmsafe_core::{Case, DataError, Expect, Hazard, Source};

pub static LOADER: Loader = Loader {
    name: "figstep",
    usage: "figstep:<safebench.csv>",
    summary: "FigStep SafeBench CSV (dataset,category_id,task_id,category_name,question,instruction); 10 topics → hazards; all refuse",
    params: &[],
    takes_path: true,
    known_files: &[
        KnownFile::new("safebench.csv", "8e47f40b9b490fa2ca1393cdceb6081e9928848646f4b45fdd43726be941b394", Some(500)),
        KnownFile::new("SafeBench-Tiny.csv", "e5f85f7d0323fe2e4afa99f6715ee97c2581d93856af4728a72fdec94338e867", Some(50)),
    ],
    build,
};

const COLUMNS: [&str; 6] = [
    "dataset",
    "category_id",
    "task_id",
    "category_name",
    "question",
    "instruction",
];

fn build(input: &Input<'_>) -> Result<Box<dyn Source>, DataError> {
    crate::source::csv_per_row(input, &COLUMNS, to_case)
}

fn to_case(row: &CsvRow, source: &str) -> Result<Case, DataError> {
    let category_id = row.text("category_id")?.trim();
    let task_id = row.text("task_id")?.trim();
    let category_name = row.get("category_name")?;
    let question = row.text("question")?;
    let instruction = row.text("instruction")?;
    let hazard = hazard_of(row, category_name, category_id)?;
    let mut c = case(
        format!("safebench-{category_id}-{task_id}"),
        source,
        &row.loc(),
        question,
        Vec::new(),
        hazard,
        Expect::Refuse,
    );
    meta(&mut c, "question", question);
    meta(&mut c, "instruction", instruction);
    meta(&mut c, "dataset", row.get("dataset")?);
    meta(&mut c, "category_id", category_id);
    meta(&mut c, "task_id", task_id);
    meta(&mut c, "category", category_name);
    Ok(c)
}

/// By topic name; by the 1-based topic id when the name is unknown.
fn hazard_of(row: &CsvRow, name: &str, id: &str) -> Result<Hazard, DataError> {
    if let Some(h) = Hazard::from_figstep_topic(name) {
        return Ok(h);
    }
    id.parse::<usize>()
        .ok()
        .and_then(|i| i.checked_sub(1))
        .and_then(|i| FIGSTEP_TOPICS.get(i))
        .map(|(_, h)| *h)
        .ok_or_else(|| {
            row.field_error(
                "category_name",
                format!("unknown SafeBench topic `{name}` (and category_id `{id}` is not 1-10)"),
            )
        })
}
