//! Checks of flag values that several subcommands share.

use crate::exit::usage;
use std::time::Duration;

/// A `--FLAG SECONDS` value as a `Duration`: a usage error (exit 2) naming the
/// flag unless it is positive and finite, because `Duration::from_secs_f64`
/// panics on NaN, `inf`, negative and huge values (1e30).
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
}
