//! Any bytes through the wire format's readers: classify, parse_native, decode_base64_into.
#![no_main]

libfuzzer_sys::fuzz_target!(|msg: &[u8]| camwire::fuzzing::check_message(msg));
