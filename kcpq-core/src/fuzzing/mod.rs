//! Entry points shared by the cargo-fuzz targets in `fuzz/` and by the corpus replay test.
//!
//! Each function takes arbitrary bytes and must never panic; the fuzz targets are one-line
//! wrappers around them, and `tests/fuzz_corpus.rs` replays the corpora kept in the repository
//! through the same functions on every test run.

pub mod crypto;
pub mod fec;
pub mod kcp;
pub mod proto;
pub mod server;
pub mod subject;
