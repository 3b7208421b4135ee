//! How a failed HTTP exchange reads in a `TargetError`, shared by every HTTP
//! target so the same failure is classified and worded the same way.

use mmsafe_core::TargetErrorKind;

/// Kind and message (`cannot connect: …`) for a transport failure. The URL is
/// stripped from the reqwest error: callers prefix their own redacted one.
pub(crate) fn describe(e: reqwest::Error) -> (TargetErrorKind, String) {
    let kind = if e.is_timeout() {
        TargetErrorKind::Timeout
    } else if e.is_builder() {
        TargetErrorKind::Config
    } else {
        // Refused, reset, closed before the reply, TLS failure: the transport
        // failed, which is worth a retry like a failed connect.
        TargetErrorKind::Connect
    };
    let what = if e.is_connect() {
        "cannot connect"
    } else if e.is_timeout() {
        "timed out"
    } else {
        "request failed"
    };
    (kind, format!("{what}: {}", error_chain(&e.without_url())))
}

/// `err: cause: cause`, without repeating text a cause already shows.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        src = s.source();
    }
    out
}
