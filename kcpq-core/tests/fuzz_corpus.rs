//! Replays every fuzz corpus kept in `fuzz/corpus/` through the same entry points the fuzz
//! targets call, so each CI run re-checks what the fuzzers once found interesting.

use std::path::Path;

use kcpq_core::fuzzing;

/// A fuzz entry point: arbitrary bytes in, no panic.
type EntryPoint = fn(&[u8]);

/// Every fuzz target with its entry point. A corpus directory without an entry here fails the
/// test, so a new target cannot be forgotten.
const TARGETS: &[(&str, EntryPoint)] = &[
    ("crypto_open_packet", fuzzing::crypto::crypto_open_packet),
    ("crypto_responder", fuzzing::crypto::crypto_responder),
    ("fec_decoder", fuzzing::fec::fec_decoder),
    ("kcp_endpoint", fuzzing::kcp::kcp_endpoint),
    ("kcp_segment_decode", fuzzing::kcp::kcp_segment_decode),
    ("proto_decode", fuzzing::proto::proto_decode),
    ("server_session", fuzzing::server::server_session),
    ("subject_index", fuzzing::subject::subject_index),
];

#[test]
fn every_corpus_replays_without_panicking() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut replayed = 0usize;
    for entry in std::fs::read_dir(&root).expect("fuzz/corpus exists") {
        let dir = entry.expect("readable corpus entry").path();
        let name = dir
            .file_name()
            .and_then(|n| n.to_str())
            .expect("utf-8 corpus name");
        let Some((_, run)) = TARGETS.iter().find(|(target, _)| *target == name) else {
            panic!("fuzz/corpus/{name} has no entry point in tests/fuzz_corpus.rs TARGETS");
        };
        for input in std::fs::read_dir(&dir).expect("readable corpus directory") {
            let path = input.expect("readable corpus file").path();
            let data = std::fs::read(&path).expect("readable corpus file");
            run(&data);
            replayed += 1;
        }
    }
    assert!(
        replayed > 0,
        "no corpus files found under {}",
        root.display()
    );
}
