//! HTTP targets (OpenAI-compatible) and the operational layers every target shares: retry, limits, timeout, cache
