//! Offline models: model manager, GGUF LLM runtime, OCR, sentence embeddings, and the local:smollm2 pipeline target
