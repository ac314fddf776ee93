#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kcpq_core::fuzzing::fec::fec_decoder(data));
