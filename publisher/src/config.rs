//! The command line (every option with its default and unit) and the checked [`Config`] built
//! from it. Defaults are written once, here.

use std::path::PathBuf;
use std::time::Duration;

use argh::FromArgs;
use camwire::StreamName;

use crate::capture::controls::ControlRequest;
use crate::capture::exec::ExecFormat;
use crate::capture::v4l2::{CameraRequest, FormatChoice};
use crate::http::HttpConfig;
use crate::orient::{Orientation, Rotation};
use crate::publish::WireMode;
use crate::security::{AllowList, SecurityConfig};

pub const DEFAULT_DEVICE: &str = "/dev/video0";
pub const DEFAULT_SIZE: &str = "1280x720";
pub const DEFAULT_FPS: u32 = 30;
pub const DEFAULT_WIDTH_PX: u32 = 640;
pub const DEFAULT_QUALITY: u8 = 80;
pub const DEFAULT_BIND: &str = "tcp://*:5555";
pub const DEFAULT_STREAM: &str = "cam";
pub const DEFAULT_STATS_INTERVAL_S: f64 = 10.0;
pub const DEFAULT_STALL_TIMEOUT_MS: u64 = 5000;
/// Smallest capture size and output width, per side.
const MIN_SIDE_PX: u32 = 16;

#[derive(FromArgs, Debug)]
#[argh(
    error_code(1, "runtime error: the camera cannot be opened, disappears or stops delivering frames; the port is taken"),
    error_code(2, "bad option or configuration, including an unusable key file or a --control the camera does not take (systemd does not retry it)")
)]
/// campub: capture a V4L2 camera (or the Raspberry Pi Camera Module through rpicam-vid, any
/// program's output, a built-in test pattern or a file of JPEGs), scale it to 640 wide, encode JPEG with libjpeg-turbo and publish it on a ZeroMQ PUB socket. Logs go to
/// stderr; SIGINT or SIGTERM stop it cleanly (exit 0). It exits 1 when the camera cannot be
/// opened, disappears or stops delivering frames, and 2 on a bad option.
pub struct Args {
    /// where frames come from: "v4l2" (the camera at --device: USB/UVC cameras), "rpicam" (the
    /// Raspberry Pi Camera Module through rpicam-vid, or libcamera-vid, at --size and --fps),
    /// "exec:CMD" (a command run with `sh -c` that writes JPEGs or raw I420 frames of --size to
    /// its stdout, e.g. ffmpeg from an RTSP camera; see --exec-format), "pattern" (built-in
    /// moving test pattern) or "file:PATH" (concatenated JPEGs as `ffmpeg -f mjpeg` writes,
    /// looped). A child program's stderr goes to the log; when it exits, campub exits 1.
    /// Default: v4l2
    #[argh(option, default = "String::from(\"v4l2\")")]
    pub source: String,

    /// the V4L2 device path. Default: /dev/video0
    #[argh(option, default = "PathBuf::from(DEFAULT_DEVICE)")]
    pub device: PathBuf,

    /// camera pixel format: auto (the first offered of MJPEG, YUYV, UYVY, NV12, YU12, NV21,
    /// YV12), or one of mjpeg, yuyv, uyvy, nv12, nv21, yu12 (also i420), yv12. Default: auto
    #[argh(option, default = "FormatChoice::Auto")]
    pub format: FormatChoice,

    /// capture size WIDTHxHEIGHT in pixels; a V4L2 camera grants the nearest size it has
    /// (logged); rpicam asks rpicam-vid for it; exec: raw I420 frames must be this size.
    /// Default: 1280x720
    #[argh(option, default = "String::from(DEFAULT_SIZE)")]
    pub size: String,

    /// with --source exec:CMD, what CMD writes: "auto" (JPEGs if its output starts with FF D8,
    /// else I420), "mjpeg" (concatenated JPEGs, any size) or "i420" (raw YUV 4:2:0 planar
    /// frames of --size, rows not padded: ffmpeg -f rawvideo -pix_fmt yuv420p). Default: auto
    #[argh(option, default = "ExecFormat::Auto")]
    pub exec_format: ExecFormat,

