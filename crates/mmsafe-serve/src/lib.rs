//! OpenAI-compatible guard proxy running the same guard stack as scan.
//!
//! `start(ServeConfig)` binds a listener and serves `POST /v1/chat/completions`
//! (JSON and SSE), `GET /v1/models`, `GET /healthz` and `GET /metrics`. Each
//! chat request is translated to a core `Request`, sent through the compiled
//! guard `Layer` around the upstream target, and translated back; the proxy
//! adds HTTP translation, limits, authentication, metrics and the audit log,
//! nothing else, so its guard behaviour is exactly the scan's.
//!
//! Security: client keys are compared in constant time and never logged; body
//! and image sizes are capped; every image is decoded (bounded, off the async
//! runtime) before any layer sees it, so no layer is handed an image it cannot
//! read; guard work has a global cap with a bounded queue (then 429); image
//! URLs are fetched only from allow-listed hosts; a failing guard layer fails
//! the request (503) unless the policy is fail-open.

pub mod audit;
pub mod auth;
pub mod config;
mod convert;
mod dims;
pub mod error;
mod images;
pub mod load;
pub mod metrics;
mod server;
mod slots;
mod stacks;
pub mod wire;

pub use config::{check_upstream_url, Limits, Secret, ServeConfig, UpstreamFn};
pub use server::{start, Running, ServeError};
