//! Flags that several subcommands share, declared once as clap argument
//! groups (`#[command(flatten)]`) and validated by clap's value parsers, so a
//! bad value is the same usage error (exit 2, same message) everywhere.

use crate::exit::usage;
use mmsafe_store::{RunOptions, RunStore};
use mmsafe_target::{CacheMode, TargetOptions};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

/// The run store every reading or writing subcommand opens.
pub const DEFAULT_STORE: &str = "mmsafe.db";

/// `--store FILE|URL` (also `MMSAFE_STORE`): an SQLite file, or a
/// `postgres://` URL for one run written by many workers (docs/scale.md).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct StoreArg {
    /// Run store: an SQLite file, or postgres://USER@HOST/DB [default: ./mmsafe.db].
    #[arg(
        long,
        value_name = "FILE|URL",
        env = "MMSAFE_STORE",
        hide_env_values = true,
        global = true
    )]
    pub store: Option<PathBuf>,
}

impl StoreArg {
    pub fn at(path: impl Into<PathBuf>) -> StoreArg {
        StoreArg {
            store: Some(path.into()),
        }
    }

    pub fn path(&self) -> PathBuf {
        self.store
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_STORE))
    }

    /// The PostgreSQL URL, when the store is one.
    pub fn postgres_url(&self) -> Option<String> {
        let s = self.store.as_ref()?.to_str()?;
        mmsafe_store::is_postgres_url(s).then(|| s.trim().to_string())
    }

    /// The store as messages may name it: a path, or the URL without credentials.
    pub fn describe(&self) -> String {
        match self.postgres_url() {
            Some(u) => mmsafe_store::redact_url(&u),
            None => self.path().display().to_string(),
        }
    }

    /// Open the store, creating an SQLite file that does not exist yet.
    pub fn open(&self) -> anyhow::Result<Box<dyn RunStore>> {
        match self.postgres_url() {
            Some(u) => Ok(Box::new(mmsafe_store_pg::PgStore::connect(&u)?)),
            None => Ok(Box::new(mmsafe_store::Store::open(self.path())?)),
        }
    }

    /// Open a store that must already exist (reading commands never create
    /// an SQLite file; a database is migrated like on any open).
    pub fn open_existing(&self) -> anyhow::Result<Box<dyn RunStore>> {
        if self.postgres_url().is_none() {
            let path = self.path();
            if !path.exists() {
                anyhow::bail!(
                    "no run store at {} (run `mmsafe scan` first, or pass --store FILE)",
                    path.display()
                );
            }
        }
        self.open()
    }
}

/// `--json`: machine-readable output on stdout.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct JsonArg {
    /// Print JSON on stdout instead of text.
    #[arg(long, global = true)]
    pub json: bool,
}

/// How requests reach a target: what `scan` records with a run and `judge`
/// and `guard tune` use for the models they call. Every field is optional so
/// a resumed run can tell "not given" from a value.
#[derive(clap::Args, Debug, Clone, Default, PartialEq)]
pub struct TargetOpsArgs {
    /// Requests in flight at once [default: 16; `judge`: 8].
    #[arg(long, value_name = "N")]
    pub concurrency: Option<NonZeroUsize>,
    /// Max requests per second to the target.
    // Negative numbers reach the parser, which names the flag, instead of
    // clap's "unexpected argument '-1'".
    #[arg(long, value_name = "R", allow_negative_numbers = true, value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Per-request timeout in seconds [default: 120].
    #[arg(long, value_name = "SECS", allow_negative_numbers = true, value_parser = parse_seconds)]
    pub timeout: Option<f64>,
    /// Environment variable holding the target's API key.
    #[arg(long, value_name = "VAR")]
    pub api_key_env: Option<String>,
    /// Compute threads for `local:` targets.
    #[arg(long, value_name = "N")]
    pub threads: Option<NonZeroUsize>,
    /// Do not read or write the response cache.
    #[arg(long)]
    pub no_cache: bool,
}

impl TargetOpsArgs {
    /// These flags over the stored settings of a run (unset flags keep the
    /// stored value).
    pub fn over(&self, stored: &RunOptions) -> RunOptions {
        let mut o = stored.clone();
        if let Some(c) = self.concurrency {
            o.concurrency = Some(c);
        }
        if let Some(r) = self.rate {
            o.rate = Some(r);
        }
        if let Some(t) = self.timeout {
            o.timeout_s = Some(t);
        }
        if let Some(k) = &self.api_key_env {
            o.api_key_env = Some(k.clone());
        }
        if let Some(t) = self.threads {
            o.threads = Some(t.get());
        }
        if self.no_cache {
            o.no_cache = Some(true);
        }
        o
    }

    /// The target operations these flags ask for, for a command whose own
    /// default concurrency is `concurrency` (responses cached in memory
    /// unless `--no-cache`, as such commands always did).
    pub fn target_options(&self, concurrency: NonZeroUsize) -> TargetOptions {
        let d = TargetOptions::default();
        TargetOptions {
            concurrency: self.concurrency.unwrap_or(concurrency).get(),
            rate_per_s: self.rate,
            timeout: self
                .timeout
                .and_then(|t| Duration::try_from_secs_f64(t).ok())
                .unwrap_or(d.timeout),
            api_key_env: self.api_key_env.clone(),
            cache: if self.no_cache {
                CacheMode::Off
            } else {
                d.cache.clone()
            },
            threads: self.threads.map_or(d.threads, NonZeroUsize::get),
            ..d
        }
    }
}

