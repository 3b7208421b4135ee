//! Text jailbreak templates as data: TOML files embedded at build time
//! (`templates/*.toml`) plus any `*.toml` in user directories
//! (`MMSAFE_TEMPLATES`, colon-separated). A user file with the same `name` as
//! an embedded one replaces it; the origin of each template is kept.
//!
//! ```toml
//! name = "roleplay"
//! summary = "one line for `mmsafe attack list`"
//! category = "role-play"
//! system = "optional system message"
//! template = "text with {prompt} (and/or {question})"
//! [[shots]]            # optional prior turns (many-shot)
//! user = "…"
//! assistant = "…"
//! ```

use serde::Deserialize;
use std::path::{Path, PathBuf};

const EMBEDDED: &[(&str, &str)] = &[
    ("roleplay.toml", include_str!("../templates/roleplay.toml")),
    (
        "refusal-suppression.toml",
        include_str!("../templates/refusal-suppression.toml"),
    ),
    (
        "prefix-injection.toml",
        include_str!("../templates/prefix-injection.toml"),
    ),
    (
        "hypothetical.toml",
        include_str!("../templates/hypothetical.toml"),
    ),
    ("fiction.toml", include_str!("../templates/fiction.toml")),
    (
        "many-shot.toml",
        include_str!("../templates/many-shot.toml"),
    ),
    (
        "image-instructions.toml",
        include_str!("../templates/image-instructions.toml"),
    ),
];

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Shot {
    pub user: String,
    pub assistant: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub name: String,
    pub summary: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub system: Option<String>,
    pub template: String,
    #[serde(default)]
    pub shots: Vec<Shot>,
    /// `embedded:<file>` or the user file path.
    #[serde(skip)]
    pub origin: String,
}

impl Template {
    /// Fill `{prompt}` and `{question}`.
    pub fn render(&self, prompt: &str, question: &str) -> String {
        self.template
            .replace("{prompt}", prompt)
            .replace("{question}", question)
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum TemplateError {
    #[error("template file {file}: {message}")]
    Parse { file: String, message: String },
    #[error("template directory {dir}: {message}")]
    Dir { dir: String, message: String },
}

/// A user template file (or directory) that could not be loaded. Loading
/// goes on without it, so unrelated attacks keep working; only the template
/// it would have defined is unavailable, and using it fails with `error`.
#[derive(Debug, Clone)]
pub struct Unavailable {
    /// The template name the file declares (its `name` key when that much
    /// parses, else the file stem); `None` for an unreadable directory.
    pub name: Option<String>,
    pub error: TemplateError,
}

#[derive(Debug, Clone, Default)]
pub struct TemplateLibrary {
    templates: Vec<Template>,
    unavailable: Vec<Unavailable>,
}

/// The name a broken file meant to define, for reporting.
fn intended_name(text: Option<&str>, file: &Path) -> Option<String> {
    let from_toml = text
        .and_then(|t| t.parse::<toml::Table>().ok())
        .and_then(|t| t.get("name").and_then(|v| v.as_str()).map(str::to_string))
        .filter(|n| !n.is_empty());
    from_toml.or_else(|| {
        file.file_stem()
            .and_then(|s| s.to_str())
            .map(str::to_string)
    })
}

fn parse(text: &str, origin: &str) -> Result<Template, TemplateError> {
    let mut t: Template = toml::from_str(text).map_err(|e| TemplateError::Parse {
        file: origin.to_string(),
        message: one_line(text, &e),
    })?;
    let valid_name = !t.name.is_empty()
        && t.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid_name {
        return Err(TemplateError::Parse {
            file: origin.to_string(),
            message: format!("name `{}` must be non-empty [A-Za-z0-9_-]", t.name),
        });
    }
    if !t.template.contains("{prompt}") && !t.template.contains("{question}") {
        return Err(TemplateError::Parse {
            file: origin.to_string(),
            message: "template must contain {prompt} or {question}".to_string(),
        });
    }
    t.origin = origin.to_string();
    Ok(t)
}

/// `line L, column C: message` (toml's own Display spans several lines,
/// which breaks one-line warnings and `attack list`).
fn one_line(text: &str, e: &toml::de::Error) -> String {
    let msg = e.message().trim().replace('\n', " ");
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let col = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {col}: {msg}")
        }
        None => msg,
    }
}

impl TemplateLibrary {
    /// The templates shipped with mmsafe.
    pub fn embedded() -> Result<TemplateLibrary, TemplateError> {
        let mut lib = TemplateLibrary::default();
        for (file, text) in EMBEDDED {
            lib.insert(parse(text, &format!("embedded:{file}"))?);
        }
        Ok(lib)
    }

    /// Embedded templates plus every `*.toml` in `dirs` (sorted by file name).
    /// A broken user file or unreadable directory does not fail the library:
    /// it is listed in [`TemplateLibrary::unavailable`] (and a broken
    /// override removes the embedded template of that name, rather than
    /// silently keeping it). Only the embedded set can fail here.
    pub fn with_dirs(dirs: &[PathBuf]) -> Result<TemplateLibrary, TemplateError> {
        let mut lib = TemplateLibrary::embedded()?;
        for dir in dirs {
            lib.load_dir(dir);
        }
        Ok(lib)
    }

