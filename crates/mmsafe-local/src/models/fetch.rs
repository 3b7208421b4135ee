//! HTTP side of the model manager: the registry's JSON API, resumable range
//! downloads, and fetching one member out of a remote wheel.

use super::config::FetchConfig;
use super::zip;
use crate::error::LocalError;
use futures::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use reqwest::header::{CONTENT_RANGE, RANGE};
use reqwest::StatusCode;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

/// A wheel file as the registry lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WheelRef {
    pub filename: String,
    pub url: String,
    /// sha256 the registry declares for the whole wheel, when it does.
    pub sha256: Option<String>,
}

pub struct Fetcher {
    client: reqwest::Client,
    cfg: FetchConfig,
    /// Sent as `Authorization: Bearer …` with whole-file downloads (gated hub repos).
    bearer: Option<String>,
}

/// Result of one range request into a `.part` file.
enum RangeOutcome {
    Complete,
    /// The server ignored the `Range` header (answered 200 for a partial range).
    NoRangeSupport,
}

impl Fetcher {
    pub fn new(cfg: FetchConfig) -> Result<Fetcher, LocalError> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .user_agent(concat!("mmsafe/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LocalError::download("http client", chain(&e)))?;
        Ok(Fetcher {
            client,
            cfg,
            bearer: None,
        })
    }

    /// Authenticate whole-file downloads with this token (never logged).
    pub fn with_bearer(mut self, token: Option<String>) -> Fetcher {
        self.bearer = token;
        self
    }

    pub fn config(&self) -> &FetchConfig {
        &self.cfg
    }

    /// The `py3-none-any` (or any) wheel of `package==version` from the JSON API.
    pub async fn wheel(&self, package: &str, version: &str) -> Result<WheelRef, LocalError> {
        let url = format!("{}/pypi/{}/json", self.cfg.pypi_base, package);
        let resp = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| LocalError::download(&url, chain(&e)))?;
        if !resp.status().is_success() {
            return Err(LocalError::download(
                &url,
                format!("HTTP {}", resp.status()),
            ));
        }
        let body: serde_json::Value = resp
            .json()
            .await
            .map_err(|e| LocalError::download(&url, format!("bad JSON: {e}")))?;
        // `releases` lists every version; `urls` only the newest one.
        let files = body
            .get("releases")
            .and_then(|r| r.get(version))
            .and_then(|v| v.as_array())
            .cloned()
            .or_else(|| {
                let newest = body.pointer("/info/version").and_then(|v| v.as_str());
                (newest == Some(version))
                    .then(|| body.get("urls").and_then(|u| u.as_array()).cloned())
                    .flatten()
            })
            .ok_or_else(|| LocalError::download(&url, format!("no release {version} listed")))?;
        files
            .iter()
            .filter_map(|f| {
                let filename = f.get("filename")?.as_str()?.to_string();
                if !filename.ends_with(".whl") {
                    return None;
                }
                let file_url = f.get("url")?.as_str()?.to_string();
                let sha256 = f
                    .pointer("/digests/sha256")
                    .and_then(|s| s.as_str())
                    .map(str::to_string);
                Some(WheelRef {
                    filename,
                    url: file_url,
                    sha256,
                })
            })
            .next()
            .ok_or_else(|| LocalError::download(&url, format!("release {version} has no wheel")))
    }

    /// Write the raw (still compressed) bytes of `member` into `part`, resuming
    /// a partial file, using range requests. Returns the entry (for the
    /// compression method and sizes), or `None` when the host does not honour
    /// ranges; the caller then streams the whole wheel.
    pub async fn fetch_member_raw(
        &self,
        wheel: &WheelRef,
        member: &str,
        part: &Path,
    ) -> Result<Option<zip::Entry>, LocalError> {
        let url = &wheel.url;
        // Suffix range: the last bytes hold the end records.
        let resp = self
            .client
            .get(url)
            .header(RANGE, format!("bytes=-{}", zip::TAIL_LEN))
            .send()
            .await
            .map_err(|e| LocalError::download(url, chain(&e)))?;
        if resp.status() != StatusCode::PARTIAL_CONTENT {
            if resp.status().is_success() {
                return Ok(None);
            }
            return Err(LocalError::download(url, format!("HTTP {}", resp.status())));
        }
        let total = resp
            .headers()
            .get(CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit_once('/'))
            .and_then(|(_, t)| t.trim().parse::<u64>().ok())
            .ok_or_else(|| LocalError::download(url, "206 without a Content-Range total"))?;
        let tail = resp
            .bytes()
            .await
            .map_err(|e| LocalError::download(url, chain(&e)))?;
        let tail_start = total - tail.len() as u64;
        let dir = zip::find_directory(&tail, total).map_err(|e| LocalError::download(url, e))?;
        let cd = if dir.offset >= tail_start {
            let from = (dir.offset - tail_start) as usize;
            tail.get(from..from + dir.size as usize)
                .ok_or_else(|| LocalError::download(url, "central directory overruns the archive"))?
                .to_vec()
        } else {
            self.get_range(url, dir.offset, dir.size).await?
        };
        let entries = zip::parse_directory(&cd).map_err(|e| LocalError::download(url, e))?;
        let entry = entries
            .into_iter()
            .find(|e| e.name == member)
            .ok_or_else(|| LocalError::download(url, format!("wheel has no member `{member}`")))?;
        let header = self
            .get_range(url, entry.local_header_offset, zip::LOCAL_HEADER_LEN)
            .await?;
        let data_start = entry.local_header_offset
            + zip::local_header_len(&header).map_err(|e| LocalError::download(url, e))?;
        let label = member.rsplit('/').next().unwrap_or(member);
        match self
            .download_range(url, data_start, Some(entry.compressed_size), part, label)
            .await?
        {
            RangeOutcome::Complete => Ok(Some(entry)),
            RangeOutcome::NoRangeSupport => Ok(None),
        }
    }

