#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nacre_sftp_codec::fuzzing::sftp_packets(data));
