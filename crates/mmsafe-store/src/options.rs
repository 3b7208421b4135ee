//! The typed operational settings of a run (`Plan.options`).

use serde::{Deserialize, Deserializer, Serialize};
use std::collections::BTreeMap;
use std::num::NonZeroUsize;

/// Settings that do not change results (concurrency, rate, timeout, cache, …),
/// kept with the plan for the record and reused on resume.
///
/// Stored as the JSON object older versions wrote as an untyped map: the
/// fields are in that map's (alphabetical) key order, each is left out when
/// unset, and keys this version does not know are kept in `other`, so a
/// stored plan reads back and writes out unchanged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunOptions {
    /// Name of the environment variable holding the target's API key (never the key).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key_env: Option<String>,
    /// Requests in flight at once. A stored 0 or a non-integer (never written
    /// by mmsafe) reads as unset, i.e. the default.
    #[serde(
        skip_serializing_if = "Option::is_none",
        deserialize_with = "lenient_nonzero"
    )]
    pub concurrency: Option<NonZeroUsize>,
    /// Directory the run started in: relative suite and policy paths resolve there on resume.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub no_cache: Option<bool>,
    /// Attempts the plan makes, when known before the run (for reports of runs that stopped early).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub planned: Option<u64>,
    /// Requests per second.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip_broken: Option<bool>,
    /// Compute threads of `local:` targets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threads: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_s: Option<f64>,
    /// Keys written by another mmsafe version, kept as they were.
    #[serde(flatten)]
    pub other: BTreeMap<String, serde_json::Value>,
}

impl RunOptions {
    pub fn no_cache(&self) -> bool {
        self.no_cache == Some(true)
    }

    pub fn skip_broken(&self) -> bool {
        self.skip_broken == Some(true)
    }
}

fn lenient_nonzero<'de, D: Deserializer<'de>>(d: D) -> Result<Option<NonZeroUsize>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    Ok(v.and_then(|v| v.as_u64())
        .and_then(|n| usize::try_from(n).ok())
        .and_then(NonZeroUsize::new))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The options object exactly as version 0.1 wrote it (an untyped map).
    const OLD: &str = r#"{"api_key_env":"MY_KEY","concurrency":4,"cwd":"/tmp/x","no_cache":true,"planned":12,"rate":2.5,"skip_broken":false,"threads":2,"timeout_s":30.0}"#;

    #[test]
    fn old_options_load_typed_and_write_back_unchanged() {
        let o: RunOptions = serde_json::from_str(OLD).unwrap();
        assert_eq!(o.concurrency, NonZeroUsize::new(4));
        assert_eq!(o.api_key_env.as_deref(), Some("MY_KEY"));
        assert_eq!((o.rate, o.timeout_s), (Some(2.5), Some(30.0)));
        assert_eq!((o.threads, o.planned), (Some(2), Some(12)));
        assert!(o.no_cache() && !o.skip_broken());
        assert_eq!(serde_json::to_string(&o).unwrap(), OLD);
    }

    #[test]
    fn missing_unknown_and_odd_values_still_load() {
        let o: RunOptions = serde_json::from_str("{}").unwrap();
        assert_eq!(o, RunOptions::default());
        assert_eq!(serde_json::to_string(&o).unwrap(), "{}");
        let o: RunOptions =
            serde_json::from_str(r#"{"concurrency":0,"shard":"1/2","timeout_s":120.0}"#).unwrap();
        assert_eq!(o.concurrency, None);
        assert_eq!(o.other["shard"], "1/2");
        assert_eq!(
            serde_json::to_string(&o).unwrap(),
            r#"{"timeout_s":120.0,"shard":"1/2"}"#
        );
        let o: RunOptions = serde_json::from_str(r#"{"concurrency":8.5}"#).unwrap();
        assert_eq!(o.concurrency, None);
    }
}
