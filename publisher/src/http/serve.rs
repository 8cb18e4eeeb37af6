//! The HTTP server's loop: accept, the limits on connections, one request per connection,
//! authentication, and the endpoints.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::IpAddr;
use std::os::fd::AsRawFd as _;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::sync::{watch, Notify, Semaphore};

use super::auth::{self, Gate, Presented, Verdict};
use super::feed::{Feed, HttpFrame};
use super::{
    page, Access, HttpConfig, SourceInfo, HEADER_TIMEOUT, MAX_HEADERS, MAX_HEADER_BYTES,
    REQUEST_TIMEOUT, STREAM_STALL_TIMEOUT, WAITING_PER_CLIENT,
};

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// The multipart boundary of /stream.
pub const BOUNDARY: &str = "campubframe";
/// /snapshot.jpg serves the newest frame when it is at most this old...
const SNAPSHOT_MAX_AGE: Duration = Duration::from_secs(1);
/// ...and otherwise waits this long for a fresh one (503 after).
const SNAPSHOT_WAIT: Duration = Duration::from_secs(2);

/// What every connection shares.
pub struct State {
    feed: Arc<Feed>,
    source: SourceInfo,
    gate: Option<Gate>,
    /// Basic is offered in 401s only when there are users.
    basic: bool,
    max_clients: usize,
    /// Connections whose request is being served (a /stream until it ends).
    clients: AtomicUsize,
    streams: AtomicUsize,
    /// Connections that have not sent a request yet, oldest first, to be closed when too many.
    waiting: Mutex<VecDeque<(u64, Arc<Notify>)>>,
    next_id: AtomicU64,
    started: Instant,
    /// One Argon2 verification at a time: a flood of logins takes one core, not all.
    verifying: Semaphore,
    tls: Option<tokio_rustls::TlsAcceptor>,
    plain_on_tls: PlainOnTls,
}

impl State {
    pub fn new(config: &HttpConfig, feed: Arc<Feed>, source: SourceInfo) -> Self {
        let (gate, basic) = match &config.access {
            Access::Open => (None, false),
            Access::Credentials(credentials) => (
                Some(Gate::new(credentials.clone())),
                credentials.has_users(),
            ),
        };
        Self {
            feed,
            source,
            gate,
            basic,
            max_clients: config.max_clients,
            clients: AtomicUsize::new(0),
            streams: AtomicUsize::new(0),
            waiting: Mutex::new(VecDeque::new()),
            next_id: AtomicU64::new(0),
            started: Instant::now(),
            verifying: Semaphore::new(1),
            tls: config.tls.clone().map(tokio_rustls::TlsAcceptor::from),
            plain_on_tls: PlainOnTls::default(),
        }
    }

    /// A new connection waits for its request; the oldest waiting one is closed past the bound.
    pub(super) fn wait(&self, id: u64, evict: Arc<Notify>) {
        let Ok(mut waiting) = self.waiting.lock() else {
            return;
        };
        if waiting.len() >= self.max_clients.saturating_mul(WAITING_PER_CLIENT) {
            if let Some((_, oldest)) = waiting.pop_front() {
                oldest.notify_one();
            }
        }
        waiting.push_back((id, evict));
    }

    /// Client slots taken, /stream clients, connections waiting for their request: all back
    /// to 0 once every connection has ended (the fuzz entry point checks it).
    pub(super) fn in_use(&self) -> (usize, usize, usize) {
        let waiting = self
            .waiting
            .lock()
            .map_or(usize::MAX, |waiting| waiting.len());
        (
            self.clients.load(Ordering::Relaxed),
            self.streams.load(Ordering::Relaxed),
            waiting,
        )
    }

    fn stop_waiting(&self, id: u64) {
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.retain(|(waiting_id, _)| *waiting_id != id);
        }
    }

    /// The connection sent a request: a client slot, if one is free.
    fn admit(&self, id: u64) -> bool {
        self.stop_waiting(id);
        let before = self.clients.fetch_add(1, Ordering::Relaxed);
        if before >= self.max_clients {
            self.clients.fetch_sub(1, Ordering::Relaxed);
            return false;
        }
        true
    }
}

/// One connection's state, shared by its task and its response.
#[derive(Default)]
struct Conn {
    client: AtomicBool,
    streaming: AtomicBool,
    /// While streaming: waiting for a new frame (a stall is the client's only when not).
    waiting_for_frame: AtomicBool,
    /// Milliseconds since `started` when the stream last handed hyper a frame.
    frame_taken_ms: AtomicU64,
    started: Option<Instant>,
}

