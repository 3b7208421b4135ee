//! SQLite run store: runs, cases, attempts, verdicts, content-addressed images; resume
