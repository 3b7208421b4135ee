//! Attacks: typography engine, FigStep, MM-SafetyBench typography, visual prompt injection, jailbreak text, modality shift
