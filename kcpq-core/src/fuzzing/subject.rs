//! Fuzz entry points for the `subject` module.
