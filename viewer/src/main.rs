//! camview: shows campub's (or the tutorial's) ZeroMQ video stream. Arguments -> config -> run ->
//! exit code; the pipeline is receive -> decode -> render, driven by `app`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use argh::FromArgs;

use camview::config::{self, Config, RawOptions};
use camview::{app, security};

/// Exit code when --headless ends without having shown a single frame.
const EXIT_NO_FRAME: u8 = 2;

/// Show a campub or tutorial ZeroMQ video stream in a window, newest frame first. Keys: q or Esc
/// quits, f toggles fullscreen, s saves the current frame's JPEG in the current directory, b
/// toggles the banner.
#[derive(FromArgs, Debug)]
struct Args {
    /// endpoints to subscribe to (default tcp://127.0.0.1:5555); HOST or HOST:PORT mean
    /// tcp://HOST:PORT, port 5555 when omitted
    #[argh(positional, arg_name = "endpoint")]
    endpoints: Vec<String>,

    /// show only this stream name, as given to campub --stream (default: every message; the
    /// tutorial's base64 frames carry no name and are shown only without --stream)
    #[argh(option)]
    stream: Option<String>,

    /// no window: decode until --frames or --duration, then print a JSON summary on stdout
    /// (exit code 2 if no frame arrived)
    #[argh(switch)]
    headless: bool,

    /// stop after showing this many frames (default: no limit)
    #[argh(option)]
    frames: Option<u64>,

    /// stop after this many seconds, fractions allowed (default: no limit)
    #[argh(option)]
    duration: Option<f64>,

    /// when camview stops, write a PNG of exactly what the window shows, banner included; works
    /// with --headless too (default: none)
    #[argh(option)]
    screenshot: Option<PathBuf>,

    /// hide the banner (fps, resolution, latency, skipped and bad counts, stream)
    #[argh(switch)]
    no_banner: bool,

    /// window width in pixels (default: the first frame's width, 960 until one arrives)
    #[argh(option)]
    width: Option<u32>,

    /// window height in pixels (default: the first frame's height, 540 until one arrives)
    #[argh(option)]
    height: Option<u32>,

    /// milliseconds without a frame before showing "no frames for N s" over the dimmed last
    /// frame (default: 1500)
    #[argh(option, default = "config::DEFAULT_STALE_AFTER_MS")]
    stale_after_ms: u64,

    /// log filter for stderr: off, error, warn, info, debug or trace (default: RUST_LOG if set,
    /// else info)
    #[argh(option)]
    log_level: Option<String>,

    /// every this many seconds, print a JSON line on stdout with that interval's frames, fps,
    /// latency percentiles, lost and skipped counts (default: none)
    #[argh(option)]
    report_every: Option<f64>,

    /// the publisher's public key when it encrypts with CURVE: its .key file, or the key itself
    /// written z85:KEY (40 characters of Z85 after "z85:"); camview then refuses any other
    /// publisher (default: no encryption)
    #[argh(option)]
    server_key: Option<String>,

    /// with --server-key: this viewer's secret key file (from `camview --keygen`, mode 0600),
    /// whose public key the publisher's allow-list names (default: a new key pair for this
    /// run, which no allow-list names)
    #[argh(option)]
    key: Option<PathBuf>,

    /// write a new CURVE key pair for this viewer, STEM.key (public: for the publisher's
    /// allow-list) and STEM.key_secret (secret, mode 0600: for --key), then exit; existing
    /// files are never overwritten
    #[argh(option)]
    keygen: Option<PathBuf>,

    /// debugging: sleep this many milliseconds before decoding each frame, to act as a slow
    /// viewer (default: 0)
    #[argh(option, default = "0", hidden_help)]
    debug_decode_delay_ms: u64,
}

impl Args {
    fn into_options(self) -> RawOptions {
        RawOptions {
            endpoints: self.endpoints,
            stream: self.stream,
            headless: self.headless,
            frames: self.frames,
            duration_s: self.duration,
            screenshot: self.screenshot,
            no_banner: self.no_banner,
            width_px: self.width,
            height_px: self.height,
            stale_after_ms: self.stale_after_ms,
            debug_decode_delay_ms: self.debug_decode_delay_ms,
            report_every_s: self.report_every,

            server_key: self.server_key,
            key: self.key,
        }
    }
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(code) => return code,
    };
    if let Err(e) = init_logging(args.log_level.as_deref()) {
        return fail(&e);
    }
    if let Some(stem) = &args.keygen {
        return match security::keygen(stem) {
            Ok(text) => {
                use std::io::Write as _;
                let _ = writeln!(std::io::stdout(), "{text}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e),
        };
    }
    let config = match Config::from_options(args.into_options()) {
        Ok(config) => config,
        Err(e) => return fail(&e),
    };

    let quit = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&quit)) {
            log::warn!("cannot handle signal {signal}: {e}");
        }
    }

    match app::run(&config, &quit) {
        Ok(summary) if config.headless => {
            match serde_json::to_string(&summary) {
                Ok(json) => {
                    use std::io::Write as _;
                    // A closed stdout (piped into `head`) is not worth a panic.
                    let _ = writeln!(std::io::stdout(), "{json}");
                }
                Err(e) => return fail(&e),
            }
            if summary.frames_shown == 0 {
                let why = summary
                    .connection
                    .iter()
                    .find(|s| s.state.is_failure())
                    .map(|s| {
                        format!(
                            ": {}: {}",
                            s.state.headline(),
                            s.detail.as_deref().unwrap_or("")
                        )
                    })
                    .unwrap_or_default();
                eprintln!(
                    "camview: no frame arrived from {}{why}",
                    config.endpoints_text()
                );
                return ExitCode::from(EXIT_NO_FRAME);
            }
            ExitCode::SUCCESS
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// Parses the command line; help goes to stdout, a mistake is one line on stderr.
fn parse_args() -> Result<Args, ExitCode> {
    let strings: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let command = strings
        .first()
        .map_or("camview", |c| c.rsplit('/').next().unwrap_or(c));
    let rest: Vec<&str> = strings.iter().skip(1).map(String::as_str).collect();
    Args::from_args(&[command], &rest).map_err(|early| match early.status {
        Ok(()) => {
            use std::io::Write as _;
            let _ = write!(std::io::stdout(), "{}", early.output);
            ExitCode::SUCCESS
        }
        Err(()) => {
            let first_line = early
                .output
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid arguments");
            eprintln!("camview: error: {} (see camview --help)", first_line.trim());
            ExitCode::FAILURE
        }
    })
}

/// Logs go to stderr; `--log-level` takes a level or an env_logger filter (`camview=debug`).
fn init_logging(level: Option<&str>) -> Result<(), String> {
    const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if let Some(level) = level {
        let is_filter = level.contains('=') || level.contains(',');
        if !is_filter && !LEVELS.contains(&level.to_ascii_lowercase().as_str()) {
            return Err(format!(
                "bad --log-level {level:?}: use one of {}",
                LEVELS.join(", ")
            ));
        }
        builder.parse_filters(level);
    }
    builder.format_target(false).init();
    Ok(())
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("camview: error: {e}");
    ExitCode::FAILURE
}
