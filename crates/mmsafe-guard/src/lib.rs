//! Defense layers and policies: one guard pipeline for scan and serve
