//! Helpers for the integration tests: JPEGs, a test publisher on loopback, running the real
//! camview binary with a deadline, and a private Xvfb display.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use camwire::{encode_native, FrameHeader, StreamName};
use turbojpeg::{Image, PixelFormat, Subsamp};

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn endpoint(port: u16) -> String {
    format!("tcp://127.0.0.1:{port}")
}

/// A JPEG (quality 90, 4:2:0) of `width` x `height` pixels, `rgb(x, y)` each.
pub fn jpeg(width: usize, height: usize, rgb: impl Fn(usize, usize) -> [u8; 3]) -> Vec<u8> {
    let pixels: Vec<u8> = (0..height)
        .flat_map(|y| (0..width).map(move |x| (x, y)))
        .flat_map(|(x, y)| rgb(x, y))
        .collect();
    let image = Image {
        pixels: &pixels[..],
        width,
        pitch: 3 * width,
        height,
        format: PixelFormat::RGB,
    };
    turbojpeg::compress(image, 90, Subsamp::Sub2x2)
        .unwrap()
        .to_vec()
}

pub fn solid_jpeg(width: usize, height: usize, rgb: [u8; 3]) -> Vec<u8> {
    jpeg(width, height, |_, _| rgb)
}

/// A native message as campub sends it, captured now.
pub fn native(stream: &str, seq: u64, width: u16, height: u16, jpeg: &[u8]) -> Vec<u8> {
    native_at(stream, seq, camwire::unix_time_ns(), width, height, jpeg)
}

pub fn native_at(
    stream: &str,
    seq: u64,
    capture_unix_ns: u64,
    width: u16,
    height: u16,
    jpeg: &[u8],
) -> Vec<u8> {
    let header = FrameHeader {
        seq,
        capture_unix_ns,
        width_px: width,
        height_px: height,
    };
    let mut msg = Vec::new();
    encode_native(&StreamName::new(stream).unwrap(), &header, jpeg, &mut msg);
    msg
}

/// One ZeroMQ message to send: a single frame, or several parts (to test multipart refusal).
pub enum Outgoing {
    Single(Vec<u8>),
    Multipart(Vec<Vec<u8>>),
}

/// A ZeroMQ PUB socket on 127.0.0.1 sending batches from a generator on its own thread.
pub struct Publisher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl Publisher {
    /// Binds now (so the port is taken when this returns), then every `interval` sends the batch
    /// `batch(tick)` returns, until stopped or dropped.
    pub fn start(
        port: u16,
        interval: Duration,
        mut batch: impl FnMut(u64) -> Vec<Outgoing> + Send + 'static,
    ) -> Self {
        let context = zmq::Context::new();
        let socket = context.socket(zmq::PUB).unwrap();
        socket.set_linger(0).unwrap();
        socket.bind(&endpoint(port)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut sent = 0u64;
                let mut tick = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for out in batch(tick) {
                        match out {
                            Outgoing::Single(msg) => socket.send(msg, 0).unwrap(),
                            Outgoing::Multipart(parts) => socket.send_multipart(parts, 0).unwrap(),
                        }
                        sent += 1;
                    }
                    tick += 1;
                    std::thread::sleep(interval);
                }
                drop(socket);
                drop(context);
                sent
            })
        };
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sending, closes the socket and returns how many messages were sent.
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A running camview whose output is collected as it comes.
pub struct Running {
    pub child: Child,
    stdout: Option<JoinHandle<String>>,
    stderr: Option<JoinHandle<String>>,
}

pub struct Finished {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    /// The one JSON summary line of a headless run.
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

/// The camview binary under test: this build's, or $CAMVIEW_BIN (to check that a test fails
/// against an older build).
pub fn camview() -> Command {
    let bin = std::env::var_os("CAMVIEW_BIN")
        .unwrap_or_else(|| std::ffi::OsString::from(env!("CARGO_BIN_EXE_camview")));
    let mut command = Command::new(bin);
    command.env("RUST_BACKTRACE", "1");
    command
}

pub fn spawn(command: &mut Command) -> Running {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    Running {
        child,
        stdout: Some(stdout),
        stderr: Some(stderr),
    }
}

impl Running {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM (a clean stop) and waits for the exit like [`Running::finish`].
    pub fn terminate(self, limit: Duration) -> Finished {
        let sent = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM {} failed", self.pid());
        self.finish(limit)
    }

    /// Waits for the exit; kills it and fails the test if it takes longer than `limit`.
    pub fn finish(mut self, limit: Duration) -> Finished {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let stderr = self.stderr.take().unwrap().join().unwrap();
                panic!("the program did not finish within {limit:?}; stderr:\n{stderr}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let stdout = self.stdout.take().unwrap().join().unwrap();
        let stderr = self.stderr.take().unwrap().join().unwrap();
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
            &endpoint(port),
        ]),
        limit,
    )
}

/// Resident memory of a process in kB, from /proc.
pub fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

pub fn u64_at(json: &serde_json::Value, pointer: &str) -> u64 {
    json.pointer(pointer)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or_else(|| panic!("{pointer} missing in {json}"))
}

