//! The vocabulary of mmsafe and the traits every plugin implements.
//!
//! Data flows one way: `Source` → `Attack` → guard `Layer`s → `Target` → `Judge` →
//! metrics → report. This crate holds only the nouns of that pipeline and the
//! object-safe traits that connect them; it does no IO and starts no runtime, so
//! every other crate can depend on it without pulling anything heavy.

pub mod attack;
pub mod case;
pub mod embed;
pub mod hazard;
pub mod judge;
pub mod ocr;
pub mod params;
pub mod seed;
pub mod source;
pub mod target;
pub mod text;

pub use attack::{Attack, AttackError, DynAttack};
pub use case::{Case, Expect, Image, Message, Part, ProvenanceStep, Role};
pub use embed::{cosine, EmbedError, Embedder, PairScorer};
pub use hazard::Hazard;
pub use judge::{DynJudge, Judge, JudgeError, Label, Verdict};
pub use ocr::{Ocr, OcrError, OcrLine};
pub use params::{ParamSpec, Params, ParamsError, Spec};
pub use source::{DataError, Source};
pub use target::{
    DynTarget, FinishReason, GuardEvent, Layer, Request, Response, Target, TargetError,
    TargetErrorKind, TargetInfo, Usage,
};
