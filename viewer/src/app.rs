//! The viewer's loop: newest message from the receiver -> decode -> draw (window or offscreen
//! surface), plus keys, the no-signal screen, the stop conditions and the summary of the run.

use std::cell::OnceCell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use camthreads::TakeError;
use sdl2::event::{Event, WindowEvent};
use sdl2::keyboard::Keycode;
use sdl2::pixels::PixelFormatEnum;
use sdl2::render::{Canvas, TextureCreator};
use sdl2::surface::{Surface, SurfaceContext};

use crate::config::{Config, DEFAULT_WINDOW_SIZE_PX};
use crate::decode::Decoder;
use crate::decode_thread::DecodeThread;
use crate::error::Error;
use crate::monitor::LinkState;
use crate::receive::Receiver;
use crate::render::{Scene, Screen};
use crate::snapshot;
use crate::stats::{BadCounts, IntervalStats, Latency, ShownStats, Summary};
use crate::window;

/// Longest wait for a frame before looking at window events again.
const WINDOW_POLL: Duration = Duration::from_millis(10);
/// Longest wait for a frame in headless mode before checking the stop conditions.
const HEADLESS_POLL: Duration = Duration::from_millis(100);
/// How often the banner's numbers and the no-signal countdown are brought up to date.
const TEXT_REFRESH: Duration = Duration::from_millis(250);
/// How long the banner says where the last `s` saved the frame.
const SAVED_NOTE_FOR: Duration = Duration::from_secs(4);
/// The loop polls at least every 100 ms; a gap between two polls longer than this means the
/// viewer was stopped (SIGSTOP, a suspended laptop) or the machine stalled. A frame taken
/// before such a gap is not shown after it: it is that much older than it looks.
const LOOP_GAP_MEANS_STALL: Duration = Duration::from_secs(1);

/// Runs the viewer until a stop condition, the user or a signal ends it.
pub fn run(config: &Config, quit: &AtomicBool) -> Result<Summary, Error> {
    if let Some(keys) = &config.receive.curve {
        keys.log();
    }
    let receiver = Receiver::start(&config.receive)?;
    match &config.stream {
        Some(stream) => log::info!(
            "subscribed to stream {stream} on {}",
            config.endpoints_text()
        ),
        None => log::info!("subscribed to {}", config.endpoints_text()),
    }
    let mut viewer = Viewer::new(config, receiver)?;
    if config.headless {
        viewer.run_headless(quit)?;
    } else {
        viewer.run_windowed(quit)?;
        log::info!("{}", viewer.summary_line(Instant::now()));
    }
    Ok(viewer.summary())
}

/// Whether frames are coming.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    Waiting,
    Live,
    /// No frame for this many whole seconds (and longer than --stale-after-ms).
    Stale(u64),
}

struct Viewer<'c> {
    config: &'c Config,
    receiver: Receiver,
    /// Holds the picture on screen (and its JPEG and details).
    decoder: Decoder,
    /// The other decoder, when the decoding thread does not have it.
    spare_decoder: Option<Decoder>,
    decoding: DecodeThread,
    /// When `next_frame` was last called, and when a gap between calls last showed a stall.
    last_poll: Instant,
    last_stall: Option<Instant>,
    /// Messages that passed the wire checks but would not decode.
    decode_bad: BadCounts,
    shown: ShownStats,
    started: Instant,
    banner_visible: bool,
    banner_lines: Vec<String>,
    notice_lines: Vec<String>,
    signal: Option<Signal>,
    text_due: Instant,
    saved_note: Option<(String, Instant)>,
    screenshot_written: Option<PathBuf>,
    interval: Option<IntervalStats>,
}

impl<'c> Viewer<'c> {
    fn new(config: &'c Config, receiver: Receiver) -> Result<Self, Error> {
        let now = Instant::now();
        Ok(Self {
            config,
            receiver,
            decoder: Decoder::with_limits(config.receive.limits).map_err(Error::Decoder)?,
            spare_decoder: Some(
                Decoder::with_limits(config.receive.limits).map_err(Error::Decoder)?,
            ),
            decoding: DecodeThread::start(config.debug_decode_delay)?,
            decode_bad: BadCounts::default(),
            shown: ShownStats::default(),
            started: now,
            banner_visible: config.banner,
            banner_lines: Vec::new(),
            notice_lines: Vec::new(),
            signal: None,
            text_due: now,
            saved_note: None,
            screenshot_written: None,
            last_poll: now,
            last_stall: None,
            interval: config
                .report_every
                .map(|every| IntervalStats::new(every, now)),
        })
    }

