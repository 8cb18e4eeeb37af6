//! Both real programs on loopback, one test binary (modules by subject). The binaries are
//! found, and built when missing, by `testkit::bin`: `cargo test -p e2e` works alone. Every
//! test here runs for real time and measures it, so each takes `testkit::one_at_a_time()`
//! first: they run one after another, never beside each other.

mod campub;
mod grid;
mod record;
mod relay;
mod restarts;
mod security;
mod slow_subscriber;
mod wifi;