/// Requests in flight when nothing says otherwise (the target crate's default).
pub fn default_concurrency() -> NonZeroUsize {
    NonZeroUsize::new(TargetOptions::default().concurrency).unwrap_or(NonZeroUsize::MIN)
}

/// Per-request timeout when nothing says otherwise (the target crate's default).
pub fn default_timeout() -> Duration {
    TargetOptions::default().timeout
}

/// The target operations of a scan run, from its settings (flags already
/// laid over the stored ones): the one place they turn into `TargetOptions`.
/// Responses are cached on disk unless the run says `no_cache`.
pub fn run_target_options(o: &RunOptions) -> TargetOptions {
    let d = TargetOptions::default();
    TargetOptions {
        concurrency: o.concurrency.unwrap_or(default_concurrency()).get(),
        rate_per_s: o.rate.filter(|r| r.is_finite() && *r > 0.0),
        // A stored plan from before the --timeout check may hold any number.
        timeout: o
            .timeout_s
            .and_then(|t| Duration::try_from_secs_f64(t).ok())
            .filter(|t| !t.is_zero())
            .unwrap_or(d.timeout),
        api_key_env: o.api_key_env.clone(),
        cache: if o.no_cache() {
            CacheMode::Off
        } else {
            CacheMode::Disk(mmsafe_target::default_cache_path())
        },
        threads: o.threads.filter(|t| *t > 0).unwrap_or(d.threads),
        ..d
    }
}

/// `--rate R`: a positive, finite number of requests per second.
pub fn parse_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err("must be a positive number of requests per second".into()),
    }
}

/// `SECS`: positive and small enough for a `Duration`, because
/// `Duration::from_secs_f64` panics on NaN, `inf`, negative and huge values.
pub fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v > 0.0 && Duration::try_from_secs_f64(v).is_ok() => Ok(v),
        _ => Err("must be a positive number of seconds".into()),
    }
}

/// A `--FLAG SECONDS` value as a `Duration`, checked like [`parse_seconds`]
/// for flags that are not parsed by it (a usage error naming the flag).
pub fn seconds(flag: &str, value: f64) -> anyhow::Result<Duration> {
    match Duration::try_from_secs_f64(value) {
        Ok(d) if value > 0.0 => Ok(d),
        _ => usage(format!(
            "{flag} {value}: must be a positive number of seconds"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::UsageError;

    #[test]
    fn seconds_accepts_positive_finite_values_and_names_the_flag_otherwise() {
        assert_eq!(
            seconds("--timeout", 2.5).unwrap(),
            Duration::from_millis(2500)
        );
        assert_eq!(seconds("--timeout", 1e-9).unwrap(), Duration::from_nanos(1));
        for bad in [
            0.0,
            -0.0,
            -1.0,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
            1e30,
        ] {
            let e = seconds("--duration-s", bad).unwrap_err();
            assert!(e.downcast_ref::<UsageError>().is_some(), "{bad}: {e}");
            assert!(
                e.to_string().starts_with("--duration-s ")
                    && e.to_string()
                        .ends_with("must be a positive number of seconds"),
                "{e}"
            );
        }
    }

    #[test]
    fn value_parsers_accept_positive_finite_numbers_only() {
        assert_eq!(parse_seconds("2.5"), Ok(2.5));
        assert_eq!(parse_rate("0.5"), Ok(0.5));
        for bad in ["0", "-1", "inf", "nan", "1e30", "x", ""] {
            assert!(parse_seconds(bad).is_err(), "{bad}");
        }
        for bad in ["0", "-1", "inf", "nan", "x"] {
            assert!(parse_rate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_override_stored_settings_and_unset_flags_keep_them() {
        let stored = RunOptions {
            concurrency: NonZeroUsize::new(3),
            timeout_s: Some(7.0),
            api_key_env: Some("K".into()),
            ..Default::default()
        };
        let flags = TargetOpsArgs {
            timeout: Some(9.0),
            no_cache: true,
            ..Default::default()
        };
        let o = flags.over(&stored);
        assert_eq!(o.concurrency, NonZeroUsize::new(3));
        assert_eq!(o.timeout_s, Some(9.0));
        assert_eq!(o.api_key_env.as_deref(), Some("K"));
        assert_eq!(o.no_cache, Some(true));
        let t = flags.target_options(NonZeroUsize::MIN.saturating_add(7));
        assert_eq!(t.concurrency, 8);
        assert_eq!(t.timeout, Duration::from_secs(9));
        assert!(matches!(t.cache, CacheMode::Off));
        let t = run_target_options(&o);
        assert_eq!((t.concurrency, t.timeout), (3, Duration::from_secs(9)));
        assert_eq!(t.api_key_env.as_deref(), Some("K"));
        // Unset or odd stored values fall back to the defaults.
        let odd = RunOptions {
            timeout_s: Some(f64::INFINITY),
            threads: Some(0),
            ..Default::default()
        };
        let t = run_target_options(&odd);
        assert_eq!(t.concurrency, default_concurrency().get());
        assert_eq!((t.timeout, t.threads), (default_timeout(), 1));
        assert!(matches!(t.cache, CacheMode::Disk(_)));
    }
}
