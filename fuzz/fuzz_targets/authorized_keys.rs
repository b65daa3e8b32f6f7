#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nacre_keys::fuzzing::authorized_keys(data));
