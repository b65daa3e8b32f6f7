#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nacre_testkit::fuzz_pair::session_pair(data));
