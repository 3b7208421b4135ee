//! One file per subcommand: its flags (`…Args`) and its `run`.

pub mod analyze;
pub mod attack;
pub mod attack_adversarial;
pub mod bench;
pub mod datasets;
pub mod export;
pub mod guard;
pub mod guard_eval;
pub mod guard_train;
pub mod judge;
pub mod labels;
pub mod models;
pub mod report;
pub mod runs;
pub mod scan;
pub mod serve;
pub mod serve_limits;
pub mod ui;
