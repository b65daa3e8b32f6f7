#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nacre_keys::fuzzing::key_files(data));
