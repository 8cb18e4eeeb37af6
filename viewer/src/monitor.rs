//! The SUB socket's connection state, from ZeroMQ's socket monitor: connecting, connected, or
//! why not (refused key, failed CURVE handshake), for the screen and the headless summary.
//! Refused connections, and connections libzmq dropped for a protocol error (a message over
//! ZMQ_MAXMSGSIZE), are connected again here, because libzmq gives up on them for good.

use camthreads::Worker;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::error::Error;

/// How often the monitor thread looks at its stop flag while no event comes.
const EVENT_TIMEOUT_MS: i32 = 100;
/// After a refusal (key not allowed, CURVE on one side only) libzmq never reconnects; camview
/// tries again after this long, so adding its key on the publisher is enough.
pub const RETRY_REFUSED_AFTER: Duration = Duration::from_secs(3);
/// libzmq follows a disconnect that it will repair itself with EVENT_CONNECT_RETRIED at once
/// (the same I/O thread, in order). A disconnect not followed by one within this long was a
/// protocol error: libzmq's session ends for good (session_base.cpp, engine_error: only
/// connection and timeout errors reconnect). Over ZMQ_MAXMSGSIZE is such an error (the decoder
/// fails with EMSGSIZE); camview then connects again itself.
const ABANDONED_AFTER: Duration = Duration::from_millis(300);
/// Connection states kept for endpoints that events name but the command line did not.
const MAX_TRACKED_ENDPOINTS: usize = 16;

// libzmq's event numbers and handshake error codes (zmq.h, stable since 4.3).
const EVENT_CONNECTED: u16 = 0x0001;
const EVENT_CONNECT_RETRIED: u16 = 0x0004;
const EVENT_DISCONNECTED: u16 = 0x0200;
const EVENT_MONITOR_STOPPED: u16 = 0x0400;
const EVENT_HANDSHAKE_FAILED_NO_DETAIL: u16 = 0x0800;
const EVENT_HANDSHAKE_SUCCEEDED: u16 = 0x1000;
const EVENT_HANDSHAKE_FAILED_PROTOCOL: u16 = 0x2000;
const EVENT_HANDSHAKE_FAILED_AUTH: u16 = 0x4000;
const MONITORED_EVENTS: u16 = EVENT_CONNECTED
    | EVENT_CONNECT_RETRIED
    | EVENT_DISCONNECTED
    | EVENT_MONITOR_STOPPED
    | EVENT_HANDSHAKE_FAILED_NO_DETAIL
    | EVENT_HANDSHAKE_SUCCEEDED
    | EVENT_HANDSHAKE_FAILED_PROTOCOL
    | EVENT_HANDSHAKE_FAILED_AUTH;
const PROTOCOL_ERROR_CRYPTOGRAPHIC: u32 = 0x1100_0001;
const PROTOCOL_ERROR_MECHANISM_MISMATCH: u32 = 0x1100_0002;

/// Where a connection to one publisher stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkState {
    /// No TCP connection yet (the publisher may not be running).
    Connecting,
    /// TCP is up; the ZeroMQ (and CURVE) handshake is under way.
    Handshaking,
    Connected,
    /// The link went down after working; ZeroMQ reconnects by itself.
    Disconnected,
    /// The publisher refused this viewer's key (its allow-list does not name it).
    NotAuthorised,
    /// The handshake failed: a wrong --server-key, or CURVE on one side only.
    HandshakeFailed,
}

impl LinkState {
    /// A failure the user has to fix (ZeroMQ's own retries will not).
    pub fn is_failure(self) -> bool {
        matches!(self, LinkState::NotAuthorised | LinkState::HandshakeFailed)
    }

    /// How the screen and the log name the state.
    pub fn headline(self) -> &'static str {
        match self {
            LinkState::Connecting => "connecting",
            LinkState::Handshaking => "handshaking",
            LinkState::Connected => "connected",
            LinkState::Disconnected => "disconnected",
            LinkState::NotAuthorised => "not authorised",
            LinkState::HandshakeFailed => "handshake failed",
        }
    }
}

