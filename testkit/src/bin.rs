//! The programs under test, found one way, and processes run with a deadline.
//!
//! A test never assumes a binary was built before it: [`path`] takes `$CAMPUB_BIN` (or
//! `$CAMVIEW_BIN`, `$LINKSIM_BIN`) when set, else the binary next to the running test in the
//! same target directory, profile and target triple, and asks cargo to build it there when it
//! is missing (so `cargo test -p camview` alone works). When the tests run for another
//! architecture under qemu-user, `CAMPUB_TEST_RUNNER` names the emulator: cargo's target
//! runner starts the test binary itself, but a program it spawns must be emulated too.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The environment variable naming a program (and its arguments, split on whitespace) that
/// runs the binaries under test, e.g. "qemu-aarch64-static -L /usr/aarch64-linux-gnu".
pub const RUNNER_VAR: &str = "CAMPUB_TEST_RUNNER";

/// The runner's words, or None when the binaries run natively.
pub fn runner() -> Option<Vec<String>> {
    let words: Vec<String> = std::env::var(RUNNER_VAR)
        .ok()?
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    (!words.is_empty()).then_some(words)
}

/// Builds serialise here: tests of one binary run on several threads.
static BUILD: Mutex<()> = Mutex::new(());

/// The path of the workspace binary `name` (campub, camview, linksim) for this test run.
pub fn path(name: &str) -> PathBuf {
    let var = format!("{}_BIN", name.to_ascii_uppercase());
    if let Some(path) = std::env::var_os(&var) {
        let path = PathBuf::from(path);
        assert!(path.is_file(), "{var}={} is not a file", path.display());
        return path;
    }
    // A test runs as <target>/[<triple>/]<profile>/deps/<test>-<hash>.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let binary = profile_dir.join(name);
    let _guard = BUILD
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if !binary.is_file() {
        build(name, &profile_dir);
    }
    assert!(
        binary.is_file(),
        "{name} not found at {} even after building it; set {var}",
        binary.display()
    );
    binary
}

/// `cargo build -p NAME --bin NAME` into the target directory, profile and triple of
/// `profile_dir`.
fn build(name: &str, profile_dir: &Path) {
    let profile = profile_dir
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let parent = profile_dir.parent().unwrap();
    // Cargo marks the root of a target directory with .rustc_info.json (and CACHEDIR.TAG when
    // it made the directory itself); a directory between it and the profile is a target triple.
    let (target_dir, triple) =
        if parent.join(".rustc_info.json").is_file() || parent.join("CACHEDIR.TAG").is_file() {
            (parent.to_path_buf(), None)
        } else {
            let triple = parent.file_name().unwrap().to_str().unwrap().to_owned();
            (parent.parent().unwrap().to_path_buf(), Some(triple))
        };
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args([
            "build",
            "--quiet",
            "-p",
            name,
            "--bin",
            name,
            "--target-dir",
        ])
        .arg(&target_dir);
    match profile.as_str() {
        "debug" => {}
        "release" => {
            command.arg("--release");
        }
        other => {
            command.args(["--profile", other]);
        }
    }
    if let Some(triple) = triple {
        command.args(["--target", &triple]);
    }
    eprintln!("testkit: building {name} ({command:?})");
    let status = command
        .status()
        .unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
    assert!(status.success(), "building {name} failed: {command:?}");
}

/// A command that runs binary `name` (through the runner when one is set), with backtraces on.
pub fn command(name: &str) -> Command {
    let binary = path(name);
    let mut command = match runner() {
        Some(words) => {
            let mut command = Command::new(&words[0]);
            command.args(&words[1..]).arg(binary);
            command
        }
        None => Command::new(binary),
    };
    command.env("RUST_BACKTRACE", "1");
    command
}

/// `campub`, as the tests run it.
pub fn campub() -> Command {
    command("campub")
}

/// `camview`, as the tests run it.
pub fn camview() -> Command {
    command("camview")
}

/// `camrelay`, as the tests run it.
pub fn camrelay() -> Command {
    command("camrelay")
}

/// A running program whose output is collected as it comes; killed when dropped.
pub struct Running {
    pub child: Child,
    stdout: Drain,
    stderr: Drain,
}

/// How long [`Running::finish`] waits, after the program exited, for its output pipes to
/// close. Only another process holding a copy of a pipe keeps one open that long: under
/// qemu-user a process forked by the tests (or by the program) can deadlock between fork and
/// exec, keeping every descriptor it inherited; waiting for EOF then never ends.
const DRAIN_AFTER_EXIT: Duration = Duration::from_secs(5);

/// A pipe read to its end by a thread; what came so far is readable at any time.
struct Drain {
    text: Arc<Mutex<Vec<u8>>>,
    done: Option<JoinHandle<()>>,
}

