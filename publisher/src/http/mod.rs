//! `--http`: MJPEG, snapshots, status and metrics for browsers, VLC, ffmpeg and Home Assistant,
//! on a thread of its own.
//!
//! hyper 1.x (HTTP/1.1 only) on a tokio current-thread runtime: hyper is the best-kept HTTP
//! implementation in Rust and has what a server facing a hostile network needs (a header read
//! timeout, header size and count limits); one thread with async tasks serves a stalled client
//! at the cost of a task and one shared frame, where a thread per client (tiny_http and the
//! like) would cost a thread each and has no header timeout. Each connection serves one request
//! (no keep-alive): the limits below then bound every connection's life.

pub mod auth;
pub mod feed;
#[doc(hidden)]
pub mod fuzzing;
mod page;
mod serve;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use feed::{Feed, PipelineTotals};

/// How long a client has to send its request headers (slowloris).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest life of a connection that is not a /stream: headers, response and all.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// A /stream client that has not taken a frame for this long while frames were waiting is
/// dropped (a stalled client otherwise holds its slot for ever).
pub const STREAM_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Request header bytes (hyper's smallest buffer) and count.
pub const MAX_HEADER_BYTES: usize = 8192;
pub const MAX_HEADERS: usize = 32;
/// Clients served at once unless --http-max-clients says otherwise.
pub const DEFAULT_MAX_CLIENTS: usize = 32;
/// Connections that have not sent their request yet, per client slot; past it the oldest such
/// connection is closed, so half-open connections never lock a real client out.
pub const WAITING_PER_CLIENT: usize = 8;

/// Who may watch.
#[derive(Clone, Debug)]
pub enum Access {
    /// --http-open: anyone who can reach the port.
    Open,
    Credentials(auth::Credentials),
}

/// The checked --http options.
#[derive(Clone, Debug)]
pub struct HttpConfig {
    pub addr: SocketAddr,
    pub access: Access,
    pub max_clients: usize,
    /// --http-cert and --http-key: HTTPS.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// What /status says about the source, fixed at start.
#[derive(Clone, Debug)]
pub struct SourceInfo {
    pub description: String,
    pub stream: String,
    pub quality: u8,
}

/// The --http options as given (campub and camrelay take the same ones); `addr` parsed by the
/// caller, which names its own option.
#[derive(Debug, Default)]
pub struct HttpOptions<'a> {
    pub addr: Option<SocketAddr>,
    pub open: bool,
    pub users: Option<&'a std::path::Path>,
    pub tokens: Option<&'a std::path::Path>,
    pub cert: Option<&'a std::path::Path>,
    pub key: Option<&'a std::path::Path>,
    pub max_clients: usize,
}

/// Checks the HTTP options and loads the users, tokens and TLS files: None without an address.
/// A file that cannot be used is a configuration error.
pub fn config_from(options: &HttpOptions<'_>) -> Result<Option<HttpConfig>, String> {
    let Some(addr) = options.addr else {
        if options.open
            || options.users.is_some()
            || options.tokens.is_some()
            || options.cert.is_some()
            || options.key.is_some()
        {
            return Err(
                "--http-open, --http-users, --http-token-file, --http-cert and --http-key need \
                 --http"
                    .into(),
            );
        }
        return Ok(None);
    };
    if options.max_clients == 0 || options.max_clients > 10_000 {
        return Err(format!(
            "--http-max-clients {}: must be 1-10000",
            options.max_clients
        ));
    }
    let access =
        match (options.open, options.users, options.tokens) {
            (true, None, None) => Access::Open,
            (true, _, _) => return Err(
                "--http-open turns authentication off: not with --http-users or --http-token-file"
                    .into(),
            ),
            (false, None, None) => {
                return Err(format!(
                    "--http {addr}: needs --http-users FILE (campub passwd writes it) and/or \
                 --http-token-file FILE, or --http-open to let anyone watch"
                ))
            }
            (false, users, tokens) => {
                let mut credentials = auth::Credentials::default();
                if let Some(path) = users {
                    credentials
                        .load_users(path)
                        .map_err(|e| format!("--http-users {e}"))?;
                }
                if let Some(path) = tokens {
                    credentials
                        .load_tokens(path)
                        .map_err(|e| format!("--http-token-file {e}"))?;
                }
                Access::Credentials(credentials)
            }
        };
    let tls = match (options.cert, options.key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(tls::server_config(cert, key)?),
        _ => return Err("--http-cert and --http-key go together".into()),
    };
    Ok(Some(HttpConfig {
        addr,
        access,
        max_clients: options.max_clients,
        tls,
    }))
}

/// Says at start where HTTP is served and who can watch (loudly when anyone can, or when
/// passwords cross the network in the clear).
pub fn log_start(config: &HttpConfig, addr: SocketAddr) {
    let scheme = if config.tls.is_some() {
        "https"
    } else {
        "http"
    };
    log::info!(
        "HTTP on {scheme}://{addr}/ (/stream, /snapshot.jpg, /status, /metrics; at most {} \
         clients)",
        config.max_clients
    );
    match (&config.access, config.tls.is_some()) {
        (Access::Open, _) => {
            log::warn!("--http-open: no authentication, anyone who can reach {addr} can watch")
        }
        (Access::Credentials(_), true) => {}
        (Access::Credentials(credentials), false) => log::warn!(
            "HTTP without TLS: {} and the picture cross the network IN THE CLEAR, readable by \
             anyone on the way; add --http-cert and --http-key (campub tls-selfsigned makes a \
             pair) or use it only on a network you trust",
            if credentials.has_users() {
                "passwords (HTTP Basic)"
            } else {
                "bearer tokens"
            }
        ),
    }
}

/// Why the HTTP server could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("--http {addr}: cannot listen: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot start the HTTP thread: {0}")]
    Thread(std::io::Error),
}

/// The running server; dropping it stops the thread.
pub struct HttpServer {
    addr: SocketAddr,
    _worker: camthreads::Worker,
}

impl HttpServer {
    /// Binds now (so a taken port is an error at start) and serves on a thread named `http`.
    pub fn start(
        config: &HttpConfig,
        feed: Arc<Feed>,
        source: SourceInfo,
    ) -> Result<Self, HttpError> {
        let bind_error = |source| HttpError::Bind {
            addr: config.addr,
            source,
        };
        let listener = std::net::TcpListener::bind(config.addr).map_err(bind_error)?;
        listener.set_nonblocking(true).map_err(bind_error)?;
        let addr = listener.local_addr().map_err(bind_error)?;
        let state = serve::State::new(config, feed, source);
        let worker = camthreads::Worker::spawn("http", move |stop| {
            serve::run(listener, state, stop);
        })
        .map_err(HttpError::Thread)?;
        Ok(Self {
            addr,
            _worker: worker,
        })
    }

    /// The address actually bound (port 0 filled in).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}