impl Conn {
    fn now_ms(&self) -> u64 {
        self.started.map_or(0, |s| {
            u64::try_from(s.elapsed().as_millis()).unwrap_or(u64::MAX)
        })
    }

    fn frame_taken(&self) {
        self.frame_taken_ms.store(self.now_ms(), Ordering::Relaxed);
    }

    /// Frames were waiting and the client has taken none for [`STREAM_STALL_TIMEOUT`].
    fn stalled(&self) -> bool {
        let idle_ms = self
            .now_ms()
            .saturating_sub(self.frame_taken_ms.load(Ordering::Relaxed));
        !self.waiting_for_frame.load(Ordering::Relaxed)
            && u128::from(idle_ms) > STREAM_STALL_TIMEOUT.as_millis()
    }
}

/// Serves until `stop` is set.
pub fn run(listener: std::net::TcpListener, state: State, stop: &AtomicBool) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            log::error!("HTTP: cannot start the server's runtime: {e}");
            return;
        }
    };
    let state = Arc::new(state);
    runtime.block_on(async {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(e) => {
                log::error!("HTTP: cannot use the listening socket: {e}");
                return;
            }
        };
        tokio::select! {
            () = accept_loop(listener, state) => {}
            () = stopped(stop) => {}
        }
    });
}

