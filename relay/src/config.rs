//! camrelay's options, checked once at the top.

use std::path::PathBuf;
use std::time::Duration;

use argh::FromArgs;
use campub::http::HttpConfig;
use campub::security::{AllowList, SecurityConfig};
use camwire::StreamName;

/// Relays campub streams: takes them from many publishers (connecting to them with --from, or
/// accepting publishers that dial in with --listen, as `campub --connect` does) and republishes
/// each to any number of viewers, with campub's guarantees one hop further: newest frame per
/// viewer connection, little unsent data per connection, heartbeats, CURVE with allow-lists.
/// The messages pass through unchanged. Viewers (camview) subscribe to each stream on a
/// connection of its own, which keeps the newest frame per (viewer, stream); the streams are
/// listed in a directory message (docs/PROTOCOL.md). See docs/SCALING.md.
///
/// Exit codes: 0 stopped by SIGINT/SIGTERM, 1 runtime error, 2 bad option.
#[derive(FromArgs, Debug)]
pub struct Args {
    /// the ZeroMQ endpoint viewers connect to. Default: tcp://*:5555
    #[argh(option, default = "String::from(\"tcp://*:5555\")")]
    pub bind: String,

    /// a publisher to take streams from, e.g. tcp://pi.local:5555 (campub's --bind);
    /// repeatable; reconnects by itself whenever it goes away
    #[argh(option)]
    pub from: Vec<String>,

    /// the public key (file, or z85:KEY) of a --from publisher, in the same order as --from
    /// (one key for all when given once); needs --curve-secret-key. Default: not encrypted
    #[argh(option)]
    pub from_server_key: Vec<String>,

    /// accept publishers that dial in (campub --connect) on this endpoint, e.g. tcp://*:5556.
    /// Default: none
    #[argh(option)]
    pub listen: Option<String>,

    /// the relay's own secret key file (campub keygen writes one): CURVE server toward viewers
    /// and --listen publishers, CURVE client toward --from publishers. Default: not encrypted
    #[argh(option)]
    pub curve_secret_key: Option<PathBuf>,

    /// with --curve-secret-key: admit only the viewers whose public keys are in this file or
    /// directory. Default: any viewer that has the relay's public key
    #[argh(option)]
    pub allow: Option<PathBuf>,

    /// with --curve-secret-key and --listen: admit only the publishers whose public keys are in
    /// this file or directory. Default: any publisher that has the relay's public key
    #[argh(option)]
    pub publishers_allow: Option<PathBuf>,

    /// serve one stream over HTTP as campub's --http does (/, /stream, /snapshot.jpg, /status,
    /// /metrics), e.g. garden@0.0.0.0:8080; repeatable, one address each; needs --http-users
    /// and/or --http-token-file, or --http-open. Default: none
    #[argh(option)]
    pub http_stream: Vec<String>,

    /// with --http-stream: a users file (`campub passwd FILE USER` writes it); HTTP Basic
    #[argh(option)]
    pub http_users: Option<PathBuf>,

    /// with --http-stream: a file of bearer tokens, one per line (mode 0600)
    #[argh(option)]
    pub http_token_file: Option<PathBuf>,

    /// with --http-stream: no authentication at all (logged as a warning at start)
    #[argh(switch)]
    pub http_open: bool,

    /// with --http-stream: serve HTTPS with this PEM certificate and --http-key
    #[argh(option)]
    pub http_cert: Option<PathBuf>,

    /// with --http-cert: its PEM private key (mode 0600)
    #[argh(option)]
    pub http_key: Option<PathBuf>,

    /// with --http-stream: clients served at once per stream; the others get 503. Default: 32
    #[argh(option, default = "campub::http::DEFAULT_MAX_CLIENTS")]
    pub http_max_clients: usize,

    /// seconds a stream may send nothing before the directory stops listing it. Default: 10
    #[argh(option, default = "10.0")]
    pub stream_timeout: f64,

    /// keep taking and forwarding streams while no viewer is connected. Default: off: with no
    /// viewer the relay unsubscribes from its publishers (nothing crosses their links) and
    /// subscribes again when the first viewer connects
    #[argh(switch)]
    pub no_idle: bool,

    /// seconds between stats lines in the log; 0 turns them off. Default: 10
    #[argh(option, default = "10.0")]
    pub stats_interval: f64,

    /// log level: off, error, warn, info, debug, trace. Default: info
    #[argh(option, default = "String::from(\"info\")")]
    pub log_level: String,