    /// with --source rpicam, one more argument for rpicam-vid (repeat it, one per argument:
    /// --rpicam-arg --hflip --rpicam-arg --vflip; in the config file one "rpicam-arg = ..."
    /// line each), e.g. --hflip, --vflip, --rotation=180, --awb=daylight. Default: none
    #[argh(option)]
    pub rpicam_arg: Vec<String>,

    /// set a camera control when the camera opens, NAME=VALUE with the name as --list-controls
    /// prints it (case does not matter), e.g. --control brightness=200 --control
    /// horizontal_flip=on; repeat it, one per control, set in order (in the config file one
    /// "control = NAME=VALUE" line each). Integers are checked against the control's range and
    /// step, booleans take 0/1, true/false, on/off, yes/no, menus an entry's index or name. An
    /// unknown control or a value it does not take ends campub with exit 2. Default: none
    #[argh(option)]
    pub control: Vec<ControlRequest>,

    /// capture rate in frames per second, 1-240. Default: 30
    #[argh(option, default = "DEFAULT_FPS")]
    pub fps: u32,

    /// turn the picture clockwise by this many degrees: 0, 90, 180 or 270, after --hflip and
    /// --vflip; the output keeps --width (a quarter turn makes it portrait). With --source
    /// rpicam the Pi's ISP does the flips and 180 at no cost. Default: 0
    #[argh(option, default = "Rotation::R0")]
    pub rotate: Rotation,

    /// mirror the picture left to right (a camera mounted facing a mirror, or upside down
    /// together with --vflip)
    #[argh(switch)]
    pub hflip: bool,

    /// mirror the picture top to bottom
    #[argh(switch)]
    pub vflip: bool,

    /// output width in pixels (even, 16-8192); the height follows the aspect ratio, rounded
    /// to even. Default: 640
    #[argh(option, default = "DEFAULT_WIDTH_PX")]
    pub width: u32,

    /// the JPEG quality, 1-100. Default: 80
    #[argh(option, default = "DEFAULT_QUALITY")]
    pub quality: u8,

    /// the ZeroMQ endpoint to bind. Default: tcp://*:5555
    #[argh(option, default = "String::from(DEFAULT_BIND)")]
    pub bind: String,

    /// also dial out to this ZeroMQ endpoint, e.g. tcp://relay.example.org:5556: a camrelay
    /// that takes the stream from there (a Pi behind NAT needs no port forwarding; campub
    /// reconnects forever, backing off to 1 s). Repeatable. Default: none
    #[argh(option)]
    pub connect: Vec<String>,

    /// the relay's public key (a public key file, or z85:KEY) for --connect: the stream to it is
    /// encrypted (CURVE), with --curve-secret-key as campub's own key (the relay's
    /// --publishers-allow lists its public key). Default: none, not encrypted
    #[argh(option)]
    pub connect_server_key: Option<String>,

    /// wire format: "native" (stream name + header + raw JPEG, see docs/PROTOCOL.md) or
    /// "base64" (exactly the tutorial's server.py, for its client.py). Default: native
    #[argh(option, default = "WireMode::Native")]
    pub wire: WireMode,

    /// stream name in native messages, 1-64 of A-Z a-z 0-9 . _ - ; a viewer subscribes to it
    /// to pick this camera. Default: cam
    #[argh(option, default = "String::from(DEFAULT_STREAM)")]
    pub stream: String,

    /// seconds between stats lines in the log; 0 turns them off. Default: 10
    #[argh(option, default = "DEFAULT_STATS_INTERVAL_S")]
    pub stats_interval: f64,

    /// give up (exit 1) when the source delivers no frame for this many milliseconds.
    /// Default: 5000
    #[argh(option, default = "DEFAULT_STALL_TIMEOUT_MS")]
    pub stall_timeout_ms: u64,

    /// keep encoding and sending frames while nobody watches. Default: off: with no ZeroMQ
    /// subscriber and no HTTP client, campub keeps capturing (a stalled camera is still caught)
    /// but encodes nothing until a viewer connects, and then from the next frame on
    #[argh(switch)]
    pub no_idle: bool,

