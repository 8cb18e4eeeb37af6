//! Publish: the ZeroMQ PUB socket and the two wire formats (native header + JPEG, or the
//! tutorial's base64). Memory and latency stay bounded: each subscriber's queue holds only the
//! newest frame, and its connection only a little unsent data (see `listener`).

use camkeys::KeyPair;
use camwire::{encode_native, FrameHeader, StreamName};

use crate::links::{LinkSummary, LinkWatch};
use crate::listener::{LowLatencyListener, OutgoingTuner, TcpBind};
use crate::shed::DescriptorGuard;

/// How frames go on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WireMode {
    /// Stream name, versioned header, raw JPEG (docs/PROTOCOL.md).
    Native,
    /// Exactly the tutorial's server.py: one frame holding base64 of the JPEG.
    Base64,
}

impl std::str::FromStr for WireMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "native" => Ok(Self::Native),
            "base64" => Ok(Self::Base64),
            other => Err(format!(
                "unknown wire mode {other:?}: expected native or base64"
            )),
        }
    }
}

/// ZMTP heartbeats let libzmq notice a vanished subscriber and free its queue.
const HEARTBEAT_IVL_MS: i32 = 1000;
const HEARTBEAT_TIMEOUT_MS: i32 = 3000;
/// `campub --connect`: the first reconnection after 100 ms, then backing off to 1 s: a relay
/// that stops listening while nobody watches (camrelay's idle) has campub back within about a
/// second of its first viewer; one attempt a second costs nothing while it is away.
const RECONNECT_IVL_MS: i32 = 100;
const RECONNECT_IVL_MAX_MS: i32 = 1000;
/// A connection that has not finished its ZMTP (and CURVE) handshake within this long is
/// dropped. libzmq's default, 30 s, let each silent or half-greeting connection hold a
/// descriptor and memory that long; a legitimate handshake takes a few round trips (docs/WIFI.md
/// has it under heavy loss).
pub const HANDSHAKE_IVL_MS: i32 = 3000;

/// ZMTP 3.1's SUBSCRIBE command, `0x09 "SUBSCRIBE"`, before the subscribed prefix (libzmq 4.3
/// sends subscriptions so; older peers send a message of `0x01` and the prefix, shorter).
const SUBSCRIBE_COMMAND_BYTES: usize = 10;
/// What CURVE adds to each frame it encrypts: `0x07 "MESSAGE"`, an 8-byte nonce, a 16-byte
/// authenticator and a flags byte.
const CURVE_MESSAGE_OVERHEAD_BYTES: usize = 33;
/// The longest subscription a viewer can mean: the longest stream name and its NUL, which is
/// as specific as a subscription to campub gets (docs/PROTOCOL.md). 109 bytes.
pub const MAX_SUBSCRIPTION_FRAME_BYTES: usize =
    SUBSCRIBE_COMMAND_BYTES + camwire::MAX_STREAM_NAME_LEN + 1 + CURVE_MESSAGE_OVERHEAD_BYTES;
/// The largest frame a subscriber sends at all is a handshake command: CURVE's INITIATE is 274
/// bytes from a SUB socket (249 + its Socket-Type property); the rest leaves room for a few
/// more metadata properties.
pub const MAX_HANDSHAKE_FRAME_BYTES: usize = 512;
/// `ZMQ_MAXMSGSIZE` on the PUB socket: the largest frame accepted from a subscriber. Larger
/// ones close the connection before anything is allocated for them; without the cap a
/// subscriber sending 8 MiB subscriptions grew campub to 790 MB (docs/SECURITY.md).
pub const MAX_SUBSCRIBER_FRAME_BYTES: usize =
    if MAX_HANDSHAKE_FRAME_BYTES > MAX_SUBSCRIPTION_FRAME_BYTES {
        MAX_HANDSHAKE_FRAME_BYTES
    } else {
        MAX_SUBSCRIPTION_FRAME_BYTES
    };

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot bind {endpoint}: {source}")]
    Bind {
        endpoint: String,
        source: zmq::Error,
    },
    #[error("cannot bind {endpoint}: {source}")]
    Listen {
        endpoint: String,
        source: std::io::Error,
    },
    #[error("ZeroMQ socket setup: {0}")]
    Socket(zmq::Error),
    #[error("cannot start the descriptor guard: {0}")]
    Guard(std::io::Error),
    #[error("cannot connect to {endpoint}: {source}")]
    Connect {
        endpoint: String,
        source: zmq::Error,
    },
    #[error("send failed: {0}")]
    Send(zmq::Error),
}

