#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nacre_wire::fuzzing::wire_primitives(data));
