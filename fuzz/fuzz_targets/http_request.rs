//! Any bytes as one HTTP connection to campub's server: hyper's parser, the limits,
//! authentication and the endpoints, with the invariants of `campub::http::fuzzing::request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|request: &[u8]| {
    campub::http::fuzzing::request(request);
});
