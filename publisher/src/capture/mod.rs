//! Capture: the sources behind one interface, and the thread that runs one of them.
//!
//! The capture thread owns its source and hands each frame to the rest of the pipeline through a
//! [`NewestFrame`] slot: it never waits for the encoder, and a frame the encoder had no time for
//! is replaced by the next one (and counted), so no latency builds up.

pub mod child;
pub mod controls;
pub mod exec;
pub mod file;
pub mod layout;
pub mod pattern;
pub mod rpicam;
mod simd;
pub mod v4l2;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use camthreads::NewestFrame;

use crate::frame::RawFrame;

/// How long a source may block in one call, so the thread notices a stop request promptly.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// How long capture waits for the frame being encoded to come back before it takes another
/// buffer (1.8 MB at 1280x720 YUYV): when encoding is quicker than this, one buffer does. Well
/// under a frame interval, so capture never falls a frame behind; the camera driver keeps its
/// own queue meanwhile.
const SPARE_WAIT: Duration = Duration::from_millis(10);

/// What one call to [`FrameSource::next_frame`] produced.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// `frame` holds a new frame.
    Frame,
    /// Nothing within [`POLL_INTERVAL`] (or a frame the source had to discard); call again.
    Idle,
}

#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("cannot open {device}: {source}")]
    Open {
        device: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Unsupported(String),
    /// A `--control` the camera does not have or a value it does not take: a configuration
    /// error (exit 2), retrying cannot help.
    #[error("{device}: --control {request}: {reason}")]
    Control {
        device: String,
        request: String,
        reason: String,
    },
    #[error("camera {device} was lost mid-stream: {source}")]
    Lost {
        device: String,
        source: std::io::Error,
    },
    #[error("{source_name} stalled: no frame for {waited_ms} ms; the camera looks wedged{}", stall_suffix(.last_words))]
    Stalled {
        source_name: String,
        waited_ms: u128,
        /// What a child-process source said last on its stderr ("" for other sources).
        last_words: String,
    },
    #[error("{source_name}: {what} ({status}){}", last_words_suffix(.last_words))]
    ChildEnded {
        source_name: String,
        what: String,
        status: String,
        last_words: String,
    },
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
}

fn stall_suffix(last_words: &str) -> String {
    if last_words.is_empty() {
        String::new()
    } else {
        format!("; its last words: {last_words}")
    }
}

fn last_words_suffix(last_words: &str) -> String {
    if last_words.is_empty() {
        "; it said nothing on stderr".into()
    } else {
        format!("; its last words: {last_words}")
    }
}

/// A source of raw frames: a camera, the test pattern, a file or a child process.
pub trait FrameSource: Send {
    /// Fills `frame` (reusing its buffer) with the next frame, blocking at most about
    /// [`POLL_INTERVAL`].
    fn next_frame(&mut self, frame: &mut RawFrame) -> Result<Next, CaptureError>;
    /// One line for the log: what is being captured and how.
    fn describe(&self) -> String;
    /// For a source that is a child process, its last stderr lines (quoted when it stalls).
    fn last_words(&self) -> Option<String> {
        None
    }
}

/// Counters the capture thread keeps for the stats line.
#[derive(Debug, Default)]
pub struct CaptureCounters {
    pub captured: AtomicU64,
    /// Frames the source itself skipped (gaps in its sequence numbers).
    pub source_dropped: AtomicU64,
}

/// Runs `source` on its own thread until `stop` is set or the source fails.
/// The hand-off is closed when the thread ends, so the consumer wakes up either way.
pub fn spawn(
    mut source: Box<dyn FrameSource>,
    handoff: Arc<NewestFrame<RawFrame>>,
    stop: Arc<AtomicBool>,
    counters: Arc<CaptureCounters>,
    stall_timeout: Duration,
) -> std::io::Result<JoinHandle<Result<(), CaptureError>>> {
    std::thread::Builder::new()
        .name("capture".into())
        .spawn(move || {
            let result = run(source.as_mut(), &handoff, &stop, &counters, stall_timeout);
            handoff.close();
            result
        })
}

