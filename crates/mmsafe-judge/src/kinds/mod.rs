//! How each judge kind is built from its spec: one file per kind, each a
//! `pub static KIND` listed in `crate::registry::JUDGES`.

pub mod cascade;
pub mod classifier;
pub mod llamaguard;
pub mod llm;
pub mod published;
pub mod refusal;
pub mod vote;
