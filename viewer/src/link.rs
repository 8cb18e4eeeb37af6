//! How camview's SUB socket notices a broken link and gets back onto one that returns: the
//! heartbeat, connect, handshake and reconnect timings (docs/WIFI.md has the measurements).

use crate::error::Error;

/// Heartbeats notice a dead link (peer gone without closing TCP) within the timeout.
const HEARTBEAT_IVL_MS: i32 = 1000;
const HEARTBEAT_TIMEOUT_MS: i32 = 3000;
/// A connection attempt is given up after this long and a new one made. Without it an attempt
/// made while the link is down waits out TCP's SYN back-off (1, 3, 7, 15, 31, 63 s after the
/// first SYN) and frames came back 26.6 s after the link did, after a 45-s outage.
const CONNECT_TIMEOUT_MS: i32 = 1000;
/// A handshake (ZMTP, CURVE) not done within this long is given up and the connection made
/// again: an outage in the middle of one otherwise costs libzmq's default of 30 s.
const HANDSHAKE_IVL_MS: i32 = 3000;
/// Reconnect quickly after a publisher restart or an outage, backing off to twice a second:
/// with the connect timeout, a SYN leaves at least once a second while the link is down, so
/// frames are back within about a second of its return.
const RECONNECT_IVL_MS: i32 = 100;
const RECONNECT_IVL_MAX_MS: i32 = 500;

/// Sets the link timings on `socket` (before connect).
pub fn configure(socket: &zmq::Socket) -> Result<(), Error> {
    let set = |what: &str, result: zmq::Result<()>| {
        result.map_err(|e| Error::zmq(format!("set {what}"), e))
    };
    set(
        "ZMQ_HEARTBEAT_IVL",
        socket.set_heartbeat_ivl(HEARTBEAT_IVL_MS),
    )?;
    set(
        "ZMQ_HEARTBEAT_TIMEOUT",
        socket.set_heartbeat_timeout(HEARTBEAT_TIMEOUT_MS),
    )?;
    set(
        "ZMQ_CONNECT_TIMEOUT",
        socket.set_connect_timeout(CONNECT_TIMEOUT_MS),
    )?;
    set(
        "ZMQ_HANDSHAKE_IVL",
        socket.set_handshake_ivl(HANDSHAKE_IVL_MS),
    )?;
    set(
        "ZMQ_RECONNECT_IVL",
        socket.set_reconnect_ivl(RECONNECT_IVL_MS),
    )?;
    set(
        "ZMQ_RECONNECT_IVL_MAX",
        socket.set_reconnect_ivl_max(RECONNECT_IVL_MAX_MS),
    )
}
