//! Publish: the ZeroMQ PUB socket and the two wire formats (native header + JPEG, or the
//! tutorial's base64). Memory stays bounded: a small send high-water mark, no queue of our own.

use base64::Engine as _;
use camkeys::KeyPair;
use camwire::{encode_native, FrameHeader, StreamName};

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

/// Frames libzmq may queue per subscriber before it drops new ones for that subscriber.
/// Small on purpose: a slow subscriber gets fewer frames, not older ones.
pub const SEND_HWM_FRAMES: i32 = 4;
/// ZMTP heartbeats let libzmq notice a vanished subscriber and free its queue.
const HEARTBEAT_IVL_MS: i32 = 1000;
const HEARTBEAT_TIMEOUT_MS: i32 = 3000;

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("cannot bind {endpoint}: {source}")]
    Bind {
        endpoint: String,
        source: zmq::Error,
    },
    #[error("ZeroMQ socket setup: {0}")]
    Socket(zmq::Error),
    #[error("send failed: {0}")]
    Send(zmq::Error),
}

pub struct Publisher {
    socket: zmq::Socket,
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
        let socket = context.socket(zmq::PUB).map_err(PublishError::Socket)?;
        if let Some(pair) = curve {
            crate::security::make_curve_server(&socket, pair).map_err(PublishError::Socket)?;
        }
        socket
            .set_sndhwm(SEND_HWM_FRAMES)
            .map_err(PublishError::Socket)?;
        socket.set_linger(0).map_err(PublishError::Socket)?;
        socket
            .set_heartbeat_ivl(HEARTBEAT_IVL_MS)
            .map_err(PublishError::Socket)?;
        socket
            .set_heartbeat_timeout(HEARTBEAT_TIMEOUT_MS)
            .map_err(PublishError::Socket)?;
        socket.set_tcp_keepalive(1).map_err(PublishError::Socket)?;
        socket.bind(endpoint).map_err(|source| PublishError::Bind {
            endpoint: endpoint.to_owned(),
            source,
        })?;
        Ok(Self {
            socket,
            mode,
            stream,
            next_seq: 0,
            message: Vec::new(),
        })
    }

    /// The endpoint actually bound (with the port filled in when `:0` or `*` was asked for).
    pub fn endpoint(&self) -> String {
        match self.socket.get_last_endpoint() {
            Ok(Ok(endpoint)) => endpoint,
            _ => String::from("?"),
        }
    }

    /// Sends one frame; returns the number of bytes put on the wire. Never blocks: a subscriber
    /// whose queue is full misses this frame.
    pub fn publish(
        &mut self,
        jpeg: &[u8],
        width_px: u32,
        height_px: u32,
        capture_unix_ns: u64,
    ) -> Result<usize, PublishError> {
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
            WireMode::Base64 => {
                self.message.clear();
                let engine = &base64::engine::general_purpose::STANDARD;
                self.message
                    .resize(base64::encoded_len(jpeg.len(), true).unwrap_or(0), 0);
                let written = engine
                    .encode_slice(jpeg, &mut self.message)
                    .map_err(|_| PublishError::Send(zmq::Error::EMSGSIZE))?;
                self.message.truncate(written);
            }
        }
        self.socket
            .send(&self.message[..], zmq::DONTWAIT)
            .map_err(PublishError::Send)?;
        self.next_seq += 1;
        Ok(self.message.len())
    }
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
