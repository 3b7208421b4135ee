//! Pure statistics over verdicts: rates with intervals, corrections, paired tests
