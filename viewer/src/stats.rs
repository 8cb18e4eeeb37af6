//! What the viewer measures: displayed fps (smoothed for the banner, averaged for the summary),
//! capture-to-display latency and its percentiles, and the per-run counts for the JSON summary.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use camwire::MessageKind;
use serde::Serialize;

use crate::monitor::EndpointStatus;

/// How quickly the banner's fps follows a change of rate: the time constant of the smoothing.
const FPS_TIME_CONSTANT_S: f64 = 0.5;

/// A latency above this (or below zero) means the two clocks disagree, not that frames are late.
pub const MAX_PLAUSIBLE_LATENCY_MS: f64 = 10_000.0;

/// Latency samples kept for the percentiles; older ones are overwritten (the max is kept apart).
const MAX_LATENCY_SAMPLES: usize = 65_536;

/// Distinct stream names counted in the summary; frames of any further names are not itemised.
const MAX_COUNTED_STREAMS: usize = 64;

/// Displayed frames per second: frames over time, both weighted by how recent they are.
#[derive(Debug, Default, Clone)]
pub struct FpsMeter {
    weighted_frames: f64,
    weighted_s: f64,
    last: Option<Instant>,
}

impl FpsMeter {
    /// Records that a frame was shown at `now`.
    pub fn tick(&mut self, now: Instant) {
        if let Some(last) = self.last {
            let dt_s = now.saturating_duration_since(last).as_secs_f64();
            let decay = (-dt_s / FPS_TIME_CONSTANT_S).exp();
            self.weighted_frames = self.weighted_frames * decay + 1.0;
            self.weighted_s = self.weighted_s * decay + dt_s;
        }
        self.last = Some(now);
    }

    /// The smoothed rate at `now`; it falls towards zero when frames stop coming.
    pub fn fps(&self, now: Instant) -> f64 {
        let Some(last) = self.last else { return 0.0 };
        if self.weighted_frames <= 0.0 || self.weighted_s <= 0.0 {
            return 0.0;
        }
        let mean_interval_s = self.weighted_s / self.weighted_frames;
        let since_last_s = now.saturating_duration_since(last).as_secs_f64();
        // Only a frame more than one whole interval overdue lowers the rate: jitter does not.
        1.0 / mean_interval_s.max(since_last_s - mean_interval_s)
    }
}

/// One frame's capture-to-display latency, if it can be trusted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    Ms(f64),
    /// Negative or absurdly large: the sender's clock and ours are not in step.
    ClocksUnsynchronised,
}

