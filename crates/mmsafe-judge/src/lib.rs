//! Judges: refusal rules, LLM-as-judge, guard-model parsing, offline classifier, votes, calibration
