//! In-process cache, bounded by entry count.

use super::{CacheError, ResponseCache};
use async_trait::async_trait;
use mmsafe_core::Response;
use std::collections::HashMap;
use std::sync::Mutex;

/// Two generations instead of true LRU: entries used since the last rotation
/// survive it, idle ones fall out. O(1) per operation, no per-entry bookkeeping.
pub struct MemoryCache {
    /// Entries per generation; at most twice this many are held.
    generation_cap: usize,
    gens: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    current: HashMap<String, Response>,
    previous: HashMap<String, Response>,
}

impl Generations {
    fn insert(&mut self, cap: usize, key: String, value: Response) {
        if self.current.len() >= cap && !self.current.contains_key(&key) {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key, value);
    }
}

impl MemoryCache {
    /// Holds at most `max_entries` responses.
    pub fn new(max_entries: usize) -> MemoryCache {
        MemoryCache {
            generation_cap: (max_entries / 2).max(1),
            gens: Mutex::new(Generations::default()),
        }
    }

    pub fn len(&self) -> usize {
        let g = self.lock();
        g.current.len() + g.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // A panic while holding the lock leaves the maps consistent (single inserts).
        self.gens.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Default for MemoryCache {
    fn default() -> Self {
        MemoryCache::new(20_000)
    }
}

#[async_trait]
impl ResponseCache for MemoryCache {
    async fn get(&self, key: &str) -> Result<Option<Response>, CacheError> {
        let mut g = self.lock();
        if let Some(r) = g.current.get(key) {
            return Ok(Some(r.clone()));
        }
        match g.previous.remove(key) {
            Some(r) => {
                let out = r.clone();
                g.insert(self.generation_cap, key.to_string(), r);
                Ok(Some(out))
            }
            None => Ok(None),
        }
    }

    async fn put(&self, key: &str, response: &Response) -> Result<(), CacheError> {
        self.lock()
            .insert(self.generation_cap, key.to_string(), response.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_and_keeps_recently_used() {
        let c = MemoryCache::new(4);
        for k in ["a", "b"] {
            c.put(k, &Response::text(k)).await.unwrap();
        }
        // Rotation: a, b move to the previous generation.
        c.put("c", &Response::text("c")).await.unwrap();
        // Using `a` promotes it.
        assert_eq!(c.get("a").await.unwrap().unwrap().text, "a");
        c.put("d", &Response::text("d")).await.unwrap();
        c.put("e", &Response::text("e")).await.unwrap();
        assert!(c.len() <= 4);
        assert!(c.get("b").await.unwrap().is_none());
        assert!(c.get("e").await.unwrap().is_some());
    }
}