    /// User files and directories that could not be loaded.
    pub fn unavailable(&self) -> &[Unavailable] {
        &self.unavailable
    }

    /// Why `template:<name>` is unavailable, when a broken file declared it.
    pub fn unavailable_reason(&self, name: &str) -> Option<&TemplateError> {
        self.unavailable
            .iter()
            .find(|u| u.name.as_deref() == Some(name))
            .map(|u| &u.error)
    }

    /// Embedded plus the directories in `MMSAFE_TEMPLATES`.
    pub fn from_env() -> Result<TemplateLibrary, TemplateError> {
        let dirs: Vec<PathBuf> = std::env::var("MMSAFE_TEMPLATES")
            .map(|v| {
                v.split(':')
                    .filter(|s| !s.is_empty())
                    .map(PathBuf::from)
                    .collect()
            })
            .unwrap_or_default();
        TemplateLibrary::with_dirs(&dirs)
    }

    fn load_dir(&mut self, dir: &Path) {
        let rd = match std::fs::read_dir(dir) {
            Ok(rd) => rd,
            Err(e) => {
                self.unavailable.push(Unavailable {
                    name: None,
                    error: TemplateError::Dir {
                        dir: dir.display().to_string(),
                        message: e.to_string(),
                    },
                });
                return;
            }
        };
        let mut files: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        for f in files {
            let origin = f.display().to_string();
            let loaded = std::fs::read_to_string(&f)
                .map_err(|e| {
                    let error = TemplateError::Parse {
                        file: origin.clone(),
                        message: e.to_string(),
                    };
                    (None, error)
                })
                .and_then(|text| parse(&text, &origin).map_err(|e| (Some(text), e)));
            match loaded {
                Ok(t) => self.insert(t),
                Err((text, error)) => {
                    let name = intended_name(text.as_deref(), &f);
                    if let Some(n) = &name {
                        self.templates.retain(|t| &t.name != n);
                    }
                    self.unavailable.push(Unavailable { name, error });
                }
            }
        }
    }

    fn insert(&mut self, t: Template) {
        self.templates.retain(|x| x.name != t.name);
        self.unavailable
            .retain(|u| u.name.as_deref() != Some(t.name.as_str()));
        self.templates.push(t);
        self.templates.sort_by(|a, b| a.name.cmp(&b.name));
    }

    pub fn get(&self, name: &str) -> Option<&Template> {
        self.templates.iter().find(|t| t.name == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Template> {
        self.templates.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_templates_parse() {
        let lib = TemplateLibrary::embedded().unwrap();
        assert!(lib.iter().count() >= 7);
        for t in lib.iter() {
            assert!(t.render("P", "Q").contains('P') || t.render("P", "Q").contains('Q'));
        }
        assert!(!lib.get("many-shot").unwrap().shots.is_empty());
    }

    #[test]
    fn user_dir_extends_and_overrides() {
        let dir = std::env::temp_dir().join(format!("mmsafe-tpl-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("mine.toml"),
            "name = \"mine\"\nsummary = \"s\"\ntemplate = \"X {prompt} Y\"\n",
        )
        .unwrap();
        let lib = TemplateLibrary::with_dirs(std::slice::from_ref(&dir)).unwrap();
        assert_eq!(lib.get("mine").unwrap().render("p", "q"), "X p Y");
        std::fs::write(
            dir.join("bad.toml"),
            "name = \"bad\"\nsummary = \"s\"\ntemplate = \"no placeholder\"\n",
        )
        .unwrap();
        // A broken file leaves the rest of the library usable and names itself.
        let lib = TemplateLibrary::with_dirs(std::slice::from_ref(&dir)).unwrap();
        assert!(lib.get("mine").is_some() && lib.get("roleplay").is_some());
        let err = lib.unavailable_reason("bad").unwrap().to_string();
        assert!(err.contains("bad.toml"), "{err}");
        // Invalid TOML: the name falls back to the file stem; a broken
        // override makes the embedded template of that name unavailable too.
        std::fs::write(dir.join("roleplay.toml"), "name = \"roleplay\"\nsummary = ").unwrap();
        std::fs::write(dir.join("zz.toml"), "not toml [").unwrap();
        let lib = TemplateLibrary::with_dirs(std::slice::from_ref(&dir)).unwrap();
        assert!(lib.get("roleplay").is_none());
        assert!(lib
            .unavailable_reason("roleplay")
            .unwrap()
            .to_string()
            .contains("roleplay.toml"));
        assert!(lib
            .unavailable_reason("zz")
            .unwrap()
            .to_string()
            .contains("zz.toml"));
        assert_eq!(lib.unavailable().len(), 3);
        // A missing directory is reported, not fatal.
        let lib = TemplateLibrary::with_dirs(&[dir.join("missing")]).unwrap();
        assert!(lib.unavailable()[0].error.to_string().contains("missing"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
