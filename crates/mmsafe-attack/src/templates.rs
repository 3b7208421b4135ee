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

#[derive(Debug, Clone, Default)]
pub struct TemplateLibrary {
    templates: Vec<Template>,
}

fn parse(text: &str, origin: &str) -> Result<Template, TemplateError> {
    let mut t: Template = toml::from_str(text).map_err(|e| TemplateError::Parse {
        file: origin.to_string(),
        message: e.to_string(),
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
    pub fn with_dirs(dirs: &[PathBuf]) -> Result<TemplateLibrary, TemplateError> {
        let mut lib = TemplateLibrary::embedded()?;
        for dir in dirs {
            lib.load_dir(dir)?;
        }
        Ok(lib)
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

    fn load_dir(&mut self, dir: &Path) -> Result<(), TemplateError> {
        let rd = std::fs::read_dir(dir).map_err(|e| TemplateError::Dir {
            dir: dir.display().to_string(),
            message: e.to_string(),
        })?;
        let mut files: Vec<PathBuf> = rd
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| TemplateError::Parse {
                file: f.display().to_string(),
                message: e.to_string(),
            })?;
            self.insert(parse(&text, &f.display().to_string())?);
        }
        Ok(())
    }

    fn insert(&mut self, t: Template) {
        self.templates.retain(|x| x.name != t.name);
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
        let err = TemplateLibrary::with_dirs(std::slice::from_ref(&dir))
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad.toml"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