/// One endpoint's connection state and counts, as the headless summary prints them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EndpointStatus {
    pub endpoint: String,
    pub state: LinkState,
    /// Why, in words, when the state is a failure.
    pub detail: Option<String>,
    pub handshakes_succeeded: u64,
    pub handshakes_failed: u64,
    pub disconnects: u64,
    /// When to connect again after a refusal; `None` when libzmq reconnects by itself.
    #[serde(skip)]
    retry_at: Option<Instant>,
    /// Whether this is an endpoint of the command line (only those can be reconnected).
    #[serde(skip)]
    configured: bool,
    /// Disconnected after working, and libzmq has not said it will reconnect (yet).
    #[serde(skip)]
    abandoned: bool,
}

impl EndpointStatus {
    fn new(endpoint: &str, configured: bool) -> Self {
        Self {
            endpoint: endpoint.to_owned(),
            state: LinkState::Connecting,
            detail: None,
            handshakes_succeeded: 0,
            handshakes_failed: 0,
            disconnects: 0,
            retry_at: None,
            configured,
            abandoned: false,
        }
    }

    /// Updates the state for one monitor event. `curve` says whether this viewer uses CURVE.
    fn apply(&mut self, event: u16, value: u32, curve: bool, now: Instant) {
        let failed = |status: &mut Self, state: LinkState, detail: String, retry: bool| {
            status.handshakes_failed += 1;
            if status.state != state || status.detail.as_deref() != Some(detail.as_str()) {
                log::error!("{}: {}: {}", status.endpoint, state.headline(), detail);
            }
            status.state = state;
            status.detail = Some(detail);
            status.retry_at = retry.then(|| now + RETRY_REFUSED_AFTER);
        };
        match event {
            // A failure stays on screen through the retries until a handshake succeeds.
            EVENT_CONNECTED if !self.state.is_failure() => self.state = LinkState::Handshaking,
            EVENT_HANDSHAKE_SUCCEEDED => {
                if self.state.is_failure() {
                    log::info!("{}: connected", self.endpoint);
                }
                self.handshakes_succeeded += 1;
                self.state = LinkState::Connected;
                self.detail = None;
                self.retry_at = None;
            }
            EVENT_HANDSHAKE_FAILED_AUTH => failed(
                self,
                LinkState::NotAuthorised,
                format!(
                    "the publisher refused this viewer's key (ZAP status {value}); its \
                     allow-list must name this viewer's public key"
                ),
                true,
            ),
            EVENT_HANDSHAKE_FAILED_PROTOCOL => {
                let detail = match value {
                    PROTOCOL_ERROR_MECHANISM_MISMATCH if curve => {
                        "the publisher does not use CURVE encryption (leave out --server-key)"
                            .to_string()
                    }
                    PROTOCOL_ERROR_MECHANISM_MISMATCH => {
                        "the publisher requires CURVE encryption (give its public key with \
                         --server-key)"
                            .to_string()
                    }
                    PROTOCOL_ERROR_CRYPTOGRAPHIC => {
                        "CURVE cryptographic error (wrong --server-key?)".to_string()
                    }
                    code => format!("ZeroMQ protocol error {code:#x}"),
                };
                failed(self, LinkState::HandshakeFailed, detail, true);
            }
            EVENT_HANDSHAKE_FAILED_NO_DETAIL => {
                // The publisher closed the connection mid-handshake: with CURVE that is what a
                // wrong server key looks like from here. libzmq retries by itself.
                let detail = if curve {
                    "the publisher closed the connection during the CURVE handshake \
                     (wrong --server-key?)"
                } else {
                    "the publisher closed the connection during the handshake"
                };
                failed(self, LinkState::HandshakeFailed, detail.to_string(), false);
            }
            EVENT_DISCONNECTED => {
                self.disconnects += 1;
                if self.state == LinkState::Connected {
                    self.state = LinkState::Disconnected;
                    self.abandoned = true;
                    self.retry_at = Some(now + ABANDONED_AFTER);
                } else if !self.state.is_failure() {
                    self.state = LinkState::Connecting;
                }
            }
            EVENT_CONNECT_RETRIED if self.abandoned => {
                // libzmq repairs this one itself.
                self.abandoned = false;
                self.retry_at = None;
            }
            _ => {}
        }
    }
}

