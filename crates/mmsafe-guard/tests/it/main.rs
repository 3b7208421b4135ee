//! Integration tests of the guard layers: each layer on crafted inputs, the
//! stack semantics (events, blocking, fail-closed) and policy files.

mod support;

mod layer_table;
mod layers;
mod policy;
mod real_models;
mod stack;
mod tune;
