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
