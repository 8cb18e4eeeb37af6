//! The ZeroMQ SUB side: one thread receives, drains whatever is queued and hands only the
//! newest plausible message on, so nothing ever queues up behind a slow viewer.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use camthreads::{NewestFrame, Worker};

use crate::decode::{DecodeError, FrameLimits};
use crate::error::Error;
use crate::memory::HeapShare;
use crate::monitor::{EndpointStatus, Monitor};
use crate::security::ClientKeys;
use crate::stats::BadMessages;

/// Messages queued in ZeroMQ per connection; the thread drains faster than frames arrive, and a
/// small queue keeps a stalled viewer from building a backlog in the socket.
const RCVHWM_MESSAGES: i32 = 4;
/// How often the thread wakes to notice that it should stop, and at least how often it looks
/// at the heap: libzmq reads about 1 GB/s on loopback, so the heap passes its bound by at most
/// some 20 MB before camview acts.
const RECV_TIMEOUT_MS: i32 = 20;
/// After dropping the connections for memory, libzmq frees what they held on its own thread:
/// the heap is not looked at again for this long.
const HEAP_COOLDOWN: Duration = Duration::from_millis(500);
/// Messages drained in one go before the newest is handed on regardless, and the longest a
/// drain goes on (so that the heap is looked at, and a frame handed on, however fast junk
/// arrives).
const MAX_DRAIN_MESSAGES: usize = 1000;
const MAX_DRAIN_TIME: Duration = Duration::from_millis(100);
/// A round of the receiving loop that took longer than this (normally it takes at most
/// RECV_TIMEOUT_MS) means this thread was stopped (SIGSTOP, a suspended laptop, a machine
/// stalled): everything queued meanwhile, in libzmq and in the kernel's socket buffer, is old.
/// libzmq brings the kernel's share in only as its queue is read, so the newest message at hand
/// is not the newest sent; camview drops what is queued until the socket has been quiet for
/// [`BACKLOG_QUIET_MS`] (at most for [`MAX_BACKLOG_FLUSH`]), and shows what comes after.
const STALL_AFTER: Duration = Duration::from_secs(1);
const BACKLOG_QUIET_MS: i64 = 20;
const MAX_BACKLOG_FLUSH: Duration = Duration::from_secs(1);
/// A message that waited in the hand-off longer than this was not taken because the viewer
/// was stopped or stalled; it is dropped (counted as skipped) rather than shown that late.
const MAX_WAIT_IN_HANDOFF: Duration = Duration::from_secs(1);
/// A hand-off buffer above this size that is four times larger than needed is reallocated.
const SHRINK_ABOVE_BYTES: usize = 1 << 20;
/// Streams whose sequence numbers are followed; more are received but not checked for gaps.
const MAX_TRACKED_STREAMS: usize = 16;
/// The fastest a publisher can plausibly number frames (campub does at most a camera's rate,
/// well under this). A jump in sequence numbers larger than this rate allows for the time since
/// the stream's last frame is not loss but a sender that restarted (or lies): it counts nothing,
/// so a forged header cannot make `lost` jump (it once reached 9223372036854775724).
const MAX_PLAUSIBLE_FRAMES_PER_S: f64 = 1000.0;

/// Where to subscribe and to what.
#[derive(Debug, Clone)]
pub struct ReceiveConfig {
    pub endpoints: Vec<String>,
    /// ZeroMQ subscription prefix: empty for everything, `name\0` for one stream.
    pub subscription: Vec<u8>,
    /// CURVE keys, when the publisher encrypts.
    pub curve: Option<ClientKeys>,
    /// What a frame may declare; anything beyond is refused here, before it can displace a
    /// frame waiting to be shown.
    pub limits: FrameLimits,
    /// The part of camview's heap bound (`memory::BUDGET`) this receiver holds while it runs,
    /// per endpoint: a tile's (`memory::heap_bound_per_tile_bytes`), or a connection's that
    /// shows nothing. Past the whole bound the connections are made again. `None`: the heap
    /// is not watched.
    pub heap_share_bytes: Option<usize>,
}

/// A received message and when it was handed over.
#[derive(Debug, Default)]
struct Stamped {
    at: Option<Instant>,
    bytes: Vec<u8>,
}

