//! `hf:<org>/<repo>[@<revision>]`: a model folder in Hugging Face layout
//! (e.g. a CLIP surrogate), found in the Hugging Face cache a user already has
//! (`huggingface-cli download`), else in mmsafe's model folder, else
//! downloaded there through the same [`Fetcher`] as every other model file
//! (streamed to disk, resumable, progress on stderr).

use super::config::{models_dir, offline_from_env, FetchConfig};
use super::fetch::Fetcher;
use crate::error::LocalError;
use std::path::{Path, PathBuf};

/// Where `hf:` folders are looked for and fetched from.
#[derive(Debug, Clone)]
pub struct HubSource {
    /// mmsafe's model folder; `hf:` folders live under `<dir>/hf/<org>/<repo>/<revision>`.
    pub models_dir: PathBuf,
    /// The Hugging Face hub cache (`models--org--repo/snapshots/…`), if any.
    pub hf_cache: Option<PathBuf>,
    /// `None` when downloads are off (`MMSAFE_OFFLINE`, `HF_HUB_OFFLINE=1`).
    pub endpoint: Option<String>,
    pub token: Option<String>,
}

impl HubSource {
    /// `MMSAFE_MODELS_DIR`, `HF_HUB_CACHE` / `HF_HOME`, `HF_ENDPOINT`,
    /// `HF_TOKEN`, and any true-like `MMSAFE_OFFLINE`.
    pub fn from_env() -> HubSource {
        let cfg = FetchConfig::from_env();
        HubSource {
            models_dir: models_dir(),
            hf_cache: hf_cache_from_env(),
            endpoint: cfg.hub_endpoint.filter(|_| !offline_from_env()),
            token: std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty()),
        }
    }
}

/// A parsed `hf:` name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubRepo {
    pub repo: String,
    pub revision: String,
}

impl HubRepo {
    /// `Ok(None)` for a name without the `hf:` prefix (a plain path).
    pub fn parse(name: &str) -> Result<Option<HubRepo>, LocalError> {
        let Some(spec) = name.strip_prefix("hf:") else {
            return Ok(None);
        };
        let (repo, revision) = spec.split_once('@').unwrap_or((spec, "main"));
        let parts: Vec<&str> = repo.split('/').collect();
        if parts.len() != 2
            || parts
                .iter()
                .any(|p| p.is_empty() || *p == "." || *p == "..")
            || revision.is_empty()
            || revision.contains("..")
        {
            return Err(LocalError::model(
                format!("hf:{spec}"),
                "expected hf:<org>/<repo>[@<revision>]",
            ));
        }
        Ok(Some(HubRepo {
            repo: repo.to_string(),
            revision: revision.to_string(),
        }))
    }
}

/// The folder holding `files` (name, required) of `hf:` model `name`, or
/// `name` itself when it is a plain path. Missing required files are
/// downloaded unless the source says offline; optional ones the hub does not
/// have are left out.
pub async fn resolve(
    name: &str,
    files: &[(&str, bool)],
    src: &HubSource,
) -> Result<PathBuf, LocalError> {
    let Some(hub) = HubRepo::parse(name)? else {
        return Ok(PathBuf::from(name));
    };
    let complete = |dir: &Path| {
        files
            .iter()
            .filter(|(_, required)| *required)
            .all(|(f, _)| dir.join(f).is_file())
    };
    if let Some(dir) = src
        .hf_cache
        .as_deref()
        .map(|c| snapshot_dir(c, &hub))
        .filter(|d| complete(d))
    {
        return Ok(dir);
    }
    let dir = src
        .models_dir
        .join("hf")
        .join(&hub.repo)
        .join(&hub.revision);
    if complete(&dir) {
        return Ok(dir);
    }
    let Some(endpoint) = &src.endpoint else {
        return Err(LocalError::model(
            name,
            format!(
                "not in the Hugging Face cache or {}, and downloads are off (MMSAFE_OFFLINE or HF_HUB_OFFLINE); download it elsewhere and pass its folder",
                dir.display()
            ),
        ));
    };
    std::fs::create_dir_all(&dir).map_err(|e| LocalError::io(&dir, e))?;
    let mut cfg = FetchConfig::from_env();
    cfg.hub_endpoint = Some(endpoint.clone());
    let fetcher = Fetcher::new(cfg)?.with_bearer(src.token.clone());
    for (file, required) in files {
        let path = dir.join(file);
        if path.is_file() {
            continue;
        }
        let url = format!(
            "{}/{}/resolve/{}/{file}",
            endpoint.trim_end_matches('/'),
            hub.repo,
            hub.revision
        );
        // Written to `.part` then renamed, so an interrupted download never
        // looks complete (and the next run resumes it).
        let part = dir.join(format!("{file}.part"));
        match fetcher.fetch_whole(&url, &part, file).await {
            Ok(()) => std::fs::rename(&part, &path).map_err(|e| LocalError::io(&path, e))?,
            Err(e) if *required => return Err(e),
            Err(_) => {
                let _ = std::fs::remove_file(&part);
            }
        }
    }
    Ok(dir)
}

