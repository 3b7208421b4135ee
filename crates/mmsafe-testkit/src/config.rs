//! What the mock server does: latency, a fault plan by request index, and how it replies.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::request::MockRequest;

/// Words that make [`Reply::RefuseHarmful`] refuse (matched case-insensitively as substrings).
pub const DEFAULT_TRIGGERS: &[&str] = &[
    "bomb",
    "explosive",
    "weapon",
    "poison",
    "kill",
    "murder",
    "meth",
    "drug",
    "hack",
    "malware",
    "steal",
    "counterfeit",
    "launder",
    "suicide",
    "self-harm",
];

/// The sentence [`Reply::RefuseHarmful`] answers harmful prompts with.
pub const REFUSAL_TEXT: &str = "I'm sorry, but I can't help with that request.";

/// Which requests a fault applies to. Request indices are 0-based, counted over
/// `POST /v1/chat/completions` in arrival order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum When {
    Always,
    /// Every n-th request: `EveryNth(3)` hits indices 2, 5, 8, …
    EveryNth(u64),
    /// The first n requests (indices `0..n`).
    FirstN(u64),
    /// Indices in `start..end`.
    Range(u64, u64),
    Indices(Vec<u64>),
}

impl When {
    pub fn matches(&self, index: u64) -> bool {
        match self {
            When::Always => true,
            When::EveryNth(n) => *n > 0 && index % n == n - 1,
            When::FirstN(n) => index < *n,
            When::Range(start, end) => (*start..*end).contains(&index),
            When::Indices(v) => v.contains(&index),
        }
    }
}

/// A failure the server injects instead of (or before) a normal answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// HTTP 429 with an optional raw `Retry-After` header value (seconds or an HTTP-date).
    RateLimited { retry_after: Option<String> },
    /// HTTP 500.
    ServerError,
    /// Any status code with an OpenAI-style error body (401, 400, 503, …).
    Status(u16),
    /// Wait this long, then answer normally (use a duration above the client timeout).
    Hang(Duration),
    /// HTTP 200 whose body is truncated, invalid JSON.
    MalformedJson,
    /// HTTP 200 with `finish_reason: content_filter` and null content.
    ContentFilter,
}

impl Fault {
    /// HTTP 429 with `Retry-After: <secs>`.
    pub fn rate_limited(retry_after_s: u64) -> Fault {
        Fault::RateLimited {
            retry_after: Some(retry_after_s.to_string()),
        }
    }
}

/// Computes the reply text from the request (for [`Reply::With`]).
pub type ReplyFn = Arc<dyn Fn(&MockRequest<'_>) -> String + Send + Sync>;

/// How the server answers requests that get no fault.
#[derive(Clone)]
pub enum Reply {
    /// The text of the last user message, verbatim.
    Echo,
    Fixed(String),
    /// Refuses with [`REFUSAL_TEXT`] when the user text or a registered image hint
    /// contains a trigger word, otherwise answers helpfully.
    RefuseHarmful {
        triggers: Vec<String>,
    },
    /// Answer computed by a closure.
    With(ReplyFn),
}

impl Reply {
    /// `RefuseHarmful` with [`DEFAULT_TRIGGERS`].
    pub fn refuse_harmful() -> Reply {
        Reply::RefuseHarmful {
            triggers: DEFAULT_TRIGGERS.iter().map(|s| s.to_string()).collect(),
        }
    }

    pub fn with(f: impl Fn(&MockRequest<'_>) -> String + Send + Sync + 'static) -> Reply {
        Reply::With(Arc::new(f))
    }
}

impl fmt::Debug for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Echo => f.write_str("Echo"),
            Reply::Fixed(s) => f.debug_tuple("Fixed").field(s).finish(),
            Reply::RefuseHarmful { triggers } => f
                .debug_struct("RefuseHarmful")
                .field("triggers", triggers)
                .finish(),
            Reply::With(_) => f.write_str("With(<fn>)"),
        }
    }
}

/// Everything the mock server does. Build with `MockConfig::default()` and the
/// builder methods.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Added to every chat request before it is answered.
    pub latency: Duration,
    /// Checked in order; the first rule whose `When` matches the request index applies.
    pub faults: Vec<(When, Fault)>,
    pub reply: Reply,
    /// Model name reported by `/v1/models` and in replies.
    pub model: String,
    /// When set, requests without `Authorization: Bearer <key>` get HTTP 401.
    pub api_key: Option<String>,
    /// Text an image "contains", by the image's sha256 (lower-case hex). The mock
    /// cannot read images; whoever renders them registers what they say here.
    pub image_hints: HashMap<String, String>,
    /// Keep every request body (as JSON) for inspection with `MockServer::requests()`.
    /// Off by default: benchmarks must not pay for it.
    pub record_requests: bool,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            latency: Duration::ZERO,
            faults: Vec::new(),
            reply: Reply::Echo,
            model: "mock-model".to_string(),
            api_key: None,
            image_hints: HashMap::new(),
            record_requests: false,
        }
    }
}

impl MockConfig {
    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }
    pub fn fault(mut self, when: When, fault: Fault) -> Self {
        self.faults.push((when, fault));
        self
    }
    pub fn reply(mut self, reply: Reply) -> Self {
        self.reply = reply;
        self
    }
    pub fn model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }
    pub fn image_hint(mut self, sha256: impl Into<String>, text: impl Into<String>) -> Self {
        self.image_hints.insert(sha256.into(), text.into());
        self
    }
    pub fn record_requests(mut self, on: bool) -> Self {
        self.record_requests = on;
        self
    }

    pub(crate) fn fault_for(&self, index: u64) -> Option<&Fault> {
        self.faults
            .iter()
            .find(|(when, _)| when.matches(index))
            .map(|(_, f)| f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_matches_by_index() {
        assert!(When::EveryNth(3).matches(2));
        assert!(When::EveryNth(3).matches(5));
        assert!(!When::EveryNth(3).matches(3));
        assert!(!When::EveryNth(0).matches(0));
        assert!(When::FirstN(2).matches(1));
        assert!(!When::FirstN(2).matches(2));
        assert!(When::Range(3, 5).matches(4));
        assert!(!When::Range(3, 5).matches(5));
        assert!(When::Indices(vec![7]).matches(7));
    }

    #[test]
    fn first_matching_rule_wins() {
        let c = MockConfig::default()
            .fault(When::FirstN(1), Fault::ServerError)
            .fault(When::Always, Fault::MalformedJson);
        assert_eq!(c.fault_for(0), Some(&Fault::ServerError));
        assert_eq!(c.fault_for(1), Some(&Fault::MalformedJson));
    }
}
