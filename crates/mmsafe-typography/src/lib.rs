//! Text-to-image typography engine shared by every image attack and rendered suite.
