//! camview's settings, read once at start: defaults, validation and endpoint spelling.

use std::path::PathBuf;

use argh::FromArgs;

use crate::record::{RecordConfig, Split};
use std::time::Duration;

use camwire::StreamName;

use crate::decode::{FrameLimits, MAX_PICTURE_DIMENSION_PX};
use crate::error::Error;
use crate::receive::ReceiveConfig;
use crate::security::ClientKeys;

/// Window size before the first frame arrives (and always, with --headless, if none arrives).
pub const DEFAULT_WINDOW_SIZE_PX: (u32, u32) = (960, 540);
/// After this long without a frame the viewer says so and dims the last picture.
pub const DEFAULT_STALE_AFTER_MS: u64 = 1500;
/// Largest window size accepted on the command line.
const MAX_WINDOW_DIMENSION_PX: u32 = 16384;
/// Longest artificial decode delay accepted (it is a debugging aid, not a feature).
const MAX_DEBUG_DECODE_DELAY_MS: u64 = 10_000;

#[derive(Debug, Clone)]
pub struct Config {
    pub receive: ReceiveConfig,
    pub stream: Option<StreamName>,
    pub headless: bool,
    pub stop_after_frames: Option<u64>,
    pub stop_after: Option<Duration>,
    pub screenshot: Option<PathBuf>,
    pub banner: bool,
    /// `None`: the first frame's size (the default size until then).
    pub window_size_px: Option<(u32, u32)>,
    pub stale_after: Duration,
    pub debug_decode_delay: Duration,
    /// Print a JSON line of the last interval's numbers this often (`--report-every`).
    pub report_every: Option<Duration>,
    /// With several endpoints (a grid): the tile shown maximised at start, counted from 0.
    pub maximise: Option<usize>,
    /// --record and --record-split: where the `r` key records (and records from the start,
    /// with --record). Without --record the key records to camview-TIME.mkv.
    pub record: RecordConfig,
    /// --record was given: record from the first frame.
    pub record_at_start: bool,
}

/// Show a campub or tutorial ZeroMQ video stream in a window, newest frame first. Keys: q or Esc
/// quits, f toggles fullscreen, s saves the current frame's JPEG in the current directory, r
/// starts or stops recording (--record), b toggles the banner. Several endpoints: one tile per
/// endpoint in a grid; 1-9 maximise that tile, 0 or Backspace go back to the grid, s saves each
/// tile's frame, r records each tile's stream.
#[derive(FromArgs, Debug)]
#[argh(
    error_code(1, "runtime error: no display, a key pair that cannot be written"),
    error_code(2, "bad option or configuration, including an unusable key file"),
    error_code(
        3,
        "--headless ended without a single frame shown (in a grid: by some stream); \
         --discover found nothing"
    )
)]
pub struct Args {
    /// endpoints to subscribe to; HOST or HOST:PORT mean tcp://HOST:PORT, port 5555 when
    /// omitted; several make a grid, one tile each (default: the campub found on the LAN by
    /// mDNS, waiting until one answers)
    #[argh(positional, arg_name = "endpoint")]
    pub endpoints: Vec<String>,

    /// list the campubs announced on the LAN (mDNS/DNS-SD), one tab-separated line each: name,
    /// endpoint, stream, wire, curve, key; then exit (exit code 3 when none answered)
    #[argh(switch)]
    pub discover: bool,

    /// how long --discover (and camview with no endpoint, per round) listens, in seconds
    /// (default: 3)
    #[argh(option, default = "3.0")]
    pub discover_seconds: f64,

    /// show only this stream name, as given to campub --stream (default: every message; the
    /// tutorial's base64 frames carry no name and are shown only without --stream)
    #[argh(option)]
    pub stream: Option<String>,

    /// no window: decode until --frames or --duration, then print a JSON summary on stdout
    /// (exit code 3 if no frame arrived)
    #[argh(switch)]
    pub headless: bool,

    /// stop after showing this many frames (default: no limit)
    #[argh(option)]
    pub frames: Option<u64>,

    /// stop after this many seconds, fractions allowed (default: no limit)
    #[argh(option)]
    pub duration: Option<f64>,

    /// when camview stops, write a PNG of exactly what the window shows, banner included; works
    /// with --headless too (default: none)
    #[argh(option)]
    pub screenshot: Option<PathBuf>,

