//! linksim: a TCP proxy that behaves like a link slower than the stream — a bandwidth cap with a
//! short bottleneck queue, propagation delay with jitter, and segment loss as the retransmission
//! stall it causes — so campub and camview can be tested against "slow wifi" on loopback.
//!
//! ```no_run
//! # fn main() -> std::io::Result<()> {
//! use linksim::{LinkShape, Proxy};
//! let shape = LinkShape::wifi(3_000_000);
//! let proxy = Proxy::start("127.0.0.1:0".parse().unwrap(), "127.0.0.1:5555".parse().unwrap(), shape)?;
//! println!("connect to {}", proxy.local_addr());
//! proxy.set_rate_bps(50_000_000); // the link recovers
//! # Ok(()) }
//! ```
//!
//! Only the forward direction (upstream server -> downstream client, i.e. campub -> camview) is
//! capped; the reverse direction (subscriptions, heartbeats) gets the delay only. Bytes are never
//! dropped — TCP would retransmit them — so a lost segment is modelled as what TCP makes of it:
//! that segment, and everything behind it, arrives one retransmission delay late.

mod pump;
mod rate;

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

pub use rate::parse_rate_bps;

/// Bytes read from the upstream socket at a time: one Ethernet-sized TCP segment.
pub const SEGMENT_BYTES: usize = 1448;
/// The proxy's receive buffer towards the server. Kept small so that, when the link's queue is
/// full, back-pressure reaches the sender's own buffers (as it would across a real bottleneck)
/// instead of piling up in the proxy's kernel buffer.
const UPSTREAM_RCVBUF_BYTES: usize = 4096;
/// How often the accept loop checks whether it should stop.
const ACCEPT_POLL: Duration = Duration::from_millis(20);

/// How the link behaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkShape {
    /// Forward bandwidth in bits per second.
    pub rate_bps: u64,
    /// One-way propagation delay.
    pub delay: Duration,
    /// Each segment's delay varies uniformly within `delay ± jitter` (segments never overtake).
    pub jitter: Duration,
    /// Chance, in percent, that a forward segment is lost and has to be retransmitted.
    pub loss_percent: f64,
    /// How late a lost segment arrives: a fast retransmit costs about one round trip.
    pub retransmit_delay: Duration,
    /// Longest wait at the bottleneck: beyond this the link stops reading from the sender
    /// (a short queue, as a fq_codel-managed wifi interface keeps).
    pub queue: Duration,
}

impl LinkShape {
    /// The issue's "bad wifi": `rate_bps`, 20 ms ± 10 ms, 1 % loss, 50 ms of queue.
    pub fn wifi(rate_bps: u64) -> Self {
        let delay = Duration::from_millis(20);
        Self {
            rate_bps,
            delay,
            jitter: Duration::from_millis(10),
            loss_percent: 1.0,
            retransmit_delay: 2 * delay,
            queue: Duration::from_millis(50),
        }
    }

    /// A link that only delays: no cap, no loss.
    pub fn delay_only(delay: Duration, jitter: Duration) -> Self {
        Self {
            rate_bps: 0,
            delay,
            jitter,
            loss_percent: 0.0,
            retransmit_delay: Duration::ZERO,
            queue: Duration::ZERO,
        }
    }
}

/// What the proxy has carried, for reports.
#[derive(Debug, Default)]
pub struct LinkCounters {
    pub connections: AtomicU64,
    pub forward_bytes: AtomicU64,
    pub reverse_bytes: AtomicU64,
    pub lost_segments: AtomicU64,
}

/// State shared by the accept loop, every pump, and the handle.
struct Shared {
    shape: LinkShape,
    /// The forward rate, changeable while running; 0 means uncapped.
    rate_bps: AtomicU64,
    counters: LinkCounters,
    stop: AtomicBool,
    /// Clones of every open socket, so stopping can shut them down and unblock their pumps.
    sockets: Mutex<Vec<TcpStream>>,
}

/// A running proxy. Dropping it closes the listener and every connection.
pub struct Proxy {
    shared: Arc<Shared>,
    local_addr: SocketAddr,
    accept_thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on `listen` and forwards every connection to `upstream` through a link of `shape`.
    pub fn start(listen: SocketAddr, upstream: SocketAddr, shape: LinkShape) -> io::Result<Self> {
        let listener = TcpListener::bind(listen)?;
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            shape,
            rate_bps: AtomicU64::new(shape.rate_bps),
            counters: LinkCounters::default(),
            stop: AtomicBool::new(false),
            sockets: Mutex::new(Vec::new()),
        });
        let accept_thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("linksim-accept".into())
                .spawn(move || accept_loop(&listener, upstream, &shared))?
        };
        Ok(Self {
            shared,
            local_addr,
            accept_thread: Some(accept_thread),
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Changes the forward bandwidth of every connection, now; 0 removes the cap.
    pub fn set_rate_bps(&self, rate_bps: u64) {
        self.shared.rate_bps.store(rate_bps, Ordering::Relaxed);
    }

    pub fn counters(&self) -> &LinkCounters {
        &self.shared.counters
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        shut_down_all(&self.shared);
        if let Some(thread) = self.accept_thread.take() {
            let _ = thread.join();
        }
    }
}

fn shut_down_all(shared: &Shared) {
    let sockets = match shared.sockets.lock() {
        Ok(mut sockets) => std::mem::take(&mut *sockets),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    };
    for socket in sockets {
        let _ = socket.shutdown(std::net::Shutdown::Both);
    }
}

fn accept_loop(listener: &TcpListener, upstream: SocketAddr, shared: &Arc<Shared>) {
    while !shared.stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((client, peer)) => {
                if let Err(e) = connect_pair(client, upstream, shared) {
                    log::warn!("linksim: dropping the connection from {peer}: {e}");
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(ACCEPT_POLL),
            Err(e) => {
                log::warn!("linksim: accept failed: {e}");
                std::thread::sleep(ACCEPT_POLL);
            }
        }
    }
}

/// Connects to the server for one accepted client and starts the two directions.
fn connect_pair(client: TcpStream, upstream: SocketAddr, shared: &Arc<Shared>) -> io::Result<()> {
    client.set_nonblocking(false)?;
    client.set_nodelay(true)?;
    let server = connect_small_rcvbuf(upstream)?;
    {
        let mut sockets = shared.sockets.lock().unwrap_or_else(|p| p.into_inner());
        sockets.push(client.try_clone()?);
        sockets.push(server.try_clone()?);
    }
    shared.counters.connections.fetch_add(1, Ordering::Relaxed);
    let forward = pump::Direction::Forward;
    let reverse = pump::Direction::Reverse;
    pump::start(
        forward,
        server.try_clone()?,
        client.try_clone()?,
        Arc::clone(shared),
    )?;
    pump::start(reverse, client, server, Arc::clone(shared))?;
    Ok(())
}

fn connect_small_rcvbuf(upstream: SocketAddr) -> io::Result<TcpStream> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(upstream),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    // Before connect, so the window the server sees is small from the handshake on.
    socket.set_recv_buffer_size(UPSTREAM_RCVBUF_BYTES)?;
    socket.set_nodelay(true)?;
    socket.connect(&upstream.into())?;
    Ok(socket.into())
}