impl Latency {
    pub fn between(capture_unix_ns: u64, display_unix_ns: u64) -> Self {
        // In integers first: nanoseconds since 1970 do not fit an f64 exactly.
        let ms = (i128::from(display_unix_ns) - i128::from(capture_unix_ns)) as f64 / 1e6;
        if (0.0..=MAX_PLAUSIBLE_LATENCY_MS).contains(&ms) {
            Latency::Ms(ms)
        } else {
            Latency::ClocksUnsynchronised
        }
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Percentiles {
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
}

/// The plausible latencies seen so far (the newest [`MAX_LATENCY_SAMPLES`] of them).
#[derive(Debug, Default, Clone)]
pub struct LatencyStats {
    samples_ms: Vec<f64>,
    next: usize,
    max_ms: Option<f64>,
    unsynchronised: u64,
}

impl LatencyStats {
    pub fn record(&mut self, latency: Latency) {
        let ms = match latency {
            Latency::Ms(ms) => ms,
            Latency::ClocksUnsynchronised => {
                self.unsynchronised += 1;
                return;
            }
        };
        self.max_ms = Some(self.max_ms.map_or(ms, |m| m.max(ms)));
        if self.samples_ms.capacity() == 0 {
            // Once, so that recording never reallocates: untouched pages cost no memory.
            self.samples_ms.reserve_exact(MAX_LATENCY_SAMPLES);
        }
        if self.samples_ms.len() < MAX_LATENCY_SAMPLES {
            self.samples_ms.push(ms);
        } else {
            self.samples_ms[self.next] = ms;
            self.next = (self.next + 1) % MAX_LATENCY_SAMPLES;
        }
    }

    /// Nearest-rank percentiles, or `None` before the first plausible sample.
    pub fn percentiles(&self) -> Option<Percentiles> {
        let mut sorted = self.samples_ms.clone();
        sorted.sort_by(f64::total_cmp);
        Some(Percentiles {
            p50: nearest_rank(&sorted, 50.0)?,
            p95: nearest_rank(&sorted, 95.0)?,
            p99: nearest_rank(&sorted, 99.0)?,
            max: self.max_ms?,
        })
    }

    pub fn unsynchronised(&self) -> u64 {
        self.unsynchronised
    }
}

/// The smallest sample with at least `percent` % of the samples at or below it.
fn nearest_rank(sorted: &[f64], percent: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (percent / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// Shown frames by message shape.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SourceCounts {
    pub native: u64,
    pub base64: u64,
    pub bare: u64,
}

/// Every message that could not be shown, by reason (a short snake_case word): refused by the
/// receiver's wire checks, failed to decode, or refused by SDL. The one tally the banner and the
/// summary read; the receiving thread and the viewer's loop both add to it.
#[derive(Debug, Default)]
pub struct BadMessages(Mutex<BTreeMap<&'static str, u64>>);

impl BadMessages {
    pub fn add(&self, reason: &'static str) {
        *self.counts().entry(reason).or_insert(0) += 1;
    }

    pub fn total(&self) -> u64 {
        self.counts().values().sum()
    }

    pub fn by_reason(&self) -> BTreeMap<String, u64> {
        self.counts()
            .iter()
            .map(|(r, c)| (r.to_string(), *c))
            .collect()
    }

    /// The counts; a thread that panicked while adding one leaves them usable.
    fn counts(&self) -> MutexGuard<'_, BTreeMap<&'static str, u64>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Everything counted about the frames this viewer showed.
#[derive(Debug, Default)]
pub struct ShownStats {
    pub frames: u64,
    pub fps: FpsMeter,
    pub latency: LatencyStats,
    pub sources: SourceCounts,
    pub streams: BTreeMap<String, u64>,
    pub first_at: Option<Instant>,
    pub last_at: Option<Instant>,
    /// The longest time between two consecutive shown frames.
    pub max_gap: Option<Duration>,
    pub last_latency: Option<Latency>,
}

impl ShownStats {
    /// Records one shown frame. `latency` is `None` when the sender gave no capture time.
    pub fn record(
        &mut self,
        now: Instant,
        source: MessageKind,
        stream: Option<&str>,
        latency: Option<Latency>,
    ) {
        self.frames += 1;
        self.fps.tick(now);
        self.first_at.get_or_insert(now);
        if let Some(last) = self.last_at {
            let gap = now.saturating_duration_since(last);
            self.max_gap = Some(self.max_gap.map_or(gap, |m| m.max(gap)));
        }
        self.last_at = Some(now);
        match source {
            MessageKind::Native => self.sources.native += 1,
            MessageKind::Base64 => self.sources.base64 += 1,
            MessageKind::BareJpeg => self.sources.bare += 1,
        }
        if let Some(name) = stream {
            if let Some(count) = self.streams.get_mut(name) {
                *count += 1;
            } else if self.streams.len() < MAX_COUNTED_STREAMS {
                self.streams.insert(name.to_owned(), 1);
            }
        }
        if let Some(latency) = latency {
            self.latency.record(latency);
        }
        self.last_latency = latency;
    }

    /// Mean displayed rate from the first shown frame to the last.
    pub fn mean_fps(&self) -> f64 {
        match (self.first_at, self.last_at) {
            (Some(first), Some(last)) if self.frames > 1 => {
                let span_s = last.saturating_duration_since(first).as_secs_f64();
                if span_s > 0.0 {
                    (self.frames - 1) as f64 / span_s
                } else {
                    0.0
                }
            }
            _ => 0.0,
        }
    }

    /// Time since the last shown frame, if any was shown.
    pub fn since_last(&self, now: Instant) -> Option<Duration> {
        self.last_at.map(|at| now.saturating_duration_since(at))
    }
}

/// Latency percentiles for the JSON summary: all `null` when no plausible latency was measured.
#[derive(Debug, Default, Clone, Copy, PartialEq, Serialize)]
pub struct LatencySummary {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub max: Option<f64>,
}

impl From<Option<Percentiles>> for LatencySummary {
    fn from(p: Option<Percentiles>) -> Self {
        let round = |ms: f64| (ms * 1000.0).round() / 1000.0;
        match p {
            Some(p) => Self {
                p50: Some(round(p.p50)),
                p95: Some(round(p.p95)),
                p99: Some(round(p.p99)),
                max: Some(round(p.max)),
            },
            None => Self::default(),
        }
    }
}

/// The numbers of one `--report-every` interval, printed as a JSON line as it ends.
#[derive(Debug, Clone, Serialize)]
pub struct IntervalReport {
    /// Seconds since camview started, at the end of the interval.
    pub t_s: f64,
    pub frames_shown: u64,
    pub fps: f64,
    pub latency_ms: LatencySummary,
    pub lost_in_transit: u64,
    pub skipped: u64,
    /// The tile's endpoint, in a grid (several endpoints); absent for a single stream.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
}

impl IntervalReport {
    /// The line `--report-every` prints.
    pub fn json_line(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// Counts one interval for [`IntervalReport`]; the totals are read at its start and end.
#[derive(Debug)]
pub struct IntervalStats {
    every: Duration,
    started: Instant,
    latency: LatencyStats,
    frames_at_start: u64,
    lost_at_start: u64,
    skipped_at_start: u64,
}

impl IntervalStats {
    pub fn new(every: Duration, now: Instant) -> Self {
        Self {
            every,
            started: now,
            latency: LatencyStats::default(),
            frames_at_start: 0,
            lost_at_start: 0,
            skipped_at_start: 0,
        }
    }

    pub fn record(&mut self, latency: Option<Latency>) {
        if let Some(latency) = latency {
            self.latency.record(latency);
        }
    }

    /// The report when the interval is over (and a new one begun), given the running totals.
    pub fn finish_if_due(
        &mut self,
        now: Instant,
        since_start_s: f64,
        frames: u64,
        lost: u64,
        skipped: u64,
    ) -> Option<IntervalReport> {
        let span = now.saturating_duration_since(self.started);
        if span < self.every {
            return None;
        }
        let shown = frames.saturating_sub(self.frames_at_start);
        let report = IntervalReport {
            t_s: (since_start_s * 1000.0).round() / 1000.0,
            frames_shown: shown,
            fps: (shown as f64 / span.as_secs_f64() * 100.0).round() / 100.0,
            latency_ms: self.latency.percentiles().into(),
            lost_in_transit: lost.saturating_sub(self.lost_at_start),
            skipped: skipped.saturating_sub(self.skipped_at_start),
            endpoint: None,
        };
        *self = Self {
            every: self.every,
            started: now,
            latency: LatencyStats::default(),
            frames_at_start: frames,
            lost_at_start: lost,
            skipped_at_start: skipped,
        };
        Some(report)
    }
}

/// The one JSON object `camview --headless` prints on stdout when it ends.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub frames_shown: u64,
    /// Mean displayed frames per second between the first and the last shown frame.
    pub fps: f64,
    pub elapsed_s: f64,
    /// Messages that were replaced by a newer one before the viewer got to them.
    pub skipped: u64,
    /// Frames the publisher sent that never reached this viewer (gaps in sequence numbers):
    /// dropped at the publisher because the link was slower than the stream.
    pub lost_in_transit: u64,
    pub bad_messages: u64,
    pub bad_by_reason: BTreeMap<String, u64>,
    pub latency_ms: LatencySummary,
    /// Frames whose capture time was in the future or more than 10 s old.
    pub latency_unsynchronised: u64,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// The stream name of the last shown frame (native messages only).
    pub stream: Option<String>,
    pub streams: BTreeMap<String, u64>,
    pub last_seq: Option<u64>,
    pub source_format: SourceCounts,
    pub messages_received: u64,
    pub endpoints: Vec<String>,
    /// Each endpoint's connection state at the end, from ZeroMQ's socket monitor.
    pub connection: Vec<EndpointStatus>,
    /// The longest time between two shown frames, in ms (`null` before the second frame).
    pub max_gap_ms: Option<f64>,
    pub screenshot: Option<String>,
    /// The tile's endpoint, in a grid (one summary line per endpoint); absent for a single
    /// stream, whose line is unchanged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// --record or the `r` key: frames written, dropped, the files, a write error; absent when
    /// nothing was recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<crate::record::RecordStats>,
}

/// What the summary is made of, read off the viewer's parts as the run ends.
#[derive(Debug, Clone, Copy)]
pub struct RunTotals<'a> {
    pub shown: &'a ShownStats,
    pub elapsed: Duration,
    pub received: u64,
    pub skipped: u64,
    pub lost: u64,
    pub bad: &'a BadMessages,
    /// The last shown picture's size.
    pub picture_px: Option<(usize, usize)>,
    /// The last shown frame's stream name (empty when its sender gives none) and number.
    pub stream: Option<&'a str>,
    pub last_seq: Option<u64>,
    pub endpoints: &'a [String],
    pub connection: &'a [EndpointStatus],
    pub screenshot: Option<&'a Path>,
}

impl Summary {
    pub fn new(run: &RunTotals<'_>) -> Self {
        let size = |n: usize| u32::try_from(n).ok();
        Summary {
            frames_shown: run.shown.frames,
            fps: (run.shown.mean_fps() * 100.0).round() / 100.0,
            elapsed_s: (run.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
            skipped: run.skipped,
            lost_in_transit: run.lost,
            bad_messages: run.bad.total(),
            bad_by_reason: run.bad.by_reason(),
            latency_ms: run.shown.latency.percentiles().into(),
            latency_unsynchronised: run.shown.latency.unsynchronised(),
            width: run.picture_px.and_then(|(w, _)| size(w)),
            height: run.picture_px.and_then(|(_, h)| size(h)),
            stream: run.stream.filter(|s| !s.is_empty()).map(str::to_string),
            streams: run.shown.streams.clone(),
            last_seq: run.last_seq,
            source_format: run.shown.sources,
            messages_received: run.received,
            endpoints: run.endpoints.to_vec(),
            connection: run.connection.to_vec(),
            max_gap_ms: run
                .shown
                .max_gap
                .map(|gap| (gap.as_secs_f64() * 1e6).round() / 1000.0),
            screenshot: run.screenshot.map(|p| p.display().to_string()),
            endpoint: None,
            record: None,
        }
    }

    /// The line a windowed run logs as it ends, `elapsed` after it started.
    pub fn line(&self, elapsed: Duration) -> String {
        let latency = self
            .latency_ms
            .p50
            .map_or("n/a".to_string(), |ms| format!("{ms:.0} ms"));
        format!(
            "shown {} frames in {:.1} s ({:.1} fps), skipped {}, bad {}, median latency {latency}",
            self.frames_shown,
            elapsed.as_secs_f64(),
            self.fps,
            self.skipped,
            self.bad_messages
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticks(meter: &mut FpsMeter, start: Instant, interval: Duration, count: u32) -> Instant {
        let mut at = start;
        for _ in 0..count {
            at += interval;
            meter.tick(at);
        }
        at
    }

    #[test]
    fn steady_rate_is_reported_exactly() {
        let mut meter = FpsMeter::default();
        let start = Instant::now();
        assert_eq!(meter.fps(start), 0.0, "no frames, no rate");
        let end = ticks(&mut meter, start, Duration::from_micros(33_333), 60);
        assert!((meter.fps(end) - 30.0).abs() < 0.01, "{}", meter.fps(end));
    }

    #[test]
    fn jitter_is_smoothed() {
        let mut meter = FpsMeter::default();
        let mut at = Instant::now();
        let mut lowest = f64::MAX;
        let mut highest = 0.0f64;
        for i in 0..300 {
            // Alternating 20 ms and 46.7 ms: 30 fps on average, 50 or 21 fps frame to frame.
            at += Duration::from_micros(if i % 2 == 0 { 20_000 } else { 46_667 });
            meter.tick(at);
            if i > 60 {
                lowest = lowest.min(meter.fps(at));
                highest = highest.max(meter.fps(at));
            }
        }
        assert!(lowest > 26.0 && highest < 34.0, "{lowest}..{highest}");
    }

    #[test]
    fn a_change_of_rate_is_followed_within_seconds() {
        let mut meter = FpsMeter::default();
        let start = Instant::now();
        let at = ticks(&mut meter, start, Duration::from_micros(33_333), 90);
        let at = ticks(&mut meter, at, Duration::from_millis(100), 30);
        assert!((meter.fps(at) - 10.0).abs() < 0.5, "{}", meter.fps(at));
    }

    #[test]
    fn rate_falls_when_frames_stop() {
        let mut meter = FpsMeter::default();
        let at = ticks(&mut meter, Instant::now(), Duration::from_millis(20), 50);
        assert!(
            (meter.fps(at + Duration::from_millis(30)) - 50.0).abs() < 0.01,
            "not yet late"
        );
        assert!(meter.fps(at + Duration::from_secs(4)) < 0.26);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let mut stats = LatencyStats::default();
        assert_eq!(stats.percentiles(), None);
        for ms in (1..=100).rev() {
            stats.record(Latency::Ms(f64::from(ms)));
        }
        let p = stats.percentiles().unwrap();
        assert_eq!((p.p50, p.p95, p.p99, p.max), (50.0, 95.0, 99.0, 100.0));

        let mut one = LatencyStats::default();
        one.record(Latency::Ms(7.5));
        let p = one.percentiles().unwrap();
        assert_eq!((p.p50, p.p95, p.p99, p.max), (7.5, 7.5, 7.5, 7.5));
    }

    #[test]
    fn implausible_latencies_are_counted_not_averaged() {
        let now_ns = 1_764_000_000_000_000_000u64;
        assert_eq!(
            Latency::between(now_ns - 12_000_000, now_ns),
            Latency::Ms(12.0)
        );
        assert_eq!(
            Latency::between(now_ns + 1, now_ns),
            Latency::ClocksUnsynchronised
        );
        assert_eq!(
            Latency::between(now_ns - 11_000_000_000, now_ns),
            Latency::ClocksUnsynchronised
        );
        assert_eq!(Latency::between(0, now_ns), Latency::ClocksUnsynchronised);

        let mut stats = LatencyStats::default();
        stats.record(Latency::ClocksUnsynchronised);
        stats.record(Latency::Ms(3.0));
        assert_eq!(stats.unsynchronised(), 1);
        assert_eq!(stats.percentiles().unwrap().max, 3.0);
    }

    #[test]
    fn interval_reports_count_only_their_interval() {
        let t0 = Instant::now();
        let second = Duration::from_secs(1);
        let mut interval = IntervalStats::new(second, t0);
        interval.record(Some(Latency::Ms(10.0)));
        interval.record(None);
        assert!(interval
            .finish_if_due(t0 + second / 2, 0.5, 2, 0, 0)
            .is_none());
        let first = interval.finish_if_due(t0 + second, 1.0, 30, 3, 1).unwrap();
        assert_eq!(
            (first.frames_shown, first.lost_in_transit, first.skipped),
            (30, 3, 1)
        );
        assert_eq!((first.fps, first.latency_ms.p50), (30.0, Some(10.0)));
        interval.record(Some(Latency::Ms(200.0)));
        let next = interval
            .finish_if_due(t0 + 3 * second, 3.0, 50, 3, 4)
            .unwrap();
        assert_eq!(
            (next.frames_shown, next.lost_in_transit, next.skipped),
            (20, 0, 3)
        );
        assert_eq!((next.fps, next.latency_ms.max), (10.0, Some(200.0)));
    }

    #[test]
    fn latency_samples_are_bounded_but_max_is_kept() {
        let mut stats = LatencyStats::default();
        stats.record(Latency::Ms(9_000.0));
        for _ in 0..MAX_LATENCY_SAMPLES + 10 {
            stats.record(Latency::Ms(1.0));
        }
        assert_eq!(stats.samples_ms.len(), MAX_LATENCY_SAMPLES);
        let p = stats.percentiles().unwrap();
        assert_eq!((p.p95, p.max), (1.0, 9_000.0));
    }

    #[test]
    fn shown_stats_count_sources_streams_and_mean_rate() {
        let mut shown = ShownStats::default();
        let start = Instant::now();
        shown.record(
            start,
            MessageKind::Native,
            Some("a"),
            Some(Latency::Ms(5.0)),
        );
        shown.record(
            start + Duration::from_millis(100),
            MessageKind::Base64,
            None,
            None,
        );
        shown.record(
            start + Duration::from_millis(200),
            MessageKind::Native,
            Some("a"),
            None,
        );
        assert_eq!(shown.frames, 3);
        assert_eq!(
            shown.sources,
            SourceCounts {
                native: 2,
                base64: 1,
                bare: 0
            }
        );
        assert_eq!(shown.streams.get("a"), Some(&2));
        assert!((shown.mean_fps() - 10.0).abs() < 1e-9);
        assert_eq!(shown.max_gap, Some(Duration::from_millis(100)));
        shown.record(
            start + Duration::from_millis(1200),
            MessageKind::Native,
            Some("a"),
            None,
        );
        assert_eq!(shown.max_gap, Some(Duration::from_millis(1000)));
    }

    #[test]
    fn bad_messages_count_by_reason() {
        let bad = BadMessages::default();
        bad.add("corrupt_jpeg");
        bad.add("unrecognised");
        bad.add("corrupt_jpeg");
        assert_eq!(bad.total(), 3);
        assert_eq!(bad.by_reason().get("corrupt_jpeg"), Some(&2));
    }

    fn totals<'a>(shown: &'a ShownStats, bad: &'a BadMessages) -> RunTotals<'a> {
        RunTotals {
            shown,
            elapsed: Duration::from_micros(2_345_678),
            received: 9,
            skipped: 2,
            lost: 1,
            bad,
            picture_px: None,
            stream: None,
            last_seq: None,
            endpoints: &[],
            connection: &[],
            screenshot: None,
        }
    }

    #[test]
    fn summary_of_a_run_without_frames() {
        let (shown, bad) = (ShownStats::default(), BadMessages::default());
        let summary = Summary::new(&totals(&shown, &bad));
        assert_eq!(
            serde_json::to_string(&summary).unwrap(),
            "{\"frames_shown\":0,\"fps\":0.0,\"elapsed_s\":2.346,\"skipped\":2,\
             \"lost_in_transit\":1,\"bad_messages\":0,\"bad_by_reason\":{},\"latency_ms\":\
             {\"p50\":null,\"p95\":null,\"p99\":null,\"max\":null},\"latency_unsynchronised\":0,\
             \"width\":null,\"height\":null,\"stream\":null,\"streams\":{},\"last_seq\":null,\
             \"source_format\":{\"native\":0,\"base64\":0,\"bare\":0},\"messages_received\":9,\
             \"endpoints\":[],\"connection\":[],\"max_gap_ms\":null,\"screenshot\":null}"
        );
        assert_eq!(
            summary.line(Duration::from_millis(2_345)),
            "shown 0 frames in 2.3 s (0.0 fps), skipped 2, bad 0, median latency n/a"
        );
    }

    #[test]
    fn summary_of_shown_frames() {
        let mut shown = ShownStats::default();
        let start = Instant::now();
        for i in 0..3u64 {
            let at = start + Duration::from_millis(40 * i);
            let latency = Some(Latency::Ms(10.0 + i as f64));
            shown.record(at, MessageKind::Native, Some("cam0"), latency);
        }
        let bad = BadMessages::default();
        bad.add("corrupt_jpeg");
        let run = RunTotals {
            picture_px: Some((640, 360)),
            stream: Some("cam0"),
            last_seq: Some(41),
            screenshot: Some(Path::new("/tmp/shot.png")),
            ..totals(&shown, &bad)
        };
        let summary = Summary::new(&run);
        assert_eq!(
            (summary.frames_shown, summary.fps, summary.bad_messages),
            (3, 25.0, 1)
        );
        assert_eq!((summary.width, summary.height), (Some(640), Some(360)));
        assert_eq!(
            (
                summary.stream.as_deref(),
                summary.last_seq,
                summary.max_gap_ms
            ),
            (Some("cam0"), Some(41), Some(40.0))
        );
        assert_eq!(summary.screenshot.as_deref(), Some("/tmp/shot.png"));
        assert_eq!(
            summary.line(Duration::from_secs(2)),
            "shown 3 frames in 2.0 s (25.0 fps), skipped 2, bad 1, median latency 11 ms"
        );
        let unnamed = Summary::new(&RunTotals {
            stream: Some(""),
            ..run
        });
        assert_eq!(unnamed.stream, None, "a sender without a stream name");
    }

    #[test]
    fn interval_report_line() {
        let report = IntervalReport {
            t_s: 2.0,
            frames_shown: 30,
            fps: 30.0,
            latency_ms: LatencySummary::default(),
            lost_in_transit: 0,
            skipped: 1,
            endpoint: None,
        };
        assert_eq!(
            report.json_line().unwrap(),
            "{\"t_s\":2.0,\"frames_shown\":30,\"fps\":30.0,\"latency_ms\":{\"p50\":null,\
             \"p95\":null,\"p99\":null,\"max\":null},\"lost_in_transit\":0,\"skipped\":1}"
        );
    }
}