impl Drain {
    fn start(mut pipe: Box<dyn Read + Send>) -> Self {
        let text = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&text);
        let done = std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                sink.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .extend_from_slice(&buf[..n]);
            }
        });
        Self {
            text,
            done: Some(done),
        }
    }

    /// Everything read once the pipe closed, or by `deadline` with a note saying it is cut
    /// short.
    fn collect(&mut self, what: &str, deadline: Instant) -> String {
        if let Some(done) = self.done.take() {
            while !done.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if done.is_finished() {
                let _ = done.join();
            } else {
                eprintln!(
                    "testkit: the program's {what} was still open {DRAIN_AFTER_EXIT:?} after it \
                     exited (another process holds a copy of the pipe); using what came so far"
                );
            }
        }
        let bytes = self.text.lock().unwrap_or_else(|p| p.into_inner()).clone();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// How a program ended, and everything it printed.
pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// Every line on stdout as JSON: a headless grid prints one summary line per tile.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.stdout
            .lines()
            .map(|line| {
                serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("bad JSON {line:?}: {e}; stderr:\n{}", self.stderr))
            })
            .collect()
    }

    /// The one JSON summary line of a headless camview run (its last line on stdout).
    pub fn summary(&self) -> serde_json::Value {
        let line = self
            .stdout
            .lines()
            .last()
            .unwrap_or_else(|| panic!("no summary; stderr:\n{}", self.stderr));
        serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("bad JSON {line:?}: {e}; stderr:\n{}", self.stderr))
    }
}

/// Starts `command` with its stdout and stderr collected.
pub fn spawn(command: &mut Command) -> Running {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {command:?}: {e}"));
    let stdout = Drain::start(Box::new(child.stdout.take().unwrap()));
    let stderr = Drain::start(Box::new(child.stderr.take().unwrap()));
    Running {
        child,
        stdout,
        stderr,
    }
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM (a clean stop) and waits for the exit like [`Running::finish`].
    pub fn terminate(self, limit: Duration) -> Finished {
        signal(self.pid(), "TERM");
        self.finish(limit)
    }

    /// Waits for the exit; kills it and fails the test if it takes longer than `limit`, or if
    /// it panicked.
    pub fn finish(mut self, limit: Duration) -> Finished {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let stderr = self
                    .stderr
                    .collect("stderr", Instant::now() + DRAIN_AFTER_EXIT);
                panic!("the program did not finish within {limit:?}; stderr:\n{stderr}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let drained = Instant::now() + DRAIN_AFTER_EXIT;
        let stdout = self.stdout.collect("stdout", drained);
        let stderr = self.stderr.collect("stderr", drained);
        assert!(
            !stderr.contains("panicked"),
            "the program panicked:\n{stderr}"
        );
        Finished {
            status,
            stdout,
            stderr,
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `command` to its end within `limit` (else kills it and fails the test).
pub fn run(command: &mut Command, limit: Duration) -> Finished {
    spawn(command).finish(limit)
}

/// `camview --headless --frames FRAMES --duration DURATION_S tcp://127.0.0.1:PORT`, run to its end.
pub fn run_headless(frames: u32, duration_s: u32, port: u16, limit: Duration) -> Finished {
    let (frames, duration_s) = (frames.to_string(), duration_s.to_string());
    run(
        camview().args([
            "--headless",
            "--frames",
            &frames,
            "--duration",
            &duration_s,
            &crate::net::endpoint(port),
        ]),
        limit,
    )
}

/// `kill -NAME PID`.
pub fn signal(pid: u32, name: &str) {
    let status = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// A running program whose stderr (its log) is kept line by line and echoed with a label;
/// killed when dropped.
pub struct LoggedProcess {
    pub child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

/// A campub started by [`LoggedProcess::start`].
pub type CampubProcess = LoggedProcess;

impl LoggedProcess {
    /// `campub --source pattern --bind tcp://127.0.0.1:PORT --stats-interval 0 ARGS...`
    pub fn start(port: u16, args: &[&str]) -> Self {
        Self::spawn(
            campub()
                .args(["--source", "pattern", "--stats-interval", "0"])
                .args(["--bind", &crate::net::endpoint(port)])
                .args(args),
            "campub",
        )
    }

    /// Starts `command`, its log echoed as `LABEL: line`.
    pub fn spawn(command: &mut Command, label: &str) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {label}: {e}"));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        let label = label.to_owned();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{label}: {line}");
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the program has not exited.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// The log so far, one line per entry.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Waits until a log line contains `needle`; `false` after `limit`.
    pub fn wait_for_log(&self, needle: &str, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if self.log().iter().any(|l| l.contains(needle)) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// Sends a signal by name (`HUP`, `TERM`, `KILL`, `STOP`, `CONT`).
    pub fn signal(&self, name: &str) {
        signal(self.pid(), name);
    }
}

impl Drop for LoggedProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
