//! Fuzz entry points for the `crypto` module.