    /// hide the banner (fps, resolution, latency, skipped and bad counts, stream)
    #[argh(switch)]
    pub no_banner: bool,

    /// window width in pixels (default: the first frame's width, 960 until one arrives)
    #[argh(option)]
    pub width: Option<u32>,

    /// window height in pixels (default: the first frame's height, 540 until one arrives)
    #[argh(option)]
    pub height: Option<u32>,

    /// milliseconds without a frame before showing "no frames for N s" over the dimmed last
    /// frame (default: 1500)
    #[argh(option, default = "DEFAULT_STALE_AFTER_MS")]
    pub stale_after_ms: u64,

    /// log filter for stderr: off, error, warn, info, debug or trace (default: RUST_LOG if set,
    /// else info)
    #[argh(option)]
    pub log_level: Option<String>,

    /// every this many seconds, print a JSON line on stdout with that interval's frames, fps,
    /// latency percentiles, lost and skipped counts (default: none)
    #[argh(option)]
    pub report_every: Option<f64>,

    /// the publisher's public key when it encrypts with CURVE: its .key file, or the key itself
    /// written z85:KEY (40 characters of Z85 after "z85:"); camview then refuses any other
    /// publisher (default: no encryption)
    #[argh(option)]
    pub server_key: Option<String>,

    /// with --server-key: this viewer's secret key file (from `camview --keygen`, mode 0600),
    /// whose public key the publisher's allow-list names (default: a new key pair for this
    /// run, which no allow-list names)
    #[argh(option)]
    pub key: Option<PathBuf>,

    /// write a new CURVE key pair for this viewer, STEM.key (public: for the publisher's
    /// allow-list) and STEM.key_secret (secret, mode 0600: for --key), then exit; existing
    /// files are never overwritten
    #[argh(option)]
    pub keygen: Option<PathBuf>,

    /// print the version and exit
    #[argh(switch)]
    pub version: bool,

    /// with several endpoints: start with tile N (1 = the first endpoint) maximised
    /// (default: the grid)
    #[argh(option)]
    pub maximise: Option<usize>,

    /// record the received JPEGs, unchanged, into this Matroska file (MJPEG, capture
    /// timestamps; VLC and ffmpeg play it) from the start; the r key stops and starts again
    /// (FILE-0002.mkv...). In a grid one file per stream (FILE-STREAM.mkv). Default: none (r
    /// records to camview-YYYYMMDD-HHMMSS.mkv in the current directory)
    #[argh(option)]
    pub record: Option<PathBuf>,

    /// start a new recording file every SIZE (100MB, 2GB) or TIME (30s, 10m, 1h): FILE-0001.mkv,
    /// FILE-0002.mkv... (default: one file)
    #[argh(option)]
    pub record_split: Option<String>,

    /// largest picture decoded, in pixels (width x height); a frame declaring more is counted
    /// as bad (too_large) without being decoded, which bounds camview's memory and decoding
    /// time (default: 16777216, 4096x4096; at most 67108864, 8192x8192)
    #[argh(option)]
    pub max_pixels: Option<u64>,

    /// debugging: sleep this many milliseconds before decoding each frame, to act as a slow
    /// viewer (default: 0)
    #[argh(option, default = "0", hidden_help)]
    pub debug_decode_delay_ms: u64,
}

/// A bad option or configuration (camview exits 2 on it, `camcli::exit::USAGE`); runtime
/// errors are [`Error`]s of their own.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ConfigError(#[from] pub Error);

impl Config {
    /// Checks every option once, at the top; nothing later re-reads `Args`.
    pub fn from_args(raw: &Args) -> Result<Self, ConfigError> {
        Self::check(raw).map_err(ConfigError)
    }

