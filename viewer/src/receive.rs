//! The ZeroMQ SUB side: one thread receives, drains whatever is queued and hands only the
//! newest plausible message on, so nothing ever queues up behind a slow viewer.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use camwire::NewestFrame;

use crate::decode::wire_reason;
use crate::error::Error;
use crate::monitor::{EndpointStatus, Monitor};
use crate::security::ClientKeys;
use crate::stats::BadCounts;

/// Messages queued in ZeroMQ per connection; the thread drains faster than frames arrive, and a
/// small queue keeps a stalled viewer from building a backlog in the socket.
const RCVHWM_MESSAGES: i32 = 4;
/// How often the thread wakes to notice that it should stop.
const RECV_TIMEOUT_MS: i32 = 100;
/// Messages drained in one go before the newest is handed on regardless.
const MAX_DRAIN_MESSAGES: usize = 1000;
/// A hand-off buffer above this size that is four times larger than needed is reallocated.
const SHRINK_ABOVE_BYTES: usize = 1 << 20;
/// Streams whose sequence numbers are followed; more are received but not checked for gaps.
const MAX_TRACKED_STREAMS: usize = 16;

/// Where to subscribe and to what.
#[derive(Debug, Clone)]
pub struct ReceiveConfig {
    pub endpoints: Vec<String>,
    /// ZeroMQ subscription prefix: empty for everything, `name\0` for one stream.
    pub subscription: Vec<u8>,
    /// CURVE keys, when the publisher encrypts.
    pub curve: Option<ClientKeys>,
}

/// What the receiving thread counted.
#[derive(Debug, Default)]
pub struct ReceiveCounters {
    received: AtomicU64,
    /// Plausible messages that a newer one replaced within one drain.
    drained: AtomicU64,
    /// Native frames the publisher sent but this viewer never received (gaps in sequence
    /// numbers): the publisher dropped them because the link to this viewer was too slow.
    lost: AtomicU64,
    /// Messages refused without decoding (the wire format says they are malformed).
    bad: Mutex<BadCounts>,
}

impl ReceiveCounters {
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    pub fn bad(&self) -> BadCounts {
        self.bad
            .lock()
            .map(|b| b.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    fn add_bad(&self, reason: &'static str) {
        match self.bad.lock() {
            Ok(mut bad) => bad.add(reason, 1),
            Err(poisoned) => poisoned.into_inner().add(reason, 1),
        }
    }
}

/// The running receiver. Dropping it stops and joins the thread.
pub struct Receiver {
    newest: Arc<NewestFrame<Vec<u8>>>,
    counters: Arc<ReceiveCounters>,
    monitor: Arc<Monitor>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    /// Creates the socket and connects it (so a bad endpoint is an error here), then starts the
    /// receiving thread.
    pub fn start(config: &ReceiveConfig) -> Result<Self, Error> {
        let context = zmq::Context::new();
        let socket = context
            .socket(zmq::SUB)
            .map_err(|e| Error::zmq("create a SUB socket", e))?;
        configure(&socket, config)?;
        if let Some(keys) = &config.curve {
            keys.apply(&socket)
                .map_err(|e| Error::zmq("set the CURVE keys", e))?;
        }
        let monitor = Arc::new(Monitor::start(
            &context,
            &socket,
            &config.endpoints,
            config.curve.is_some(),
        )?);
        for endpoint in &config.endpoints {
            socket
                .connect(endpoint)
                .map_err(|e| Error::zmq(format!("connect to {endpoint}"), e))?;
        }

        let newest = Arc::new(NewestFrame::new());
        let counters = Arc::new(ReceiveCounters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (newest, counters, stop, monitor) = (
                Arc::clone(&newest),
                Arc::clone(&counters),
                Arc::clone(&stop),
                Arc::clone(&monitor),
            );
            std::thread::Builder::new()
                .name("receive".into())
                .spawn(move || {
                    receive_loop(&socket, &newest, &counters, &stop, &monitor);
                    // Closing the socket before the context lets the context end at once.
                    drop(socket);
                    drop(context);
                    newest.close();
                })
                .map_err(Error::Thread)?
        };
        Ok(Self {
            newest,
            counters,
            monitor,
            stop,
            thread: Some(thread),
        })
    }

    /// Each endpoint's connection state, from the socket monitor.
    pub fn connection(&self) -> Vec<EndpointStatus> {
        self.monitor.statuses()
    }

    /// The newest message, waiting up to `timeout` for one.
    pub fn take(&self, timeout: Duration) -> Result<Vec<u8>, camwire::TakeError> {
        self.newest.take(timeout)
    }

    /// Gives a taken message's buffer back for reuse.
    pub fn recycle(&self, buffer: Vec<u8>) {
        self.newest.recycle(buffer);
    }

    pub fn received(&self) -> u64 {
        self.counters.received()
    }

    /// Messages never shown because a newer one arrived first.
    pub fn skipped(&self) -> u64 {
        self.counters.drained.load(Ordering::Relaxed) + self.newest.replaced()
    }

    /// Frames the publisher sent that never arrived (it dropped them for this viewer's link).
    pub fn lost(&self) -> u64 {
        self.counters.lost()
    }

    pub fn bad(&self) -> BadCounts {
        self.counters.bad()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error!("the receiving thread panicked");
            }
        }
    }
}