/// What the receiving thread counted.
#[derive(Debug, Default)]
pub struct ReceiveCounters {
    received: AtomicU64,
    /// Plausible messages that a newer one replaced within one drain, or that waited too long.
    drained: AtomicU64,
    /// Native frames the publisher sent but this viewer never received (gaps in sequence
    /// numbers): the publisher dropped them because the link to this viewer was too slow.
    lost: AtomicU64,
    /// Where messages refused without decoding are counted (the wire format says they are
    /// malformed), with those the viewer could not decode or show.
    bad: Arc<BadMessages>,
    /// The newest relay directory (camrelay's list of its streams), if any came.
    directory: std::sync::Mutex<Option<Vec<camwire::StreamName>>>,
}

impl ReceiveCounters {
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    pub fn lost(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// The newest relay directory received (see [`Receiver::directory`]).
    fn set_directory(&self, names: Vec<camwire::StreamName>) {
        if let Ok(mut directory) = self.directory.lock() {
            *directory = Some(names);
        }
    }

    fn add_bad(&self, reason: &'static str) {
        self.bad.add(reason);
    }
}

/// The running receiver. Dropping it stops and joins the thread.
pub struct Receiver {
    /// First, so that it is stopped and joined before anything it uses is dropped.
    _worker: Worker,
    /// Held while the receiver runs (given back after the thread is joined).
    _heap_share: Option<HeapShare<'static>>,
    newest: Arc<NewestFrame<Stamped>>,
    counters: Arc<ReceiveCounters>,
    monitor: Arc<Monitor>,
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

        // Taken before the thread starts, so that its first look at the heap counts it.
        let heap_share = config.heap_share_bytes.map(|bytes| {
            crate::memory::BUDGET.share(bytes.saturating_mul(config.endpoints.len().max(1)))
        });
        let newest = Arc::new(NewestFrame::new());
        let counters = Arc::new(ReceiveCounters::default());
        let worker = {
            let (newest, counters, monitor) = (
                Arc::clone(&newest),
                Arc::clone(&counters),
                Arc::clone(&monitor),
            );
            let limits = config.limits;
            let watched = config.heap_share_bytes.is_some();
            Worker::spawn("receive", move |stop| {
                let watch = HeapWatch::new(watched);
                receive_loop(&socket, &newest, &counters, stop, &monitor, &limits, watch);
                // Closing the socket before the context lets the context end at once.
                drop(socket);
                drop(context);
                newest.close();
            })
            .map_err(Error::Thread)?
        };
        Ok(Self {
            _worker: worker,
            _heap_share: heap_share,
            newest,
            counters,
            monitor,
        })
    }

    /// Each endpoint's connection state, from the socket monitor.
    pub fn connection(&self) -> Vec<EndpointStatus> {
        self.monitor.statuses()
    }

    /// The streams a relay (camrelay) said it carries in its newest directory message; `None`
    /// when none arrived (a publisher, not a relay).
    pub fn directory(&self) -> Option<Vec<camwire::StreamName>> {
        self.counters
            .directory
            .lock()
            .ok()
            .and_then(|directory| directory.clone())
    }

    /// The newest message, waiting up to `timeout` for one. A message that waited longer than
    /// [`MAX_WAIT_IN_HANDOFF`] (the viewer was stopped) is skipped: a newer one is on its way.
    pub fn take(&self, timeout: Duration) -> Result<Vec<u8>, camthreads::TakeError> {
        let deadline = Instant::now() + timeout;
        loop {
            let item = self
                .newest
                .take(deadline.saturating_duration_since(Instant::now()))?;
            let waited = item.at.map(|at| at.elapsed());
            if waited.is_some_and(|w| w > MAX_WAIT_IN_HANDOFF) {
                self.counters.drained.fetch_add(1, Ordering::Relaxed);
                self.newest.recycle(item);
                continue;
            }
            return Ok(item.bytes);
        }
    }

