//! What the integration tests share: how to start the campub binary under test, natively or
//! through an emulator when it was built for another architecture.

use std::process::Command;

/// The environment variable naming a program (and its arguments, split on whitespace) that runs
/// campub, e.g. "qemu-aarch64-static" when the tests run for aarch64 under qemu-user: cargo's
/// target runner starts the test binary itself, but a binary it spawns must be emulated too.
pub const RUNNER_VAR: &str = "CAMPUB_TEST_RUNNER";

/// The runner's words, or None when campub runs natively.
pub fn runner() -> Option<Vec<String>> {
    let words: Vec<String> = std::env::var(RUNNER_VAR)
        .ok()?
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    (!words.is_empty()).then_some(words)
}

/// A command that runs the campub built with these tests, through the runner if one is set.
pub fn campub() -> Command {
    let binary = env!("CARGO_BIN_EXE_campub");
    match runner() {
        Some(words) => {
            let mut command = Command::new(&words[0]);
            command.args(&words[1..]).arg(binary);
            command
        }
        None => Command::new(binary),
    }
}