fn configure(socket: &zmq::Socket, config: &ReceiveConfig) -> Result<(), Error> {
    let max_msg_bytes = i64::try_from(camwire::MAX_MESSAGE_BYTES).unwrap_or(i64::MAX);
    let set = |what: &str, result: zmq::Result<()>| {
        result.map_err(|e| Error::zmq(format!("set {what}"), e))
    };
    set("ZMQ_RCVHWM", socket.set_rcvhwm(RCVHWM_MESSAGES))?;
    set("ZMQ_MAXMSGSIZE", socket.set_maxmsgsize(max_msg_bytes))?;
    set("ZMQ_RCVTIMEO", socket.set_rcvtimeo(RECV_TIMEOUT_MS))?;
    set("ZMQ_LINGER", socket.set_linger(0))?;
    // Heartbeats, connect and reconnect timings: how a broken link is noticed and left.
    crate::link::configure(socket)?;
    set("ZMQ_SUBSCRIBE", socket.set_subscribe(&config.subscription))?;
    Ok(())
}

/// What one received message turned out to be.
enum Received {
    /// Passed the wire format's checks: a candidate for showing.
    Plausible(zmq::Message),
    /// Counted as bad already.
    Refused,
    /// Nothing arrived (timeout, interrupted, or an error that was logged).
    Nothing,
}