    /// read options from this file first: one "name = value" per line with the long option
    /// names (systemd/camrelay.conf); options on the command line win
    #[argh(option)]
    pub config: Option<PathBuf>,

    /// print the version and exit
    #[argh(switch)]
    pub version: bool,
}

/// A publisher the relay dials.
#[derive(Debug, Clone)]
pub struct From {
    pub endpoint: String,
    /// Its public key: the relay is a CURVE client of it.
    pub server_key: Option<camkeys::PublicKey>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub bind: String,
    pub from: Vec<From>,
    pub listen: Option<String>,
    /// The relay's key pair and the viewers' allow-list.
    pub viewers: SecurityConfig,
    /// The publishers' allow-list (--listen).
    pub publishers_allow: Option<AllowList>,
    pub stream_timeout: Duration,
    pub idle: bool,
    pub stats_interval: Duration,
    /// --http-stream: the streams served over HTTP, each with its server's configuration.
    pub http: Vec<(StreamName, HttpConfig)>,
}

impl Config {
    pub fn from_args(args: &Args) -> Result<Self, String> {
        if args.from.is_empty() && args.listen.is_none() {
            return Err(
                "no publisher: give --from ENDPOINT (repeatable) and/or --listen ENDPOINT".into(),
            );
        }
        camwire::Endpoint::parse(&args.bind, camwire::Direction::Bind)
            .map_err(|why| format!("--bind {:?}: {why}", args.bind))?;
        if let Some(listen) = &args.listen {
            camwire::Endpoint::parse(listen, camwire::Direction::Bind)
                .map_err(|why| format!("--listen {listen:?}: {why}"))?;
        }
        let curve = args
            .curve_secret_key
            .as_deref()
            .map(camkeys::load_secret_file)
            .transpose()
            .map_err(|e| format!("--curve-secret-key: {e}"))?;
        let load_allow = |option: &str, path: &Option<PathBuf>| -> Result<_, String> {
            match (path, &curve) {
                (None, _) => Ok(None),
                (Some(_), None) => Err(format!(
                    "{option} needs --curve-secret-key: without encryption no key is checked"
                )),
                (Some(path), Some(_)) => AllowList::load(path)
                    .map(Some)
                    .map_err(|e| format!("{option}: {e}")),
            }
        };
        let allow = load_allow("--allow", &args.allow)?;
        let publishers_allow = load_allow("--publishers-allow", &args.publishers_allow)?;
        if publishers_allow.is_some() && args.listen.is_none() {
            return Err("--publishers-allow: only with --listen".into());
        }
        let keys = args
            .from_server_key
            .iter()
            .map(|k| camkeys::load_public_arg(k).map_err(|e| format!("--from-server-key: {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        if !keys.is_empty() && curve.is_none() {
            return Err("--from-server-key needs --curve-secret-key: the relay's own key".into());
        }
        if keys.len() > 1 && keys.len() != args.from.len() {
            return Err(format!(
                "--from-server-key given {} times for {} --from: give one for all or one each",
                keys.len(),
                args.from.len()
            ));
        }
        let mut from = Vec::new();
        for (i, endpoint) in args.from.iter().enumerate() {
            // HOST:PORT means tcp://HOST:PORT, as for camview.
            let endpoint = camwire::Endpoint::parse(endpoint, camwire::Direction::Connect)
                .map_err(|why| format!("--from {endpoint:?}: {why}"))?
                .to_string();
            from.push(From {
                endpoint,
                server_key: keys.get(if keys.len() == 1 { 0 } else { i }).copied(),
            });
        }
        let seconds = |option: &str, value: f64, min: f64| {
            if value.is_finite() && value >= min {
                Ok(Duration::from_secs_f64(value))
            } else {
                Err(format!("{option} {value}: must be at least {min} seconds"))
            }
        };
        let http = http_streams(args)?;
        Ok(Self {
            http,
            bind: args.bind.clone(),
            from,
            listen: args.listen.clone(),
            viewers: SecurityConfig { curve, allow },
            publishers_allow,
            stream_timeout: seconds("--stream-timeout", args.stream_timeout, 1.0)?,
            idle: !args.no_idle,
            stats_interval: seconds("--stats-interval", args.stats_interval, 0.0)?,
        })
    }
}

/// --http-stream NAME@ADDR:PORT, each with the shared HTTP options.
fn http_streams(args: &Args) -> Result<Vec<(StreamName, HttpConfig)>, String> {
    let options = |addr| campub::http::HttpOptions {
        addr,
        open: args.http_open,
        users: args.http_users.as_deref(),
        tokens: args.http_token_file.as_deref(),
        cert: args.http_cert.as_deref(),
        key: args.http_key.as_deref(),
        max_clients: args.http_max_clients,
    };
    if args.http_stream.is_empty() {
        if args.http_open
            || args.http_users.is_some()
            || args.http_token_file.is_some()
            || args.http_cert.is_some()
            || args.http_key.is_some()
        {
            return Err(
                "--http-open, --http-users, --http-token-file, --http-cert and \
                        --http-key need --http-stream"
                    .into(),
            );
        }
        return Ok(Vec::new());
    }
    let mut streams: Vec<(StreamName, HttpConfig)> = Vec::new();
    for text in &args.http_stream {
        let bad = |why: &str| format!("--http-stream {text:?}: {why}");
        let (name, addr) = text
            .split_once('@')
            .ok_or_else(|| bad("expected STREAM@ADDR:PORT, e.g. garden@0.0.0.0:8080"))?;
        let name = StreamName::new(name).map_err(|e| bad(&e.to_string()))?;
        let addr = addr
            .parse()
            .map_err(|_| bad("expected ADDR:PORT after @, e.g. 0.0.0.0:8080 or [::]:8080"))?;
        if streams.iter().any(|(n, c)| *n == name || c.addr == addr) {
            return Err(bad("each stream once, each address once"));
        }
        let config =
            campub::http::config_from(&options(Some(addr)))?.ok_or_else(|| bad("no address"))?;
        streams.push((name, config));
    }
    Ok(streams)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Config, String> {
        let args = Args::from_args(&["camrelay"], args).map_err(|e| e.output)?;
        Config::from_args(&args)
    }

    #[test]
    fn publishers_come_from_from_or_listen() {
        let config = parse(&["--from", "pi.local:5555", "--from", "tcp://10.0.0.3:7"]).unwrap();
        let endpoints: Vec<&str> = config.from.iter().map(|f| f.endpoint.as_str()).collect();
        assert_eq!(endpoints, ["tcp://pi.local:5555", "tcp://10.0.0.3:7"]);
        assert!(config.idle && config.listen.is_none());
        assert_eq!(config.bind, "tcp://*:5555");
        let config = parse(&[
            "--listen",
            "tcp://*:5556",
            "--no-idle",
            "--http-open",
            "--http-stream",
            "door@127.0.0.1:8080",
        ])
        .unwrap();
        assert_eq!(config.http.len(), 1);
        assert_eq!(config.http[0].0.as_str(), "door");
        assert_eq!(config.http[0].1.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(config.listen.as_deref(), Some("tcp://*:5556"));
        assert!(!config.idle);
    }

    #[test]
    fn bad_options_say_what_is_wrong() {
        let key = format!(
            "z85:{}",
            camkeys::KeyPair::generate().unwrap().public.to_z85()
        );
        for (args, why) in [
            (vec![], "no publisher"),
            (vec!["--from", "tcp://*:5555"], "--from"),
            (vec!["--listen", "pi:5556"], "--listen"),
            (vec!["--from", "a:1", "--bind", "nowhere"], "--bind"),
            (
                vec!["--from", "a:1", "--allow", "/tmp"],
                "needs --curve-secret-key",
            ),
            (
                vec!["--from", "a:1", "--from-server-key", key.as_str()],
                "needs --curve-secret-key",
            ),
            (
                vec!["--from", "a:1", "--stream-timeout", "0.1"],
                "--stream-timeout",
            ),
            (vec!["--from", "a:1", "--http-open"], "need --http-stream"),
            (
                vec![
                    "--from",
                    "a:1",
                    "--http-stream",
                    "garden:8080",
                    "--http-open",
                ],
                "STREAM@ADDR:PORT",
            ),
            (
                vec![
                    "--from",
                    "a:1",
                    "--http-stream",
                    "garden@8080",
                    "--http-open",
                ],
                "ADDR:PORT",
            ),
            (
                vec!["--from", "a:1", "--http-stream", "garden@127.0.0.1:8080"],
                "--http-open",
            ),
            (
                vec![
                    "--from",
                    "a:1",
                    "--http-open",
                    "--http-stream",
                    "g@127.0.0.1:8080",
                    "--http-stream",
                    "g@127.0.0.1:8081",
                ],
                "each stream once",
            ),
        ] {
            let err = parse(&args).unwrap_err();
            assert!(err.contains(why), "{args:?}: {err}");
        }
    }
}
