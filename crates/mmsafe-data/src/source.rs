//! The one `Source` implementation loaders share: it (re)opens its input each
//! time `cases()` is called and streams rows through a per-row mapping.

use crate::options::LoadOptions;
use mmsafe_core::{Case, DataError, Expect, Hazard, Image, Message, Part, Source};
use std::collections::BTreeMap;

pub type CaseIter = Box<dyn Iterator<Item = Result<Case, DataError>> + Send + 'static>;
type Opener = Box<dyn FnMut() -> Result<CaseIter, DataError> + Send>;

pub struct LazySource {
    name: String,
    len: Option<usize>,
    open: Opener,
}

impl LazySource {
    pub fn new(
        name: impl Into<String>,
        len: Option<usize>,
        open: impl FnMut() -> Result<CaseIter, DataError> + Send + 'static,
    ) -> LazySource {
        LazySource {
            name: name.into(),
            len,
            open: Box::new(open),
        }
    }

    pub fn boxed(self) -> Box<dyn Source> {
        Box::new(self)
    }
}

impl Source for LazySource {
    fn name(&self) -> &str {
        &self.name
    }

    fn cases(&mut self) -> Box<dyn Iterator<Item = Result<Case, DataError>> + Send + '_> {
        match (self.open)() {
            Ok(it) => it,
            Err(e) => Box::new(std::iter::once(Err(e))),
        }
    }

    fn len_hint(&self) -> Option<usize> {
        self.len
    }
}

/// Why a row did not become a case: broken images may be skipped under
/// `--skip-broken`; anything else is always an error.
#[derive(Debug)]
pub enum RowError {
    Data(DataError),
    Image(DataError),
}

impl From<DataError> for RowError {
    fn from(e: DataError) -> RowError {
        RowError::Data(e)
    }
}

/// Turn a row result into what the source yields: the case, an error, or
/// nothing (a broken image skipped and recorded).
pub fn settle(opts: &LoadOptions, row: Result<Case, RowError>) -> Option<Result<Case, DataError>> {
    match row {
        Ok(c) => Some(Ok(c)),
        Err(RowError::Data(e)) => Some(Err(e)),
        Err(RowError::Image(e)) if opts.skip_broken => {
            opts.skipped.push(e);
            None
        }
        Err(RowError::Image(e)) => Some(Err(e)),
    }
}

/// Load an image for a row, classifying failures as skippable.
pub fn row_image(path: &std::path::Path, loc: &str) -> Result<Image, RowError> {
    crate::images::load(path, loc).map_err(RowError::Image)
}

/// A one-turn case: the images first, then the text. `loc` (the row's
/// `file:line` or `file: item N`) is kept in `metadata["location"]` so that
/// problems found after loading (a duplicate id) can point at the row;
/// built-in suites, which read no file, pass "".
pub fn case(
    id: impl Into<String>,
    source: &str,
    loc: &str,
    text: &str,
    images: Vec<Image>,
    hazard: Hazard,
    expect: Expect,
) -> Case {
    let mut content: Vec<Part> = images.into_iter().map(Part::image).collect();
    content.push(Part::text(text));
    Case {
        id: id.into(),
        messages: vec![Message::user(content)],
        hazard,
        expect,
        source: source.to_string(),
        seed: 0,
        provenance: Vec::new(),
        metadata: if loc.is_empty() {
            BTreeMap::new()
        } else {
            BTreeMap::from([(LOCATION.to_string(), loc.into())])
        },
    }
}

/// Metadata key of the row a case was read from.
pub const LOCATION: &str = "location";

/// Set a metadata field (strings are the common case).
pub fn meta(case: &mut Case, key: &str, value: impl Into<serde_json::Value>) {
    case.metadata.insert(key.to_string(), value.into());
}

/// A source over a CSV file with a header row, one case per record: checks the
/// file and its `required` columns now (not at the first row), then reopens and
/// maps records lazily on every pass.
pub fn csv_per_row(
    input: &crate::loader::Input<'_>,
    required: &'static [&'static str],
    to_case: fn(&crate::csvrows::CsvRow, &str) -> Result<Case, DataError>,
) -> Result<Box<dyn Source>, DataError> {
    use crate::csvrows::{self, Header};
    let path = input.path.to_path_buf();
    let _ = csvrows::read(&path, Header::InFile, required)?;
    let len = csvrows::count(&path, Header::InFile);
    let source = input.spec.to_string();
    Ok(LazySource::new(input.spec, len, move || {
        let source = source.clone();
        let rows = csvrows::read(&path, Header::InFile, required)?;
        Ok(Box::new(
            rows.map(move |row| row.and_then(|r| to_case(&r, &source))),
        ))
    })
    .boxed())
}