/// Splits a monitor event message: frame 1 is the event number (u16) and value (u32) in host
/// byte order, frame 2 the endpoint.
fn parse_event(frames: &[Vec<u8>]) -> Option<(u16, u32, String)> {
    let [head, endpoint, ..] = frames else {
        return None;
    };
    let head: &[u8; 6] = head.as_slice().try_into().ok()?;
    let event = u16::from_ne_bytes([head[0], head[1]]);
    let value = u32::from_ne_bytes([head[2], head[3], head[4], head[5]]);
    Some((event, value, String::from_utf8_lossy(endpoint).into_owned()))
}

/// The shared list of endpoint states.
#[derive(Debug, Default)]
struct Statuses(Mutex<Vec<EndpointStatus>>);

impl Statuses {
    fn lock(&self) -> MutexGuard<'_, Vec<EndpointStatus>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn apply(&self, endpoint: &str, event: u16, value: u32, curve: bool, now: Instant) {
        let mut all = self.lock();
        let index = match all.iter().position(|s| s.endpoint == endpoint) {
            Some(i) => Some(i),
            // libzmq may name a resolved address (localhost -> 127.0.0.1): with one endpoint
            // there is no doubt which it is.
            None if all.iter().filter(|s| s.configured).count() == 1 => {
                all.iter().position(|s| s.configured)
            }
            None if all.len() < MAX_TRACKED_ENDPOINTS => {
                all.push(EndpointStatus::new(endpoint, false));
                Some(all.len() - 1)
            }
            None => None,
        };
        if let Some(status) = index.and_then(|i| all.get_mut(i)) {
            status.apply(event, value, curve, now);
        }
    }
}

/// The monitor thread and the states it keeps. Dropping it stops and joins the thread.
pub struct Monitor {
    statuses: Arc<Statuses>,
    _worker: Worker,
}

static NEXT_MONITOR: AtomicU32 = AtomicU32::new(0);

impl Monitor {
    /// Starts monitoring `socket` (before it connects, so no event is missed).
    pub fn start(
        context: &zmq::Context,
        socket: &zmq::Socket,
        endpoints: &[String],
        curve: bool,
    ) -> Result<Self, Error> {
        let address = format!(
            "inproc://camview-monitor-{}",
            NEXT_MONITOR.fetch_add(1, Ordering::Relaxed)
        );
        socket
            .monitor(&address, i32::from(MONITORED_EVENTS))
            .map_err(|e| Error::zmq("start the socket monitor", e))?;
        let events = context
            .socket(zmq::PAIR)
            .map_err(|e| Error::zmq("create the monitor socket", e))?;
        events
            .set_rcvtimeo(EVENT_TIMEOUT_MS)
            .map_err(|e| Error::zmq("set the monitor's ZMQ_RCVTIMEO", e))?;
        events
            .set_linger(0)
            .map_err(|e| Error::zmq("set the monitor's ZMQ_LINGER", e))?;
        events
            .connect(&address)
            .map_err(|e| Error::zmq("connect the socket monitor", e))?;
        let statuses = Arc::new(Statuses(Mutex::new(
            endpoints
                .iter()
                .map(|e| EndpointStatus::new(e, true))
                .collect(),
        )));
        let worker = {
            let statuses = Arc::clone(&statuses);
            Worker::spawn("monitor", move |stop| {
                watch(&events, &statuses, stop, curve)
            })
            .map_err(Error::Thread)?
        };
        Ok(Self {
            statuses,
            _worker: worker,
        })
    }

