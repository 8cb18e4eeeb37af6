//! The periodic one-line stats log: rates, drops, bytes and per-frame processing time.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::capture::CaptureCounters;
use crate::links::LinkSummary;

/// What the processing loop counts between two stats lines.
pub struct Stats {
    interval: Option<Duration>,
    window_start: Instant,
    published: u64,
    bytes: u64,
    bad_frames: u64,
    bad_frames_total: u64,
    /// Frames captured while nobody watched (not encoded).
    idle_frames: u64,
    process_total: Duration,
    process_max: Duration,
    latency_total: Duration,
    last_captured: u64,
    last_replaced: u64,
    last_source_dropped: u64,
    last_saturated: usize,
}

impl Stats {
    /// `interval` of zero turns the stats line off.
    pub fn new(interval: Duration) -> Self {
        Self {
            interval: (!interval.is_zero()).then_some(interval),
            window_start: Instant::now(),
            published: 0,
            bytes: 0,
            bad_frames: 0,
            bad_frames_total: 0,
            idle_frames: 0,
            process_total: Duration::ZERO,
            process_max: Duration::ZERO,
            latency_total: Duration::ZERO,
            last_captured: 0,
            last_replaced: 0,
            last_source_dropped: 0,
            last_saturated: 0,
        }
    }

    /// One frame published: `bytes` on the wire, `process` spent on it, `latency` since capture.
    pub fn frame_published(&mut self, bytes: usize, process: Duration, latency: Duration) {
        self.published += 1;
        self.bytes += bytes as u64;
        self.process_total += process;
        self.process_max = self.process_max.max(process);
        self.latency_total += latency;
    }

    /// One frame captured while nobody watched.
    pub fn frame_idle(&mut self) {
        self.idle_frames += 1;
    }

    /// One frame could not be published; returns how many failed since campub started.
    pub fn frame_failed(&mut self) -> u64 {
        self.bad_frames += 1;
        self.bad_frames_total += 1;
        self.bad_frames_total
    }

    /// Logs and starts a new window when the interval has passed; `links` is asked only then.
    pub fn maybe_log(
        &mut self,
        capture: &CaptureCounters,
        replaced: u64,
        links: impl FnOnce() -> Option<LinkSummary>,
    ) {
        let Some(interval) = self.interval else {
            return;
        };
        let now = Instant::now();
        let elapsed = now - self.window_start;
        if elapsed < interval {
            return;
        }
        let captured = capture.captured.load(Ordering::Relaxed);
        let source_dropped = capture.source_dropped.load(Ordering::Relaxed);
        let links = links();
        let mut line = self.line(
            elapsed,
            captured - self.last_captured,
            replaced - self.last_replaced,
            source_dropped - self.last_source_dropped,
        );
        if self.idle_frames > 0 {
            line.push_str(&format!(
                ", idle (nobody watching): {} frames not encoded",
                self.idle_frames
            ));
        }
        if let Some(links) = links {
            line.push_str(&links_text(links));
            if links.saturated > self.last_saturated {
                log::warn!(
                    "{} of {} subscribers are on links slower than the stream: they get fewer \
                     frames (see docs/WIFI.md)",
                    links.saturated,
                    links.subscribers
                );
            }
            self.last_saturated = links.saturated;
        }
        log::info!("{line}");
        self.last_captured = captured;
        self.last_replaced = replaced;
        self.last_source_dropped = source_dropped;
        self.published = 0;
        self.bytes = 0;
        self.bad_frames = 0;
        self.idle_frames = 0;
        self.process_total = Duration::ZERO;
        self.process_max = Duration::ZERO;
        self.latency_total = Duration::ZERO;
        // The next window starts where this one was measured, so no time falls between two.
        self.window_start = now;
    }

    fn line(&self, elapsed: Duration, captured: u64, replaced: u64, source_dropped: u64) -> String {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let per_frame = |total: Duration| {
            if self.published == 0 {
                0.0
            } else {
                total.as_secs_f64() * 1000.0 / self.published as f64
            }
        };
        format!(
            "stats: captured {:.1} fps, published {:.1} fps, dropped {} (encoder busy) + {} (source), \
             {} bad, {:.2} MB/s, {:.1} kB/frame, processing {:.2} ms/frame (max {:.2}), capture-to-send {:.2} ms",
            captured as f64 / secs,
            self.published as f64 / secs,
            replaced,
            source_dropped,
            self.bad_frames,
            self.bytes as f64 / secs / 1e6,
            if self.published == 0 { 0.0 } else { self.bytes as f64 / self.published as f64 / 1e3 },
            per_frame(self.process_total),
            self.process_max.as_secs_f64() * 1000.0,
            per_frame(self.latency_total),
        )
    }
}

/// ", 2 subscribers (1 on a slow link, gets 48 % of the stream)" for the stats line.
fn links_text(links: LinkSummary) -> String {
    let plural = if links.subscribers == 1 { "" } else { "s" };
    let mut text = format!(", {} subscriber{plural}", links.subscribers);
    if links.saturated > 0 {
        text.push_str(&format!(
            " ({} on a slow link, the slowest gets {:.0} % of the stream)",
            links.saturated,
            links.worst_share * 100.0
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_how_many_subscribers_are_on_slow_links() {
        let text = |subscribers, saturated, worst_share| {
            links_text(LinkSummary {
                subscribers,
                saturated,
                worst_share,
            })
        };
        assert_eq!(text(0, 0, 1.0), ", 0 subscribers");
        assert_eq!(text(1, 0, 0.95), ", 1 subscriber");
        assert_eq!(
            text(3, 2, 0.48),
            ", 3 subscribers (2 on a slow link, the slowest gets 48 % of the stream)"
        );
    }

    #[test]
    fn the_line_reports_rates_and_averages() {
        let mut stats = Stats::new(Duration::from_secs(1));
        for _ in 0..30 {
            stats.frame_published(40_000, Duration::from_millis(2), Duration::from_millis(3));
        }
        stats.frame_failed();
        let line = stats.line(Duration::from_secs(1), 31, 1, 2);
        assert!(
            line.contains("captured 31.0 fps, published 30.0 fps"),
            "{line}"
        );
        assert!(
            line.contains("dropped 1 (encoder busy) + 2 (source), 1 bad"),
            "{line}"
        );
        assert!(
            line.contains("1.20 MB/s, 40.0 kB/frame, processing 2.00 ms/frame"),
            "{line}"
        );
        assert!(line.contains("capture-to-send 3.00 ms"), "{line}");
    }
}
