//! Training-time alignment data built from runs: SFT refusal data and preference pairs.
