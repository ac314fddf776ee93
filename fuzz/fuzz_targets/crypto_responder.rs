#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kcpq_core::fuzzing::crypto::crypto_responder(data));