    /// Every endpoint's state now.
    pub fn statuses(&self) -> Vec<EndpointStatus> {
        self.statuses.lock().clone()
    }

    /// Connects `socket` again to each configured endpoint whose refusal is old enough, or
    /// whose connection libzmq dropped without reconnecting (call from the thread that owns
    /// `socket`). Returns how many were of the second kind: each means the publisher sent a
    /// message over camview's size limit (or broke the ZeroMQ protocol).
    pub fn reconnect_abandoned(&self, socket: &zmq::Socket) -> u64 {
        let now = Instant::now();
        let mut dropped = 0;
        let due: Vec<String> = {
            let mut all = self.statuses.lock();
            all.iter_mut()
                .filter(|s| s.configured && s.retry_at.is_some_and(|at| at <= now))
                .map(|s| {
                    s.retry_at = None;
                    if std::mem::take(&mut s.abandoned) {
                        dropped += 1;
                        let detail = format!(
                            "ZeroMQ dropped the connection: the publisher sent a message over \
                             {} bytes (or broke the ZeroMQ protocol); connecting again",
                            camwire::MAX_MESSAGE_BYTES
                        );
                        log::warn!("{}: {detail}", s.endpoint);
                        s.detail = Some(detail);
                    }
                    s.endpoint.clone()
                })
                .collect()
        };
        for endpoint in due {
            log::debug!("{endpoint}: connecting again");
            // The refused connection is gone already; disconnect only clears libzmq's record.
            let _ = socket.disconnect(&endpoint);
            if let Err(e) = socket.connect(&endpoint) {
                log::warn!("cannot connect to {endpoint} again: {e}");
            }
        }
        dropped
    }
}

impl Monitor {
    /// Drops every configured connection and connects again (call from the thread that owns
    /// `socket`): libzmq then frees what it held for them, a half-received message included.
    pub fn reconnect_all(&self, socket: &zmq::Socket) {
        let endpoints: Vec<String> = self
            .statuses
            .lock()
            .iter()
            .filter(|s| s.configured)
            .map(|s| s.endpoint.clone())
            .collect();
        for endpoint in endpoints {
            let _ = socket.disconnect(&endpoint);
            if let Err(e) = socket.connect(&endpoint) {
                log::warn!("cannot connect to {endpoint} again: {e}");
            }
        }
    }
}

