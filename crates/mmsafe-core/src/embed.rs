//! `Embedder`: sentence embeddings, used by judges and defenses.

#[derive(Debug, Clone, thiserror::Error)]
#[error("embedder: {0}")]
pub struct EmbedError(pub String);

pub trait Embedder: Send + Sync {
    fn name(&self) -> &str;
    fn dim(&self) -> usize;
    /// One L2-normalized vector per input text.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
}

/// Scores (request, reply) pairs read together (a cross-encoder): the
/// probability that each reply is a harmful compliance.
pub trait PairScorer: Send + Sync {
    fn name(&self) -> &str;
    fn score(&self, pairs: &[(&str, &str)]) -> Result<Vec<f32>, EmbedError>;
}

/// Cosine similarity; 0 when either vector is all zeros.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let (mut dot, mut na, mut nb) = (0f32, 0f32, 0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}