pub fn f64_at(json: &serde_json::Value, pointer: &str) -> f64 {
    json.pointer(pointer)
        .and_then(serde_json::Value::as_f64)
        .unwrap_or_else(|| panic!("{pointer} missing in {json}"))
}

/// A scratch directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("camview-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A decoded PNG screenshot.
pub struct Png {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl Png {
    pub fn read(path: &Path) -> Self {
        let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .unwrap();
        let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut rgb).unwrap();
        assert_eq!(
            (info.color_type, info.bit_depth),
            (png::ColorType::Rgb, png::BitDepth::Eight)
        );
        rgb.truncate(info.buffer_size());
        Self {
            width: info.width,
            height: info.height,
            rgb,
        }
    }

    pub fn at(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * self.width + x) * 3) as usize;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Pixels in the rectangle for which `test` holds.
    pub fn count(
        &self,
        x0: u32,
        y0: u32,
        x1: u32,
        y1: u32,
        test: impl Fn([u8; 3]) -> bool,
    ) -> usize {
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .filter(|&(x, y)| test(self.at(x, y)))
            .count()
    }
}

pub fn near(actual: [u8; 3], expected: [u8; 3], tolerance: i32) -> bool {
    actual
        .iter()
        .zip(expected)
        .all(|(&a, e)| (i32::from(a) - i32::from(e)).abs() <= tolerance)
}

#[track_caller]
pub fn assert_near(png: &Png, x: u32, y: u32, expected: [u8; 3], tolerance: i32) {
    let actual = png.at(x, y);
    assert!(
        near(actual, expected, tolerance),
        "pixel ({x},{y}) is {actual:?}, expected {expected:?} +- {tolerance}"
    );
}

/// An X display for windowed tests: $DISPLAY if set, else a private Xvfb (which must exist:
/// a missing Xvfb fails the test rather than skipping it).
pub struct Display {
    pub name: String,
    xvfb: Option<Child>,
}

static NEXT_DISPLAY: AtomicU32 = AtomicU32::new(0);

impl Display {
    pub fn open() -> Self {
        if let Ok(name) = std::env::var("DISPLAY") {
            if !name.is_empty() {
                return Self { name, xvfb: None };
            }
        }
        let base = 200 + (std::process::id() % 400) * 8;
        for _ in 0..40 {
            let number = base + NEXT_DISPLAY.fetch_add(1, Ordering::Relaxed);
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{number}"));
            if socket.exists() || Path::new(&format!("/tmp/.X{number}-lock")).exists() {
                continue;
            }
            let child = Command::new("Xvfb")
                .arg(format!(":{number}"))
                .args(["-screen", "0", "1280x1024x24", "-nolisten", "tcp"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let mut child = match child {
                Ok(child) => child,
                Err(e) => panic!("cannot start Xvfb (install the xvfb package): {e}"),
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && !socket.exists() {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if socket.exists() {
                return Self {
                    name: format!(":{number}"),
                    xvfb: Some(child),
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("could not start Xvfb on any display number");
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        if let Some(mut xvfb) = self.xvfb.take() {
            let _ = xvfb.kill();
            let _ = xvfb.wait();
        }
    }
}

/// The campub binary: $CAMPUB_BIN, else next to this test's target directory
/// (`<target>/debug/campub`, built by `cargo build -p campub` or `cargo test --workspace`).
/// A missing campub fails the test; it never skips.
pub fn campub_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("CAMPUB_BIN") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "CAMPUB_BIN={} is not a file",
            path.display()
        );
        return path;
    }
    // This test runs as <target>/<profile>/deps/<name>-<hash>.
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let path = profile_dir.join("campub");
    assert!(
        path.is_file(),
        "campub not found at {}: build it first (cargo build -p campub, same target dir) or set CAMPUB_BIN",
        path.display()
    );
    path
}

/// A running campub (test pattern on 127.0.0.1:PORT) whose log lines are kept; killed when
/// dropped.
pub struct CampubProcess {
    pub child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl CampubProcess {
    /// `campub --source pattern --bind tcp://127.0.0.1:PORT --stats-interval 0 ARGS...`
    pub fn start(port: u16, args: &[&str]) -> Self {
        let mut child = Command::new(campub_bin())
            .args(["--source", "pattern", "--stats-interval", "0"])
            .args(["--bind", &endpoint(port)])
            .args(args)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", campub_bin().display()));
        let log = Arc::new(Mutex::new(Vec::new()));
        let stderr = child.stderr.take().unwrap();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("campub: {line}");
                sink.lock().unwrap().push(line);
            }
        });
        Self { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether campub has not exited.
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

impl Drop for CampubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
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

/// Runs `campub keygen STEM` or `camview --keygen STEM` output-checked; returns the public key.
pub fn keygen(program: &str, stem: &Path) -> String {
    let out = match program {
        "campub" => Command::new(campub_bin())
            .arg("keygen")
            .arg(stem)
            .output()
            .unwrap(),
        _ => camview().arg("--keygen").arg(stem).output().unwrap(),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{program} keygen: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("public key: "))
        .unwrap_or_else(|| panic!("no public key in {stdout}"))
        .to_string()
}
