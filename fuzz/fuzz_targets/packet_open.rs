#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nacre_crypto::fuzzing::packet_open(data));
