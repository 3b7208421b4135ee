//! An embedder wrapper with an on-disk cache of vectors by text hash, so
//! training and repeated `judge eval` runs embed each text once.

use mmsafe_core::{EmbedError, Embedder};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

const MAGIC: &[u8; 8] = b"MMSEMB01";

pub struct CachedEmbedder {
    inner: Arc<dyn Embedder>,
    path: PathBuf,
    map: Mutex<HashMap<[u8; 32], Vec<f32>>>,
    dirty: Mutex<bool>,
}

fn key(name: &str, text: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([0]);
    h.update(text.as_bytes());
    h.finalize().into()
}

impl CachedEmbedder {
    /// Open (or start) the cache at `path`. A file written for another
    /// embedder dimension is an error naming the file.
    pub fn open(inner: Arc<dyn Embedder>, path: &Path) -> Result<CachedEmbedder, EmbedError> {
        let dim = inner.dim();
        let mut map = HashMap::new();
        if path.exists() {
            let mut raw = Vec::new();
            std::fs::File::open(path)
                .and_then(|mut f| f.read_to_end(&mut raw))
                .map_err(|e| EmbedError(format!("embedding cache {}: {e}", path.display())))?;
            let bad = |m: &str| EmbedError(format!("embedding cache {}: {m}", path.display()));
            if raw.len() < 12 || &raw[..8] != MAGIC {
                return Err(bad("not an mmsafe embedding cache"));
            }
            let file_dim = u32::from_le_bytes([raw[8], raw[9], raw[10], raw[11]]) as usize;
            if file_dim != dim {
                return Err(bad(&format!("dimension {file_dim}, embedder has {dim}")));
            }
            let rec = 32 + 4 * dim;
            let body = &raw[12..];
            if body.len() % rec != 0 {
                return Err(bad("truncated"));
            }
            for r in body.chunks_exact(rec) {
                let mut k = [0u8; 32];
                k.copy_from_slice(&r[..32]);
                let v = r[32..]
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                map.insert(k, v);
            }
        }
        Ok(CachedEmbedder {
            inner,
            path: path.to_path_buf(),
            map: Mutex::new(map),
            dirty: Mutex::new(false),
        })
    }

    /// Write the cache back if anything was added.
    pub fn save(&self) -> Result<(), EmbedError> {
        let mut dirty = self.dirty.lock().unwrap_or_else(|p| p.into_inner());
        if !*dirty {
            return Ok(());
        }
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        let mut keys: Vec<&[u8; 32]> = map.keys().collect();
        keys.sort();
        let mut out = Vec::with_capacity(12 + map.len() * (32 + 4 * self.inner.dim()));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.inner.dim() as u32).to_le_bytes());
        for k in keys {
            out.extend_from_slice(k);
            for x in &map[k] {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        let tmp = self.path.with_extension("tmp");
        std::fs::File::create(&tmp)
            .and_then(|mut f| f.write_all(&out))
            .and_then(|_| std::fs::rename(&tmp, &self.path))
            .map_err(|e| EmbedError(format!("embedding cache {}: {e}", self.path.display())))?;
        *dirty = false;
        Ok(())
    }
}

impl Drop for CachedEmbedder {
    /// Judges are shared behind `Arc`s with no explicit end of life, so the
    /// cache is written when the last user lets go of it.
    fn drop(&mut self) {
        if let Err(e) = self.save() {
            eprintln!("warning: {e}");
        }
    }
}

impl Embedder for CachedEmbedder {
    fn name(&self) -> &str {
        self.inner.name()
    }
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let name = self.inner.name().to_string();
        let keys: Vec<[u8; 32]> = texts.iter().map(|t| key(&name, t)).collect();
        let missing: Vec<usize> = {
            let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            (0..texts.len())
                .filter(|&i| !map.contains_key(&keys[i]))
                .collect()
        };
        if !missing.is_empty() {
            let todo: Vec<&str> = missing.iter().map(|&i| texts[i]).collect();
            let vecs = self.inner.embed(&todo)?;
            let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
            for (&i, v) in missing.iter().zip(vecs) {
                map.insert(keys[i], v);
            }
            *self.dirty.lock().unwrap_or_else(|p| p.into_inner()) = true;
        }
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        keys.iter()
            .map(|k| {
                map.get(k)
                    .cloned()
                    .ok_or_else(|| EmbedError("embedder returned too few vectors".into()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting(AtomicUsize);
    impl Embedder for Counting {
        fn name(&self) -> &str {
            "counting"
        }
        fn dim(&self) -> usize {
            2
        }
        fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
            self.0.fetch_add(texts.len(), Ordering::SeqCst);
            Ok(texts.iter().map(|t| vec![t.len() as f32, 1.0]).collect())
        }
    }

    #[test]
    fn round_trips_and_skips_cached_texts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.bin");
        let inner = Arc::new(Counting(AtomicUsize::new(0)));
        let c = CachedEmbedder::open(inner.clone(), &path).unwrap();
        assert_eq!(
            c.embed(&["ab", "abc"]).unwrap(),
            vec![vec![2.0, 1.0], vec![3.0, 1.0]]
        );
        c.save().unwrap();
        let c2 = CachedEmbedder::open(inner.clone(), &path).unwrap();
        assert_eq!(c2.embed(&["abc", "x"]).unwrap()[0], vec![3.0, 1.0]);
        assert_eq!(inner.0.load(Ordering::SeqCst), 3, "only `x` embedded again");
    }
}
