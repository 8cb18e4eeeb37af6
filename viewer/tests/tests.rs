//! camview's integration tests, one binary (modules by subject), against the real camview
//! binary and test publishers on loopback. Tests that also run campub live in e2e/.

mod bad_input;
mod fuzz_corpus;
mod grid;
mod headless;
mod robustness;
mod window;
