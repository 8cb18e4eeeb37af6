//! What the pipeline hands the HTTP server: the newest JPEG (one copy per encode, shared by
//! every client as `Bytes`) and, once a second, the figures of the stats line.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Serialize;
use tokio::sync::watch;

/// One published JPEG as HTTP clients get it.
#[derive(Clone, Debug)]
pub struct HttpFrame {
    pub jpeg: Bytes,
    pub width_px: u32,
    pub height_px: u32,
    /// When the source captured it (wall clock, as in the ZeroMQ header): /stream's X-Timestamp.
    pub capture_unix_ns: u64,
    pub published_at: Instant,
}

/// The figures of `/status` and `/metrics`: totals since start and rates over the last second.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Figures {
    pub captured_total: u64,
    pub published_total: u64,
    pub dropped_encoder_busy_total: u64,
    pub dropped_source_total: u64,
    pub bad_frames_total: u64,
    pub bytes_published_total: u64,
    pub captured_fps: f64,
    pub published_fps: f64,
    /// Mean capture-to-send time of the last second's frames.
    pub capture_to_send_ms: f64,
    pub width_px: u32,
    pub height_px: u32,
    /// ZeroMQ subscribers connected (None when campub cannot see its links).
    pub zmq_subscribers: Option<usize>,
    /// Nobody is watching: capturing without encoding (docs/HTTP.md, "Nobody watching").
    pub idle: bool,
}

/// The counters the pipeline reads once a second, as totals since start.
#[derive(Clone, Copy, Debug, Default)]
pub struct PipelineTotals {
    pub captured: u64,
    pub dropped_encoder_busy: u64,
    pub dropped_source: u64,
    pub zmq_subscribers: Option<usize>,
    pub idle: bool,
}

/// The pipeline's side of the HTTP server. Cheap when nobody watches: one copy of each JPEG into
/// a `Bytes` and a few atomic adds per frame.
pub struct Feed {
    frames: watch::Sender<Option<HttpFrame>>,
    published: AtomicU64,
    bad: AtomicU64,
    bytes: AtomicU64,
    latency_ns: AtomicU64,
    window: Mutex<Window>,
    figures: Mutex<Figures>,
}

/// The previous once-a-second sample, to turn totals into rates.
struct Window {
    at: Instant,
    captured: u64,
    published: u64,
    latency_ns: u64,
}

/// How often the pipeline refreshes [`Figures`].
pub const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

impl Default for Feed {
    fn default() -> Self {
        Self::new()
    }
}

impl Feed {
    pub fn new() -> Self {
        Self {
            frames: watch::Sender::new(None),
            published: AtomicU64::new(0),
            bad: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            latency_ns: AtomicU64::new(0),
            window: Mutex::new(Window {
                at: Instant::now(),
                captured: 0,
                published: 0,
                latency_ns: 0,
            }),
            figures: Mutex::new(Figures::default()),
        }
    }

    /// One frame published on ZeroMQ: HTTP clients get the same JPEG.
    pub fn frame(
        &self,
        jpeg: &[u8],
        width_px: u32,
        height_px: u32,
        capture_unix_ns: u64,
        latency: Duration,
    ) {
        self.published.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(jpeg.len() as u64, Ordering::Relaxed);
        let latency_ns = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        self.latency_ns.fetch_add(latency_ns, Ordering::Relaxed);
        // send_replace: there may be no receiver at all, and the frame must be kept anyway.
        self.frames.send_replace(Some(HttpFrame {
            jpeg: Bytes::copy_from_slice(jpeg),
            width_px,
            height_px,
            capture_unix_ns,
            published_at: Instant::now(),
        }));
    }

    /// One frame could not be published.
    pub fn frame_failed(&self) {
        self.bad.fetch_add(1, Ordering::Relaxed);
    }

