#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| kcpq_core::fuzzing::kcp::kcp_segment_decode(data));