    /// encrypt the stream (CURVE) with this server secret key file, as `campub keygen` writes
    /// it (mode 0600: a file open to group or others is refused). Viewers need the public key
    /// (camview --server-key). Default: none, the stream is not encrypted
    #[argh(option)]
    pub curve_secret_key: Option<PathBuf>,

    /// with --curve-secret-key: admit only the viewers whose public keys are in this file (one
    /// key per line, or .key files) or directory (its *.key files); SIGHUP reloads it.
    /// Default: none, any viewer that has the server's public key may watch
    #[argh(option)]
    pub allow: Option<PathBuf>,

    /// serve MJPEG, snapshots, status and metrics over HTTP on ADDR:PORT, e.g. 0.0.0.0:8080 or
    /// [::]:8080 (docs/HTTP.md); needs --http-users and/or --http-token-file, or --http-open.
    /// Default: none, no HTTP
    #[argh(option)]
    pub http: Option<String>,

    /// with --http: a users file of "user:hash" lines (`campub passwd FILE USER` writes them);
    /// clients log in with HTTP Basic. Default: none
    #[argh(option)]
    pub http_users: Option<PathBuf>,

    /// with --http: a file of bearer tokens, one per line, at least 16 characters each (mode
    /// 0600); clients send "Authorization: Bearer TOKEN". Default: none
    #[argh(option)]
    pub http_token_file: Option<PathBuf>,

    /// with --http: no authentication at all, anyone who can reach the port can watch (logged
    /// as a warning at start)
    #[argh(switch)]
    pub http_open: bool,

    /// with --http: serve HTTPS with this PEM certificate (chain) and --http-key; `campub
    /// tls-selfsigned` makes a pair for a LAN. Default: none, plain HTTP
    #[argh(option)]
    pub http_cert: Option<PathBuf>,

    /// with --http-cert: its PEM private key (mode 0600). Default: none
    #[argh(option)]
    pub http_key: Option<PathBuf>,

    /// with --http: clients served at once (streams, snapshots, pages); the others get 503.
    /// Default: 32
    #[argh(option, default = "crate::http::DEFAULT_MAX_CLIENTS")]
    pub http_max_clients: usize,

    /// do not announce the stream on the LAN with mDNS/DNS-SD (`_campub._tcp`, what
    /// `camview --discover` finds). Default: announced unless --bind is loopback only
    #[argh(switch)]
    pub no_announce: bool,

    /// log level: off, error, warn, info, debug or trace (or a filter: campub=debug); RUST_LOG,
    /// when set, wins. Under systemd each line carries its priority for the journal. Default: info
    #[argh(option, default = "String::from(\"info\")")]
    pub log_level: String,

    /// read options from this file first: one "name = value" per line with the long option
    /// names of this help (e.g. "size = 1280x720", "list-formats = true"), # comments;
    /// options given on the command line win. Default: none
    #[argh(option)]
    pub config: Option<PathBuf>,

    /// print the device's formats, frame sizes and frame rates, then exit
    #[argh(switch)]
    pub list_formats: bool,

    /// print the device's controls (name, type, range, step, default, current value, flags,
    /// menu entries), then exit
    #[argh(switch)]
    pub list_controls: bool,

    /// print the version and exit
    #[argh(switch)]
    pub version: bool,

    #[argh(subcommand)]
    pub command: Option<Command>,
}

/// What campub does instead of streaming.
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    Keygen(KeygenArgs),
    Passwd(PasswdArgs),
    TlsSelfsigned(TlsSelfsignedArgs),
}

#[derive(FromArgs, Debug)]
/// write a new self-signed certificate (CERT, mode 0644) and its private key (KEY, mode 0600)
/// for --http-cert and --http-key, valid for localhost and each --name; existing files are
/// never overwritten
#[argh(subcommand, name = "tls-selfsigned")]
pub struct TlsSelfsignedArgs {
    /// where the certificate goes, e.g. /etc/campub/http-cert.pem
    #[argh(positional)]
    pub cert: PathBuf,
    /// where the private key goes, e.g. /etc/campub/http-key.pem
    #[argh(positional)]
    pub key: PathBuf,
    /// a host name or IP address browsers will use for campub (repeat it), e.g. --name
    /// cam.local --name 192.168.1.20. Default: localhost only
    #[argh(option)]
    pub name: Vec<String>,
}