/// `models--org--repo/snapshots/<commit>`, with `refs/<revision>` naming the commit.
fn snapshot_dir(hub_cache: &Path, hub: &HubRepo) -> PathBuf {
    let root = hub_cache.join(format!("models--{}", hub.repo.replace('/', "--")));
    let commit = std::fs::read_to_string(root.join("refs").join(&hub.revision))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| hub.revision.clone());
    root.join("snapshots").join(commit)
}

fn hf_cache_from_env() -> Option<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    var("HF_HUB_CACHE")
        .or_else(|| var("HUGGINGFACE_HUB_CACHE"))
        .map(PathBuf::from)
        .or_else(|| var("HF_HOME").map(|h| PathBuf::from(h).join("hub")))
        .or_else(|| var("HOME").map(|h| PathBuf::from(h).join(".cache/huggingface/hub")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const FILES: [(&str, bool); 3] = [
        ("config.json", true),
        ("model.safetensors", true),
        ("tokenizer.json", false),
    ];

    fn source(dir: &Path, endpoint: Option<String>) -> HubSource {
        HubSource {
            models_dir: dir.join("models"),
            hf_cache: Some(dir.join("hf-cache")),
            endpoint,
            token: Some("tok".into()),
        }
    }

    /// A loopback hub serving `config.json` and `model.safetensors` of
    /// `org/clip` at `main` (404 for anything else); returns its URL and the
    /// request lines it saw.
    async fn hub() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let log = log.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut tmp = [0u8; 1024];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut tmp).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&tmp[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let line = head.lines().next().unwrap_or_default().to_string();
                    let authed = head.to_lowercase().contains("authorization: bearer tok");
                    log.lock().unwrap().push(format!("{line} auth={authed}"));
                    let body: Option<&[u8]> = if line.contains("/org/clip/resolve/main/config.json")
                    {
                        Some(b"{}")
                    } else if line.contains("/org/clip/resolve/main/model.safetensors") {
                        Some(b"weights")
                    } else {
                        None
                    };
                    let resp = match body {
                        Some(b) => {
                            let mut r = format!(
                                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                                b.len()
                            )
                            .into_bytes();
                            r.extend_from_slice(b);
                            r
                        }
                        None => b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_vec(),
                    };
                    let _ = sock.write_all(&resp).await;
                });
            }
        });
        (url, seen)
    }

    #[test]
    fn names_are_parsed_and_plain_paths_pass_through() {
        assert_eq!(HubRepo::parse("/x/clip").unwrap(), None);
        assert_eq!(
            HubRepo::parse("hf:org/clip@v1").unwrap(),
            Some(HubRepo {
                repo: "org/clip".into(),
                revision: "v1".into()
            })
        );
        for bad in ["hf:not-a-repo", "hf:a/b/c", "hf:../x", "hf:org/clip@"] {
            assert!(HubRepo::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn downloads_into_the_models_dir_once_then_reads_it_offline() {
        let tmp = tempfile::tempdir().unwrap();
        let (url, seen) = hub().await;
        let src = source(tmp.path(), Some(url));
        let dir = resolve("hf:org/clip", &FILES, &src).await.unwrap();
        assert_eq!(dir, tmp.path().join("models/hf/org/clip/main"));
        assert_eq!(
            std::fs::read(dir.join("model.safetensors")).unwrap(),
            b"weights"
        );
        assert!(!dir.join("tokenizer.json").exists());
        assert!(!dir.join("tokenizer.json.part").exists());
        let requests = seen.lock().unwrap().clone();
        assert_eq!(requests.len(), 3, "{requests:?}");
        assert!(
            requests.iter().all(|r| r.ends_with("auth=true")),
            "{requests:?}"
        );
        // Present now: found without the network.
        let offline = source(tmp.path(), None);
        assert_eq!(resolve("hf:org/clip", &FILES, &offline).await.unwrap(), dir);
    }

    #[tokio::test]
    async fn offline_and_missing_is_a_clear_error() {
        let tmp = tempfile::tempdir().unwrap();
        let err = resolve("hf:org/clip", &FILES, &source(tmp.path(), None))
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("hf:org/clip") && err.contains("downloads are off"),
            "{err}"
        );
        let (url, _) = hub().await;
        let err = resolve("hf:org/other", &FILES, &source(tmp.path(), Some(url)))
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("404"), "{err}");
    }

    #[tokio::test]
    async fn the_hugging_face_cache_layout_is_found() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("hf-cache/models--org--clip");
        let snap = root.join("snapshots/abc123");
        std::fs::create_dir_all(&snap).unwrap();
        std::fs::create_dir_all(root.join("refs")).unwrap();
        std::fs::write(root.join("refs/main"), "abc123\n").unwrap();
        std::fs::write(snap.join("config.json"), "{}").unwrap();
        std::fs::write(snap.join("model.safetensors"), "x").unwrap();
        let src = source(tmp.path(), None);
        assert_eq!(resolve("hf:org/clip", &FILES, &src).await.unwrap(), snap);
    }
}
