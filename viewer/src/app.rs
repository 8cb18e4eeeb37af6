//! The viewer's loop: newest message from the receiver -> decode -> draw, in a window or
//! headless. One `step` serves both; around it, the window's keys and the stop conditions.
//! Several endpoints make a grid: one `Viewer` per tile (its own socket, receiving and decoding
//! threads, decoders, banner and no-signal state), drawn side by side by `run_grid`.

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
use crate::record::{self, RecordConfig, RecordStats, Recorder};
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

/// Where one tile's pictures come from: an endpoint given on the command line (or found with
/// mDNS), or one stream of a relay's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TileSource {
    /// The ZeroMQ endpoint the tile subscribes to (normalised).
    pub endpoint: String,
    /// One stream of a relay: the tile subscribes to it alone, on a connection of its own, so
    /// that the relay keeps the newest frame of each stream for this viewer (it keeps one
    /// message per connection). `None`: what `--stream` says.
    pub stream: Option<StreamName>,
}

impl TileSource {
    /// How the tile is named in the log and the JSON: the endpoint, and the relay's stream.
    fn label(&self) -> String {
        match &self.stream {
            Some(stream) => format!("{} {stream}", self.endpoint),
            None => self.endpoint.clone(),
        }
    }
}

/// The one place that turns what the user asked for into the tiles to show, in order.
pub fn tile_sources(config: &Config) -> Vec<TileSource> {
    config
        .receive
        .endpoints
        .iter()
        .map(|endpoint| TileSource {
            endpoint: endpoint.clone(),
            stream: None,
        })
        .collect()
}

