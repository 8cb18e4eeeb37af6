//! Both real programs on loopback, one test binary (modules by subject). The binaries are
//! found, and built when missing, by `testkit::bin`: `cargo test -p e2e` works alone.

mod campub;
mod restarts;
mod security;
mod slow_subscriber;
mod wifi;
