//! Runnable KCPQ examples live in `examples/examples/`; run one with
//! `cargo run -p kcpq-examples --example NAME`. This library is empty on purpose: it only gives the
//! examples a package to belong to.
#![warn(missing_docs)]