/// Runs the viewer until a stop condition, the user or a signal ends it: one summary for a
/// single stream, one per tile (in order, with its endpoint) for a grid.
pub fn run(config: &Config, quit: &AtomicBool) -> Result<Vec<Summary>, Error> {
    if let Some(keys) = &config.receive.curve {
        keys.log();
    }
    let sources = tile_sources(config);
    if sources.len() > 1 {
        return run_grid(config, &sources, quit);
    }
    let receiver = Receiver::start(&config.receive)?;
    match &config.stream {
        Some(stream) => log::info!(
            "subscribed to stream {stream} on {}",
            config.endpoints_text()
        ),
        None => log::info!("subscribed to {}", config.endpoints_text()),
    }
    let mut viewer = Viewer::new(Arc::new(config.clone()), receiver)?;
    if config.record_at_start {
        viewer.toggle_recording();
    }
    if config.headless {
        viewer.run_headless(quit)?;
    } else {
        viewer.run_windowed(quit)?;
    }
    if let Some(streams) = viewer.relay_streams() {
        viewer.abandon_recording();
        // A relay: one tile, and one connection, per stream it carries.
        let endpoint = first_endpoint(config);
        log::info!(
            "{}: one tile and connection each",
            relay_found(&endpoint, &streams)
        );
        let sources: Vec<TileSource> = streams
            .into_iter()
            .map(|stream| TileSource {
                endpoint: endpoint.clone(),
                stream: Some(stream),
            })
            .collect();
        let mut rest = config.clone();
        rest.stop_after = config
            .stop_after
            .map(|limit| limit.saturating_sub(viewer.started.elapsed()));
        drop(viewer);
        return run_grid(&rest, &sources, quit);
    }
    viewer.finish_recording();
    let elapsed = viewer.started.elapsed();
    let summary = viewer.summary(elapsed);
    if !config.headless {
        log::info!("{}", summary.line(elapsed));
    }
    Ok(vec![summary])
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

struct Viewer {
    /// Shared: a grid's tiles may be added while it runs (a relay's new streams).
    config: Arc<Config>,
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
    /// In a grid: this tile's index (shown counted from 1) and endpoint.
    tile: Option<(usize, String)>,
    /// Where this viewer records (a grid's tile: its own file per stream).
    record_config: RecordConfig,
    recorder: Option<Recorder>,
    /// The next recording's first file number, and what the finished recordings did.
    record_index: u32,
    recorded: Option<RecordStats>,
}

impl Viewer {
    fn new(config: Arc<Config>, receiver: Receiver) -> Result<Self, Error> {
        let now = Instant::now();
        Ok(Self {
            config: Arc::clone(&config),
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
            tile: None,
            record_config: config.record.clone(),
            recorder: None,
            record_index: 1,
            recorded: None,
        })
    }

    /// The `r` key, and --record at start: starts recording, or stops the recording running.
    fn toggle_recording(&mut self) {
        match self.recorder.take() {
            Some(recorder) => {
                let stats = recorder.stop();
                let note = match &stats.error {
                    Some(_) => "recording failed (see log)".to_owned(),
                    None => format!("recorded {} frames", stats.frames),
                };
                log::info!(
                    "recording stopped: {} frames ({} dropped) in {}",
                    stats.frames,
                    stats.dropped,
                    stats.files.join(", ")
                );
                self.record_index += u32::try_from(stats.files.len().max(1)).unwrap_or(1);
                self.add_recorded(stats);
                self.text.saved_note = Some((note, Instant::now()));
            }
            None => match Recorder::start(&self.record_config, self.record_index) {
                Ok(recorder) => {
                    self.recorder = Some(recorder);
                    let name = record::file_name(&self.record_config, self.record_index);
                    self.text.saved_note =
                        Some((format!("recording {}", name.display()), Instant::now()));
                }
                Err(e) => {
                    log::error!("cannot start recording: {e}");
                    self.text.saved_note =
                        Some(("recording failed (see log)".to_owned(), Instant::now()));
                }
            },
        }
        self.text.due = Instant::now();
    }

    fn add_recorded(&mut self, stats: RecordStats) {
        let total = self.recorded.get_or_insert_with(RecordStats::default);
        total.frames += stats.frames;
        total.dropped += stats.dropped;
        total.files.extend(stats.files);
        if stats.error.is_some() {
            total.error = stats.error;
        }
    }

    /// Finishes the recording running, if any (the files are complete when this returns).
    fn finish_recording(&mut self) {
        if self.recorder.is_some() {
            self.toggle_recording();
        }
    }

    /// A relay was found: what was recorded before (frames of every stream mixed) is removed;
    /// each stream's tile records on its own.
    fn abandon_recording(&mut self) {
        if let Some(recorder) = self.recorder.take() {
            for file in recorder.stop().files {
                if let Err(e) = std::fs::remove_file(&file) {
                    log::warn!("cannot remove {file}: {e}");
                }
            }
        }
    }

    /// Hands the frame just shown to the recording, if one runs.
    fn record_frame(&mut self) {
        let Some(recorder) = &self.recorder else {
            return;
        };
        if recorder.failed() {
            // Stopped by itself: said once, on screen too.
            self.toggle_recording();
            return;
        }
        let (Some(jpeg), Some(info), Some(picture)) = (
            self.decoder.jpeg(),
            self.decoder.info(),
            self.decoder.picture(),
        ) else {
            return;
        };
        let unix_ns = info.capture_unix_ns.unwrap_or_else(camwire::unix_time_ns);
        recorder.push(
            jpeg,
            unix_ns,
            u32::try_from(picture.width_px).unwrap_or(u32::MAX),
            u32::try_from(picture.height_px).unwrap_or(u32::MAX),
        );
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
            self.record_frame();
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
                    Keycode::R => self.toggle_recording(),
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
        if let Some(mut report) = interval.finish_if_due(now, since_start_s, frames, lost, skipped)
        {
            report.endpoint = self.tile.as_ref().map(|(_, endpoint)| endpoint.clone());
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

    /// The streams of the relay this single viewer turned out to be connected to: a viewer of
    /// a whole endpoint (no `--stream`, not a tile) that received a relay's directory listing
    /// streams hands over to a grid of them.
    fn relay_streams(&self) -> Option<Vec<StreamName>> {
        if self.tile.is_some() || self.config.stream.is_some() {
            return None;
        }
        self.receiver
            .directory()
            .filter(|streams| !streams.is_empty())
    }

    /// A signal, or --duration is over, or a relay's directory came (see `relay_streams`).
    fn should_stop(&self, quit: &AtomicBool) -> bool {
        self.relay_streams().is_some()
            || quit.load(Ordering::Relaxed)
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
        let mut lines = banner::banner_lines(&BannerFacts {
            fps: self.shown.fps.fps(now),
            picture_px: self.decoder.picture().map(|p| (p.width_px, p.height_px)),
            last_frame: self.decoder.info().map(|i| (i.stream.as_str(), i.source)),
            subscribed: self.config.stream.as_ref().map(StreamName::as_str),
            latency: self.shown.last_latency,
            skipped: self.receiver.skipped(),
            lost: self.receiver.lost(),
            bad: self.bad.total(),
            saved_note,
        });
        if let (Some((index, _)), Some(first)) = (&self.tile, lines.first_mut()) {
            *first = format!("{}: {first}", index + 1);
        }
        lines
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
        let mut summary = Summary::new(&RunTotals {
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
        });
        summary.endpoint = self.tile.as_ref().map(|(_, endpoint)| endpoint.clone());
        summary.record = self.recorded.clone();
        summary
    }
}

/// The keys that maximise tiles 1 to 9 (the number row and the keypad).
const TILE_KEYS: [(Keycode, Keycode); 9] = [
    (Keycode::NUM_1, Keycode::KP_1),
    (Keycode::NUM_2, Keycode::KP_2),
    (Keycode::NUM_3, Keycode::KP_3),
    (Keycode::NUM_4, Keycode::KP_4),
    (Keycode::NUM_5, Keycode::KP_5),
    (Keycode::NUM_6, Keycode::KP_6),
    (Keycode::NUM_7, Keycode::KP_7),
    (Keycode::NUM_8, Keycode::KP_8),
    (Keycode::NUM_9, Keycode::KP_9),
];

/// Several streams in one window: one [`Viewer`] per tile, each with its own connection and
/// threads, so a slow or dead endpoint only leaves its own tile without pictures.
struct Grid {
    viewers: Vec<Viewer>,
    /// The tile filling the window, or `None` for the grid.
    maximised: Option<usize>,
    started: Instant,
    screenshot_written: Option<PathBuf>,
    /// The relays whose streams are tiles here: their directories, for streams that appear
    /// later.
    relays: Vec<RelayWatch>,
}

/// The endpoint of a single viewer or a tile (the one it has).
fn first_endpoint(config: &Config) -> String {
    config
        .receive
        .endpoints
        .first()
        .cloned()
        .unwrap_or_default()
}

/// "ENDPOINT is a relay carrying N streams (a, b)": how the log says a relay was found.
fn relay_found(endpoint: &str, streams: &[StreamName]) -> String {
    let names: Vec<&str> = streams.iter().map(StreamName::as_str).collect();
    format!(
        "{endpoint} is a relay carrying {} streams ({})",
        streams.len(),
        names.join(", ")
    )
}

/// The endpoint of the relay whose streams these tiles are (every tile one stream of it).
fn relay_endpoint(sources: &[TileSource]) -> Option<&str> {
    let first = sources.first()?;
    sources
        .iter()
        .all(|s| s.stream.is_some() && s.endpoint == first.endpoint)
        .then_some(first.endpoint.as_str())
}

/// A relay grid's eye on the relay's directory: a connection of its own subscribed to the
/// directory messages alone (`camwire::DIRECTORY_SUBSCRIPTION`: no frame comes on it), which
/// the relay sends every few seconds and at once when its streams change.
struct RelayWatch {
    endpoint: String,
    receiver: Receiver,
    /// Streams that could not get a tile (the error was logged once).
    refused: Vec<StreamName>,
}

impl RelayWatch {
    fn start(config: &Config, endpoint: &str) -> Result<Self, Error> {
        let mut receive = config.receive.clone();
        receive.endpoints = vec![endpoint.to_owned()];
        receive.subscription = camwire::DIRECTORY_SUBSCRIPTION.to_vec();
        // Its connection holds messages (libzmq's queue), but it shows nothing.
        if receive.heap_share_bytes.is_some() {
            receive.heap_share_bytes = Some(crate::memory::heap_bound_per_connection_bytes());
        }
        Ok(Self {
            endpoint: endpoint.to_owned(),
            receiver: Receiver::start(&receive)?,
            refused: Vec::new(),
        })
    }
}

/// Runs one tile per source until a stop condition, the user or a signal ends it; the
/// summaries are in the sources' order (then the relay's streams that appeared later).
fn run_grid(
    config: &Config,
    sources: &[TileSource],
    quit: &AtomicBool,
) -> Result<Vec<Summary>, Error> {
    let mut grid = Grid {
        viewers: Vec::with_capacity(sources.len()),
        maximised: config.maximise,
        started: Instant::now(),
        screenshot_written: None,
        relays: Vec::new(),
    };
    for source in sources {
        grid.add_tile(config, source)?;
    }
    // A relay's streams: its directory is watched, so that a stream that appears later (a Pi
    // dialling in) gets a tile of its own.
    if let Some(endpoint) = relay_endpoint(sources) {
        grid.relays.push(RelayWatch::start(config, endpoint)?);
    }
    match &config.stream {
        Some(stream) => log::info!(
            "{} tiles, stream {stream} on each of {}; heap bound {} MiB",
            sources.len(),
            config.endpoints_text(),
            crate::memory::BUDGET.bound_bytes() >> 20
        ),
        None => log::info!(
            "{} tiles: {}; heap bound {} MiB",
            sources.len(),
            config.endpoints_text(),
            crate::memory::BUDGET.bound_bytes() >> 20
        ),
    }
    if config.headless {
        grid.run_headless(config, quit)?;
    } else {
        grid.run_windowed(config, quit)?;
    }
    grid.viewers.iter_mut().for_each(Viewer::finish_recording);
    let elapsed = grid.started.elapsed();
    Ok(grid
        .viewers
        .iter()
        .map(|viewer| {
            // A tile added later (a relay's new stream) counts from its own start.
            let mut summary = viewer.summary(elapsed.min(viewer.started.elapsed()));
            summary.screenshot = grid
                .screenshot_written
                .as_ref()
                .map(|p| p.display().to_string());
            if !config.headless {
                let (index, endpoint) = viewer.tile.clone().unwrap_or_default();
                log::info!("{}: {endpoint}: {}", index + 1, summary.line(elapsed));
            }
            summary
        })
        .collect())
}

impl Grid {
    /// One more tile: its own connection, threads and decoders, numbered after the others.
    fn add_tile(&mut self, config: &Config, source: &TileSource) -> Result<(), Error> {
        let viewer = self.make_tile(config, source, self.viewers.len())?;
        self.viewers.push(viewer);
        Ok(())
    }

    /// The tile numbered `index` (from 0) for `source`, with its connection, threads and
    /// decoders.
    fn make_tile(
        &self,
        config: &Config,
        source: &TileSource,
        index: usize,
    ) -> Result<Viewer, Error> {
        let mut tile = config.clone();
        tile.receive.endpoints = vec![source.endpoint.clone()];
        if let Some(stream) = &source.stream {
            tile.receive.subscription = stream.subscription();
            tile.stream = Some(stream.clone());
        }
        tile.screenshot = None;
        let receiver = Receiver::start(&tile.receive)?;
        let mut viewer = Viewer::new(Arc::new(tile), receiver)?;
        viewer.tile = Some((index, source.label()));
        // One file per tile: named by its stream, else by its number; never a name another
        // tile records under (two relays that both carry a stream called "door").
        let name = source
            .stream
            .as_ref()
            .map_or_else(|| (index + 1).to_string(), |s| s.as_str().to_owned());
        let name = record::unique_name(&name, index, |candidate| {
            let path = config.record.for_stream(candidate).path;
            self.viewers.iter().any(|v| v.record_config.path == path)
        });
        viewer.record_config = config.record.for_stream(&name);
        if config.record_at_start {
            viewer.toggle_recording();
        }
        Ok(viewer)
    }

    /// Tiles of a whole endpoint (several endpoints given, no `--stream`) that turned out to
    /// be relays (their directory came): each is replaced, where it is, by one tile and
    /// connection per stream the relay carries, and the relay's directory is watched from
    /// then on, as for a relay given alone. Returns each replaced tile's index and how many
    /// tiles took its place (for the screen's textures).
    fn expand_relays(&mut self, config: &Config) -> Vec<(usize, usize)> {
        let mut replaced = Vec::new();
        let mut index = 0;
        while index < self.viewers.len() {
            let viewer = &self.viewers[index];
            let streams = viewer
                .config
                .stream
                .is_none()
                .then(|| viewer.receiver.directory())
                .flatten()
                .filter(|streams| !streams.is_empty());
            let Some(streams) = streams else {
                index += 1;
                continue;
            };
            let endpoint = first_endpoint(&viewer.config);
            log::info!(
                "{}: tile {} becomes one tile and connection each",
                relay_found(&endpoint, &streams),
                index + 1
            );
            let mut old = self.viewers.remove(index);
            // Frames of every stream mixed: not worth keeping.
            old.abandon_recording();
            drop(old);
            let mut added = 0;
            for stream in streams {
                let source = TileSource {
                    endpoint: endpoint.clone(),
                    stream: Some(stream),
                };
                match self.make_tile(config, &source, index + added) {
                    Ok(viewer) => {
                        self.viewers.insert(index + added, viewer);
                        added += 1;
                    }
                    Err(e) => log::warn!("{}: no tile: {e}", source.label()),
                }
            }
            match RelayWatch::start(config, &endpoint) {
                Ok(watch) => self.relays.push(watch),
                Err(e) => log::warn!("{endpoint}: cannot watch the relay's directory: {e}"),
            }
            self.maximised = self.maximised.and_then(|m| match m.cmp(&index) {
                std::cmp::Ordering::Less => Some(m),
                std::cmp::Ordering::Equal => (added > 0).then_some(index),
                std::cmp::Ordering::Greater => Some(m + added - 1),
            });
            replaced.push((index, added));
            index += added;
        }
        if !replaced.is_empty() {
            for (number, viewer) in self.viewers.iter_mut().enumerate() {
                if let Some((at, _)) = &mut viewer.tile {
                    *at = number;
                }
            }
            log::info!(
                "{} tiles; heap bound now {} MiB",
                self.viewers.len(),
                crate::memory::BUDGET.bound_bytes() >> 20
            );
        }
        replaced
    }

    /// A tile for each stream the relay's newest directory lists that has none yet; `true` if
    /// one was added. Streams that left the directory keep their tile (showing no signal, as
    /// a camera that stopped does).
    fn add_new_streams(&mut self, config: &Config) -> bool {
        let mut added = false;
        for relay in 0..self.relays.len() {
            added |= self.add_new_streams_of(config, relay);
        }
        added
    }

    /// [`Grid::add_new_streams`] for the relay watched by `self.relays[relay]`.
    fn add_new_streams_of(&mut self, config: &Config, relay: usize) -> bool {
        let watch = &self.relays[relay];
        let Some(listed) = watch.receiver.directory() else {
            return false;
        };
        let endpoint = watch.endpoint.clone();
        let new: Vec<StreamName> = listed
            .into_iter()
            .filter(|name| {
                !watch.refused.contains(name)
                    && !self.viewers.iter().any(|v| {
                        v.config.stream.as_ref() == Some(name)
                            && v.config.receive.endpoints.first() == Some(&endpoint)
                    })
            })
            .collect();
        let mut added = false;
        for stream in new {
            let source = TileSource {
                endpoint: endpoint.clone(),
                stream: Some(stream.clone()),
            };
            match self.add_tile(config, &source) {
                Ok(()) => {
                    log::info!(
                        "{endpoint}: stream {stream} appeared: tile {}; heap bound now {} MiB",
                        self.viewers.len(),
                        crate::memory::BUDGET.bound_bytes() >> 20
                    );
                    added = true;
                }
                Err(e) => {
                    log::warn!("{endpoint}: no tile for the new stream {stream}: {e}");
                    self.relays[relay].refused.push(stream);
                }
            }
        }
        added
    }

    fn run_windowed(&mut self, config: &Config, quit: &AtomicBool) -> Result<(), Error> {
        let title = format!("camview - {}", config.endpoints_text());
        // The grid keeps its size: no single picture to fit the window to.
        let size_px = config.window_size_px.unwrap_or(DEFAULT_WINDOW_SIZE_PX);
        let mut opened = window::open(&title, size_px)?;
        let creator = opened.canvas.texture_creator();
        let mut screen = Screen::new(opened.canvas, &creator)?;
        let mut redraw = true;
        loop {
            match self.answer_events(&mut opened.events, screen.window_mut()) {
                Events::Quit => break,
                Events::Redraw => redraw = true,
                Events::None => {}
            }
            if self.should_stop(config, quit) {
                break;
            }
            for (at, tiles) in self.expand_relays(config) {
                screen.replace_tile(at, tiles);
                redraw = true;
            }
            redraw |= self.add_new_streams(config);
            if self.step(WINDOW_POLL, Some(&mut screen), std::mem::take(&mut redraw))? {
                screen.present();
            }
            if self.enough_frames() {
                break;
            }
        }
        self.write_screenshot(config, &mut screen)
    }

    fn run_headless(&mut self, config: &Config, quit: &AtomicBool) -> Result<(), Error> {
        let creator = OnceCell::new();
        let mut screen = match config.screenshot {
            Some(_) => Some(crate::output::offscreen(
                config.window_size_px.unwrap_or(DEFAULT_WINDOW_SIZE_PX),
                &creator,
            )?),
            None => None,
        };
        while !self.should_stop(config, quit) {
            let left = config
                .stop_after
                .map(|limit| limit.saturating_sub(self.started.elapsed()));
            let timeout = left.map_or(HEADLESS_POLL, |l| l.min(HEADLESS_POLL));
            let mut added = false;
            for (at, tiles) in self.expand_relays(config) {
                if let Some(screen) = &mut screen {
                    screen.replace_tile(at, tiles);
                }
                added = true;
            }
            added |= self.add_new_streams(config);
            self.step(timeout, screen.as_mut(), added)?;
            if self.enough_frames() {
                break;
            }
        }
        match &mut screen {
            Some(screen) => self.write_screenshot(config, screen),
            None => Ok(()),
        }
    }

    /// One turn over every tile: each takes and decodes its newest frame (waiting its share
    /// of `timeout`, so a silent endpoint delays the others by that share at most; decoding
    /// goes on in the tile's own thread meanwhile) and brings
    /// its text up to date; then the grid is drawn if anything changed (or `redraw`). `true`
    /// when it was drawn.
    fn step<T: sdl2::render::RenderTarget>(
        &mut self,
        timeout: Duration,
        mut screen: Option<&mut Screen<'_, T>>,
        redraw: bool,
    ) -> Result<bool, Error> {
        // Each tile waits its share of at most WINDOW_POLL, even headless: a tile's frame
        // waits for the others' turns, so this bounds what a silent tile adds to its latency.
        let tiles = self.viewers.len().max(1) as u32;
        let share = (timeout.min(WINDOW_POLL) / tiles).max(Duration::from_millis(1));
        let mut fresh = vec![false; self.viewers.len()];
        let mut changed = redraw;
        for (index, viewer) in self.viewers.iter_mut().enumerate() {
            let mut new = viewer.next_frame(share)?;
            if new {
                if let (Some(screen), Some(picture)) =
                    (screen.as_deref_mut(), viewer.decoder.picture())
                {
                    if let Err(e) = screen.upload_tile(index, picture) {
                        new = false;
                        viewer.unshowable(&e);
                    }
                }
            }
            let now = Instant::now();
            viewer.maybe_report(now);
            changed |= viewer.refresh_text(now, new) || new;
            fresh[index] = new;
        }
        let drawn = match screen {
            Some(screen) if changed => {
                self.draw(screen)?;
                true
            }
            _ => false,
        };
        // Counted once drawn: the latency is capture to display.
        let now = Instant::now();
        for (viewer, new) in self.viewers.iter_mut().zip(fresh) {
            if new {
                viewer.record_shown(now);
                viewer.record_frame();
            }
        }
        Ok(drawn)
    }

    /// Draws the grid (or the maximised tile) into the back buffer.
    fn draw<T: sdl2::render::RenderTarget>(&self, screen: &mut Screen<'_, T>) -> Result<(), Error> {
        let size_px = screen.output_size_px()?;
        let tiles: Vec<_> = crate::grid::areas(self.viewers.len(), self.maximised, size_px)
            .into_iter()
            .filter_map(|(index, area)| Some((index, area, self.viewers.get(index)?.scene())))
            .collect();
        screen.draw_tiles(&tiles)
    }

    /// The keys of one stream (q/Esc, f, s for every tile, b for every tile) and the grid's:
    /// 1-9 maximise that tile, 0 or Backspace go back to the grid.
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
                    Keycode::Q | Keycode::ESCAPE => return Events::Quit,
                    Keycode::F => window::toggle_fullscreen(window),
                    Keycode::S => self.viewers.iter_mut().for_each(Viewer::save_current_jpeg),
                    Keycode::R => self.viewers.iter_mut().for_each(Viewer::toggle_recording),
                    Keycode::B => {
                        for viewer in &mut self.viewers {
                            viewer.text.banner_visible = !viewer.text.banner_visible;
                        }
                    }
                    Keycode::NUM_0 | Keycode::KP_0 | Keycode::BACKSPACE => self.maximised = None,
                    other => {
                        let Some(number) = TILE_KEYS
                            .iter()
                            .position(|&(row, pad)| other == row || other == pad)
                        else {
                            continue;
                        };
                        if number >= self.viewers.len() {
                            log::info!("there is no tile {}", number + 1);
                            continue;
                        }
                        self.maximised = Some(number);
                    }
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
            let now = Instant::now();
            for viewer in &mut self.viewers {
                viewer.text.due = now;
            }
        }
        answer
    }

    fn should_stop(&self, config: &Config, quit: &AtomicBool) -> bool {
        quit.load(Ordering::Relaxed)
            || config
                .stop_after
                .is_some_and(|limit| self.started.elapsed() >= limit)
    }

    /// --frames is per stream: done when every tile has shown that many.
    fn enough_frames(&self) -> bool {
        self.viewers.iter().all(Viewer::enough_frames)
    }

    /// Draws the grid once more and writes it as the --screenshot PNG.
    fn write_screenshot<T: sdl2::render::RenderTarget>(
        &mut self,
        config: &Config,
        screen: &mut Screen<'_, T>,
    ) -> Result<(), Error> {
        let Some(path) = config.screenshot.clone() else {
            return Ok(());
        };
        let now = Instant::now();
        for viewer in &mut self.viewers {
            viewer.text.due = now;
            viewer.refresh_text(now, false);
        }
        self.draw(screen)?;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use argh::FromArgs;

    #[test]
    fn every_endpoint_becomes_a_tile_in_order() {
        let args =
            crate::config::Args::from_args(&["camview"], &["b.local", "tcp://a:6000"]).unwrap();
        let config = Config::from_args(&args).unwrap();
        let sources: Vec<_> = tile_sources(&config)
            .into_iter()
            .map(|s| s.endpoint)
            .collect();
        assert_eq!(sources, ["tcp://b.local:5555", "tcp://a:6000"]);
    }
}
