//! OpenAI-compatible guard proxy running the same guard stack as scan
