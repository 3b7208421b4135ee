//! Attacks: seeded, composable transforms of cases.
//!
//! * typographic images: `figstep`, `figstep-pro`, `mm-typo`, `mm-sd-typo`, `question-image`;
//! * visual prompt injection: `inject:*`;
//! * text: `template:*` (data files) and converters `text:*`;
//! * modality shift: `shift`.
//!
//! Every attack is registered once ([`registry`]), declares its parameters, and
//! records what it did in the produced case's provenance. Rendering goes
//! through `mmsafe-typography`; randomness only through the seed passed to
//! `apply`, so the same case, parameters and seed give byte-identical output.

pub mod attacks;
pub mod carrier;
pub mod common;
pub mod extract;
pub mod heldout;
pub mod inject;
pub mod mmtypo;
pub mod readability;
pub mod registry;
pub mod spec;
pub mod templates;

pub use attacks::figstep::FigStepRenderer;
pub use registry::{build, build_one, registry, AttackInfo, AttackSpec, BuildCtx};
pub use templates::{Template, TemplateLibrary, Unavailable};
pub mod input;
pub mod materialize;
