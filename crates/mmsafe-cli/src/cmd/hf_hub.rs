//! Resolve `hf:<org>/<repo>[@<revision>]` surrogate names to a local directory:
//! first the Hugging Face cache a user already has (`huggingface-cli download`),
//! then a download into mmsafe's cache where the Hub is reachable.
//!
//! Written here rather than with the `hf-hub` crate because we need only four
//! small GETs with a fail-fast path when the Hub does not resolve, and the
//! endpoint must be overridable (`HF_ENDPOINT`) for loopback tests.

use anyhow::Context as _;
use std::path::{Path, PathBuf};

/// Files a CLIP surrogate directory needs; the first two are required.
const FILES: [(&str, bool); 4] = [
    ("config.json", true),
    ("model.safetensors", true),
    ("tokenizer.json", false),
    ("preprocessor_config.json", false),
];

/// `hf:org/repo[@rev]` → a directory holding the files; other names are paths.
pub fn resolve(name: &Path) -> anyhow::Result<PathBuf> {
    let Some(spec) = name.to_str().and_then(|s| s.strip_prefix("hf:")) else {
        return Ok(name.to_path_buf());
    };
    let (repo, revision) = spec.split_once('@').unwrap_or((spec, "main"));
    anyhow::ensure!(
        repo.split('/').count() == 2 && !repo.contains(".."),
        "surrogate `hf:{spec}`: expected hf:<org>/<repo>[@<revision>]"
    );
    if let Some(dir) = in_hf_cache(repo, revision) {
        return Ok(dir);
    }
    let dir = mmsafe_cache_dir().join(repo).join(revision);
    if FILES
        .iter()
        .filter(|(_, req)| *req)
        .all(|(f, _)| dir.join(f).is_file())
    {
        return Ok(dir);
    }
    if std::env::var("MMSAFE_OFFLINE").is_ok_and(|v| v == "1") {
        anyhow::bail!(
            "surrogate `hf:{spec}` is not in the Hugging Face cache or {} and MMSAFE_OFFLINE=1 forbids downloading",
            dir.display()
        );
    }
    download(repo, revision, &dir).with_context(|| {
        format!("surrogate `hf:{spec}`: not cached and the Hugging Face Hub could not be reached; download it elsewhere and pass --surrogate DIR")
    })?;
    Ok(dir)
}

fn mmsafe_cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    base.join("mmsafe").join("models").join("hf")
}

/// The standard hub cache layout: `models--org--repo/snapshots/<commit>/`,
/// with `refs/<revision>` naming the commit.
fn in_hf_cache(repo: &str, revision: &str) -> Option<PathBuf> {
    let hub = std::env::var_os("HF_HUB_CACHE")
        .or_else(|| std::env::var_os("HUGGINGFACE_HUB_CACHE"))
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HF_HOME").map(|h| PathBuf::from(h).join("hub")))
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/huggingface/hub"))
        })?;
    let root = hub.join(format!("models--{}", repo.replace('/', "--")));
    let commit = std::fs::read_to_string(root.join("refs").join(revision))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| revision.to_string());
    let dir = root.join("snapshots").join(commit);
    FILES
        .iter()
        .filter(|(_, req)| *req)
        .all(|(f, _)| dir.join(f).is_file())
        .then_some(dir)
}

fn download(repo: &str, revision: &str, dir: &Path) -> anyhow::Result<()> {
    let endpoint = std::env::var("HF_ENDPOINT").unwrap_or_else(|_| "https://huggingface.co".into());
    let token = std::env::var("HF_TOKEN").ok();
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let client = reqwest::Client::builder()
            .connect_timeout(std::time::Duration::from_secs(10))
            .build()?;
        for (file, required) in FILES {
            let url = format!("{endpoint}/{repo}/resolve/{revision}/{file}");
            let mut req = client.get(&url);
            if let Some(t) = &token {
                req = req.bearer_auth(t);
            }
            let resp = req.send().await.with_context(|| format!("GET {url}"))?;
            if !resp.status().is_success() {
                if required {
                    anyhow::bail!("GET {url}: HTTP {}", resp.status());
                }
                continue;
            }
            let bytes = resp.bytes().await.with_context(|| format!("GET {url}"))?;
            // Write then rename, so an interrupted download never looks complete.
            let part = dir.join(format!("{file}.part"));
            std::fs::write(&part, &bytes)
                .with_context(|| format!("cannot write {}", part.display()))?;
            std::fs::rename(&part, dir.join(file))?;
            eprintln!("downloaded {url} ({} bytes)", bytes.len());
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adversarial_plain_paths_pass_through() {
        assert_eq!(
            resolve(Path::new("/x/clip")).unwrap(),
            PathBuf::from("/x/clip")
        );
        assert!(resolve(Path::new("hf:not-a-repo")).is_err());
    }

    #[test]
    fn adversarial_hf_cache_layout_is_found() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("models--openai--clip-test");
        let snap = root.join("snapshots").join("abc123");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(root.join("refs")).unwrap();
        std::fs::write(root.join("refs/main"), "abc123\n").unwrap();
        std::fs::write(snap.join("config.json"), "{}").unwrap();
        std::fs::write(snap.join("model.safetensors"), "x").unwrap();
        // SAFETY-free env mutation is fine here: only this test reads HF_HUB_CACHE.
        unsafe { std::env::set_var("HF_HUB_CACHE", tmp.path()) };
        assert_eq!(in_hf_cache("openai/clip-test", "main"), Some(snap));
        assert_eq!(in_hf_cache("openai/other", "main"), None);
    }
}
