//! Gradient-based adversarial images against surrogate vision encoders (candle)