    /// Refreshes the figures when [`SAMPLE_INTERVAL`] has passed since the last time.
    pub fn maybe_sample(&self, totals: impl FnOnce() -> PipelineTotals) {
        let Ok(mut window) = self.window.lock() else {
            return;
        };
        let now = Instant::now();
        let elapsed = now - window.at;
        if elapsed < SAMPLE_INTERVAL {
            return;
        }
        let totals = totals();
        let published = self.published.load(Ordering::Relaxed);
        let latency_ns = self.latency_ns.load(Ordering::Relaxed);
        let secs = elapsed.as_secs_f64();
        let frames = published.saturating_sub(window.published);
        let (width_px, height_px) = self
            .frames
            .borrow()
            .as_ref()
            .map_or((0, 0), |f| (f.width_px, f.height_px));
        let figures = Figures {
            captured_total: totals.captured,
            published_total: published,
            dropped_encoder_busy_total: totals.dropped_encoder_busy,
            dropped_source_total: totals.dropped_source,
            bad_frames_total: self.bad.load(Ordering::Relaxed),
            bytes_published_total: self.bytes.load(Ordering::Relaxed),
            captured_fps: totals.captured.saturating_sub(window.captured) as f64 / secs,
            published_fps: frames as f64 / secs,
            capture_to_send_ms: if frames == 0 {
                0.0
            } else {
                latency_ns.saturating_sub(window.latency_ns) as f64 / 1e6 / frames as f64
            },
            width_px,
            height_px,
            zmq_subscribers: totals.zmq_subscribers,
            idle: totals.idle,
        };
        *window = Window {
            at: now,
            captured: totals.captured,
            published,
            latency_ns,
        };
        if let Ok(mut shared) = self.figures.lock() {
            *shared = figures;
        }
    }

    /// The figures of the last sample.
    pub fn figures(&self) -> Figures {
        self.figures.lock().map(|f| f.clone()).unwrap_or_default()
    }

    /// HTTP clients waiting for frames now: each /stream and each snapshot waiting for a fresh
    /// frame holds a receiver (see [`subscribe`](Self::subscribe)).
    pub fn watchers(&self) -> usize {
        self.frames.receiver_count()
    }

    /// How long ago the newest frame was published, if there is one. Read through the sender:
    /// a receiver taken only to look would count as a watcher for that instant (and a
    /// /status request would wake an idle campub).
    pub fn newest_age(&self) -> Option<Duration> {
        self.frames
            .borrow()
            .as_ref()
            .map(|f| f.published_at.elapsed())
    }

    /// A receiver of the newest frame, for one HTTP client.
    pub fn subscribe(&self) -> watch::Receiver<Option<HttpFrame>> {
        self.frames.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_client_gets_the_same_bytes_of_the_newest_frame() {
        let feed = Feed::new();
        let mut a = feed.subscribe();
        let b = feed.subscribe();
        feed.frame(&[0xFF, 0xD8, 1], 640, 360, 0, Duration::from_millis(2));
        feed.frame(&[0xFF, 0xD8, 2], 640, 360, 0, Duration::from_millis(4));
        let fa = a.borrow_and_update().clone().unwrap();
        let fb = b.borrow().clone().unwrap();
        assert_eq!(&fa.jpeg[..], &[0xFF, 0xD8, 2]);
        assert_eq!(fa.jpeg.as_ptr(), fb.jpeg.as_ptr(), "shared, not copied");
        assert!(!a.has_changed().unwrap());
    }

    #[test]
    fn looking_at_the_newest_frame_is_not_watching() {
        let feed = Feed::new();
        assert_eq!(feed.newest_age(), None);
        feed.frame(&[0xFF, 0xD8, 1], 640, 360, 0, Duration::from_millis(2));
        assert!(feed.newest_age().is_some());
        assert_eq!(
            feed.watchers(),
            0,
            "a look at the age must not count as a viewer"
        );
        let _client = feed.subscribe();
        assert_eq!(feed.watchers(), 1);
    }

    #[test]
    fn figures_turn_totals_into_rates() {
        let feed = Feed::new();
        for _ in 0..3 {
            feed.frame(&[0; 1000], 640, 360, 0, Duration::from_millis(3));
        }
        feed.frame_failed();
        if let Ok(mut w) = feed.window.lock() {
            w.at -= Duration::from_secs(2);
        }
        feed.maybe_sample(|| PipelineTotals {
            captured: 4,
            dropped_encoder_busy: 1,
            dropped_source: 0,
            zmq_subscribers: Some(2),
            idle: false,
        });
        let f = feed.figures();
        assert_eq!(
            (f.published_total, f.captured_total, f.bad_frames_total),
            (3, 4, 1)
        );
        assert_eq!(f.bytes_published_total, 3000);
        assert!((f.published_fps - 1.5).abs() < 0.01, "{}", f.published_fps);
        assert!((f.capture_to_send_ms - 3.0).abs() < 0.01);
        assert_eq!(
            (f.width_px, f.height_px, f.zmq_subscribers),
            (640, 360, Some(2))
        );
    }
}