#[derive(FromArgs, Debug)]
/// add USER to the --http-users FILE, or change their password: the password is read from
/// standard input (one line); the file is created with mode 0600, other users are kept
#[argh(subcommand, name = "passwd")]
pub struct PasswdArgs {
    /// the users file, e.g. /etc/campub/http-users
    #[argh(positional)]
    pub file: PathBuf,
    /// the user name: 1-64 characters, no ':' or spaces
    #[argh(positional)]
    pub user: String,
}

#[derive(FromArgs, Debug)]
/// write a new CURVE key pair: STEM.key (the public key, mode 0644, for viewers and
/// allow-lists) and STEM.key_secret (the secret key, mode 0600, for --curve-secret-key);
/// existing files are never overwritten
#[argh(subcommand, name = "keygen")]
pub struct KeygenArgs {
    /// path and name of the pair without extension, e.g. /etc/campub/server
    #[argh(positional)]
    pub stem: PathBuf,
}

/// The command line with the options of a `--config` file merged in (file first, so an option
/// given on the command line wins), ready for argh.
pub fn merge_config_file(cli: &[String]) -> Result<Vec<String>, String> {
    let path = cli
        .windows(2)
        .find(|w| w[0] == "--config")
        .map(|w| w[1].clone());
    let Some(path) = path else {
        return Ok(cli.to_vec());
    };
    let text = std::fs::read_to_string(&path).map_err(|e| format!("--config {path}: {e}"))?;
    let mut merged = cli[..1.min(cli.len())].to_vec();
    for (number, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let (name, value) = line
            .split_once('=')
            .map(|(n, v)| (n.trim(), v.trim().trim_matches('"')))
            .ok_or_else(|| {
                format!(
                    "{path}:{}: expected \"name = value\", got {line:?}",
                    number + 1
                )
            })?;
        let flag = format!("--{name}");
        if name == "config" || !name.chars().all(|c| c.is_ascii_lowercase() || c == '-') {
            return Err(format!(
                "{path}:{}: {name:?} is not an option name",
                number + 1
            ));
        }
        if cli.contains(&flag) {
            continue;
        }
        match value {
            "true" => merged.push(flag),
            "false" => {}
            _ => merged.extend([flag, value.to_owned()]),
        }
    }
    merged.extend_from_slice(&cli[1.min(cli.len())..]);
    Ok(merged)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceKind {
    V4l2,
    Pattern,
    File(PathBuf),
    /// A command for `sh -c`.
    Exec(String),
    Rpicam,
}

/// The checked configuration the pipeline runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub source: SourceKind,
    /// Device, format, size and rate: what the camera is asked for (size and rate also drive
    /// the pattern and file sources).
    pub camera: CameraRequest,
    pub width_px: u32,
    pub quality: u8,
    pub bind: String,
    /// --connect: relays campub dials out to.
    pub connect: Vec<String>,
    /// --connect-server-key: the relays' public key (CURVE toward them).
    pub connect_server_key: Option<camkeys::PublicKey>,
    pub wire: WireMode,
    pub stream: StreamName,
    pub stats_interval: Duration,
    pub stall_timeout: Duration,
    /// Idle while nobody watches (not --no-idle).
    pub idle: bool,
    pub security: SecurityConfig,
    /// What an exec: command writes.
    pub exec_format: ExecFormat,
    /// Extra arguments for rpicam-vid.
    pub rpicam_args: Vec<String>,
    /// --rotate, --hflip and --vflip as one transform.
    pub orientation: Orientation,
    /// --http and its options; None: no HTTP server.
    pub http: Option<HttpConfig>,
    /// Announce the stream with mDNS/DNS-SD (off with --no-announce).
    pub announce: bool,
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("--size {s:?}: expected WIDTHxHEIGHT, e.g. 1280x720");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let (w, h): (u32, u32) = (
        w.trim().parse().map_err(|_| bad())?,
        h.trim().parse().map_err(|_| bad())?,
    );
    let sides = MIN_SIDE_PX..=camwire::MAX_PICTURE_SIDE_PX;
    if !sides.contains(&w) || !sides.contains(&h) {
        return Err(format!(
            "--size {s}: width and height must be {MIN_SIDE_PX}-{}",
            camwire::MAX_PICTURE_SIDE_PX
        ));
    }
    Ok((w, h))
}

