//! A camera that is another program (`exec:` and `rpicam`): the child process, its stdout read as
//! frames, its stderr logged, and its end. The lifecycle rules every child source shares live
//! here, once:
//! - the child runs in its own process group, so stopping it stops its children too (the
//!   `sh -c` of `exec:`, an ffmpeg under a script);
//! - its stderr goes to campub's log line by line, prefixed with the source name, at most
//!   [`LOG_LINES_PER_WINDOW`] lines per [`LOG_WINDOW`] (the rest are counted, not logged), and
//!   its last [`LAST_WORDS`] lines are kept for the error that ends campub;
//! - it is stopped with campub: SIGTERM to the group, SIGKILL after [`STOP_GRACE`], and reaped
//!   (no zombie);
//! - when it exits, campub stops with an error carrying its exit status and last words.
//!
//! Reading waits in poll(2) (through rustix) for at most [`POLL_INTERVAL`], then reads what is
//! there straight into the source's own buffer: one thread, no channel, no copy between
//! threads, no allocation per frame, and the capture thread sees the stop flag in time. (A
//! reader thread would need buffers passed back and forth and could not be interrupted in
//! read(2) when campub stops.)

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::process::{Pid, Signal};

use super::{CaptureError, Next, POLL_INTERVAL};
use crate::frame::{i420_frame_bytes, PixelFormat, RawFrame};
use crate::jpeg::complete_jpeg_len;

/// How many of the child's last stderr lines an error quotes.
pub const LAST_WORDS: usize = 5;
/// How long a stopped child has between SIGTERM and SIGKILL. rpicam-vid closes the camera in
/// well under a second; longer would hold up a systemd restart.
pub const STOP_GRACE: Duration = Duration::from_millis(1500);
/// Stderr lines logged per window; a child that floods its stderr must not flood the journal.
pub const LOG_LINES_PER_WINDOW: u32 = 20;
pub const LOG_WINDOW: Duration = Duration::from_secs(10);
/// How long an ended child's stderr may take to reach EOF before the error is built without it.
const LAST_WORDS_WAIT: Duration = Duration::from_millis(500);

/// The child's stderr as campub keeps it: the last lines, and whether it reached EOF.
#[derive(Default)]
struct StderrTail {
    lines: Mutex<VecDeque<String>>,
    closed: AtomicBool,
}

/// What one [`ChildProcess::read_into`] did.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadOutcome {
    /// This many bytes arrived.
    Data(usize),
    /// Nothing within [`POLL_INTERVAL`].
    Idle,
    /// The child closed its stdout, or exited with nothing left to read.
    Eof,
}

/// A running child whose stdout carries frames.
pub struct ChildProcess {
    name: String,
    child: Child,
    stdout: ChildStdout,
    stderr: Arc<StderrTail>,
}

