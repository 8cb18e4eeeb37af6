//! camview's settings, read once at start: defaults, validation and endpoint spelling.

use std::path::PathBuf;
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
}

/// The command line's values, before validation (see `main.rs` for their documentation).
#[derive(Debug, Clone, Default)]
pub struct RawOptions {
    pub endpoints: Vec<String>,
    pub stream: Option<String>,
    pub headless: bool,
    pub frames: Option<u64>,
    pub duration_s: Option<f64>,
    pub screenshot: Option<PathBuf>,
    pub no_banner: bool,
    pub width_px: Option<u32>,
    pub height_px: Option<u32>,
    pub stale_after_ms: u64,
    pub debug_decode_delay_ms: u64,
    pub report_every_s: Option<f64>,
    pub server_key: Option<String>,
    pub key: Option<PathBuf>,
    /// `None`: [`crate::decode::DEFAULT_MAX_PIXELS`].
    pub max_pixels: Option<u64>,
}

impl Config {
    pub fn from_options(raw: RawOptions) -> Result<Self, Error> {
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
        let stop_after = match raw.duration_s {
            None => None,
            Some(s) if s.is_finite() && s > 0.0 && s < 1e9 => Some(Duration::from_secs_f64(s)),
            Some(s) => {
                return Err(bad(
                    "--duration",
                    format!("{s} is not a positive number of seconds"),
                ))
            }
        };
        let window_size_px = match (raw.width_px, raw.height_px) {
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
        let report_every = match raw.report_every_s {
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
        let heap_bound_bytes = Some(crate::memory::heap_bound_bytes(
            limits.max_pixels,
            endpoints.len(),
        ));
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
        Ok(Self {
            receive: ReceiveConfig {
                endpoints,
                subscription,
                curve,
                limits,
                heap_bound_bytes,
            },
            stream,
            headless: raw.headless,
            stop_after_frames: raw.frames,
            stop_after,
            screenshot: raw.screenshot,
            banner: !raw.no_banner,
            window_size_px,
            stale_after: Duration::from_millis(raw.stale_after_ms),
            debug_decode_delay: Duration::from_millis(raw.debug_decode_delay_ms),
            report_every,
        })
    }

    /// The endpoints as one line of text, for messages.
    pub fn endpoints_text(&self) -> String {
        self.receive.endpoints.join(", ")
    }
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
/// `HOST` (TCP, default port); returns the ZeroMQ endpoint.
pub fn normalise_endpoint(text: &str) -> Result<String, Error> {
    let fail = |reason: &str| Error::BadEndpoint {
        endpoint: text.to_owned(),
        reason: reason.to_owned(),
    };
    let (scheme, rest) = match text.split_once("://") {
        Some((scheme, rest)) => (scheme, rest),
        None if text.is_empty() => return Err(fail("empty")),
        None if has_port(text) => ("tcp", text),
        None => return Ok(format!("tcp://{text}:{}", camwire::DEFAULT_PORT)),
    };
    match scheme {
        "tcp" => {
            let Some((host, port)) = rest.rsplit_once(':') else {
                return Err(fail("expected tcp://HOST:PORT"));
            };
            if host.is_empty() || host.chars().any(char::is_whitespace) {
                return Err(fail("missing or invalid host"));
            }
            match port.parse::<u16>() {
                Ok(p) if p > 0 => Ok(format!("tcp://{host}:{p}")),
                _ => Err(fail("port must be a number from 1 to 65535")),
            }
        }
        "ipc" | "inproc" if !rest.is_empty() => Ok(text.to_owned()),
        "ipc" | "inproc" => Err(fail("missing path or name")),
        _ => Err(fail("transport must be tcp, ipc or inproc")),
    }
}

/// `HOST:PORT` (including `[v6]:PORT`), as opposed to a bare host.
fn has_port(text: &str) -> bool {
    match text.rsplit_once(':') {
        Some((host, port)) => {
            !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!host.contains(':') || host.ends_with(']'))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> RawOptions {
        RawOptions {
            stale_after_ms: DEFAULT_STALE_AFTER_MS,
            ..RawOptions::default()
        }
    }

    #[test]
    fn endpoints_are_normalised() {
        let ok = |t: &str| normalise_endpoint(t).unwrap();
        assert_eq!(ok("tcp://127.0.0.1:5555"), "tcp://127.0.0.1:5555");
        assert_eq!(ok("192.168.1.7"), "tcp://192.168.1.7:5555");
        assert_eq!(ok("pi.local:6000"), "tcp://pi.local:6000");
        assert_eq!(ok("tcp://[::1]:5555"), "tcp://[::1]:5555");
        assert_eq!(ok("[::1]:7"), "tcp://[::1]:7");
        assert_eq!(ok("ipc:///tmp/cam"), "ipc:///tmp/cam");
        for bad in [
            "",
            "tcp://host",
            "tcp://:5555",
            "tcp://host:0",
            "tcp://host:99999",
            "http://x:1",
            "ipc://",
            "tcp://a b:1",
        ] {
            let err = normalise_endpoint(bad).unwrap_err().to_string();
            assert!(err.starts_with("bad endpoint"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn defaults() {
        let config = Config::from_options(options()).unwrap();
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
        let config = Config::from_options(RawOptions {
            stream: Some("garden".into()),
            ..options()
        })
        .unwrap();
        assert_eq!(config.receive.subscription, b"garden\0");
        let err = Config::from_options(RawOptions {
            stream: Some("no spaces".into()),
            ..options()
        })
        .unwrap_err();
        assert!(err.to_string().starts_with("bad --stream"), "{err}");
    }

    #[test]
    fn bad_values_are_refused() {
        let refused = |raw: RawOptions| Config::from_options(raw).is_err();
        assert!(refused(RawOptions {
            frames: Some(0),
            ..options()
        }));
        assert!(refused(RawOptions {
            duration_s: Some(-1.0),
            ..options()
        }));
        assert!(refused(RawOptions {
            duration_s: Some(f64::NAN),
            ..options()
        }));
        assert!(refused(RawOptions {
            width_px: Some(640),
            ..options()
        }));
        assert!(refused(RawOptions {
            width_px: Some(0),
            height_px: Some(10),
            ..options()
        }));
        assert!(refused(RawOptions {
            stale_after_ms: 0,
            ..options()
        }));
        assert!(refused(RawOptions {
            debug_decode_delay_ms: 1_000_000,
            ..options()
        }));
        assert!(refused(RawOptions {
            max_pixels: Some(0),
            ..options()
        }));
        assert!(refused(RawOptions {
            max_pixels: Some(8192 * 8192 + 1),
            ..options()
        }));
        let ok = Config::from_options(RawOptions {
            duration_s: Some(0.5),
            width_px: Some(640),
            height_px: Some(360),
            ..options()
        })
        .unwrap();
        assert_eq!(
            (ok.stop_after, ok.window_size_px),
            (Some(Duration::from_millis(500)), Some((640, 360)))
        );
    }
}