async fn stopped(stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn accept_loop(listener: tokio::net::TcpListener, state: Arc<State>) {
    let mut failures: u64 = 0;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors, mostly: give connections time to close.
                failures += 1;
                if failures <= 5 || failures.is_power_of_two() {
                    log::warn!("HTTP: cannot accept a connection ({failures} so far): {e}");
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // As for ZeroMQ subscribers (listener.rs): the kernel holds at most this much unsent
        // data per client, so a slow client's frames wait in campub as one newest frame.
        if let Err(e) = crate::listener::set_tcp_notsent_lowat(
            stream.as_raw_fd(),
            crate::listener::NOTSENT_LOWAT_BYTES,
        ) {
            log::debug!("HTTP {peer}: cannot set TCP_NOTSENT_LOWAT: {e}");
        }
        let id = state.next_id.fetch_add(1, Ordering::Relaxed);
        let evict = Arc::new(Notify::new());
        state.wait(id, Arc::clone(&evict));
        tokio::spawn(connection(stream, peer.ip(), Arc::clone(&state), id, evict));
    }
}

/// One connection: the TLS handshake first when there is TLS (within the header timeout, and
/// closed like any connection that has not sent its request when too many wait), then HTTP.
async fn connection(
    stream: tokio::net::TcpStream,
    peer: IpAddr,
    state: Arc<State>,
    id: u64,
    evict: Arc<Notify>,
) {
    let Some(acceptor) = state.tls.clone() else {
        serve(stream, peer, state, id, evict).await;
        return;
    };
    // One deadline for the first byte and the handshake (docs/HTTP.md's limits).
    let deadline = tokio::time::Instant::now() + HEADER_TIMEOUT;
    let first_byte = tokio::select! {
        peeked = tokio::time::timeout_at(deadline, first_byte(&stream)) => peeked.ok().flatten(),
        () = evict.notified() => None,
    };
    match first_byte {
        Some(TLS_HANDSHAKE_RECORD) => {}
        Some(_) => {
            state.plain_on_tls.seen(peer, Instant::now());
            // Still among the waiting connections: closed like them when too many arrive.
            tokio::select! {
                () = answer_plain_on_tls(stream) => {}
                () = evict.notified() => {}
            }
            state.stop_waiting(id);
            return;
        }
        None => {
            state.stop_waiting(id);
            return;
        }
    }
    let handshake = tokio::time::timeout_at(deadline, acceptor.accept(stream));
    let tls = tokio::select! {
        result = handshake => match result {
            Ok(Ok(tls)) => Some(tls),
            Ok(Err(e)) => {
                log::debug!("HTTP {peer}: TLS handshake failed: {e}");
                None
            }
            Err(_) => {
                log::debug!("HTTP {peer}: no TLS handshake within {} s", HEADER_TIMEOUT.as_secs());
                None
            }
        },
        () = evict.notified() => None,
    };
    match tls {
        Some(tls) => serve(tls, peer, state, id, evict).await,
        None => state.stop_waiting(id),
    }
}

/// The first byte of every TLS connection: the content type of a handshake record (RFC 8446
/// section 5.1). Plain HTTP starts with a method's letter.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// The first byte the client sent, left in the socket for the TLS handshake; None at EOF.
async fn first_byte(stream: &tokio::net::TcpStream) -> Option<u8> {
    let mut byte = [0_u8; 1];
    match stream.peek(&mut byte).await {
        Ok(1) => Some(byte[0]),
        _ => None,
    }
}

/// Plain HTTP on the TLS port: a short 400 that names the right scheme, then close. The request
/// is read (up to the header limit, briefly) before closing, so that the kernel does not answer
/// unread bytes with a reset that would destroy the 400 before the client reads it.
async fn answer_plain_on_tls(mut stream: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let host = stream
        .local_addr()
        .map_or_else(|_| "HOST:PORT".to_owned(), |addr| addr.to_string());
    let body = format!("This port speaks HTTPS: use https://{host}/\n");
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut request = vec![0_u8; MAX_HEADER_BYTES];
    let _ = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut request)).await;
    let _ = tokio::time::timeout(HEADER_TIMEOUT, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        // Until the client closes: its unread bytes would turn our close into a reset.
        let mut drained = 0_usize;
        while drained < MAX_HEADER_BYTES {
            match stream.read(&mut request).await? {
                0 => break,
                n => drained += n,
            }
        }
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// Plain-HTTP requests to the TLS port, logged once per burst like failed logins.
#[derive(Default)]
struct PlainOnTls {
    /// When the current burst's first request came, and how many since.
    burst: Mutex<Option<(Instant, u64)>>,
}

/// A burst of plain requests ends this long after its first one.
const PLAIN_ON_TLS_BURST: Duration = Duration::from_secs(60);

impl PlainOnTls {
    fn seen(&self, peer: IpAddr, now: Instant) {
        let Ok(mut burst) = self.burst.lock() else {
            return;
        };
        match burst.as_mut() {
            Some((since, count)) if now.duration_since(*since) <= PLAIN_ON_TLS_BURST => {
                *count += 1;
            }
            _ => {
                if let Some((_, count)) = *burst {
                    if count > 1 {
                        log::info!(
                            "HTTP: {count} plain-HTTP requests to the HTTPS port in the last burst"
                        );
                    }
                }
                log::warn!(
                    "HTTP: plain HTTP from {peer} on the HTTPS port: answered 400 \"use https://\" \
                     (logged once per {} s)",
                    PLAIN_ON_TLS_BURST.as_secs()
                );
                *burst = Some((now, 1));
            }
        }
    }
}

/// One request, within the limits of the module doc.
pub(super) async fn serve<I>(
    stream: I,
    peer: IpAddr,
    state: Arc<State>,
    id: u64,
    evict: Arc<Notify>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let conn = Arc::new(Conn {
        started: Some(Instant::now()),
        ..Conn::default()
    });
    let service = {
        let state = Arc::clone(&state);
        let conn = Arc::clone(&conn);
        hyper::service::service_fn(move |request| {
            let state = Arc::clone(&state);
            let conn = Arc::clone(&conn);
            async move { Ok::<_, Infallible>(handle(request, peer, &state, &conn, id).await) }
        })
    };
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES)
        .max_headers(MAX_HEADERS)
        .keep_alive(false)
        .half_close(true);
    let served = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(served);
    let deadline = tokio::time::sleep(REQUEST_TIMEOUT);
    tokio::pin!(deadline);
    let mut check = tokio::time::interval(Duration::from_secs(1));
    let mut deadline_passed = false;
    // The flags change while a branch waits: each branch looks at them when it fires.
    loop {
        tokio::select! {
            result = served.as_mut() => {
                if let Err(e) = result {
                    log::debug!("HTTP {peer}: {e}");
                }
                break;
            }
            () = evict.notified() => {
                if !conn.client.load(Ordering::Relaxed) {
                    log::debug!("HTTP {peer}: closed before its request: too many connections waiting");
                    break;
                }
            }
            () = &mut deadline, if !deadline_passed => {
                deadline_passed = true;
                if !conn.streaming.load(Ordering::Relaxed) {
                    log::debug!("HTTP {peer}: closed after {} s", REQUEST_TIMEOUT.as_secs());
                    break;
                }
            }
            _ = check.tick() => {
                if conn.streaming.load(Ordering::Relaxed) && conn.stalled() {
                    log::info!(
                        "HTTP {peer}: /stream client took no frame for {} s: closed",
                        STREAM_STALL_TIMEOUT.as_secs()
                    );
                    break;
                }
            }
        }
    }
    state.stop_waiting(id);
    if conn.client.load(Ordering::Relaxed) {
        state.clients.fetch_sub(1, Ordering::Relaxed);
    }
    if conn.streaming.load(Ordering::Relaxed) {
        state.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn handle(
    request: Request<Incoming>,
    peer: IpAddr,
    state: &State,
    conn: &Arc<Conn>,
    id: u64,
) -> Response<Body> {
    if !state.admit(id) {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many clients: try again later\n",
        );
    }
    conn.client.store(true, Ordering::Relaxed);
    if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    if let Some(gate) = &state.gate {
        match authorize(
            state,
            gate,
            peer,
            request.headers().get(header::AUTHORIZATION),
        )
        .await
        {
            Verdict::Allowed => {}
            Verdict::Denied => {
                let mut response = text(StatusCode::UNAUTHORIZED, "credentials needed\n");
                let challenge = if state.basic {
                    "Basic realm=\"campub\", charset=\"UTF-8\""
                } else {
                    "Bearer realm=\"campub\""
                };
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
                return response;
            }
            Verdict::Limited(retry_after_s) => {
                let mut response = text(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too many failed logins from your address: try again later\n",
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
                return response;
            }
        }
    }
    let head = request.method() == Method::HEAD;
    match request.uri().path() {
        "/" | "/index.html" => with_type(
            Full::new(Bytes::from_static(page::INDEX.as_bytes())).boxed_unsync(),
            "text/html; charset=utf-8",
        ),
        "/stream" => stream(state, conn, head),
        "/snapshot.jpg" => snapshot(state).await,
        "/status" => with_type(
            Full::new(Bytes::from(status_json(state).to_string())).boxed_unsync(),
            "application/json",
        ),
        "/metrics" => match super::page::metrics(&state.feed.figures(), &live(state)) {
            Ok(body) => with_type(
                Full::new(Bytes::from(body)).boxed_unsync(),
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
            Err(e) => text(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("cannot encode the metrics: {e}\n"),
            ),
        },
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

async fn authorize(
    state: &State,
    gate: &Gate,
    peer: IpAddr,
    header: Option<&HeaderValue>,
) -> Verdict {
    let now = Instant::now();
    if let Some(retry_after_s) = gate.blocked(peer, now) {
        return Verdict::Limited(retry_after_s);
    }
    match gate.presented(header.map(HeaderValue::as_bytes), now) {
        Presented::Good => Verdict::Allowed,
        // A browser's first request carries none: not a failure.
        Presented::Missing => Verdict::Denied,
        Presented::Bad => {
            gate.failed(peer, now);
            Verdict::Denied
        }
        Presented::Verify {
            cache_key,
            password,
            phc,
        } => {
            let Ok(_one_at_a_time) = state.verifying.acquire().await else {
                return Verdict::Denied;
            };
            let good = tokio::task::spawn_blocking(move || auth::verify(&password, &phc))
                .await
                .unwrap_or(false);
            if good {
                gate.remember(cache_key, Instant::now());
                Verdict::Allowed
            } else {
                gate.failed(peer, Instant::now());
                Verdict::Denied
            }
        }
    }
}

/// `multipart/x-mixed-replace`: each part the newest frame when the client is ready for one.
fn stream(state: &State, conn: &Arc<Conn>, head: bool) -> Response<Body> {
    let content_type = format!("multipart/x-mixed-replace; boundary={BOUNDARY}");
    if head {
        return with_dynamic_type(Empty::new().boxed_unsync(), &content_type);
    }
    conn.frame_taken();
    conn.streaming.store(true, Ordering::Relaxed);
    state.streams.fetch_add(1, Ordering::Relaxed);
    let parts = futures_util::stream::unfold(
        (
            state.feed.subscribe(),
            VecDeque::new(),
            true,
            Arc::clone(conn),
        ),
        |(mut frames, mut queue, first, conn)| async move {
            if let Some(chunk) = queue.pop_front() {
                return Some((Ok(Frame::data(chunk)), (frames, queue, first, conn)));
            }
            let frame = next_frame(&mut frames, &conn, first).await?;
            conn.frame_taken();
            // X-Timestamp as uStreamer sends it: the capture time, so a client can tell a
            // frame's age (docs/HTTP.md).
            let part_head = format!(
                "--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\
                 X-Timestamp: {}.{:06}\r\n\r\n",
                frame.jpeg.len(),
                frame.capture_unix_ns / 1_000_000_000,
                frame.capture_unix_ns % 1_000_000_000 / 1_000
            );
            queue.push_back(frame.jpeg);
            queue.push_back(Bytes::from_static(b"\r\n"));
            Some((
                Ok(Frame::data(Bytes::from(part_head))),
                (frames, queue, false, conn),
            ))
        },
    );
    let mut response = with_dynamic_type(StreamBody::new(parts).boxed_unsync(), &content_type);
    no_cache(&mut response);
    response
}

/// The first part is the newest frame there is; every later one a frame newer than the last.
async fn next_frame(
    frames: &mut watch::Receiver<Option<HttpFrame>>,
    conn: &Conn,
    first: bool,
) -> Option<HttpFrame> {
    if first {
        if let Some(frame) = frames.borrow_and_update().clone() {
            return Some(frame);
        }
    }
    loop {
        conn.waiting_for_frame.store(true, Ordering::Relaxed);
        let changed = frames.changed().await;
        conn.waiting_for_frame.store(false, Ordering::Relaxed);
        changed.ok()?;
        if let Some(frame) = frames.borrow_and_update().clone() {
            return Some(frame);
        }
    }
}

/// The newest frame if fresh, else the next one within [`SNAPSHOT_WAIT`], else 503.
async fn snapshot(state: &State) -> Response<Body> {
    let mut frames = state.feed.subscribe();
    let newest = frames.borrow_and_update().clone();
    let frame = match newest {
        Some(frame) if frame.published_at.elapsed() <= SNAPSHOT_MAX_AGE => Some(frame),
        _ => tokio::time::timeout(SNAPSHOT_WAIT, async {
            loop {
                frames.changed().await.ok()?;
                if let Some(frame) = frames.borrow_and_update().clone() {
                    return Some(frame);
                }
            }
        })
        .await
        .ok()
        .flatten(),
    };
    let Some(frame) = frame else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "no frame newer than {} s within {} s: is the source paused?\n",
                SNAPSHOT_MAX_AGE.as_secs(),
                SNAPSHOT_WAIT.as_secs()
            ),
        );
    };
    let mut response = with_type(Full::new(frame.jpeg).boxed_unsync(), "image/jpeg");
    no_cache(&mut response);
    response
}

/// What the HTTP side knows itself: clients now, uptime.
pub struct Live {
    pub http_clients: usize,
    pub http_streams: usize,
    pub uptime_s: f64,
    pub last_frame_age_ms: Option<f64>,
}

fn live(state: &State) -> Live {
    Live {
        http_clients: state.clients.load(Ordering::Relaxed),
        http_streams: state.streams.load(Ordering::Relaxed),
        uptime_s: state.started.elapsed().as_secs_f64(),
        last_frame_age_ms: state
            .feed
            .newest_age()
            .map(|age| age.as_secs_f64() * 1000.0),
    }
}

/// /status: the figures of the stats line and what the server knows; schema in docs/HTTP.md.
fn status_json(state: &State) -> serde_json::Value {
    let live = live(state);
    let mut json = serde_json::to_value(state.feed.figures()).unwrap_or_default();
    if let Some(object) = json.as_object_mut() {
        for (key, value) in [
            ("version", serde_json::json!(env!("CARGO_PKG_VERSION"))),
            ("source", serde_json::json!(state.source.description)),
            ("stream", serde_json::json!(state.source.stream)),
            ("format", serde_json::json!("image/jpeg")),
            ("quality", serde_json::json!(state.source.quality)),
            ("uptime_s", serde_json::json!(live.uptime_s)),
            (
                "last_frame_age_ms",
                serde_json::json!(live.last_frame_age_ms),
            ),
            ("http_clients", serde_json::json!(live.http_clients)),
            ("http_streams", serde_json::json!(live.http_streams)),
        ] {
            object.insert(key.to_owned(), value);
        }
    }
    json
}

fn with_type(body: Body, content_type: &'static str) -> Response<Body> {
    let mut response = Response::new(body);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn with_dynamic_type(body: Body, content_type: &str) -> Response<Body> {
    let mut response = Response::new(body);
    if let Ok(value) = HeaderValue::from_str(content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

fn no_cache(response: &mut Response<Body>) {
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
}

fn text(status: StatusCode, message: &str) -> Response<Body> {
    let mut response = with_type(
        Full::new(Bytes::from(message.to_owned())).boxed_unsync(),
        "text/plain; charset=utf-8",
    );
    *response.status_mut() = status;
    response
}