    /// Gives a taken message's buffer back for reuse.
    pub fn recycle(&self, buffer: Vec<u8>) {
        self.newest.recycle(Stamped {
            at: None,
            bytes: buffer,
        });
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

    /// The tally of bad messages, which the viewer adds its own to.
    pub fn bad(&self) -> Arc<BadMessages> {
        Arc::clone(&self.counters.bad)
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
    newest: &NewestFrame<Stamped>,
    counters: &ReceiveCounters,
    stop: &AtomicBool,
    monitor: &Monitor,
    limits: &FrameLimits,
    mut heap: HeapWatch,
) {
    let mut spare: Option<Stamped> = None;
    let mut screen = Screen {
        gaps: SeqGaps::default(),
        limits: *limits,
        base64: Vec::new(),
    };
    while !stop.load(Ordering::Relaxed) {
        for _ in 0..monitor.reconnect_abandoned(socket) {
            counters.add_bad("oversized");
        }
        if heap.over_bound() {
            counters.add_bad("oversized");
            monitor.reconnect_all(socket);
        }
        let round_started = Instant::now();
        let mut pending = match receive_one(socket, 0, counters, &mut screen) {
            Received::Plausible(msg) => Some(msg),
            Received::Refused | Received::Nothing => None,
        };
        let drain_until = Instant::now() + MAX_DRAIN_TIME;
        for _ in 0..MAX_DRAIN_MESSAGES {
            if Instant::now() > drain_until {
                break;
            }
            match receive_one(socket, zmq::DONTWAIT, counters, &mut screen) {
                Received::Plausible(msg) => {
                    if pending.replace(msg).is_some() {
                        counters.drained.fetch_add(1, Ordering::Relaxed);
                    }
                }
                Received::Refused => {}
                Received::Nothing => break,
            }
        }
        if round_started.elapsed() > STALL_AFTER {
            let old =
                u64::from(pending.take().is_some()) + flush_backlog(socket, counters, &mut screen);
            counters.drained.fetch_add(old, Ordering::Relaxed);
            log::info!(
                "resumed after a stall of {:.1?}: dropped {old} frames queued meanwhile",
                round_started.elapsed()
            );
        }
        if let Some(msg) = pending {
            let mut item = spare.take().or_else(|| newest.spare()).unwrap_or_default();
            fill(&mut item.bytes, &msg);
            item.at = Some(Instant::now());
            spare = newest.put(item);
        }
    }
}

/// Looks at the heap against camview's whole bound (`memory::BUDGET`, which follows the tiles
/// running now), at most once per receiving round.
struct HeapWatch {
    watched: bool,
    quiet_until: Instant,
    times_over: u64,
}

impl HeapWatch {
    fn new(watched: bool) -> Self {
        let measurable = crate::memory::heap_in_use_bytes().is_some();
        if watched && !measurable {
            log::info!("the heap cannot be measured here: its bound is not enforced");
        }
        Self {
            watched: watched && measurable,
            quiet_until: Instant::now(),
            times_over: 0,
        }
    }

    /// `true` when the heap is over its bound (and was not just found so): the connections
    /// must be dropped. Only a message larger than the limits can do that, and the only such
    /// message libzmq accepts is a multipart one, each part within ZMQ_MAXMSGSIZE.
    fn over_bound(&mut self) -> bool {
        if !self.watched {
            return false;
        }
        let now = Instant::now();
        if now < self.quiet_until {
            return false;
        }
        let Some(in_use) = crate::memory::heap_in_use_bytes() else {
            return false;
        };
        let bound = crate::memory::BUDGET.bound_bytes();
        if in_use <= bound {
            return false;
        }
        self.times_over += 1;
        self.quiet_until = now + HEAP_COOLDOWN;
        if self.times_over <= 5 || self.times_over.is_power_of_two() {
            log::warn!(
                "heap at {} MiB, over camview's bound of {} MiB ({} times so far): a publisher \
                 is sending a message over the {} byte limit (in parts); connecting again",
                in_use >> 20,
                bound >> 20,
                self.times_over,
                camwire::MAX_MESSAGE_BYTES
            );
        }
        true
    }
}

/// Receives and drops what was queued while this thread was stopped, until nothing comes for
/// [`BACKLOG_QUIET_MS`]; returns how many plausible frames were dropped.
fn flush_backlog(socket: &zmq::Socket, counters: &ReceiveCounters, screen: &mut Screen) -> u64 {
    let until = Instant::now() + MAX_BACKLOG_FLUSH;
    let mut dropped = 0;
    while Instant::now() < until {
        match socket.poll(zmq::POLLIN, BACKLOG_QUIET_MS) {
            Ok(n) if n > 0 => {}
            _ => break,
        }
        while let received @ (Received::Plausible(_) | Received::Refused) =
            receive_one(socket, zmq::DONTWAIT, counters, screen)
        {
            dropped += u64::from(matches!(received, Received::Plausible(_)));
        }
    }
    dropped
}

/// What the receiving thread checks each message with, and keeps between messages.
struct Screen {
    gaps: SeqGaps,
    limits: FrameLimits,
    /// Decoded base64 text, reused.
    base64: Vec<u8>,
}

impl Screen {
    /// Everything about a message that can be checked without decoding its picture: the wire
    /// format, the JPEG's marker structure, the limits, and that a native header's size is the
    /// JPEG's. Only a message that passes may become the newest, so junk that merely starts like
    /// a JPEG, or a decompression bomb, never displaces a real frame.
    /// Returns how many frames of a native stream went missing before this one.
    fn check(&mut self, msg: &[u8]) -> Result<u64, DecodeError> {
        let mut native = None;
        let (jpeg, declared) = match camwire::classify(msg)? {
            camwire::Message::Native(frame) => {
                native = Some((frame.stream, frame.header.seq));
                (
                    frame.jpeg,
                    Some((frame.header.width_px, frame.header.height_px)),
                )
            }
            camwire::Message::BareJpeg(jpeg) => (jpeg, None),
            camwire::Message::Base64(text) => {
                camwire::decode_base64_into(text, &mut self.base64)?;
                (&self.base64[..], None)
            }
        };
        let layout = camwire::inspect_jpeg(jpeg)?;
        if let Some(header) = declared {
            if header != (layout.width_px, layout.height_px) {
                return Err(DecodeError::SizeMismatch {
                    header,
                    jpeg: (usize::from(layout.width_px), usize::from(layout.height_px)),
                });
            }
        }
        self.limits.check(&layout, jpeg.len())?;
        // Only frames that pass everything move the sequence numbers on.
        Ok(native.map_or(0, |(stream, seq)| {
            self.gaps.observe(stream, seq, Instant::now())
        }))
    }
}

/// Receives one whole message and screens it (see [`Screen::check`]), so that a burst of
/// garbage is counted here and never displaces a good frame waiting to be shown.
fn receive_one(
    socket: &zmq::Socket,
    flags: i32,
    counters: &ReceiveCounters,
    screen: &mut Screen,
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
    if camwire::is_directory(&msg) && !msg.get_more() {
        // A relay's list of its streams (camrelay): not a frame, never shown or counted.
        match camwire::parse_directory(&msg) {
            Ok(names) => counters.set_directory(names),
            Err(e) => {
                log::debug!("refused a directory message: {e}");
                counters.add_bad(e.reason());
            }
        }
        return Received::Refused;
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
    match screen.check(&msg) {
        Ok(missing) => {
            add_saturating(&counters.lost, missing);
            Received::Plausible(msg)
        }
        Err(e) => {
            log::debug!("refused a message: {e}");
            counters.add_bad(e.reason());
            Received::Refused
        }
    }
}

/// Adds to a counter without ever wrapping around.
fn add_saturating(counter: &AtomicU64, n: u64) {
    if n > 0 {
        // fetch_update only fails when the closure returns None, which this one never does.
        let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
            Some(v.saturating_add(n))
        });
    }
}

/// Follows each stream's sequence numbers to count the frames that never arrived.
#[derive(Debug, Default)]
struct SeqGaps {
    /// Stream name, last sequence number, when it arrived.
    last_seq: Vec<(String, u64, Instant)>,
}

impl SeqGaps {
    /// Records `seq` for `stream` arriving at `now`; returns how many frames were skipped since
    /// the last one. A sequence number that goes back, or jumps further ahead than a publisher
    /// could have counted since the last frame (see [`MAX_PLAUSIBLE_FRAMES_PER_S`]), means the
    /// publisher restarted (or the header lies): no loss is counted, and counting starts again.
    fn observe(&mut self, stream: &str, seq: u64, now: Instant) -> u64 {
        match self.last_seq.iter_mut().find(|(name, ..)| name == stream) {
            Some((_, last, at)) => {
                let missing = seq.saturating_sub(*last).saturating_sub(1);
                let elapsed_s = now.saturating_duration_since(*at).as_secs_f64();
                // At least one frame's worth, so that two frames in the same instant with one
                // missing between them still count it.
                let plausible = (elapsed_s * MAX_PLAUSIBLE_FRAMES_PER_S).ceil().max(1.0);
                *last = seq;
                *at = now;
                if missing as f64 > plausible {
                    0
                } else {
                    missing
                }
            }
            None => {
                if self.last_seq.len() < MAX_TRACKED_STREAMS {
                    self.last_seq.push((stream.to_owned(), seq, now));
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
        let t = Instant::now();
        let ms = |n: u64| t + Duration::from_millis(n);
        assert_eq!(
            gaps.observe("a", 10, ms(0)),
            0,
            "the first frame seen loses nothing"
        );
        assert_eq!(gaps.observe("a", 11, ms(33)), 0);
        assert_eq!(
            gaps.observe("b", 500, ms(40)),
            0,
            "streams are followed separately"
        );
        assert_eq!(gaps.observe("a", 15, ms(166)), 3);
        assert_eq!(gaps.observe("b", 502, ms(170)), 1);
        assert_eq!(
            gaps.observe("a", 2, ms(200)),
            0,
            "a publisher restart is not a loss"
        );
        assert_eq!(
            gaps.observe("a", 4, ms(200)),
            1,
            "same instant, one missing"
        );
        assert_eq!(gaps.observe("a", 4, ms(233)), 0, "a repeat is not a loss");
        // A long outage: 10 s at 30 fps is plausible and counted.
        assert_eq!(gaps.observe("a", 305, ms(10_233)), 300);
        for i in 0..100 {
            gaps.observe(&format!("s{i}"), 0, ms(0));
        }
        assert!(gaps.last_seq.len() <= MAX_TRACKED_STREAMS);
    }

    #[test]
    fn lying_sequence_numbers_never_inflate_the_loss() {
        let mut gaps = SeqGaps::default();
        let t = Instant::now();
        let lost = AtomicU64::new(0);
        let mut at = t;
        // Headers that jump to the end of the range and back, a microsecond apart.
        for (i, seq) in [0, u64::MAX - 100, 1, u64::MAX, 2, u64::MAX / 2, 3, 1 << 40]
            .into_iter()
            .cycle()
            .take(10_000)
            .enumerate()
        {
            at = t + Duration::from_micros(i as u64);
            add_saturating(&lost, gaps.observe("liar", seq, at));
        }
        assert_eq!(
            lost.load(Ordering::Relaxed),
            0,
            "jumps are restarts, not loss"
        );
        // Counting goes on normally afterwards.
        gaps.observe("liar", 100, at + Duration::from_secs(1));
        assert_eq!(gaps.observe("liar", 103, at + Duration::from_secs(2)), 2);
        // 1000 frames in one second is the most that counts; more is a restart.
        assert_eq!(
            gaps.observe("liar", 1104, at + Duration::from_secs(3)),
            1000
        );
        assert_eq!(gaps.observe("liar", 3106, at + Duration::from_secs(4)), 0);
    }

    #[test]
    fn the_counter_saturates() {
        let counter = AtomicU64::new(u64::MAX - 1);
        add_saturating(&counter, 5);
        add_saturating(&counter, u64::MAX);
        assert_eq!(counter.load(Ordering::Relaxed), u64::MAX);
    }

    #[test]
    fn bad_endpoint_is_an_error_not_a_panic() {
        let config = ReceiveConfig {
            endpoints: vec!["tcp://:nope".into()],
            subscription: Vec::new(),
            curve: None,
            limits: FrameLimits::default(),
            heap_share_bytes: None,
        };
        let err = Receiver::start(&config).err().expect("connect must fail");
        assert!(err.to_string().contains("connect to tcp://:nope"), "{err}");
    }
}
