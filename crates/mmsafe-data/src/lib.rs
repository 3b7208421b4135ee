//! Dataset loaders and built-in suites: every source's labels mapped onto the mmsafe hazard taxonomy
