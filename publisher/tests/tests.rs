//! campub's integration tests, one binary (modules by subject), against the real campub binary
//! (through CAMPUB_TEST_RUNNER when it is emulated) and real ZeroMQ sockets on loopback.

mod bad_input;
mod cameras;
mod http;
mod http_fuzz_corpus;
mod idle;
mod protocol_doc;
mod pubsub;