    fn check(raw: &Args) -> Result<Self, Error> {
        let endpoints = if raw.endpoints.is_empty() {
            vec![default_endpoint()]
        } else {
            raw.endpoints
                .iter()
                .map(|e| normalise_endpoint(e))
                .collect::<Result<_, _>>()?
        };
        let stream = raw
            .stream
            .as_deref()
            .map(StreamName::new)
            .transpose()
            .map_err(Error::BadStream)?;
        let subscription = stream
            .as_ref()
            .map(StreamName::subscription)
            .unwrap_or_default();

        if raw.frames == Some(0) {
            return Err(bad("--frames", "must be at least 1"));
        }
        let stop_after = match raw.duration {
            None => None,
            Some(s) if s.is_finite() && s > 0.0 && s < 1e9 => Some(Duration::from_secs_f64(s)),
            Some(s) => {
                return Err(bad(
                    "--duration",
                    format!("{s} is not a positive number of seconds"),
                ))
            }
        };
        let window_size_px = match (raw.width, raw.height) {
            (None, None) => None,
            (Some(w), Some(h)) => {
                for (option, value) in [("--width", w), ("--height", h)] {
                    if !(1..=MAX_WINDOW_DIMENSION_PX).contains(&value) {
                        return Err(bad(
                            option,
                            format!("{value} is outside 1..={MAX_WINDOW_DIMENSION_PX}"),
                        ));
                    }
                }
                Some((w, h))
            }
            _ => return Err(bad("--width/--height", "give both or neither")),
        };
        if raw.stale_after_ms == 0 {
            return Err(bad("--stale-after-ms", "must be at least 1"));
        }
        if raw.debug_decode_delay_ms > MAX_DEBUG_DECODE_DELAY_MS {
            return Err(bad(
                "--debug-decode-delay-ms",
                format!("at most {MAX_DEBUG_DECODE_DELAY_MS}"),
            ));
        }
        let report_every = match raw.report_every {
            None => None,
            Some(s) if s.is_finite() && (0.1..=86_400.0).contains(&s) => {
                Some(Duration::from_secs_f64(s))
            }
            Some(s) => return Err(bad("--report-every", format!("{s} is not 0.1 to 86400"))),
        };
        let largest = MAX_PICTURE_DIMENSION_PX * MAX_PICTURE_DIMENSION_PX;
        let limits = match raw.max_pixels {
            None => FrameLimits::default(),
            Some(n) => match usize::try_from(n) {
                Ok(max_pixels) if (1..=largest).contains(&max_pixels) => FrameLimits { max_pixels },
                _ => return Err(bad("--max-pixels", format!("{n} is outside 1..={largest}"))),
            },
        };
        let maximise = match raw.maximise {
            None => None,
            Some(n) if (1..=endpoints.len()).contains(&n) => Some(n - 1),
            Some(n) => {
                return Err(bad(
                    "--maximise",
                    format!("{n} is not a tile: give 1 to {}", endpoints.len()),
                ))
            }
        };
        let heap_share_bytes = Some(crate::memory::heap_bound_per_tile_bytes(limits.max_pixels));
        let curve = match (&raw.server_key, &raw.key) {
            (Some(server), own) => Some(ClientKeys::load(server, own.as_deref())?),
            (None, Some(_)) => {
                return Err(bad(
                    "--key",
                    "needs --server-key (the publisher's public key)",
                ))
            }
            (None, None) => None,
        };
        let split = raw
            .record_split
            .as_deref()
            .map(Split::parse)
            .transpose()
            .map_err(|why| bad("--record-split", why))?;
        if let Some(path) = &raw.record {
            if path.as_os_str().is_empty() || path.file_name().is_none() {
                return Err(bad("--record", "a file name is needed, e.g. garden.mkv"));
            }
        }
        Ok(Self {
            receive: ReceiveConfig {
                endpoints,
                subscription,
                curve,
                limits,
                heap_share_bytes,
            },
            stream,
            headless: raw.headless,
            stop_after_frames: raw.frames,
            stop_after,
            screenshot: raw.screenshot.clone(),
            banner: !raw.no_banner,
            window_size_px,
            stale_after: Duration::from_millis(raw.stale_after_ms),
            debug_decode_delay: Duration::from_millis(raw.debug_decode_delay_ms),
            report_every,
            maximise,
            record: RecordConfig {
                path: raw.record.clone().unwrap_or_else(default_record_path),
                split,
            },
            record_at_start: raw.record.is_some(),
        })
    }

    /// The endpoints as one line of text, for messages.
    pub fn endpoints_text(&self) -> String {
        self.receive.endpoints.join(", ")
    }
}

/// Where the `r` key records without --record: camview-YYYYMMDD-HHMMSS.mkv (UTC) here.
fn default_record_path() -> PathBuf {
    PathBuf::from(format!(
        "camview-{}.mkv",
        jiff::Timestamp::now().strftime("%Y%m%d-%H%M%S")
    ))
}

