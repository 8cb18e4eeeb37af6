//! The viewer's loop: newest message from the receiver -> decode -> draw, in a window or
//! headless. One `step` serves both; around it, the window's keys and the stop conditions.

use std::cell::OnceCell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use camthreads::TakeError;
use camwire::StreamName;
use sdl2::event::{Event, WindowEvent};
use sdl2::keyboard::Keycode;
use sdl2::video::Window;
use sdl2::EventPump;

use crate::banner::{self, BannerFacts, LinkProblem, NoticeFacts, Signal};
use crate::config::{Config, DEFAULT_WINDOW_SIZE_PX};
use crate::decode::Decoder;
use crate::decode_thread::DecodeThread;
use crate::error::Error;
use crate::output::{Offscreen, Output, WindowOutput};
use crate::receive::Receiver;
use crate::render::{Scene, Screen};
use crate::snapshot;
use crate::stats::{BadMessages, IntervalStats, Latency, RunTotals, ShownStats, Summary};
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
    }
    let elapsed = viewer.started.elapsed();
    let summary = viewer.summary(elapsed);
    if !config.headless {
        log::info!("{}", summary.line(elapsed));
    }
    Ok(summary)
}

/// What the window's events asked for.
enum Events {
    Quit,
    /// A key or window change: show its effect now.
    Redraw,
    None,
}

/// The words on screen, and when they are next brought up to date.
struct Text {
    banner_visible: bool,
    banner: Vec<String>,
    notice: Vec<String>,
    signal: Option<Signal>,
    due: Instant,
    /// What the last `s` did, and when.
    saved_note: Option<(String, Instant)>,
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
    /// Shared with the receiver, which counts what it refuses; this loop adds what would not
    /// decode or show.
    bad: Arc<BadMessages>,
    shown: ShownStats,
    interval: Option<IntervalStats>,
    started: Instant,
    text: Text,
    screenshot_written: Option<PathBuf>,
}

impl<'c> Viewer<'c> {
    fn new(config: &'c Config, receiver: Receiver) -> Result<Self, Error> {
        let now = Instant::now();
        Ok(Self {
            config,
            decoder: Decoder::with_limits(config.receive.limits).map_err(Error::Decoder)?,
            spare_decoder: Some(
                Decoder::with_limits(config.receive.limits).map_err(Error::Decoder)?,
            ),
            decoding: DecodeThread::start(config.debug_decode_delay)?,
            last_poll: now,
            last_stall: None,
            bad: receiver.bad(),
            receiver,
            shown: ShownStats::default(),
            interval: config
                .report_every
                .map(|every| IntervalStats::new(every, now)),
            started: now,
            text: Text {
                banner_visible: config.banner,
                banner: Vec::new(),
                notice: Vec::new(),
                signal: None,
                due: now,
                saved_note: None,
            },
            screenshot_written: None,
        })
    }

    fn run_windowed(&mut self, quit: &AtomicBool) -> Result<(), Error> {
        let title = format!("camview - {}", self.config.endpoints_text());
        let size_px = self.config.window_size_px.unwrap_or(DEFAULT_WINDOW_SIZE_PX);
        let mut opened = window::open(&title, size_px)?;
        let creator = opened.canvas.texture_creator();
        let screen = Screen::new(opened.canvas, &creator)?;
        let sized = self.config.window_size_px.is_some();
        let mut output = WindowOutput::new(screen, &opened.video, sized);
        let mut redraw = true;
        loop {
            match self.answer_events(&mut opened.events, output.screen.window_mut()) {
                Events::Quit => break,
                Events::Redraw => redraw = true,
                Events::None => {}
            }
            if self.should_stop(quit) {
                break;
            }
            let fresh = self.step(WINDOW_POLL, &mut output, std::mem::take(&mut redraw))?;
            if fresh && self.enough_frames() {
                break;
            }
        }
        self.write_screenshot(&mut output.screen)
    }

    fn run_headless(&mut self, quit: &AtomicBool) -> Result<(), Error> {
        let creator = OnceCell::new();
        let wanted = self.config.screenshot.is_some();
        let mut output = Offscreen::new(wanted, self.config.window_size_px, &creator);
        while !self.should_stop(quit) {
            let left = self
                .config
                .stop_after
                .map(|limit| limit.saturating_sub(self.started.elapsed()));
            let timeout = left.map_or(HEADLESS_POLL, |l| l.min(HEADLESS_POLL));
            if self.step(timeout, &mut output, false)? && self.enough_frames() {
                break;
            }
        }
        if wanted {
            self.write_screenshot(&mut output.into_screen()?)?;
        }
        Ok(())
    }

    /// One turn of the loop, the same with a window or without: takes the newest frame and
    /// decodes it (waiting up to about `timeout`), puts it on `output`, brings the text up to
    /// date, shows both when either changed (or `redraw`), and counts the frame as shown.
    /// `true` when a new frame was shown.
    fn step(
        &mut self,
        timeout: Duration,
        output: &mut impl Output,
        redraw: bool,
    ) -> Result<bool, Error> {
        let mut fresh = self.next_frame(timeout)?;
        if fresh {
            if let Some(picture) = self.decoder.picture() {
                if let Err(e) = output.upload(picture)? {
                    fresh = false;
                    self.unshowable(&e);
                }
            }
        }
        let now = Instant::now();
        self.maybe_report(now);
        let text_changed = self.refresh_text(now, fresh);
        if fresh || text_changed || redraw {
            output.show(&self.scene())?;
        }
        if fresh {
            // Counted once drawn: the latency is capture to display.
            self.record_shown(Instant::now());
        }
        Ok(fresh)
    }