    fn run_windowed(&mut self, quit: &AtomicBool) -> Result<(), Error> {
        let title = format!("camview - {}", self.config.endpoints_text());
        let size_px = self.config.window_size_px.unwrap_or(DEFAULT_WINDOW_SIZE_PX);
        let window::OpenWindow {
            video,
            mut events,
            canvas,
            ..
        } = window::open(&title, size_px)?;
        let creator = canvas.texture_creator();
        let mut screen = Screen::new(canvas, &creator)?;
        let mut sized_to_picture = self.config.window_size_px.is_some();
        let mut dirty = true;

        'run: loop {
            for event in events.poll_iter() {
                match event {
                    Event::Quit { .. } => break 'run,
                    Event::KeyDown {
                        keycode: Some(key),
                        repeat: false,
                        ..
                    } => match key {
                        Keycode::Q | Keycode::Escape => break 'run,
                        Keycode::F => window::toggle_fullscreen(screen.window_mut()),
                        Keycode::S => self.save_current_jpeg(),
                        Keycode::B => self.banner_visible = !self.banner_visible,
                        _ => continue,
                    },
                    Event::Window {
                        win_event: WindowEvent::Close,
                        ..
                    } => break 'run,
                    Event::Window {
                        win_event:
                            WindowEvent::SizeChanged(..) | WindowEvent::Exposed | WindowEvent::Restored,
                        ..
                    } => {}
                    _ => continue,
                }
                // A key or window change: show its effect now.
                dirty = true;
                self.text_due = Instant::now();
            }
            if quit.load(Ordering::Relaxed) || self.out_of_time(Instant::now()) {
                break;
            }

            let mut fresh = self.next_frame(WINDOW_POLL)?;
            if fresh {
                if let Some(picture) = self.decoder.picture() {
                    if let Err(e) = screen.upload(picture) {
                        fresh = false;
                        self.unshowable(&e);
                    } else if !sized_to_picture {
                        sized_to_picture = true;
                        window::fit_to_picture(
                            screen.window_mut(),
                            &video,
                            picture.width_px,
                            picture.height_px,
                        );
                    }
                }
            }
            let now = Instant::now();
            self.maybe_report(now);
            dirty |= self.refresh_text(now, fresh);
            if fresh || dirty {
                screen.draw(&self.scene())?;
                screen.present();
                dirty = false;
            }
            if fresh {
                self.record_shown(Instant::now());
                if self.enough_frames() {
                    break;
                }
            }
        }
        self.write_screenshot(&mut screen)
    }

    fn run_headless(&mut self, quit: &AtomicBool) -> Result<(), Error> {
        // Only a screenshot needs drawing; it then goes to an offscreen software renderer.
        let creator = OnceCell::new();
        let mut screen: Option<Screen<'_, Surface<'static>>> = None;
        loop {
            let now = Instant::now();
            self.maybe_report(now);
            if quit.load(Ordering::Relaxed) || self.out_of_time(now) {
                break;
            }
            let left = self
                .config
                .stop_after
                .map(|limit| limit.saturating_sub(now - self.started));
            let fresh = self.next_frame(left.map_or(HEADLESS_POLL, |l| l.min(HEADLESS_POLL)))?;
            if !fresh {
                continue;
            }
            if self.config.screenshot.is_some() {
                if let Some(picture) = self.decoder.picture() {
                    if screen.is_none() {
                        let size = (picture.width_px, picture.height_px);
                        let size = (
                            u32::try_from(size.0).unwrap_or(1),
                            u32::try_from(size.1).unwrap_or(1),
                        );
                        screen = Some(offscreen(
                            self.config.window_size_px.unwrap_or(size),
                            &creator,
                        )?);
                    }
                    if let Some(Err(e)) = screen.as_mut().map(|s| s.upload(picture)) {
                        self.unshowable(&e);
                        continue;
                    }
                }
            }
            self.record_shown(Instant::now());
            if self.enough_frames() {
                break;
            }
        }
        if self.config.screenshot.is_some() {
            let mut screen = match screen {
                Some(screen) => screen,
                None => offscreen(
                    self.config.window_size_px.unwrap_or(DEFAULT_WINDOW_SIZE_PX),
                    &creator,
                )?,
            };
            self.write_screenshot(&mut screen)?;
        }
        Ok(())
    }

    /// Takes the newest message and has the decoding thread decode it, waiting up to about
    /// `timeout` in all; `true` when a new picture is ready (then in `self.decoder`). A decode
    /// that takes longer simply goes on while the loop answers keys and signals.
    fn next_frame(&mut self, timeout: Duration) -> Result<bool, Error> {
        let now = Instant::now();
        if now.saturating_duration_since(self.last_poll) > LOOP_GAP_MEANS_STALL {
            self.last_stall = Some(now);
        }
        self.last_poll = now;
        let deadline = now + timeout;
        if !self.decoding.is_busy() {
            let Some(decoder) = self.spare_decoder.take() else {
                return Err(Error::DecodeThreadGone);
            };
            match self.receiver.take(timeout) {
                Ok(msg) => self.decoding.submit(decoder, msg, Instant::now())?,
                Err(e) => {
                    self.spare_decoder = Some(decoder);
                    return match e {
                        TakeError::Timeout => Ok(false),
                        TakeError::Closed => Err(Error::ReceiverGone),
                    };
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let Some(done) = self.decoding.finished(left)? else {
            return Ok(false);
        };
        self.receiver.recycle(done.msg);
        match done.result {
            Ok(()) if self.last_stall.is_some_and(|at| at > done.taken) => {
                log::debug!("not showing a frame decoded across a stall");
                self.spare_decoder = Some(done.decoder);
                Ok(false)
            }
            Ok(()) => {
                // The new picture's decoder becomes the current one; the old one is lent next.
                self.spare_decoder = Some(std::mem::replace(&mut self.decoder, done.decoder));
                Ok(true)
            }
            Err(e) => {
                log::debug!("bad message: {e}");
                self.decode_bad.add(e.reason(), 1);
                self.spare_decoder = Some(done.decoder);
                Ok(false)
            }
        }
    }

    /// A decoded picture SDL would not take (say, larger than the renderer's texture limit):
    /// counted like a bad message rather than ending the viewer.
    fn unshowable(&mut self, e: &Error) {
        log::warn!("cannot show a frame: {e}");
        self.decode_bad.add("unshowable", 1);
    }

    /// Counts the current picture as shown now.
    fn record_shown(&mut self, now: Instant) {
        let Some(info) = self.decoder.info() else {
            return;
        };
        let latency = info
            .capture_unix_ns
            .map(|capture| Latency::between(capture, camwire::unix_time_ns()));
        let stream = (!info.stream.is_empty()).then_some(info.stream.as_str());
        self.shown.record(now, info.source, stream, latency);
        if let Some(interval) = &mut self.interval {
            interval.record(latency);
        }
    }

    /// Prints the `--report-every` line when its interval is over.
    fn maybe_report(&mut self, now: Instant) {
        let since_start_s = now.saturating_duration_since(self.started).as_secs_f64();
        let (frames, lost, skipped) = (
            self.shown.frames,
            self.receiver.lost(),
            self.receiver.skipped(),
        );
        let Some(interval) = &mut self.interval else {
            return;
        };
        if let Some(report) = interval.finish_if_due(now, since_start_s, frames, lost, skipped) {
            match serde_json::to_string(&report) {
                Ok(json) => {
                    use std::io::Write as _;
                    // A closed stdout is not worth a panic or a stop.
                    let _ = writeln!(std::io::stdout(), "{json}");
                }
                Err(e) => log::warn!("cannot write the interval report: {e}"),
            }
        }
    }

    fn enough_frames(&self) -> bool {
        self.config
            .stop_after_frames
            .is_some_and(|n| self.shown.frames >= n)
    }

    fn out_of_time(&self, now: Instant) -> bool {
        self.config
            .stop_after
            .is_some_and(|limit| now.saturating_duration_since(self.started) >= limit)
    }

    fn signal(&self, now: Instant) -> Signal {
        match self.shown.since_last(now) {
            None => Signal::Waiting,
            Some(quiet) if quiet > self.config.stale_after => Signal::Stale(quiet.as_secs()),
            Some(_) => Signal::Live,
        }
    }

    /// Brings the banner and notice text up to date; `true` if either changed.
    fn refresh_text(&mut self, now: Instant, fresh: bool) -> bool {
        // A fresh picture is counted as shown only after it is drawn, so say Live here.
        let signal = if fresh {
            Signal::Live
        } else {
            self.signal(now)
        };
        if Some(signal) == self.signal && now < self.text_due {
            return false;
        }
        self.text_due = now + TEXT_REFRESH;
        let notice = self.notice_text(signal);
        let banner = if self.banner_visible {
            self.banner_text(now)
        } else {
            Vec::new()
        };
        let changed = Some(signal) != self.signal
            || notice != self.notice_lines
            || banner != self.banner_lines;
        self.signal = Some(signal);
        self.notice_lines = notice;
        self.banner_lines = banner;
        changed
    }

    fn scene(&self) -> Scene<'_> {
        Scene {
            banner: &self.banner_lines,
            notice: &self.notice_lines,
            dim_picture: matches!(self.signal, Some(Signal::Stale(_))),
        }
    }

    fn notice_text(&self, signal: Signal) -> Vec<String> {
        let from = match &self.config.stream {
            Some(stream) => format!("stream {stream} on {}", self.config.endpoints_text()),
            None => self.config.endpoints_text(),
        };
        let mut lines = match signal {
            Signal::Live => return Vec::new(),
            Signal::Waiting => vec![format!("waiting for {from}")],
            Signal::Stale(secs) => vec![format!("no frames for {secs} s"), format!("from {from}")],
        };
        lines.extend(self.connection_problem());
        lines
    }

    /// What went wrong with the connection, when it is something ZeroMQ's retries cannot fix:
    /// a refused key or a failed handshake (empty otherwise).
    fn connection_problem(&self) -> Vec<String> {
        let statuses = self.receiver.connection();
        let Some(failed) = statuses.iter().find(|s| s.state.is_failure()) else {
            return Vec::new();
        };
        let preposition = match failed.state {
            LinkState::NotAuthorised => "by",
            _ => "with",
        };
        let mut lines = vec![format!(
            "{} {preposition} {}",
            failed.state.headline(),
            failed.endpoint
        )];
        match (failed.state, &self.config.receive.curve) {
            (LinkState::NotAuthorised, Some(keys)) => {
                lines.push("the publisher's allow-list does not name this viewer's key".into());
                lines.push(keys.own.public.to_string());
                if keys.ephemeral {
                    lines.push("(a key made for this run: give a lasting one with --key)".into());
                }
            }
            _ => lines.extend(failed.detail.clone()),
        }
        lines
    }

    /// The banner: fps, resolution, stream; latency, skipped and bad counts; a save note.
    fn banner_text(&self, now: Instant) -> Vec<String> {
        let fps = self.shown.fps.fps(now);
        let fps = if fps < 10.0 {
            format!("{fps:.1}")
        } else {
            format!("{fps:.0}")
        };
        let size = match self.decoder.picture() {
            Some(p) => format!("{}x{}", p.width_px, p.height_px),
            None => "no picture".to_string(),
        };
        let source = match self.decoder.info() {
            Some(info) if !info.stream.is_empty() => info.stream.clone(),
            Some(info) => info.source.label().to_string(),
            None => self
                .config
                .stream
                .as_ref()
                .map_or("any stream".to_string(), |s| s.to_string()),
        };
        let latency = match self.shown.last_latency {
            Some(Latency::Ms(ms)) => format!("latency {ms:.0} ms"),
            Some(Latency::ClocksUnsynchronised) => "latency: clocks unsynchronised?".to_string(),
            None => "latency n/a".to_string(),
        };
        let bad = self.receiver.bad().total() + self.decode_bad.total();
        let mut counts = format!("{latency}  skipped {}  bad {bad}", self.receiver.skipped());
        let lost = self.receiver.lost();
        if lost > 0 {
            // The link is slower than the stream: the publisher drops frames for this viewer.
            counts.push_str(&format!("  lost {lost} (slow link)"));
        }
        let mut lines = vec![format!("FPS: {fps}  {size}  {source}"), counts];
        if let Some((note, at)) = &self.saved_note {
            if now.saturating_duration_since(*at) < SAVED_NOTE_FOR {
                lines.push(note.clone());
            }
        }
        lines
    }

    /// The `s` key: writes the current frame's JPEG into the current directory.
    fn save_current_jpeg(&mut self) {
        let (Some(jpeg), Some(info)) = (self.decoder.jpeg(), self.decoder.info()) else {
            log::info!("no frame to save yet");
            return;
        };
        let unix_ms = camwire::unix_time_ns() / 1_000_000;
        let stem = snapshot::jpeg_file_stem(&info.stream, info.seq, info.source.label(), unix_ms);
        let dir = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        match snapshot::save_jpeg(&dir, &stem, jpeg) {
            Ok(path) => {
                log::info!("saved the current frame to {}", path.display());
                let name = path.file_name().map_or_else(
                    || path.display().to_string(),
                    |n| n.to_string_lossy().into_owned(),
                );
                self.saved_note = Some((format!("saved {name}"), Instant::now()));
            }
            Err(e) => {
                log::error!("{e}");
                self.saved_note = Some(("save failed (see log)".to_string(), Instant::now()));
            }
        }
    }

    /// Draws the current state once more and writes it as the --screenshot PNG.
    fn write_screenshot<T: sdl2::render::RenderTarget>(
        &mut self,
        screen: &mut Screen<'_, T>,
    ) -> Result<(), Error> {
        let Some(path) = self.config.screenshot.clone() else {
            return Ok(());
        };
        self.text_due = Instant::now();
        self.refresh_text(Instant::now(), false);
        screen.draw(&self.scene())?;
        let image = screen.read_rgb()?;
        snapshot::write_png(&path, &image)?;
        log::info!(
            "wrote screenshot {} ({}x{})",
            path.display(),
            image.width_px,
            image.height_px
        );
        self.screenshot_written = Some(path);
        Ok(())
    }

    fn summary(&self) -> Summary {
        let mut bad = self.receiver.bad();
        bad.merge(&self.decode_bad);
        let picture = self.decoder.picture();
        let info = self.decoder.info();
        let size = |n: usize| u32::try_from(n).ok();
        Summary {
            frames_shown: self.shown.frames,
            fps: (self.shown.mean_fps() * 100.0).round() / 100.0,
            elapsed_s: (self.started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
            skipped: self.receiver.skipped(),
            lost_in_transit: self.receiver.lost(),
            bad_messages: bad.total(),
            bad_by_reason: bad.by_reason(),
            latency_ms: self.shown.latency.percentiles().into(),
            latency_unsynchronised: self.shown.latency.unsynchronised(),
            width: picture.and_then(|p| size(p.width_px)),
            height: picture.and_then(|p| size(p.height_px)),
            stream: info
                .filter(|i| !i.stream.is_empty())
                .map(|i| i.stream.clone()),
            streams: self.shown.streams.clone(),
            last_seq: info.and_then(|i| i.seq),
            source_format: self.shown.sources,
            messages_received: self.receiver.received(),
            endpoints: self.config.receive.endpoints.clone(),
            connection: self.receiver.connection(),
            max_gap_ms: self
                .shown
                .max_gap
                .map(|gap| (gap.as_secs_f64() * 1e6).round() / 1000.0),
            screenshot: self
                .screenshot_written
                .as_ref()
                .map(|p| p.display().to_string()),
        }
    }

    fn summary_line(&self, now: Instant) -> String {
        let s = self.summary();
        let latency = s
            .latency_ms
            .p50
            .map_or("n/a".to_string(), |ms| format!("{ms:.0} ms"));
        format!(
            "shown {} frames in {:.1} s ({:.1} fps), skipped {}, bad {}, median latency {latency}",
            s.frames_shown,
            now.saturating_duration_since(self.started).as_secs_f64(),
            s.fps,
            s.skipped,
            s.bad_messages
        )
    }
}

/// An offscreen software renderer of the given size, for headless screenshots.
fn offscreen<'c>(
    (width_px, height_px): (u32, u32),
    creator: &'c OnceCell<TextureCreator<SurfaceContext<'static>>>,
) -> Result<Screen<'c, Surface<'static>>, Error> {
    let surface = Surface::new(width_px, height_px, PixelFormatEnum::RGB888)
        .map_err(|e| Error::sdl("cannot create an offscreen surface", e))?;
    let canvas = Canvas::from_surface(surface)
        .map_err(|e| Error::sdl("cannot create a software renderer", e))?;
    let creator = creator.get_or_init(|| canvas.texture_creator());
    Screen::new(canvas, creator)
}
