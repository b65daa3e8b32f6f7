#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nacre_connection::fuzzing::connection_messages(data));