/// campub's publishing socket without the frame encoding: a bound PUB socket that keeps only
/// the newest message per subscriber connection, a little unsent data per connection, drops
/// silent or oversized peers, and watches its subscribers' links. campub's [`Publisher`] sends
/// its frames through it; camrelay sends the messages it relays through it unchanged.
pub struct PubSocket {
    socket: zmq::Socket,
    links: Option<LinkWatch>,
    _guard: Option<DescriptorGuard>,
    /// Outgoing connections (`connect`): tunes each one libzmq makes.
    tuner: Option<OutgoingTuner>,
}

impl PubSocket {
    /// Binds a PUB socket to `endpoint` (a CURVE server with `curve`; its allow-list is the
    /// context's ZAP handler, started by the caller).
    pub fn bind(
        context: &zmq::Context,
        endpoint: &str,
        curve: Option<&KeyPair>,
    ) -> Result<Self, PublishError> {
        let mut socket = context.socket(zmq::PUB).map_err(PublishError::Socket)?;
        if let Some(pair) = curve {
            crate::security::make_curve_server(&socket, pair).map_err(PublishError::Socket)?;
        }
        // Each subscriber's queue holds only the newest frame: a subscriber that cannot keep up
        // gets fewer frames, never older ones, and its queue costs one frame of memory. (On a
        // link slower than the stream a FIFO of even one frame adds a frame's transmission time
        // to every frame's age; docs/WIFI.md has the numbers.) Messages are single-part, which
        // conflation requires.
        socket.set_conflate(true).map_err(PublishError::Socket)?;
        socket.set_linger(0).map_err(PublishError::Socket)?;
        socket
            .set_heartbeat_ivl(HEARTBEAT_IVL_MS)
            .map_err(PublishError::Socket)?;
        socket
            .set_heartbeat_timeout(HEARTBEAT_TIMEOUT_MS)
            .map_err(PublishError::Socket)?;
        socket.set_tcp_keepalive(1).map_err(PublishError::Socket)?;
        socket
            .set_handshake_ivl(HANDSHAKE_IVL_MS)
            .map_err(PublishError::Socket)?;
        socket
            .set_maxmsgsize(MAX_SUBSCRIBER_FRAME_BYTES as i64)
            .map_err(PublishError::Socket)?;
        let listener = bind_low_latency(&mut socket, endpoint)?;
        let mut publisher = Self {
            socket,
            links: None,
            _guard: None,
            tuner: None,
        };
        let bound = publisher.endpoint();
        publisher.links = LinkWatch::new(&bound);
        let port = camwire::Endpoint::parse(&bound, camwire::Direction::Bind)
            .ok()
            .and_then(|e| e.tcp_port());
        if let (Some(listener), Some(port)) = (listener, port) {
            publisher._guard =
                Some(DescriptorGuard::start(listener, port).map_err(PublishError::Guard)?);
        }
        Ok(publisher)
    }

    /// Also dials out to `endpoint` (campub --connect: a relay, reconnecting forever with
    /// backoff), a CURVE client of the relay's key with `curve` (own key pair, relay's public
    /// key), else unencrypted. libzmq takes a socket's options when it binds or connects, so the
    /// bound side keeps its own security.
    ///
    /// The bound on unsent data holds as for accepted connections: the queue keeps the newest
    /// frame (CONFLATE, a socket option), and each connection libzmq makes gets
    /// `TCP_NOTSENT_LOWAT` and `TCP_USER_TIMEOUT` as soon as its monitor reports it
    /// (`listener::OutgoingTuner`; libzmq has no option for them). What it costs: the frames
    /// sent in the moment between connecting and tuning see the kernel's default buffering; the
    /// relay's link is not judged (it counts as one subscriber while connected, so campub does
    /// not idle while a relay takes the stream, even when nobody watches there).
    pub fn connect(
        &mut self,
        context: &zmq::Context,
        endpoint: &str,
        curve: Option<(&KeyPair, &camkeys::PublicKey)>,
    ) -> Result<(), PublishError> {
        let socket = &self.socket;
        match curve {
            Some((pair, server)) => socket
                .set_curve_serverkey(server.as_bytes())
                .and_then(|()| socket.set_curve_publickey(pair.public.as_bytes()))
                .and_then(|()| socket.set_curve_secretkey(pair.secret.as_bytes()))
                .map_err(PublishError::Socket)?,
            // The NULL mechanism for what is connected from now on.
            None => socket
                .set_curve_server(false)
                .map_err(PublishError::Socket)?,
        }
        // Reconnect after 100 ms, backing off to 1 s while the relay stays away.
        socket
            .set_reconnect_ivl(RECONNECT_IVL_MS)
            .map_err(PublishError::Socket)?;
        socket
            .set_reconnect_ivl_max(RECONNECT_IVL_MAX_MS)
            .map_err(PublishError::Socket)?;
        if self.tuner.is_none() {
            self.tuner = Some(OutgoingTuner::start(context, socket).map_err(PublishError::Socket)?);
        }
        socket
            .connect(endpoint)
            .map_err(|source| PublishError::Connect {
                endpoint: endpoint.to_owned(),
                source,
            })
    }

