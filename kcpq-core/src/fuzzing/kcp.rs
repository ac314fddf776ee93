//! Fuzz entry points for the `kcp` module.
