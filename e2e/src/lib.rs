//! e2e: the tests that run campub and camview together (tests/tests.rs); nothing to build
//! here. The binaries are found, and built when missing, by `testkit::bin`.
