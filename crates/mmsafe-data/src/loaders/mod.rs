//! One file per dataset format; each defines a `LOADER` registered in
//! `registry::LOADERS`.

pub mod advbench;
pub(crate) mod common;
pub mod figstep;
pub mod generic;
pub mod hades;
pub mod harmbench;
pub mod jailbreakv;
pub mod jbb;
pub mod manifest;
pub mod mm_harmfulbench;
pub mod mmdt;
pub mod mmsafetybench;
pub mod mossbench;
pub mod mssbench;
pub mod msts;
pub mod omnisafebench_mm;
pub mod safebench_mm;
pub mod simplesafetytests;
pub mod siuo;
pub mod vlguard;
pub mod vlsbench;
pub mod vlsu;
pub mod xstest;