    /// Outgoing connections (`connect`) open now.
    fn outgoing_now(&mut self) -> usize {
        self.tuner.as_mut().map_or(0, |tuner| {
            tuner.tune_new_connections();
            tuner.connected()
        })
    }

    /// Sends one single-part message without blocking: a subscriber whose queue is full misses
    /// it (its queue keeps the newest message).
    pub fn send(&mut self, message: &[u8]) -> Result<(), PublishError> {
        if let Some(tuner) = &mut self.tuner {
            tuner.tune_new_connections();
        }
        self.socket
            .send(message, zmq::DONTWAIT)
            .map_err(PublishError::Send)?;
        if let Some(links) = &mut self.links {
            links.published(message.len(), std::time::Instant::now());
        }
        Ok(())
    }

    /// The subscribers seen since the last call, and how many are on links slower than the
    /// stream; `None` when that cannot be seen (not TCP, or /proc hidden).
    pub fn take_link_summary(&mut self) -> Option<LinkSummary> {
        self.links.as_mut().and_then(LinkWatch::take_summary)
    }

    /// Looks at the subscribers' connections now (see [`LinkWatch::refresh`]).
    pub fn refresh_links(&mut self) {
        if let Some(links) = &mut self.links {
            links.refresh(std::time::Instant::now());
        }
    }

    /// How many subscribers are connected now, when campub can see its links (for /status and
    /// idling): the accepted ones and the relays it dialled out to.
    pub fn subscribers_now(&mut self) -> Option<usize> {
        let outgoing = self.outgoing_now();
        match (&self.links, &self.tuner) {
            (Some(links), _) => links.subscribers_now().map(|n| n + outgoing),
            (None, Some(_)) => Some(outgoing),
            (None, None) => None,
        }
    }

    /// The endpoint actually bound (with the port filled in when `:0` or `*` was asked for).
    pub fn endpoint(&self) -> String {
        match self.socket.get_last_endpoint() {
            Ok(Ok(endpoint)) => endpoint,
            _ => String::from("?"),
        }
    }
}

/// campub's frames on a [`PubSocket`]: the wire format, the sequence numbers.
pub struct Publisher {
    socket: PubSocket,
    mode: WireMode,
    stream: StreamName,
    next_seq: u64,
    message: Vec<u8>,
}

impl Publisher {
    pub fn bind(
        context: &zmq::Context,
        endpoint: &str,
        mode: WireMode,
        stream: StreamName,
        curve: Option<&KeyPair>,
    ) -> Result<Self, PublishError> {
        Ok(Self {
            socket: PubSocket::bind(context, endpoint, curve)?,
            mode,
            stream,
            next_seq: 0,
            message: Vec::new(),
        })
    }

    /// The subscribers seen since the last call (see [`PubSocket::take_link_summary`]).
    pub fn take_link_summary(&mut self) -> Option<LinkSummary> {
        self.socket.take_link_summary()
    }

    /// Looks at the subscribers' connections now (see [`LinkWatch::refresh`]).
    pub fn refresh_links(&mut self) {
        self.socket.refresh_links();
    }

    /// How many subscribers are connected now, when campub can see its links (for /status).
    pub fn subscribers_now(&mut self) -> Option<usize> {
        self.socket.subscribers_now()
    }

