#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nacre_keys::fuzzing::cert_parse(data));
