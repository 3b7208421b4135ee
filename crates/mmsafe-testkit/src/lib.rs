//! Loopback OpenAI-compatible server with fault injection, for tests and benchmarks.
//!
//! `MockServer::start(MockConfig)` binds `127.0.0.1:0` and serves
//! `POST /v1/chat/completions` (plain JSON and `stream: true` SSE) and `GET /v1/models`.
//! A fault plan keyed by request index makes failures deterministic: the n-th
//! request gets a 429 with `Retry-After`, a 500, a hang, a malformed body or a
//! content-filter finish. It is a normal library (not dev-only) because
//! `mmsafe bench scan` and `mmsafe bench guard` run against it.
//!
//! `ScriptedServer` is the provider-agnostic sibling for APIs that are not
//! OpenAI-shaped (Anthropic, Gemini): it records every request and answers from
//! a closure.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use mmsafe_testkit::{Fault, MockConfig, MockServer, Reply, When};
//! use std::time::Duration;
//! let server = MockServer::start(
//!     MockConfig::default()
//!         .latency(Duration::from_millis(100))
//!         .reply(Reply::refuse_harmful())
//!         .fault(When::EveryNth(10), Fault::rate_limited(1)),
//! )
//! .await?;
//! println!("{}", server.base_url()); // http://127.0.0.1:PORT/v1
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod config;
mod request;
mod scripted;
mod server;
mod thread;

pub use config::{Fault, MockConfig, Reply, ReplyFn, When, DEFAULT_TRIGGERS, REFUSAL_TEXT};
pub use request::MockRequest;
pub use scripted::{RecordedRequest, ScriptFn, ScriptedReply, ScriptedServer};
pub use server::{MockServer, Stats};
pub use thread::MockThread;
