//! Guarded stacks by model name, least recently used evicted.
//!
//! Clients choose model names, so the map must stay bounded; a fixed set of
//! slots that is never evicted lets made-up names lock out real models until
//! restart. Names are not checked against the upstream's `/v1/models`:
//! upstreams accept names they do not list (Ollama serves `llava` as
//! `llava:latest`), and the upstream refuses unknown models itself.
//! Rebuilding an evicted stack is cheap: it builds an HTTP target, no model.

use mmsafe_core::DynTarget;
use std::collections::HashMap;

pub struct Stacks {
    cap: usize,
    tick: u64,
    /// model → (stack, last use)
    map: HashMap<String, (DynTarget, u64)>,
}

impl Stacks {
    pub fn new(cap: usize) -> Stacks {
        Stacks {
            cap: cap.max(1),
            tick: 0,
            map: HashMap::new(),
        }
    }

    /// The stack for `model`, built by `build` when absent.
    pub fn get_or_build<E>(
        &mut self,
        model: &str,
        build: impl FnOnce() -> Result<DynTarget, E>,
    ) -> Result<DynTarget, E> {
        self.tick += 1;
        if let Some((t, used)) = self.map.get_mut(model) {
            *used = self.tick;
            return Ok(t.clone());
        }
        let t = build()?;
        if self.map.len() >= self.cap {
            let oldest = self
                .map
                .iter()
                .min_by_key(|(_, (_, used))| *used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.map.remove(&k);
            }
        }
        self.map.insert(model.to_string(), (t.clone(), self.tick));
        Ok(t)
    }

    /// Model names served recently, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.map.keys().cloned().collect();
        v.sort();
        v
    }
}
