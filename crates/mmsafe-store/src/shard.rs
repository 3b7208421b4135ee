//! Shards: the I-th of N deterministic, disjoint slices of a run's attempts.
//!
//! An attempt belongs to shard `hash(attempt key) mod N`. The key already
//! names (run, case, attack, defense, repeat), so the split depends only on
//! the plan and the run id, never on which worker starts first or in which
//! order a worker reads its cases: N workers given `0/N … N-1/N` cover every
//! attempt exactly once, and a resubmitted worker finds its own slice again.
//!
//! Sharded runs get a run id derived from the run name ([`sharded_run_id`]),
//! so shards written to separate SQLite files still share attempt keys and
//! can be merged (`mmsafe runs merge`).

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// Per-shard progress of a run, one row per shard that ever started.
/// Self-contained (it only refers to `runs`): it is appended to the store's
/// migrations whatever number it gets there.
pub const MIGRATION: &str = r#"
    CREATE TABLE run_shards (
        run_id      TEXT NOT NULL REFERENCES runs(id),
        shard_index INTEGER NOT NULL,
        shard_count INTEGER NOT NULL,
        status      TEXT NOT NULL,
        started     TEXT NOT NULL,
        finished    TEXT,
        planned     INTEGER,
        PRIMARY KEY (run_id, shard_index)
    );
"#;

/// Seed of the shard hash ("SHARD" in ASCII); never changes, or stored
/// shards would no longer find their attempts.
const SHARD_SALT: u64 = 0x0053_4841_5244;

/// One slice of a run: `index` in `0..count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("shard `{0}`: expected I/N, e.g. 0/4 (shards are numbered from 0)")]
    Syntax(String),
    #[error("shard `{spec}` is out of range: N must be at least 1 and I within 0..={max} (shards are numbered from 0)", max = .count.saturating_sub(1))]
    OutOfRange { spec: String, count: u32 },
}

impl Shard {
    /// The whole run as one shard.
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    pub fn new(index: u32, count: u32) -> Result<Shard, ShardError> {
        if count == 0 || index >= count {
            return Err(ShardError::OutOfRange {
                spec: format!("{index}/{count}"),
                count,
            });
        }
        Ok(Shard { index, count })
    }

    /// Does the attempt with this key belong to this shard?
    pub fn contains(&self, attempt_key: &str) -> bool {
        shard_of(attempt_key, self.count) == self.index
    }
}

/// The shard (of `count`) an attempt key falls into: the first 8 bytes of the
/// sha256 of the key, modulo `count`. Stable across versions and platforms.
pub fn shard_of(attempt_key: &str, count: u32) -> u32 {
    if count <= 1 {
        return 0;
    }
    (mmsafe_core::seed::derive(SHARD_SALT, &[attempt_key]) % u64::from(count)) as u32
}

impl FromStr for Shard {
    type Err = ShardError;
    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let t = s.trim();
        let (i, n) = t
            .split_once('/')
            .ok_or_else(|| ShardError::Syntax(s.to_string()))?;
        let i: u32 = i
            .trim()
            .parse()
            .map_err(|_| ShardError::Syntax(s.to_string()))?;
        let n: u32 = n
            .trim()
            .parse()
            .map_err(|_| ShardError::Syntax(s.to_string()))?;
        Shard::new(i, n).map_err(|_| ShardError::OutOfRange {
            spec: s.to_string(),
            count: n,
        })
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// The run id every shard of the run named `name` shares: a pure function of
/// the name, so workers on different machines (or writing different SQLite
/// files) agree on it, and on every attempt key, without talking to each other.
pub fn sharded_run_id(name: &str) -> String {
    let a = mmsafe_core::seed::derive(SHARD_SALT, &["run", name]);
    format!("sharded-{a:016x}")
}

/// Progress of one shard of a run, as `mmsafe runs status` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ShardStatus {
    pub index: u32,
    pub count: u32,
    /// `running`, `completed`, `interrupted`, `failed`, or `not started`.
    pub status: String,
    pub started: Option<String>,
    pub finished: Option<String>,
    /// Attempts of this shard the plan makes, known once the shard has read
    /// its whole plan (a completed shard).
    pub planned: Option<u64>,
    /// Attempts recorded for this shard.
    pub recorded: u64,
    /// Of those, target errors.
    pub errors: u64,
}

/// The status a sharded run takes from its shards: completed when every shard
/// is; failed when any failed; interrupted when any was stopped; otherwise
/// running (shards still at work or not started yet).
pub fn run_status_of(shards: &[(u32, String)], count: u32) -> crate::RunStatus {
    use crate::RunStatus as S;
    let done = (0..count).all(|i| {
        shards
            .iter()
            .any(|(j, s)| *j == i && s == S::Completed.as_str())
    });
    let any = |st: S| shards.iter().any(|(_, s)| s == st.as_str());
    if done {
        S::Completed
    } else if any(S::Failed) {
        S::Failed
    } else if any(S::Interrupted) {
        S::Interrupted
    } else {
        S::Running
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_and_out_of_range_is_refused() {
        assert_eq!(
            "0/4".parse::<Shard>().unwrap(),
            Shard { index: 0, count: 4 }
        );
        assert_eq!(" 3 / 4 ".parse::<Shard>().unwrap().index, 3);
        for bad in ["4/4", "1/0", "0/0", "9/2"] {
            let e = bad.parse::<Shard>().unwrap_err();
            assert!(matches!(e, ShardError::OutOfRange { .. }), "{bad}: {e}");
            assert!(e.to_string().contains(bad), "{e}");
        }
        for bad in ["", "3", "a/4", "1/b", "-1/4", "1/4/2"] {
            assert!(matches!(
                bad.parse::<Shard>().unwrap_err(),
                ShardError::Syntax(_)
            ));
        }
    }

    #[test]
    fn shards_are_disjoint_cover_everything_and_roughly_even() {
        let keys: Vec<String> = (0..4000)
            .map(|i| crate::attempt_key("r", &format!("c{i}"), "none", "none", 0))
            .collect();
        for n in [1u32, 2, 3, 4, 7] {
            let mut sizes = vec![0usize; n as usize];
            for k in &keys {
                let owners: Vec<u32> = (0..n)
                    .filter(|&i| Shard::new(i, n).unwrap().contains(k))
                    .collect();
                assert_eq!(owners.len(), 1, "{k} in {owners:?} of {n}");
                sizes[owners[0] as usize] += 1;
            }
            let even = keys.len() / n as usize;
            for s in sizes {
                assert!(s.abs_diff(even) < even / 5 + 20, "{n}: {s} vs {even}");
            }
        }
        // Stable: a fixed key always lands in the same shard.
        assert_eq!(
            shard_of("00000000000000000000000000000000", 4),
            shard_of("00000000000000000000000000000000", 4)
        );
    }

    #[test]
    fn run_ids_follow_the_name_only() {
        assert_eq!(sharded_run_id("nightly"), sharded_run_id("nightly"));
        assert_ne!(sharded_run_id("nightly"), sharded_run_id("nightly-2"));
    }
}