fn run(
    source: &mut dyn FrameSource,
    handoff: &NewestFrame<RawFrame>,
    stop: &AtomicBool,
    counters: &CaptureCounters,
    stall_timeout: Duration,
) -> Result<(), CaptureError> {
    let mut spare: Option<RawFrame> = None;
    let mut last_frame_at = Instant::now();
    let mut last_source_seq: Option<u64> = None;
    while !stop.load(Ordering::Relaxed) {
        let mut frame = spare
            .take()
            .or_else(|| handoff.spare_within(SPARE_WAIT))
            .unwrap_or_else(RawFrame::empty);
        match source.next_frame(&mut frame)? {
            Next::Frame => {
                last_frame_at = Instant::now();
                counters.captured.fetch_add(1, Ordering::Relaxed);
                if let Some(prev) = last_source_seq {
                    let gap = frame.source_seq.saturating_sub(prev).saturating_sub(1);
                    counters.source_dropped.fetch_add(gap, Ordering::Relaxed);
                }
                last_source_seq = Some(frame.source_seq);
                spare = handoff.put(frame);
            }
            Next::Idle => {
                spare = Some(frame);
                if last_frame_at.elapsed() > stall_timeout {
                    return Err(CaptureError::Stalled {
                        source_name: source.describe(),
                        waited_ms: last_frame_at.elapsed().as_millis(),
                        last_words: source.last_words().unwrap_or_default(),
                    });
                }
            }
        }
    }
    Ok(())
}

/// Sleeps toward `deadline` for at most [`POLL_INTERVAL`]; true once the deadline has passed.
pub(crate) fn wait_until(deadline: Instant) -> bool {
    let now = Instant::now();
    if now >= deadline {
        return true;
    }
    let left = deadline - now;
    std::thread::sleep(left.min(POLL_INTERVAL));
    left <= POLL_INTERVAL
}

/// Frame pacing for synthetic sources: the next due time, skipping ahead instead of bursting
/// when the consumer of the schedule fell behind.
#[derive(Debug)]
pub(crate) struct Pacer {
    period: Duration,
    next_due: Instant,
}

impl Pacer {
    pub(crate) fn new(fps: f64) -> Self {
        Self {
            period: Duration::from_secs_f64(1.0 / fps),
            next_due: Instant::now(),
        }
    }

    /// True when a frame is due now; otherwise waits a little and returns false.
    pub(crate) fn due(&mut self) -> bool {
        if !wait_until(self.next_due) {
            return false;
        }
        self.next_due += self.period;
        let now = Instant::now();
        if self.next_due + self.period < now {
            self.next_due = now + self.period;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Scripted(Vec<Result<Next, CaptureError>>);

    impl FrameSource for Scripted {
        fn next_frame(&mut self, frame: &mut RawFrame) -> Result<Next, CaptureError> {
            frame.source_seq += 2;
            self.0.pop().unwrap_or(Ok(Next::Idle))
        }
        fn describe(&self) -> String {
            "scripted".into()
        }
    }

    #[test]
    fn source_error_ends_the_thread_and_closes_the_handoff() {
        let lost = CaptureError::Lost {
            device: "/dev/video9".into(),
            source: std::io::Error::from_raw_os_error(19),
        };
        let source = Scripted(vec![Err(lost), Ok(Next::Frame), Ok(Next::Frame)]);
        let handoff = Arc::new(NewestFrame::new());
        let counters = Arc::new(CaptureCounters::default());
        let thread = spawn(
            Box::new(source),
            Arc::clone(&handoff),
            Arc::new(AtomicBool::new(false)),
            Arc::clone(&counters),
            Duration::from_secs(5),
        )
        .unwrap();
        let err = thread.join().unwrap().unwrap_err();
        assert!(err.to_string().contains("lost mid-stream"), "{err}");
        assert_eq!(counters.captured.load(Ordering::Relaxed), 2);
        assert_eq!(handoff.replaced(), 1);
        // Closed: the newest frame is still handed out, then the consumer is told.
        assert!(handoff.take(Duration::ZERO).is_ok());
        assert_eq!(
            handoff.take(Duration::from_secs(1)).err(),
            Some(camthreads::TakeError::Closed)
        );
    }

    #[test]
    fn a_source_that_stops_delivering_is_reported_as_stalled() {
        let handoff = Arc::new(NewestFrame::new());
        let thread = spawn(
            Box::new(Scripted(vec![])),
            Arc::clone(&handoff),
            Arc::new(AtomicBool::new(false)),
            Arc::new(CaptureCounters::default()),
            Duration::from_millis(50),
        )
        .unwrap();
        let err = thread.join().unwrap().unwrap_err();
        assert!(matches!(err, CaptureError::Stalled { .. }), "{err}");
    }

    #[test]
    fn stop_flag_ends_the_thread_cleanly() {
        let stop = Arc::new(AtomicBool::new(true));
        let thread = spawn(
            Box::new(Scripted(vec![])),
            Arc::new(NewestFrame::new()),
            stop,
            Arc::new(CaptureCounters::default()),
            Duration::from_secs(5),
        )
        .unwrap();
        assert!(thread.join().unwrap().is_ok());
    }
}
