#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nacre_transport::fuzzing::packet_inflate(data));