fn watch(events: &zmq::Socket, statuses: &Statuses, stop: &AtomicBool, curve: bool) {
    while !stop.load(Ordering::Relaxed) {
        let frames = match events.recv_multipart(0) {
            Ok(frames) => frames,
            Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => continue,
            Err(e) => {
                log::debug!("socket monitor stopped: {e}");
                return;
            }
        };
        let Some((event, value, endpoint)) = parse_event(&frames) else {
            log::debug!("malformed monitor event of {} frames", frames.len());
            continue;
        };
        if event == EVENT_MONITOR_STOPPED {
            return;
        }
        log::debug!("{endpoint}: monitor event {event:#06x} value {value:#x}");
        statuses.apply(&endpoint, event, value, curve, Instant::now());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(e: u16, v: u32, endpoint: &str) -> Vec<Vec<u8>> {
        let mut head = e.to_ne_bytes().to_vec();
        head.extend_from_slice(&v.to_ne_bytes());
        vec![head, endpoint.as_bytes().to_vec()]
    }

    #[test]
    fn events_parse_and_malformed_ones_are_refused() {
        assert_eq!(
            parse_event(&event(EVENT_HANDSHAKE_FAILED_AUTH, 400, "tcp://a:1")),
            Some((EVENT_HANDSHAKE_FAILED_AUTH, 400, "tcp://a:1".to_string()))
        );
        assert_eq!(parse_event(&[vec![1, 2, 3], vec![]]), None);
        assert_eq!(parse_event(&[vec![0; 6]]), None);
        assert_eq!(parse_event(&[]), None);
    }

    #[test]
    fn a_refused_key_is_sticky_until_a_handshake_succeeds() {
        let now = Instant::now();
        let mut s = EndpointStatus::new("tcp://a:1", true);
        s.apply(EVENT_CONNECTED, 0, true, now);
        assert_eq!(s.state, LinkState::Handshaking);
        s.apply(EVENT_HANDSHAKE_FAILED_AUTH, 400, true, now);
        assert_eq!(s.state, LinkState::NotAuthorised);
        assert!(s.detail.as_deref().unwrap().contains("allow-list"));
        assert_eq!(s.retry_at, Some(now + RETRY_REFUSED_AFTER));
        s.apply(EVENT_DISCONNECTED, 0, true, now);
        s.apply(EVENT_CONNECTED, 0, true, now);
        assert_eq!(
            s.state,
            LinkState::NotAuthorised,
            "retries keep the reason shown"
        );
        s.apply(EVENT_HANDSHAKE_SUCCEEDED, 0, true, now);
        assert_eq!((s.state, s.detail.as_deref()), (LinkState::Connected, None));
        s.apply(EVENT_DISCONNECTED, 0, true, now);
        assert_eq!(s.state, LinkState::Disconnected);
        assert_eq!((s.handshakes_failed, s.handshakes_succeeded), (1, 1));
    }

    #[test]
    fn a_disconnect_libzmq_does_not_repair_is_reconnected_here() {
        let now = Instant::now();
        let mut s = EndpointStatus::new("tcp://a:1", true);
        s.apply(EVENT_CONNECTED, 0, false, now);
        s.apply(EVENT_HANDSHAKE_SUCCEEDED, 0, false, now);
        // A publisher that went away: libzmq says it retries, nothing for camview to do.
        s.apply(EVENT_DISCONNECTED, 0, false, now);
        s.apply(EVENT_CONNECT_RETRIED, 100, false, now);
        assert_eq!(
            (s.state, s.retry_at, s.abandoned),
            (LinkState::Disconnected, None, false)
        );
        // A message over ZMQ_MAXMSGSIZE: a disconnect and nothing more.
        s.apply(EVENT_CONNECTED, 0, false, now);
        s.apply(EVENT_HANDSHAKE_SUCCEEDED, 0, false, now);
        s.apply(EVENT_DISCONNECTED, 0, false, now);
        assert_eq!(s.state, LinkState::Disconnected);
        assert_eq!(
            (s.retry_at, s.abandoned),
            (Some(now + ABANDONED_AFTER), true)
        );
    }

    #[test]
    fn handshake_failures_say_what_is_wrong() {
        let now = Instant::now();
        let detail = |e: u16, v: u32, curve: bool| {
            let mut s = EndpointStatus::new("tcp://a:1", true);
            s.apply(e, v, curve, now);
            assert_eq!(s.state, LinkState::HandshakeFailed);
            s.detail.unwrap()
        };
        assert!(detail(EVENT_HANDSHAKE_FAILED_NO_DETAIL, 32, true).contains("--server-key"));
        assert!(detail(
            EVENT_HANDSHAKE_FAILED_PROTOCOL,
            PROTOCOL_ERROR_MECHANISM_MISMATCH,
            false
        )
        .contains("requires CURVE"));
        assert!(detail(
            EVENT_HANDSHAKE_FAILED_PROTOCOL,
            PROTOCOL_ERROR_MECHANISM_MISMATCH,
            true
        )
        .contains("does not use CURVE"));
        assert!(detail(EVENT_HANDSHAKE_FAILED_PROTOCOL, 0x1000_0003, true).contains("0x10000003"));
    }

    #[test]
    fn unknown_endpoints_are_bounded() {
        let statuses = Statuses::default();
        let now = Instant::now();
        for i in 0..100 {
            statuses.apply(&format!("tcp://h{i}:1"), EVENT_CONNECTED, 0, false, now);
        }
        assert_eq!(statuses.lock().len(), MAX_TRACKED_ENDPOINTS);
    }
}
