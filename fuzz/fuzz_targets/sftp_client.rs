#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nacre_sftp::fuzzing::sftp_client(data));
