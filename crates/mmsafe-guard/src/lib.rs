//! Defense layers and policies: one guard pipeline for scan and serve.
//!
//! A guard is a core `Layer`. A [`Policy`] (TOML file or preset) lists layers
//! in order; [`Policy::compile`] turns it into one [`Guard`], itself a `Layer`,
//! whose `layer(inner)` wraps any target. `mmsafe scan --defense` wraps the
//! scan target with it and `mmsafe serve` wraps the upstream model with it, so
//! what is measured is exactly what is deployed.
//!
//! Most layers are [`Check`]s (look once at the request or the response: pass,
//! flag, rewrite or block); [`CheckLayer`] turns a check into a `Layer`.
//! Layers that call the model several times (`jailguard`, `ecso`) implement
//! `Layer` directly. Every decision is recorded as a `GuardEvent` on the
//! response; a block answers with the policy's refusal and
//! `FinishReason::GuardBlocked` without calling the inner target. A layer that
//! fails makes the request fail (`TargetErrorKind::Guard`) unless the policy
//! sets `fail_open`.
//!
//! Key design decision: models (OCR, embeddings, guard-model targets, judges)
//! arrive as trait objects through a [`Resolver`], so this crate links no
//! inference runtime and opens no connection.

mod blocking;
pub mod check;
pub mod classify;
pub mod error;
pub mod harm;
pub mod harm_data;
pub mod harm_sources;
pub mod harm_val;
pub mod heldout;
pub mod imaging;
pub mod layers;
pub mod mutate;
pub mod ocr_cache;
pub mod policy;
pub mod refusal;
pub mod tune;

pub use check::{Action, Check, CheckLayer, Decision, GuardOptions, Phase, DEFAULT_REFUSAL};
pub use classify::{Classifier, DynClassifier};
pub use error::{GuardError, PolicyError};
pub use layers::kind::LayerKind;
pub use layers::registry::LAYERS;
pub use policy::{CheckReport, CheckStep, Guard, Policy, Resolver, PRESETS};
