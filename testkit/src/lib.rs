//! testkit: what the workspace's tests share (dev-only; never a dependency of a program).
//!
//! - [`bin`]: the programs under test, found in ONE way (built by cargo if missing, run
//!   through `CAMPUB_TEST_RUNNER` when emulated), and processes with a deadline;
//! - [`net`], [`fs`]: free loopback ports, scratch directories, files with a mode;
//! - [`media`]: test JPEGs and native messages, a ZeroMQ test publisher;
//! - [`screen`]: a private Xvfb display and PNG screenshots checked by pixel;
//! - [`keys`]: CURVE key pairs made by the programs themselves;
//! - [`netns`]: hosts made of network namespaces, veth links, tbf slow links, NAT.
//!
//! ```no_run
//! use testkit::{bin, net};
//!
//! let port = net::free_port();
//! let done = bin::run(
//!     bin::camview().args(["--headless", "--duration", "1", &net::endpoint(port)]),
//!     std::time::Duration::from_secs(10),
//! );
//! assert_eq!(done.status.code(), Some(3)); // no publisher: no frame
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test helper that fails should panic

pub mod bin;
pub mod fs;
pub mod keys;
pub mod media;
pub mod net;
pub mod netns;
pub mod screen;

pub use bin::{
    campub, camrelay, camview, run, run_headless, signal, spawn, CampubProcess, Finished,
    LoggedProcess, Running,
};
pub use fs::{temp_dir, write_file};
pub use keys::keygen;
pub use media::{jpeg, native, native_at, solid_jpeg, Outgoing, Publisher};
pub use net::{endpoint, free_port};
pub use screen::{assert_near, near, Display, Png};

static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Taken first by a test that measures time, rate or memory, or loads the machine on
/// purpose: such tests of one test binary then run one at a time, never beside each other
/// (cargo runs a binary's tests on several threads). A test that failed while holding it does
/// not block the others.
pub fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// A number from a JSON summary; panics naming the pointer when it is missing.
pub fn u64_at(json: &serde_json::Value, pointer: &str) -> u64 {
    json.pointer(pointer)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or_else(|| panic!("{pointer} missing in {json}"))
}

/// As [`u64_at`], for fractions.
pub fn f64_at(json: &serde_json::Value, pointer: &str) -> f64 {
    json.pointer(pointer)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or_else(|| panic!("{pointer} missing in {json}"))
}

/// Resident memory of a process in kB, from /proc.
pub fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}
