//! Loopback OpenAI-compatible server with fault injection, for tests and benchmarks