    /// Also dials out to a relay (see [`PubSocket::connect`]).
    pub fn connect(
        &mut self,
        context: &zmq::Context,
        endpoint: &str,
        curve: Option<(&KeyPair, &camkeys::PublicKey)>,
    ) -> Result<(), PublishError> {
        self.socket.connect(context, endpoint, curve)
    }

    /// The endpoint actually bound (with the port filled in when `:0` or `*` was asked for).
    pub fn endpoint(&self) -> String {
        self.socket.endpoint()
    }

    /// Sends one frame; returns the number of bytes put on the wire, or `None` when the message
    /// would be larger than [`camwire::MAX_MESSAGE_BYTES`] (not sent: every reader refuses it,
    /// and libzmq drops the connection of a reader whose ZMQ_MAXMSGSIZE it exceeds). Never
    /// blocks: a subscriber whose queue is full misses this frame.
    pub fn publish(
        &mut self,
        jpeg: &[u8],
        width_px: u32,
        height_px: u32,
        capture_unix_ns: u64,
    ) -> Result<Option<usize>, PublishError> {
        match self.mode {
            WireMode::Native => {
                let header = FrameHeader {
                    seq: self.next_seq,
                    capture_unix_ns,
                    width_px: u16::try_from(width_px).unwrap_or(u16::MAX),
                    height_px: u16::try_from(height_px).unwrap_or(u16::MAX),
                };
                encode_native(&self.stream, &header, jpeg, &mut self.message);
            }
            WireMode::Base64 => camwire::encode_base64_into(jpeg, &mut self.message),
        }
        if self.message.len() > camwire::MAX_MESSAGE_BYTES {
            return Ok(None);
        }
        self.socket.send(&self.message)?;
        self.next_seq += 1;
        Ok(Some(self.message.len()))
    }
}

