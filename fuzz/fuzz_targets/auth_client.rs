#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nacre_auth::fuzzing::auth_client(data));