impl ChildProcess {
    /// Starts `program args...` in its own process group, stdin from /dev/null, stdout piped
    /// to campub, stderr logged as `NAME: line`.
    pub fn spawn(name: &str, program: &str, args: &[String]) -> Result<Self, CaptureError> {
        use std::os::unix::process::CommandExt as _;
        let mut child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|source| CaptureError::Open {
                device: format!("{name} ({program})"),
                source,
            })?;
        let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
            // Not reached: both were asked for as pipes.
            let _ = child.kill();
            let _ = child.wait();
            return Err(CaptureError::Unsupported(format!(
                "{name}: no pipe to the child"
            )));
        };
        let tail = Arc::new(StderrTail::default());
        let sink = Arc::clone(&tail);
        let prefix = name.to_owned();
        let logger = std::thread::Builder::new()
            .name("child-stderr".into())
            .spawn(move || log_stderr(&prefix, stderr, &sink));
        if let Err(e) = logger {
            let mut process = Self {
                name: name.to_owned(),
                child,
                stdout,
                stderr: tail,
            };
            process.stop();
            return Err(CaptureError::Unsupported(format!(
                "{name}: cannot start the thread that logs its stderr: {e}"
            )));
        }
        log::info!(
            "{name}: started {program} (pid {}) {}",
            child.id(),
            shell_words(args)
        );
        Ok(Self {
            name: name.to_owned(),
            child,
            stdout,
            stderr: tail,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `wait` (at most [`POLL_INTERVAL`]) for output and reads what there is into
    /// `buf` (at most its length).
    pub fn read_into(
        &mut self,
        buf: &mut [u8],
        wait: Duration,
    ) -> Result<ReadOutcome, CaptureError> {
        if buf.is_empty() {
            return Ok(ReadOutcome::Idle);
        }
        let wait = wait.min(POLL_INTERVAL);
        let timeout = Timespec {
            tv_sec: 0,
            tv_nsec: i64::from(wait.subsec_nanos()),
        };
        let mut fds = [PollFd::new(&self.stdout, PollFlags::IN)];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            // Nothing to read. If the child has exited, its stdout may never close (a process
            // it started can hold it open): its exit is the end.
            Ok(0) => {
                return Ok(match self.child.try_wait() {
                    Ok(Some(_)) => ReadOutcome::Eof,
                    _ => ReadOutcome::Idle,
                });
            }
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(ReadOutcome::Idle),
            Err(e) => return Err(self.lost(std::io::Error::from(e))),
        }
        // poll said readable (or hung up): this read returns at once.
        match self.stdout.read(buf) {
            Ok(0) => Ok(ReadOutcome::Eof),
            Ok(n) => Ok(ReadOutcome::Data(n)),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(ReadOutcome::Idle),
            Err(e) => Err(self.lost(e)),
        }
    }

    fn lost(&self, source: std::io::Error) -> CaptureError {
        CaptureError::Lost {
            device: format!("{} (pid {})", self.name, self.child.id()),
            source,
        }
    }

    /// The error that ends campub after the child's stdout ended: `what` happened, with the
    /// child's exit status (waited for up to [`STOP_GRACE`]) and its last stderr lines.
    pub fn ended(&mut self, what: &str) -> CaptureError {
        let deadline = Instant::now() + STOP_GRACE;
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(POLL_INTERVAL / 5),
                _ => break None,
            }
        };
        CaptureError::ChildEnded {
            source_name: self.name.clone(),
            what: what.to_owned(),
            status: describe_status(status),
            last_words: self.last_words(),
        }
    }

    /// The child's last stderr lines, joined with " | " ("" when it said nothing). Waits a
    /// moment for its stderr to close when the child has exited, so the last lines are in.
    pub fn last_words(&self) -> String {
        let deadline = Instant::now() + LAST_WORDS_WAIT;
        while !self.stderr.closed.load(Ordering::Relaxed) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let lines = self
            .stderr
            .lines
            .lock()
            .map(|l| l.iter().cloned().collect::<Vec<_>>())
            .unwrap_or_default();
        lines.join(" | ")
    }

    /// SIGTERM to the child's process group, SIGKILL after [`STOP_GRACE`] to whatever of it is
    /// left, then reaps the child.
    fn stop(&mut self) {
        let Some(group) = i32::try_from(self.child.id()).ok().and_then(Pid::from_raw) else {
            let _ = self.child.kill();
            let _ = self.child.wait();
            return;
        };
        let _ = rustix::process::kill_process_group(group, Signal::TERM);
        let deadline = Instant::now() + STOP_GRACE;
        let mut reaped = false;
        while Instant::now() < deadline {
            if !reaped {
                reaped = matches!(self.child.try_wait(), Ok(Some(_)));
            }
            // Done once the leader is reaped and nothing else is left in its group.
            if reaped && rustix::process::test_kill_process_group(group).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        log::warn!(
            "{}: its process group is still there {} ms after SIGTERM; sending SIGKILL",
            self.name,
            STOP_GRACE.as_millis()
        );
        let _ = rustix::process::kill_process_group(group, Signal::KILL);
        let _ = self.child.wait();
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// What a child writes on its stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamFormat {
    /// Concatenated JPEGs (`ffmpeg -f mjpeg`, `rpicam-vid --codec mjpeg`).
    Mjpeg,
    /// I420 frames of `width_px` x `height_px` whose Y rows are `stride_bytes` long (chroma
    /// rows half that), back to back (see [`PixelFormat::I420`]).
    I420 {
        width_px: u32,
        height_px: u32,
        stride_bytes: u32,
    },
    /// Decided by the first two bytes: `FF D8` (a JPEG's SOI) means MJPEG, anything else I420
    /// of this shape.
    Auto {
        width_px: u32,
        height_px: u32,
        stride_bytes: u32,
    },
}

/// How much of a JPEG stream is read at once.
const JPEG_READ_CHUNK: usize = 64 * 1024;

/// A child process and the frames cut from its stdout.
pub struct ChildFrames {
    process: ChildProcess,
    format: StreamFormat,
    /// Bytes read but not yet handed out as a frame: the first `filled` of `pending`.
    pending: Vec<u8>,
    filled: usize,
    /// For MJPEG: `filled` when the last search for a complete JPEG failed (no new search
    /// until more bytes arrive).
    searched_at: usize,
    decompressor: Option<turbojpeg::Decompressor>,
    seq: u64,
    /// The most bytes a JPEG may take before the stream counts as broken.
    pub(super) max_jpeg_bytes: usize,
}

impl ChildFrames {
    pub fn new(process: ChildProcess, format: StreamFormat) -> Self {
        Self {
            process,
            format,
            pending: Vec::new(),
            filled: 0,
            searched_at: 0,
            decompressor: None,
            seq: 0,
            max_jpeg_bytes: camwire::MAX_MESSAGE_BYTES,
        }
    }

    pub fn process(&self) -> &ChildProcess {
        &self.process
    }

    /// Fills `frame` with the next whole frame, waiting at most about [`POLL_INTERVAL`].
    pub fn next_frame(&mut self, frame: &mut RawFrame) -> Result<Next, CaptureError> {
        let started = Instant::now();
        loop {
            // The reads of one call share one POLL_INTERVAL, so the stop flag is seen in time.
            let wait = POLL_INTERVAL.saturating_sub(started.elapsed());
            let got = match self.format {
                StreamFormat::Mjpeg => self.next_jpeg(frame, wait)?,
                StreamFormat::I420 {
                    width_px,
                    height_px,
                    stride_bytes,
                }
                | StreamFormat::Auto {
                    width_px,
                    height_px,
                    stride_bytes,
                } => self.next_i420(frame, (width_px, height_px, stride_bytes), wait)?,
            };
            match got {
                Some(Next::Frame) => {
                    frame.captured_at = Instant::now();
                    frame.capture_unix_ns = camwire::unix_time_ns();
                    frame.source_seq = self.seq;
                    self.seq += 1;
                    return Ok(Next::Frame);
                }
                Some(Next::Idle) => return Ok(Next::Idle),
                // Bytes arrived but no whole frame yet: read on while the budget lasts.
                None if started.elapsed() < POLL_INTERVAL => {}
                None => return Ok(Next::Idle),
            }
        }
    }

    /// One read toward an I420 frame. Reads go straight into `pending`, which is swapped with
    /// the frame's buffer when full: no copy, and no allocation once every buffer in the
    /// hand-off has had the frame's size.
    fn next_i420(
        &mut self,
        frame: &mut RawFrame,
        (width_px, height_px, stride_bytes): (u32, u32, u32),
        wait: Duration,
    ) -> Result<Option<Next>, CaptureError> {
        let frame_bytes = i420_frame_bytes(stride_bytes as usize, height_px as usize);
        if self.pending.len() != frame_bytes {
            self.pending.resize(frame_bytes, 0);
        }
        let read = self
            .process
            .read_into(&mut self.pending[self.filled..], wait)?;
        match read {
            ReadOutcome::Idle => Ok(Some(Next::Idle)),
            ReadOutcome::Eof if self.filled == 0 => Err(self.process.ended("exited")),
            ReadOutcome::Eof => {
                let what = format!(
                    "its output ended in the middle of a frame: {} of the {frame_bytes} bytes of \
                     a {width_px}x{height_px} I420 frame (stride {stride_bytes}); is --size the \
                     size it writes?",
                    self.filled
                );
                Err(self.process.ended(&what))
            }
            ReadOutcome::Data(n) => {
                self.filled += n;
                if matches!(self.format, StreamFormat::Auto { .. }) {
                    if self.filled < 2 {
                        return Ok(None);
                    }
                    self.format = if self.pending.starts_with(&[0xFF, 0xD8]) {
                        log::info!("{}: writes JPEGs (starts with FF D8)", self.process.name);
                        StreamFormat::Mjpeg
                    } else {
                        log::info!(
                            "{}: writes raw I420 frames of {width_px}x{height_px} (its output \
                             does not start with a JPEG's FF D8)",
                            self.process.name
                        );
                        StreamFormat::I420 {
                            width_px,
                            height_px,
                            stride_bytes,
                        }
                    };
                    if self.format == StreamFormat::Mjpeg {
                        return Ok(None);
                    }
                }
                if self.filled < frame_bytes {
                    return Ok(None);
                }
                std::mem::swap(&mut self.pending, &mut frame.data);
                self.filled = 0;
                frame.format = PixelFormat::I420;
                frame.width_px = width_px;
                frame.height_px = height_px;
                frame.stride_bytes = stride_bytes;
                Ok(Some(Next::Frame))
            }
        }
    }

    /// One read toward a JPEG, or a JPEG already buffered. The buffer holds at most one JPEG
    /// and the read after it; a stream that never completes one is an error at
    /// `max_jpeg_bytes`, never a buffer that grows without bound.
    fn next_jpeg(
        &mut self,
        frame: &mut RawFrame,
        wait: Duration,
    ) -> Result<Option<Next>, CaptureError> {
        if self.filled > self.searched_at {
            if self.filled >= 2 && !self.pending.starts_with(&[0xFF, 0xD8]) {
                let head: Vec<String> = self.pending[..self.filled.min(8)]
                    .iter()
                    .map(|b| format!("{b:02X}"))
                    .collect();
                return Err(self.process.ended(&format!(
                    "its output is not a stream of JPEGs: a frame starts with {} instead of FF D8",
                    head.join(" ")
                )));
            }
            if let Some(len) = complete_jpeg_len(&self.pending[..self.filled]) {
                frame.data.clear();
                frame.data.extend_from_slice(&self.pending[..len]);
                self.pending.copy_within(len..self.filled, 0);
                self.filled -= len;
                self.searched_at = 0;
                return Ok(Some(self.describe_jpeg(frame)));
            }
            self.searched_at = self.filled;
            if self.filled >= self.max_jpeg_bytes {
                return Err(self.process.ended(&format!(
                    "no complete JPEG (SOI to EOI) in {} bytes of its output, the most one frame \
                     may take",
                    self.filled
                )));
            }
        }
        let room = (self.filled + JPEG_READ_CHUNK).min(self.max_jpeg_bytes.max(self.filled + 1));
        if self.pending.len() < room {
            self.pending.resize(room, 0);
        }
        match self
            .process
            .read_into(&mut self.pending[self.filled..room], wait)?
        {
            ReadOutcome::Idle => Ok(Some(Next::Idle)),
            ReadOutcome::Eof if self.filled == 0 => Err(self.process.ended("exited")),
            ReadOutcome::Eof => {
                let what = format!(
                    "its output ended in the middle of a JPEG ({} bytes without its end)",
                    self.filled
                );
                Err(self.process.ended(&what))
            }
            ReadOutcome::Data(n) => {
                self.filled += n;
                Ok(None)
            }
        }
    }

    /// Sets the frame's size from its JPEG header; a JPEG without a readable one is skipped.
    fn describe_jpeg(&mut self, frame: &mut RawFrame) -> Next {
        if self.decompressor.is_none() {
            self.decompressor = turbojpeg::Decompressor::new().ok();
        }
        let header = self
            .decompressor
            .as_mut()
            .map(|d| d.read_header(&frame.data));
        match header {
            Some(Ok(h)) => {
                frame.format = PixelFormat::Mjpeg;
                frame.width_px = u32::try_from(h.width).unwrap_or(u32::MAX);
                frame.height_px = u32::try_from(h.height).unwrap_or(u32::MAX);
                frame.stride_bytes = 0;
                Next::Frame
            }
            Some(Err(e)) => {
                log::warn!(
                    "{}: skipping a JPEG without a readable header: {e}",
                    self.process.name
                );
                Next::Idle
            }
            None => {
                log::warn!(
                    "{}: skipping a JPEG: no libjpeg-turbo handle",
                    self.process.name
                );
                Next::Idle
            }
        }
    }
}

/// Logs the child's stderr line by line (rate-limited) and keeps its last lines.
fn log_stderr(name: &str, stderr: impl Read, tail: &StderrTail) {
    let mut window_start = Instant::now();
    let mut logged: u32 = 0;
    let mut suppressed: u64 = 0;
    let mut reader = BufReader::new(stderr);
    let mut raw = Vec::new();
    loop {
        raw.clear();
        match reader.read_until(b'\n', &mut raw) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        // ffmpeg redraws its progress line with \r: keep the last redraw of each line.
        let text = String::from_utf8_lossy(&raw);
        let line = text
            .trim_end_matches(['\n', '\r'])
            .rsplit('\r')
            .next()
            .unwrap_or("")
            .trim_end();
        if line.is_empty() {
            continue;
        }
        if let Ok(mut lines) = tail.lines.lock() {
            if lines.len() == LAST_WORDS {
                lines.pop_front();
            }
            lines.push_back(line.to_owned());
        }
        if window_start.elapsed() >= LOG_WINDOW {
            if suppressed > 0 {
                log::warn!("{name}: {suppressed} more stderr lines not logged (flooding)");
            }
            window_start = Instant::now();
            logged = 0;
            suppressed = 0;
        }
        if logged < LOG_LINES_PER_WINDOW {
            logged += 1;
            log::info!("{name}: {line}");
        } else {
            suppressed += 1;
        }
    }
    if suppressed > 0 {
        log::warn!("{name}: {suppressed} more stderr lines not logged (flooding)");
    }
    tail.closed.store(true, Ordering::Relaxed);
}

fn describe_status(status: Option<ExitStatus>) -> String {
    use std::os::unix::process::ExitStatusExt as _;
    match status {
        None => "still running".into(),
        Some(s) => match (s.code(), s.signal()) {
            (Some(code), _) => format!("exit status {code}"),
            (None, Some(signal)) => format!("killed by signal {signal}"),
            (None, None) => format!("{s}"),
        },
    }
}

/// Arguments as one line for the log, quoted where a shell would need it.
fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_=.,:/+@%".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> ChildProcess {
        ChildProcess::spawn("test", "sh", &["-c".into(), script.into()]).unwrap()
    }

    fn read_all(child: &mut ChildProcess) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 7];
        loop {
            match child.read_into(&mut buf, POLL_INTERVAL).unwrap() {
                ReadOutcome::Data(n) => out.extend_from_slice(&buf[..n]),
                ReadOutcome::Idle => {}
                ReadOutcome::Eof => return out,
            }
        }
    }

    /// Under qemu-user (the aarch64 test run) a test process that forks and execs children
    /// itself hung once with no child left (qemu's own fork/exec emulation); the lifecycle is
    /// then tested through campub as a whole (tests/cameras.rs, which does run there) and
    /// natively here. Says so instead of passing quietly.
    fn under_qemu_user() -> bool {
        let emulated = std::env::var_os("CAMPUB_TEST_RUNNER").is_some();
        if emulated {
            eprintln!("emulated: this child-process unit test runs natively only");
        }
        emulated
    }

    #[test]
    fn stdout_arrives_and_the_end_carries_status_and_last_words() {
        if under_qemu_user() {
            return;
        }
        let mut child =
            sh("printf 'hello world'; for i in 1 2 3 4 5 6 7; do echo line $i >&2; done; exit 3");
        assert_eq!(read_all(&mut child), b"hello world");
        let err = child.ended("the child exited").to_string();
        assert!(err.contains("exit status 3"), "{err}");
        assert!(err.contains("line 7") && err.contains("line 3"), "{err}");
        assert!(
            !err.contains("line 2 "),
            "only the last {LAST_WORDS}: {err}"
        );
    }

    #[test]
    fn a_silent_child_is_idle_not_blocking() {
        if under_qemu_user() {
            return;
        }
        let mut child = sh("sleep 5");
        let started = Instant::now();
        assert_eq!(
            child.read_into(&mut [0u8; 16], POLL_INTERVAL).unwrap(),
            ReadOutcome::Idle
        );
        assert!(started.elapsed() < Duration::from_secs(4));
    }

    #[test]
    fn dropping_stops_the_whole_group_even_a_child_that_ignores_sigterm() {
        if under_qemu_user() {
            return;
        }
        let mut child = sh("trap '' TERM; sleep 30 & echo $!; wait");
        let mut line = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !line.ends_with(b"\n") {
            assert!(Instant::now() < deadline, "no pid from the shell: {line:?}");
            let mut buf = [0u8; 32];
            if let ReadOutcome::Data(n) = child.read_into(&mut buf, POLL_INTERVAL).unwrap() {
                line.extend_from_slice(&buf[..n]);
            }
        }
        let grandchild: u32 = String::from_utf8_lossy(&line).trim().parse().unwrap();
        let leader = child.pid();
        drop(child);
        // SIGKILL is delivered asynchronously: the grandchild (not ours to reap) may take a
        // moment to die; its parent gone, it is then someone else's zombie at most.
        for pid in [leader, grandchild] {
            let deadline = Instant::now() + Duration::from_secs(2);
            loop {
                let state =
                    std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
                if state.is_empty() || state.contains(") Z") {
                    break;
                }
                assert!(Instant::now() < deadline, "{pid} still alive: {state}");
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let leader_state = std::fs::read_to_string(format!("/proc/{leader}/stat"));
        assert!(leader_state.is_err(), "the leader is reaped, not a zombie");
    }

    #[test]
    fn missing_program_is_an_open_error() {
        // Under qemu-user a failed exec is not reported to the parent at all (the child exits
        // 127 instead, which the source reports when it reads).
        if under_qemu_user() {
            return;
        }
        match ChildProcess::spawn("test", "/nonexistent/program", &[]) {
            Err(e) => {
                let err = e.to_string();
                assert!(err.contains("/nonexistent/program"), "{err}");
            }
            Ok(_) => panic!("spawning /nonexistent/program succeeded"),
        }
    }

    #[test]
    fn shell_words_quote_what_needs_it() {
        assert_eq!(
            shell_words(&["-t".into(), "0".into(), "a b".into(), "it's".into()]),
            r"-t 0 'a b' 'it'\''s'"
        );
    }
}