/// Binds `socket` to `endpoint`, through campub's own listener where the endpoint allows it, so
/// that no subscriber connection queues more than a little unsent data in the kernel. Returns a
/// second descriptor of that listener, for watching its backlog.
fn bind_low_latency(
    socket: &mut zmq::Socket,
    endpoint: &str,
) -> Result<Option<std::os::fd::OwnedFd>, PublishError> {
    let bind_error = |source| PublishError::Bind {
        endpoint: endpoint.to_owned(),
        source,
    };
    let Some(tcp) = TcpBind::parse(endpoint) else {
        if endpoint.starts_with("tcp://") {
            log::info!(
                "{endpoint}: bind to an IP address (or *) to bound each subscriber's unsent \
                 data; with a host or interface name the kernel's default buffering applies"
            );
        }
        return socket.bind(endpoint).map(|()| None).map_err(bind_error);
    };
    let listener = LowLatencyListener::open(tcp).map_err(|e| PublishError::Listen {
        endpoint: endpoint.to_owned(),
        source: e,
    })?;
    let bound = listener.endpoint().map_err(|e| PublishError::Listen {
        endpoint: endpoint.to_owned(),
        source: e,
    })?;
    let watch = listener.watch_handle().map_err(|e| PublishError::Listen {
        endpoint: endpoint.to_owned(),
        source: e,
    })?;
    listener.hand_to(socket).map_err(PublishError::Socket)?;
    socket.bind(&bound).map_err(bind_error)?;
    Ok(Some(watch))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libzmq_has_curve() {
        assert_eq!(
            zmq::has("curve"),
            Some(true),
            "campub must link a libzmq built with libsodium (see .cargo/config.toml)"
        );
    }

    #[test]
    fn a_taken_port_is_a_clear_bind_error() {
        let context = zmq::Context::new();
        let stream = StreamName::new("t").unwrap();
        let first = Publisher::bind(
            &context,
            "tcp://127.0.0.1:0",
            WireMode::Native,
            stream.clone(),
            None,
        )
        .unwrap();
        let endpoint = first.endpoint();
        let err = Publisher::bind(&context, &endpoint, WireMode::Native, stream, None)
            .err()
            .unwrap();
        assert!(
            err.to_string()
                .starts_with(&format!("cannot bind {endpoint}")),
            "{err}"
        );
    }

    #[test]
    fn every_subscriber_gets_every_frame_it_can_take() {
        // Conflation keeps one frame per subscriber, not one for the socket: three subscribers
        // that keep up each receive everything.
        let context = zmq::Context::new();
        let mut publisher = Publisher::bind(
            &context,
            "tcp://127.0.0.1:0",
            WireMode::Native,
            StreamName::new("t").unwrap(),
            None,
        )
        .unwrap();
        let subs: Vec<zmq::Socket> = (0..3)
            .map(|_| {
                let sub = context.socket(zmq::SUB).unwrap();
                sub.connect(&publisher.endpoint()).unwrap();
                sub.set_subscribe(b"").unwrap();
                sub.set_rcvtimeo(2000).unwrap();
                sub
            })
            .collect();
        // Until every subscription has arrived, frames may go to only some of them.
        let mut ready = [false; 3];
        for _ in 0..200 {
            publisher
                .publish(&[0xFF, 0xD8, 0xFF, 0xD9], 2, 2, 0)
                .unwrap();
            std::thread::sleep(std::time::Duration::from_millis(10));
            for (sub, ready) in subs.iter().zip(&mut ready) {
                while sub.recv_bytes(zmq::DONTWAIT).is_ok() {
                    *ready = true;
                }
            }
            if ready.iter().all(|r| *r) {
                break;
            }
        }
        assert_eq!(ready, [true; 3], "every subscriber connected");
        let mut last_seq = [0u64; 3];
        for _ in 0..20 {
            publisher
                .publish(&[0xFF, 0xD8, 0xFF, 0xD9], 2, 2, 0)
                .unwrap();
            for (sub, last) in subs.iter().zip(&mut last_seq) {
                let msg = sub.recv_bytes(0).expect("each subscriber gets each frame");
                match camwire::classify(&msg).unwrap() {
                    camwire::Message::Native(f) => *last = f.header.seq,
                    other => panic!("{other:?}"),
                }
            }
        }
        assert!(last_seq.iter().all(|s| *s == last_seq[0]), "{last_seq:?}");
    }

    #[test]
    fn a_message_over_the_limit_is_not_sent() {
        let context = zmq::Context::new();
        for mode in [WireMode::Native, WireMode::Base64] {
            let mut publisher = Publisher::bind(
                &context,
                "tcp://127.0.0.1:0",
                mode,
                StreamName::new("t").unwrap(),
                None,
            )
            .unwrap();
            let mut jpeg = vec![0u8; camwire::MAX_MESSAGE_BYTES];
            jpeg[..2].copy_from_slice(&[0xFF, 0xD8]);
            assert_eq!(publisher.publish(&jpeg, 2, 2, 0).unwrap(), None, "{mode:?}");
            assert_eq!(
                publisher.next_seq, 0,
                "{mode:?}: a skipped frame takes no number"
            );
            let small = publisher.publish(&jpeg[..1000], 2, 2, 0).unwrap();
            assert!(small.is_some_and(|n| n >= 1000), "{mode:?}");
        }
    }

    #[test]
    fn both_wire_modes_reach_a_subscriber() {
        let context = zmq::Context::new();
        let jpeg = [0xFF, 0xD8, 0xFF, 0xD9];
        for mode in [WireMode::Native, WireMode::Base64] {
            let mut publisher = Publisher::bind(
                &context,
                "tcp://127.0.0.1:0",
                mode,
                StreamName::new("t").unwrap(),
                None,
            )
            .unwrap();
            let sub = context.socket(zmq::SUB).unwrap();
            sub.connect(&publisher.endpoint()).unwrap();
            sub.set_subscribe(b"").unwrap();
            sub.set_rcvtimeo(100).unwrap();
            let received = (0..50).find_map(|_| {
                publisher.publish(&jpeg, 2, 2, 7).unwrap();
                sub.recv_bytes(0).ok()
            });
            let msg = received.expect("no message within 5 s");
            match (mode, camwire::classify(&msg).unwrap()) {
                (WireMode::Native, camwire::Message::Native(f)) => {
                    assert_eq!(
                        (f.stream, f.jpeg, f.header.capture_unix_ns),
                        ("t", &jpeg[..], 7)
                    );
                }
                (WireMode::Base64, camwire::Message::Base64(text)) => assert_eq!(text, b"/9j/2Q=="),
                (mode, other) => panic!("{mode:?} sent {other:?}"),
            }
        }
    }
}
