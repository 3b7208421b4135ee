//! `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3).

use std::time::SystemTime;

/// Seconds to wait, or `None` when the value is neither form. A date in the past is 0.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<f64> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then_some(secs);
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(
        when.duration_since(now)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn seconds_and_dates() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("3", now), Some(3.0));
        assert_eq!(parse_retry_after(" 1.5 ", now), Some(1.5));
        assert_eq!(parse_retry_after("-1", now), None);
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(10.0)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:00 GMT", now),
            Some(0.0)
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