/// A bad option or configuration: the message names the option and what it takes. campub
/// exits 2 on it (`camcli::exit::USAGE`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl Config {
    /// Checks every option once, at the top; nothing later re-reads `Args`.
    pub fn from_args(args: &Args) -> Result<Self, ConfigError> {
        Self::check(args).map_err(ConfigError)
    }

    fn check(args: &Args) -> Result<Self, String> {
        let source = match args.source.as_str() {
            "v4l2" | "camera" => SourceKind::V4l2,
            "pattern" => SourceKind::Pattern,
            "rpicam" => SourceKind::Rpicam,
            s => match (s.strip_prefix("file:"), s.strip_prefix("exec:")) {
                (Some(path), _) if !path.is_empty() => SourceKind::File(PathBuf::from(path)),
                (_, Some(command)) if !command.trim().is_empty() => {
                    SourceKind::Exec(command.to_owned())
                }
                _ => {
                    return Err(format!(
                        "--source {s:?}: expected v4l2, rpicam, exec:CMD, pattern or file:PATH"
                    ))
                }
            },
        };
        if !args.rpicam_arg.is_empty() && source != SourceKind::Rpicam {
            return Err("--rpicam-arg: only with --source rpicam".into());
        }
        if !args.control.is_empty() && source != SourceKind::V4l2 {
            return Err("--control: only with --source v4l2 (a V4L2 camera)".into());
        }
        let (width_px, height_px) = parse_size(&args.size)?;
        if !(1..=240).contains(&args.fps) {
            return Err(format!("--fps {}: must be 1-240", args.fps));
        }
        let sides = MIN_SIDE_PX..=camwire::MAX_PICTURE_SIDE_PX;
        if !sides.contains(&args.width) || !args.width.is_multiple_of(2) {
            return Err(format!(
                "--width {}: must be even and {MIN_SIDE_PX}-{}",
                args.width,
                camwire::MAX_PICTURE_SIDE_PX
            ));
        }
        if !(1..=100).contains(&args.quality) {
            return Err(format!("--quality {}: must be 1-100", args.quality));
        }
        let stream = StreamName::new(&args.stream)
            .map_err(|e| format!("--stream {:?}: {e}", args.stream))?;
        if !args.stats_interval.is_finite() || args.stats_interval < 0.0 {
            return Err(format!(
                "--stats-interval {}: must be 0 or more seconds",
                args.stats_interval
            ));
        }
        if args.stall_timeout_ms < 100 {
            return Err(format!(
                "--stall-timeout-ms {}: must be at least 100",
                args.stall_timeout_ms
            ));
        }
        check_bind_endpoint(&args.bind)?;
        let security = security_config(args)?;
        // As camview takes them (HOST:PORT means tcp://HOST:PORT), in the form libzmq takes.
        let connect = args
            .connect
            .iter()
            .map(|endpoint| {
                camwire::Endpoint::parse(endpoint, camwire::Direction::Connect)
                    .map(|e| e.to_string())
                    .map_err(|why| format!("--connect {endpoint:?}: {why}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let connect_server_key = match (&args.connect_server_key, &security.curve) {
            (None, _) => None,
            (Some(_), _) if args.connect.is_empty() => {
                return Err("--connect-server-key: only with --connect".into())
            }
            (Some(_), None) => {
                return Err(
                    "--connect-server-key needs --curve-secret-key: campub's own key, \
                            which the relay's --publishers-allow lists"
                        .into(),
                )
            }
            (Some(key), Some(_)) => Some(
                camkeys::load_public_arg(key).map_err(|e| format!("--connect-server-key: {e}"))?,
            ),
        };
        let http = http_config(args)?;
        Ok(Self {
            source,
            camera: CameraRequest {
                device: args.device.clone(),
                format: args.format,
                width_px,
                height_px,
                fps: args.fps,
                controls: args.control.clone(),
            },
            width_px: args.width,
            quality: args.quality,
            bind: args.bind.clone(),
            connect,
            connect_server_key,
            wire: args.wire,
            stream,
            stats_interval: Duration::from_secs_f64(args.stats_interval),
            stall_timeout: Duration::from_millis(args.stall_timeout_ms),
            idle: !args.no_idle,
            security,
            exec_format: args.exec_format,
            rpicam_args: args.rpicam_arg.clone(),
            orientation: Orientation::new(args.rotate, args.hflip, args.vflip),
            http,
            announce: !args.no_announce,
        })
    }
}

/// Refuses a --bind endpoint libzmq would misread or refuse only later: a TCP port must be `*`
/// or 0-65535 (libzmq binds "99999" as some other port).
fn check_bind_endpoint(endpoint: &str) -> Result<(), String> {
    camwire::Endpoint::parse(endpoint, camwire::Direction::Bind)
        .map(|_| ())
        .map_err(|why| format!("--bind {endpoint:?}: {why}"))
}

/// Checks --http and loads its users and tokens: a file that cannot be used is a configuration
/// error, and so is --http with no way in (authentication is on unless --http-open says not).
fn http_config(args: &Args) -> Result<Option<HttpConfig>, String> {
    let addr = args
        .http
        .as_deref()
        .map(|addr| {
            addr.parse().map_err(|_| {
                format!("--http {addr:?}: expected ADDR:PORT, e.g. 0.0.0.0:8080 or [::]:8080")
            })
        })
        .transpose()?;
    crate::http::config_from(&crate::http::HttpOptions {
        addr,
        open: args.http_open,
        users: args.http_users.as_deref(),
        tokens: args.http_token_file.as_deref(),
        cert: args.http_cert.as_deref(),
        key: args.http_key.as_deref(),
        max_clients: args.http_max_clients,
    })
}

/// Loads the CURVE key and the allow-list: a key that cannot be used is a configuration error.
fn security_config(args: &Args) -> Result<SecurityConfig, String> {
    let curve = args
        .curve_secret_key
        .as_deref()
        .map(camkeys::load_secret_file)
        .transpose()
        .map_err(|e| format!("--curve-secret-key: {e}"))?;
    let allow = match (&args.allow, &curve) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(
                "--allow needs --curve-secret-key: without encryption no key is checked".into(),
            )
        }
        (Some(path), Some(_)) => Some(AllowList::load(path).map_err(|e| format!("--allow: {e}"))?),
    };
    Ok(SecurityConfig { curve, allow })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let args = Args::from_args(&["campub"], args).map_err(|e| e.output)?;
        Config::from_args(&args).map_err(|e| e.0)
    }

    fn strings(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    /// The configuration from a config file holding `text` alone.
    fn config_from_file(name: &str, text: &str) -> Config {
        let path = std::env::temp_dir().join(format!("campub-{name}-{}.conf", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let merged =
            merge_config_file(&strings(&["campub", "--config", path.to_str().unwrap()])).unwrap();
        std::fs::remove_file(&path).unwrap();
        let args = Args::from_args(
            &["campub"],
            &merged[1..].iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .unwrap();
        Config::from_args(&args).unwrap()
    }

    #[test]
    fn connect_takes_endpoints_and_its_key_only_with_curve() {
        let config = config_from_file(
            "connect",
            "connect = tcp://relay.example:5556\nconnect = 10.0.0.2:5556\n",
        );
        assert_eq!(
            config.connect,
            ["tcp://relay.example:5556", "tcp://10.0.0.2:5556"]
        );
        assert!(config.connect_server_key.is_none());
        let key = format!(
            "z85:{}",
            camkeys::KeyPair::generate().unwrap().public.to_z85()
        );
        for (args, why) in [
            (vec!["--connect", "tcp://*:5556"], "--connect"),
            (vec!["--connect", "relay:0"], "--connect"),
            (
                vec!["--connect-server-key", key.as_str()],
                "only with --connect",
            ),
            (
                vec![
                    "--connect",
                    "tcp://r:5556",
                    "--connect-server-key",
                    key.as_str(),
                ],
                "needs --curve-secret-key",
            ),
        ] {
            let err = parse(&args).unwrap_err();
            assert!(err.contains(why), "{args:?}: {err}");
        }
    }

    #[test]
    fn announcing_is_on_by_default_and_off_with_no_announce_in_the_config_file() {
        assert!(config_from_file("announce-default", "stream = a\n").announce);
        assert!(!config_from_file("announce-off", "no-announce = true\n").announce);
        assert!(config_from_file("announce-false", "no-announce = false\n").announce);
    }

    #[test]
    fn config_file_options_merge_and_the_command_line_wins() {
        let path = std::env::temp_dir().join(format!("campub-conf-{}.conf", std::process::id()));
        std::fs::write(&path, "# camera\ndevice = /dev/video2\nsize = 640x480  # VGA\nfps = 15\nlist-formats = false\nstream = \"porch\"\n").unwrap();
        let cli = strings(&["campub", "--config", path.to_str().unwrap(), "--fps", "25"]);
        let merged = merge_config_file(&cli).unwrap();
        std::fs::remove_file(&path).unwrap();
        let args = Args::from_args(
            &["campub"],
            &merged[1..].iter().map(String::as_str).collect::<Vec<_>>(),
        )
        .unwrap();
        let config = Config::from_args(&args).unwrap();
        assert_eq!(config.camera.device, PathBuf::from("/dev/video2"));
        assert_eq!(
            (config.camera.width_px, config.camera.height_px),
            (640, 480)
        );
        assert_eq!(config.camera.fps, 25, "command line wins");
        assert_eq!(config.stream.as_str(), "porch");
        assert!(!args.list_formats);
    }

    #[test]
    fn config_file_errors_name_the_line() {
        let path = std::env::temp_dir().join(format!("campub-badconf-{}.conf", std::process::id()));
        std::fs::write(&path, "fps = 10\njust words\n").unwrap();
        let err = merge_config_file(&strings(&["campub", "--config", path.to_str().unwrap()]))
            .unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(err.contains(":2:"), "{err}");
        assert!(merge_config_file(&strings(&["campub", "--config", "/nonexistent.conf"])).is_err());
        assert_eq!(
            merge_config_file(&strings(&["campub", "--fps", "3"])).unwrap(),
            strings(&["campub", "--fps", "3"])
        );
    }

    #[test]
    fn defaults_match_the_tutorial() {
        let config = parse(&[]).unwrap();
        assert_eq!(config.source, SourceKind::V4l2);
        assert_eq!(config.bind, "tcp://*:5555");
        assert_eq!((config.width_px, config.quality), (640, 80));
        assert_eq!(
            (
                config.camera.width_px,
                config.camera.height_px,
                config.camera.fps
            ),
            (1280, 720, 30)
        );
        assert_eq!(config.wire, WireMode::Native);
    }

    #[test]
    fn sources_parse() {
        assert_eq!(
            parse(&["--source", "pattern"]).unwrap().source,
            SourceKind::Pattern
        );
        assert_eq!(
            parse(&["--source", "file:/tmp/a.mjpeg"]).unwrap().source,
            SourceKind::File("/tmp/a.mjpeg".into())
        );
    }

    #[test]
    fn child_sources_parse_with_their_options() {
        let config = parse(&[
            "--source",
            "exec:ffmpeg -i x -f mjpeg -",
            "--exec-format",
            "mjpeg",
        ])
        .unwrap();
        assert_eq!(
            config.source,
            SourceKind::Exec("ffmpeg -i x -f mjpeg -".into())
        );
        assert_eq!(config.exec_format, ExecFormat::Mjpeg);
        let config = parse(&[
            "--source",
            "rpicam",
            "--rpicam-arg",
            "--hflip",
            "--rpicam-arg",
            "--rotation=180",
        ])
        .unwrap();
        assert_eq!(config.source, SourceKind::Rpicam);
        assert_eq!(config.rpicam_args, ["--hflip", "--rotation=180"]);
    }

    #[test]
    fn rpicam_args_come_from_the_config_file_one_line_each() {
        let config = config_from_file(
            "rpicam",
            "source = rpicam\nrpicam-arg = --hflip\nrpicam-arg = --vflip\n",
        );
        assert_eq!(config.rpicam_args, ["--hflip", "--vflip"]);
    }

    #[test]
    fn rotation_and_flips_come_from_the_config_file_too() {
        let config = config_from_file("orient", "rotate = 90\nhflip = true\nvflip = false\n");
        assert_eq!(
            config.orientation,
            Orientation::new(Rotation::R90, true, false)
        );
        let why = parse(&["--rotate", "-90"]).unwrap_err().to_string();
        assert!(why.contains("0, 90, 180 or 270"), "{why}");
    }

    #[test]
    fn controls_come_from_the_command_line_or_the_config_file_one_line_each() {
        let config = parse(&[
            "--control",
            "Brightness=200",
            "--control",
            "horizontal_flip = on",
        ])
        .unwrap();
        let names = |config: &Config| -> Vec<String> {
            let controls = config.camera.controls.iter();
            controls.map(ToString::to_string).collect()
        };
        assert_eq!(names(&config), ["brightness=200", "horizontal_flip=on"]);

        let config = config_from_file(
            "controls",
            "control = brightness=200  # brighter\ncontrol = test_pattern=100% Black\n",
        );
        assert_eq!(
            names(&config),
            ["brightness=200", "test_pattern=100% Black"]
        );
    }

    #[test]
    fn bad_values_are_one_line_errors() {
        for (args, needle) in [
            (&["--size", "12x"][..], "--size"),
            (&["--size", "99999x10"], "16-8192"),
            (&["--quality", "0"], "--quality"),
            (&["--width", "641"], "--width"),
            (&["--fps", "0"], "--fps"),
            (&["--source", "rtsp://x"], "--source"),
            (&["--source", "file:"], "--source"),
            (&["--source", "exec:"], "--source"),
            (&["--source", "exec:x", "--exec-format", "h264"], "h264"),
            (&["--rpicam-arg", "--hflip"], "--rpicam-arg"),
            (&["--control", "brightness"], "NAME=VALUE"),
            (&["--control", "brightness="], "NAME=VALUE"),
            (&["--control", "=1"], "NAME=VALUE"),
            (
                &["--source", "pattern", "--control", "brightness=1"],
                "--control",
            ),
            (&["--stream", "no spaces"], "--stream"),
            (&["--format", "h264"], "h264"),
            (&["--wire", "json"], "json"),
            (&["--stats-interval", "-1"], "--stats-interval"),
            (&["--bind", "tcp://127.0.0.1:99999"], "--bind"),
            (&["--bind", "tcp://:5555"], "--bind"),
            (&["--bind", "tcp://127.0.0.1"], "--bind"),
            (&["--bind", "udp://127.0.0.1:5"], "--bind"),
            (&["--bind", ""], "--bind"),
            (&["--http", "127.0.0.1:8080"], "--http-open"),
            (&["--http", "8080", "--http-open"], "ADDR:PORT"),
            (&["--http", "localhost:8080", "--http-open"], "ADDR:PORT"),
            (&["--http-open"], "need --http"),
            (
                &[
                    "--http",
                    "127.0.0.1:0",
                    "--http-open",
                    "--http-max-clients",
                    "0",
                ],
                "--http-max-clients",
            ),
            (
                &[
                    "--http",
                    "127.0.0.1:0",
                    "--http-users",
                    "/nonexistent/users",
                ],
                "--http-users",
            ),
        ] {
            let err = parse(args).unwrap_err();
            assert!(err.contains(needle), "{args:?}: {err}");
            assert_eq!(err.trim().lines().count(), 1, "{args:?}: {err}");
        }
    }
}