    /// Stream the whole file at `url` into `part`, resuming when the host allows.
    pub async fn fetch_whole(&self, url: &str, part: &Path, label: &str) -> Result<(), LocalError> {
        match self.download_range(url, 0, None, part, label).await? {
            RangeOutcome::Complete => Ok(()),
            RangeOutcome::NoRangeSupport => {
                // Restart from zero: the partial bytes cannot be continued.
                std::fs::remove_file(part).map_err(|e| LocalError::io(part, e))?;
                match self.download_range(url, 0, None, part, label).await? {
                    RangeOutcome::Complete => Ok(()),
                    RangeOutcome::NoRangeSupport => Err(LocalError::download(
                        url,
                        "download restarted but did not complete",
                    )),
                }
            }
        }
    }

    async fn get_range(&self, url: &str, start: u64, len: u64) -> Result<Vec<u8>, LocalError> {
        let resp = self
            .client
            .get(url)
            .header(RANGE, format!("bytes={}-{}", start, start + len - 1))
            .send()
            .await
            .map_err(|e| LocalError::download(url, chain(&e)))?;
        if resp.status() != StatusCode::PARTIAL_CONTENT {
            return Err(LocalError::download(
                url,
                format!("range request answered HTTP {}", resp.status()),
            ));
        }
        let b = resp
            .bytes()
            .await
            .map_err(|e| LocalError::download(url, chain(&e)))?;
        if b.len() as u64 != len {
            return Err(LocalError::download(
                url,
                format!("range request returned {} bytes, expected {len}", b.len()),
            ));
        }
        Ok(b.to_vec())
    }

    /// Bytes `[start, start+len)` of `url` (to the end when `len` is `None`)
    /// into `part`, continuing after the bytes `part` already holds.
    async fn download_range(
        &self,
        url: &str,
        start: u64,
        len: Option<u64>,
        part: &Path,
        label: &str,
    ) -> Result<RangeOutcome, LocalError> {
        let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
        if let Some(len) = len {
            if have == len {
                return Ok(RangeOutcome::Complete);
            }
            if have > len {
                std::fs::remove_file(part).map_err(|e| LocalError::io(part, e))?;
                return Box::pin(self.download_range(url, start, Some(len), part, label)).await;
            }
        }
        let from = start + have;
        let partial_request = from > 0 || len.is_some();
        let mut req = self.client.get(url);
        if let Some(t) = &self.bearer {
            req = req.bearer_auth(t);
        }
        if partial_request {
            let range = match len {
                Some(len) => format!("bytes={}-{}", from, start + len - 1),
                None => format!("bytes={from}-"),
            };
            req = req.header(RANGE, range);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| LocalError::download(url, chain(&e)))?;
        let status = resp.status();
        if status == StatusCode::RANGE_NOT_SATISFIABLE && len.is_none() && have > 0 {
            // The part file already holds the whole resource.
            return Ok(RangeOutcome::Complete);
        }
        if partial_request && status == StatusCode::OK {
            return Ok(RangeOutcome::NoRangeSupport);
        }
        if !status.is_success() {
            return Err(LocalError::download(url, format!("HTTP {status}")));
        }
        let total = match len {
            Some(len) => Some(len),
            None => resp.content_length().map(|l| l + have),
        };
        let pb = self.progress(label, total, have);
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(part)
            .map_err(|e| LocalError::io(part, e))?;
        let mut stream = resp.bytes_stream();
        let mut got = have;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| {
                LocalError::download(
                    url,
                    format!(
                        "{} after {got} bytes (kept {}; run again to resume)",
                        chain(&e),
                        part.display()
                    ),
                )
            })?;
            file.write_all(&chunk)
                .map_err(|e| LocalError::io(part, e))?;
            got += chunk.len() as u64;
            pb.set_position(got);
        }
        file.flush().map_err(|e| LocalError::io(part, e))?;
        pb.finish_and_clear();
        if let Some(len) = len {
            if got != len {
                return Err(LocalError::download(
                    url,
                    format!(
                        "got {got} of {len} bytes (kept {}; run again to resume)",
                        part.display()
                    ),
                ));
            }
        }
        Ok(RangeOutcome::Complete)
    }

    fn progress(&self, label: &str, total: Option<u64>, at: u64) -> ProgressBar {
        if !self.cfg.progress {
            return ProgressBar::hidden();
        }
        let pb = match total {
            Some(t) => ProgressBar::with_draw_target(Some(t), ProgressDrawTarget::stderr()),
            None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
        };
        let style = ProgressStyle::with_template(
            "{msg:32} {bar:30} {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        pb.set_style(style);
        pb.set_message(label.to_string());
        pb.set_position(at);
        pb
    }

    /// GET a whole small-or-large file from the Hub into `part` (resumable).
    pub async fn fetch_hub(&self, url: &str, part: &Path, label: &str) -> Result<(), LocalError> {
        self.fetch_whole(url, part, label).await
    }
}

/// An error with its causes, `a: b: c` (reqwest hides the cause in `source`).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !out.contains(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        cur = c.source();
    }
    out
}