fn receive_loop(
    socket: &zmq::Socket,
    newest: &NewestFrame<Vec<u8>>,
    counters: &ReceiveCounters,
    stop: &AtomicBool,
    monitor: &Monitor,
) {
    let mut spare: Option<Vec<u8>> = None;
    let mut gaps = SeqGaps::default();
    while !stop.load(Ordering::Relaxed) {
        monitor.retry_refused(socket);
        let mut pending = match receive_one(socket, 0, counters, &mut gaps) {
            Received::Plausible(msg) => Some(msg),
            Received::Refused | Received::Nothing => None,
        };
        for _ in 0..MAX_DRAIN_MESSAGES {
            match receive_one(socket, zmq::DONTWAIT, counters, &mut gaps) {
                Received::Plausible(msg) => {
                    if pending.replace(msg).is_some() {
                        counters.drained.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Received::Refused => {}
                Received::Nothing => break,
            }
        }
        if let Some(msg) = pending {
            let mut buffer = spare.take().or_else(|| newest.spare()).unwrap_or_default();
            fill(&mut buffer, &msg);
            spare = newest.put(buffer);
        }
    }
}

/// Receives one whole message and screens it with the wire format's (cheap) checks, so that a
/// burst of garbage is counted here and never displaces a good frame waiting to be shown.
fn receive_one(
    socket: &zmq::Socket,
    flags: i32,
    counters: &ReceiveCounters,
    gaps: &mut SeqGaps,
) -> Received {
    let mut msg = zmq::Message::new();
    match socket.recv(&mut msg, flags) {
        Ok(()) => {}
        Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => return Received::Nothing,
        Err(e) => {
            log::warn!("receive failed: {e}");
            std::thread::sleep(Duration::from_millis(RECV_TIMEOUT_MS as u64));
            return Received::Nothing;
        }
    }
    counters.received.fetch_add(1, Ordering::Relaxed);
    if msg.get_more() {
        // Every shape camview reads is one frame; drop the rest of a multipart message.
        while let Ok(true) = socket.get_rcvmore() {
            if socket.recv(&mut msg, 0).is_err() {
                break;
            }
        }
        counters.add_bad("multipart");
        return Received::Refused;
    }
    match camwire::classify(&msg) {
        Ok(message) => {
            if let camwire::Message::Native(frame) = message {
                let missing = gaps.observe(frame.stream, frame.header.seq);
                counters.lost.fetch_add(missing, Ordering::Relaxed);
            }
            Received::Plausible(msg)
        }
        Err(e) => {
            log::debug!("refused a message: {e}");
            counters.add_bad(wire_reason(&e));
            Received::Refused
        }
    }
}

/// Follows each stream's sequence numbers to count the frames that never arrived.
#[derive(Debug, Default)]
struct SeqGaps {
    last_seq: Vec<(String, u64)>,
}

impl SeqGaps {
    /// Records `seq` for `stream`; returns how many frames were skipped since the last one. A
    /// sequence number that goes back means the publisher restarted: no loss is counted.
    fn observe(&mut self, stream: &str, seq: u64) -> u64 {
        match self.last_seq.iter_mut().find(|(name, _)| name == stream) {
            Some((_, last)) => {
                let missing = seq.saturating_sub(*last).saturating_sub(1);
                *last = seq;
                missing
            }
            None => {
                if self.last_seq.len() < MAX_TRACKED_STREAMS {
                    self.last_seq.push((stream.to_owned(), seq));
                }
                0
            }
        }
    }
}

/// Copies `msg` into `buffer`, dropping an allocation that an earlier huge message left behind.
fn fill(buffer: &mut Vec<u8>, msg: &[u8]) {
    if buffer.capacity() > SHRINK_ABOVE_BYTES && buffer.capacity() / 4 > msg.len() {
        *buffer = Vec::with_capacity(msg.len());
    }
    buffer.clear();
    buffer.extend_from_slice(msg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_reuses_and_shrinks() {
        let mut buffer = Vec::with_capacity(100);
        let ptr = buffer.as_ptr();
        fill(&mut buffer, b"hello");
        assert_eq!((buffer.as_slice(), buffer.as_ptr()), (&b"hello"[..], ptr));

        let mut huge = Vec::with_capacity(8 << 20);
        fill(&mut huge, &[1u8; 1000]);
        assert!(huge.capacity() < SHRINK_ABOVE_BYTES);
        assert_eq!(huge.len(), 1000);
    }

    #[test]
    fn sequence_gaps_count_lost_frames_per_stream() {
        let mut gaps = SeqGaps::default();
        assert_eq!(
            gaps.observe("a", 10),
            0,
            "the first frame seen loses nothing"
        );
        assert_eq!(gaps.observe("a", 11), 0);
        assert_eq!(gaps.observe("b", 500), 0, "streams are followed separately");
        assert_eq!(gaps.observe("a", 15), 3);
        assert_eq!(gaps.observe("b", 502), 1);
        assert_eq!(gaps.observe("a", 2), 0, "a publisher restart is not a loss");
        assert_eq!(gaps.observe("a", 4), 1);
        assert_eq!(gaps.observe("a", 4), 0, "a repeat is not a loss");
        for i in 0..100 {
            gaps.observe(&format!("s{i}"), 0);
        }
        assert!(gaps.last_seq.len() <= MAX_TRACKED_STREAMS);
    }

    #[test]
    fn bad_endpoint_is_an_error_not_a_panic() {
        let config = ReceiveConfig {
            endpoints: vec!["tcp://:nope".into()],
            subscription: Vec::new(),
            curve: None,
        };
        let err = Receiver::start(&config).err().expect("connect must fail");
        assert!(err.to_string().contains("connect to tcp://:nope"), "{err}");
    }
}