    /// Answers the window's events: the keys q/Esc, f, s, b and closing the window.
    fn answer_events(&mut self, events: &mut EventPump, window: &mut Window) -> Events {
        let mut answer = Events::None;
        for event in events.poll_iter() {
            match event {
                Event::Quit { .. } => return Events::Quit,
                Event::KeyDown {
                    keycode: Some(key),
                    repeat: false,
                    ..
                } => match key {
                    Keycode::Q | Keycode::Escape => return Events::Quit,
                    Keycode::F => window::toggle_fullscreen(window),
                    Keycode::S => self.save_current_jpeg(),
                    Keycode::B => self.text.banner_visible = !self.text.banner_visible,
                    _ => continue,
                },
                Event::Window {
                    win_event: WindowEvent::Close,
                    ..
                } => return Events::Quit,
                Event::Window {
                    win_event:
                        WindowEvent::SizeChanged(..) | WindowEvent::Exposed | WindowEvent::Restored,
                    ..
                } => {}
                _ => continue,
            }
            answer = Events::Redraw;
            self.text.due = Instant::now();
        }
        answer
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
                self.bad.add(e.reason());
                self.spare_decoder = Some(done.decoder);
                Ok(false)
            }
        }
    }

    /// A decoded picture SDL would not take (say, larger than the renderer's texture limit):
    /// counted like a bad message rather than ending the viewer.
    fn unshowable(&mut self, e: &Error) {
        log::warn!("cannot show a frame: {e}");
        self.bad.add("unshowable");
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
            match report.json_line() {
                Ok(json) => {
                    use std::io::Write as _;
                    // A closed stdout is not worth a panic or a stop.
                    let _ = writeln!(std::io::stdout(), "{json}");
                }
                Err(e) => log::warn!("cannot write the interval report: {e}"),
            }
        }
    }

    /// A signal, or --duration is over.
    fn should_stop(&self, quit: &AtomicBool) -> bool {
        quit.load(Ordering::Relaxed)
            || self
                .config
                .stop_after
                .is_some_and(|limit| self.started.elapsed() >= limit)
    }

    fn enough_frames(&self) -> bool {
        self.config
            .stop_after_frames
            .is_some_and(|n| self.shown.frames >= n)
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
        if Some(signal) == self.text.signal && now < self.text.due {
            return false;
        }
        self.text.due = now + TEXT_REFRESH;
        let notice = self.notice(signal);
        let banner = if self.text.banner_visible {
            self.banner(now)
        } else {
            Vec::new()
        };
        let changed = Some(signal) != self.text.signal
            || notice != self.text.notice
            || banner != self.text.banner;
        self.text.signal = Some(signal);
        self.text.notice = notice;
        self.text.banner = banner;
        changed
    }

    fn scene(&self) -> Scene<'_> {
        Scene {
            banner: &self.text.banner,
            notice: &self.text.notice,
            dim_picture: matches!(self.text.signal, Some(Signal::Stale(_))),
        }
    }

    fn banner(&self, now: Instant) -> Vec<String> {
        let saved_note = self
            .text
            .saved_note
            .as_ref()
            .filter(|(_, at)| now.saturating_duration_since(*at) < SAVED_NOTE_FOR)
            .map(|(note, _)| note.as_str());
        banner::banner_lines(&BannerFacts {
            fps: self.shown.fps.fps(now),
            picture_px: self.decoder.picture().map(|p| (p.width_px, p.height_px)),
            last_frame: self.decoder.info().map(|i| (i.stream.as_str(), i.source)),
            subscribed: self.config.stream.as_ref().map(StreamName::as_str),
            latency: self.shown.last_latency,
            skipped: self.receiver.skipped(),
            lost: self.receiver.lost(),
            bad: self.bad.total(),
            saved_note,
        })
    }

    fn notice(&self, signal: Signal) -> Vec<String> {
        let statuses = self.receiver.connection();
        let problem = statuses
            .iter()
            .find(|s| s.state.is_failure())
            .map(|s| LinkProblem {
                endpoint: &s.endpoint,
                state: s.state,
                detail: s.detail.as_deref(),
            });
        let own_key = self
            .config
            .receive
            .curve
            .as_ref()
            .map(|keys| (keys.own.public.to_string(), keys.ephemeral));
        banner::notice_lines(&NoticeFacts {
            signal,
            endpoints: &self.config.endpoints_text(),
            stream: self.config.stream.as_ref().map(StreamName::as_str),
            problem,
            own_key: own_key
                .as_ref()
                .map(|(key, ephemeral)| (key.as_str(), *ephemeral)),
        })
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
                self.text.saved_note = Some((format!("saved {name}"), Instant::now()));
            }
            Err(e) => {
                log::error!("{e}");
                self.text.saved_note = Some(("save failed (see log)".to_string(), Instant::now()));
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
        self.text.due = Instant::now();
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

    fn summary(&self, elapsed: Duration) -> Summary {
        let info = self.decoder.info();
        Summary::new(&RunTotals {
            shown: &self.shown,
            elapsed,
            received: self.receiver.received(),
            skipped: self.receiver.skipped(),
            lost: self.receiver.lost(),
            bad: &self.bad,
            picture_px: self.decoder.picture().map(|p| (p.width_px, p.height_px)),
            stream: info.map(|i| i.stream.as_str()),
            last_seq: info.and_then(|i| i.seq),
            endpoints: &self.config.receive.endpoints,
            connection: &self.receiver.connection(),
            screenshot: self.screenshot_written.as_deref(),
        })
    }
}
