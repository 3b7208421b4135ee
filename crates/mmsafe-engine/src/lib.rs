//! The scan loop: plan, stream cases through attacks, defenses, target and judges, with bounded concurrency and resume
