libfuzzer_sys::fuzz_target!(|data: &[u8]| kcpq_core::fuzzing::subject::subject_index(data));