fn bad(option: &'static str, reason: impl Into<String>) -> Error {
    Error::BadOption {
        option,
        reason: reason.into(),
    }
}

pub fn default_endpoint() -> String {
    format!("tcp://127.0.0.1:{}", camwire::DEFAULT_PORT)
}

/// Accepts `tcp://HOST:PORT`, `ipc://PATH`, `inproc://NAME`, and the shorthands `HOST:PORT` and
/// `HOST` (TCP, default port); returns the ZeroMQ endpoint (camwire's one parser).
pub fn normalise_endpoint(text: &str) -> Result<String, Error> {
    camwire::Endpoint::parse(text, camwire::Direction::Connect)
        .map(|endpoint| endpoint.to_string())
        .map_err(|why| Error::BadEndpoint {
            endpoint: text.to_owned(),
            reason: why.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let args = Args::from_args(&["camview"], args).map_err(|e| e.output)?;
        Config::from_args(&args).map_err(|e| e.to_string())
    }

    #[test]
    fn endpoints_are_normalised_by_camwire_and_refusals_name_the_endpoint() {
        // The grammar is camwire::Endpoint's (tested there); here, what camview makes of it.
        assert_eq!(
            normalise_endpoint("pi.local").unwrap(),
            "tcp://pi.local:5555"
        );
        let err = normalise_endpoint("tcp://host:0").unwrap_err().to_string();
        assert!(
            err.starts_with("bad endpoint \"tcp://host:0\": port"),
            "{err}"
        );
    }

    #[test]
    fn defaults() {
        let config = parse(&[]).unwrap();
        assert_eq!(
            config.receive.endpoints,
            vec!["tcp://127.0.0.1:5555".to_string()]
        );
        assert!(
            config.receive.subscription.is_empty(),
            "everything by default"
        );
        assert!(config.banner && !config.headless && config.window_size_px.is_none());
        assert_eq!(config.stale_after, Duration::from_millis(1500));
    }

    #[test]
    fn stream_selects_its_subscription() {
        let config = parse(&["--stream", "garden"]).unwrap();
        assert_eq!(config.receive.subscription, b"garden\0");
        let err = parse(&["--stream", "no spaces"]).unwrap_err();
        assert!(err.to_string().starts_with("bad --stream"), "{err}");
    }

    #[test]
    fn record_options_and_the_default_file_name() {
        let config = parse(&["--record", "a.mkv", "--record-split", "10m"]).unwrap();
        assert!(config.record_at_start);
        assert_eq!(config.record.path, PathBuf::from("a.mkv"));
        assert_eq!(
            config.record.split,
            Some(Split::Time(Duration::from_secs(600)))
        );
        let config = parse(&[]).unwrap();
        assert!(!config.record_at_start);
        let name = config.record.path.display().to_string();
        // camview-YYYYMMDD-HHMMSS.mkv
        assert!(
            name.starts_with("camview-20") && name.ends_with(".mkv"),
            "{name}"
        );
        assert_eq!(name.len(), "camview-20261203-175800.mkv".len(), "{name}");
    }

    #[test]
    fn bad_values_are_refused() {
        for args in [
            &["--frames", "0"][..],
            &["--duration", "-1"],
            &["--duration", "NaN"],
            &["--width", "640"],
            &["--width", "0", "--height", "10"],
            &["--stale-after-ms", "0"],
            &["--debug-decode-delay-ms", "1000000"],
            &["--max-pixels", "0"],
            &["--max-pixels", "67108865"],
            &["--maximise", "0"],
            &["--maximise", "3", "a:1", "b:2"],
            &["--record-split", "10"],
            &["--record-split", "1KB"],
            &["--record", ""],
            &["--record", "/"],
        ] {
            assert!(parse(args).is_err(), "{args:?} was taken");
        }
        assert_eq!(
            parse(&["--maximise", "2", "a:1", "b:2"]).unwrap().maximise,
            Some(1)
        );
        let ok = parse(&["--duration", "0.5", "--width", "640", "--height", "360"]).unwrap();
        assert_eq!(
            (ok.stop_after, ok.window_size_px),
            (Some(Duration::from_millis(500)), Some((640, 360)))
        );
    }
}
