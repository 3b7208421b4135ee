//! The proxy end to end over loopback: a real HTTP client (reqwest, and the
//! official `openai` Python SDK when installed) → `mmsafe serve` → the
//! OpenAI-compatible target from mmsafe-target → `mmsafe_testkit::MockServer`.

mod support;

mod hostile;
mod openai_sdk;
mod proxy;
