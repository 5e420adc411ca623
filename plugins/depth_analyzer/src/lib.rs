//! Depth analyzer plugin (being built).
