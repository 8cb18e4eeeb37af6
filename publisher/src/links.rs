//! What campub can see of its subscribers' links: each TCP connection on its port, sampled a
//! few times a second, and how much of the stream it actually delivered (the kernel's count of
//! acknowledged bytes, `TCP_INFO`) against what campub published meanwhile.
//!
//! A connection that delivers less than the stream is on a link slower than the stream: ZeroMQ
//! is replacing frames for that subscriber (the viewer sees them as "lost"). PUB sockets have no
//! per-subscriber drop counter, so this is how the publisher knows (docs/WIFI.md). The sockets
//! belong to libzmq; they are found among this process's descriptors (/proc/self/fd) by their
//! local port, and only read.

use std::collections::HashMap;
use std::os::fd::{BorrowedFd, RawFd};
use std::time::{Duration, Instant};

/// How often the connections are read.
const SAMPLE_EVERY: Duration = Duration::from_millis(200);
/// A subscriber that delivered less than this share of the published bytes is on a slow link.
pub const SLOW_BELOW_SHARE: f64 = 0.9;
/// Published bytes needed in a window before a subscriber is judged at all.
const MIN_PUBLISHED_BYTES: u64 = 64 * 1024;
/// Bytes a peer has sent once it finished a ZMTP handshake, at the least: the 64-byte greeting
/// and the shortest handshake a SUB socket sends (NULL's READY command with its Socket-Type
/// property, 27 bytes; CURVE's HELLO alone is 202). A connection that has received less never
/// finished a handshake: it is not a subscriber, however long it stays open.
pub const MIN_HANDSHAKE_BYTES_FROM_PEER: u64 = 64 + 27;

/// Subscribers seen in one stats window.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LinkSummary {
    /// Connections open at the last sample.
    pub subscribers: usize,
    /// Of those, the ones whose link could not keep up with the stream.
    pub saturated: usize,
    /// The smallest share of the stream a subscriber received (1.0 when all keep up).
    pub worst_share: f64,
}

/// One connection's first and last sample in the current window: (bytes acknowledged, bytes
/// published by then).
#[derive(Debug, Clone, Copy)]
struct Delivered {
    first: (u64, u64),
    last: (u64, u64),
}

pub struct LinkWatch {
    port: u16,
    next_sample: Instant,
    published_bytes: u64,
    window: HashMap<u64, Delivered>,
    open_now: usize,
    table: ConnectionTable,
    /// Reading /proc failed for good (say, a sandbox hides it): reported once, then not tried
    /// again.
    disabled: bool,
    /// A transient failure (out of file descriptors) is being reported: log it once, and once
    /// when the watch works again.
    failing: bool,
    /// (inode, bytes acknowledged) of the handshaken connections at the last sample.
    subscribers: Vec<(u64, u64)>,
}

impl LinkWatch {
    /// Watches the connections accepted on `endpoint` (as bound); `None` for non-TCP endpoints.
    pub fn new(endpoint: &str) -> Option<Self> {
        let port = camwire::Endpoint::parse(endpoint, camwire::Direction::Bind)
            .ok()?
            .tcp_port()?;
        Some(Self {
            port,
            next_sample: Instant::now(),
            published_bytes: 0,
            window: HashMap::new(),
            subscribers: Vec::new(),
            open_now: 0,
            table: ConnectionTable::default(),
            disabled: false,
            failing: false,
        })
    }

    /// Counts `bytes` published (to every subscriber); samples the connections when due.
    pub fn published(&mut self, bytes: usize, now: Instant) {
        self.published_bytes += bytes as u64;
        if now >= self.next_sample {
            self.refresh(now);
        }
    }

    /// Samples the connections now, due or not: while campub is idle, at every captured frame,
    /// so that a subscriber that connects gets the very next frame.
    pub fn refresh(&mut self, now: Instant) {
        if self.disabled {
            return;
        }
        self.next_sample = now + SAMPLE_EVERY;
        match self.table.sample(self.port) {
            Ok(connections) => {
                // Into a kept buffer: sampling allocates nothing in the steady state
                // (bench/tests/campub_steady_state_alloc.rs counts).
                self.subscribers.clear();
                self.subscribers.extend(
                    connections
                        .iter()
                        .filter(|c| c.handshaken())
                        .map(|c| (c.inode, c.acked)),
                );
                self.open_now = self.subscribers.len();
                record(&mut self.window, self.published_bytes, &self.subscribers);
                if std::mem::take(&mut self.failing) {
                    log::info!("watching the subscribers' links again");
                }
            }
            // Out of descriptors (or memory) for a moment: this sample is skipped, the next one
            // is tried as usual.
            Err(e) if is_transient(&e) => {
                if !std::mem::replace(&mut self.failing, true) {
                    log::warn!("cannot watch the subscribers' links for now: {e}");
                }
            }
            Err(e) => {
                log::info!("cannot watch the subscribers' links (reading /proc/self: {e})");
                self.disabled = true;
            }
        }
    }

    /// How many subscribers were connected at the last sample (None when links cannot be
    /// watched); unlike [`take_summary`](Self::take_summary) it starts no new window.
    pub fn subscribers_now(&self) -> Option<usize> {
        (!self.disabled).then_some(self.open_now)
    }

    /// The window's summary; starts a new window.
    pub fn take_summary(&mut self) -> Option<LinkSummary> {
        if self.disabled {
            return None;
        }
        let mut saturated = 0;
        let mut worst_share = 1.0f64;
        for d in self.window.values_mut() {
            let published = d.last.1.saturating_sub(d.first.1);
            let delivered = d.last.0.saturating_sub(d.first.0);
            // The next window starts from this one's last samples.
            d.first = d.last;
            if published < MIN_PUBLISHED_BYTES {
                continue;
            }
            let share = delivered as f64 / published as f64;
            saturated += usize::from(share < SLOW_BELOW_SHARE);
            worst_share = worst_share.min(share);
        }
        Some(LinkSummary {
            subscribers: self.open_now,
            saturated,
            worst_share,
        })
    }
}

/// Errors that pass: too many open files (the process's or the system's), no memory.
fn is_transient(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::EINTR | libc::EAGAIN)
    )
}

/// One sample into the window: each open connection (by socket inode) with its acknowledged
/// byte count, against `published` bytes so far.
fn record(window: &mut HashMap<u64, Delivered>, published: u64, connections: &[(u64, u64)]) {
    // A subscriber that left is no longer judged.
    window.retain(|inode, _| connections.iter().any(|(open, _)| open == inode));
    for &(inode, acked) in connections {
        window
            .entry(inode)
            .and_modify(|d| d.last = (acked, published))
            .or_insert(Delivered {
                first: (acked, published),
                last: (acked, published),
            });
    }
}

/// The connected TCP sockets on one local port (the subscribers libzmq accepted) and their
/// acknowledged byte counts, found among this process's own file descriptors: /proc/self/fd
/// lists them, and each socket is asked its own addresses. The namespace-wide tables
/// (/proc/net/tcp) are never read: the kernel walks its whole connection hash table for them,
/// which at 5 samples a second cost 48 ms of CPU a second on a 24 GB machine (1.6 ms per
/// frame at 30 fps; docs/PERFORMANCE.md). The sample is kept between calls: sampling
/// allocates nothing.
#[derive(Debug, Default)]
pub(crate) struct ConnectionTable {
    /// The sample.
    found: Vec<Connection>,
    /// /proc/self/fd, opened once and read again from its start for each sample: a sample never
    /// needs a free descriptor, so it works at the descriptor limit too.
    dir: Option<rustix::fd::OwnedFd>,
}

/// One accepted TCP connection, as the kernel sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Connection {
    /// The descriptor (libzmq's) it was found under.
    pub fd: RawFd,
    pub inode: u64,
    /// Bytes the peer acknowledged.
    pub acked: u64,
    /// Bytes received from the peer.
    pub received: u64,
    /// Milliseconds since the peer last sent data (since the connection opened, if never).
    pub idle_ms: u32,
}

impl Connection {
    /// Whether the peer has sent at least a ZMTP handshake's worth of bytes.
    pub fn handshaken(&self) -> bool {
        self.received >= MIN_HANDSHAKE_BYTES_FROM_PEER
    }
}

/// getdents buffer for /proc/self/fd: each entry is ~24 bytes; more entries than fit are read
/// by further calls.
const FD_DIR_BUFFER_BYTES: usize = 2048;

impl ConnectionTable {
    /// Connected TCP sockets whose local port is `port`.
    pub(crate) fn sample(&mut self, port: u16) -> std::io::Result<&[Connection]> {
        use rustix::fs::{Mode, OFlags, RawDir, SeekFrom};
        self.found.clear();
        let dir = match &mut self.dir {
            Some(dir) => dir,
            empty => empty.insert(rustix::fs::open(
                c"/proc/self/fd",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )?),
        };
        rustix::fs::seek(&*dir, SeekFrom::Start(0))?;
        let mut buffer = [std::mem::MaybeUninit::uninit(); FD_DIR_BUFFER_BYTES];
        let mut entries = RawDir::new(&*dir, &mut buffer);
        while let Some(entry) = entries.next() {
            let Some(fd) = std::str::from_utf8(entry?.file_name().to_bytes())
                .ok()
                .and_then(|name| name.parse::<RawFd>().ok())
            else {
                continue; // "." and ".."
            };
            let Some(inode) = with_foreign_fd(fd, |fd| accepted_on(fd, port)) else {
                continue;
            };
            match tcp_counts(fd) {
                Ok((acked, received, idle_ms)) => self.found.push(Connection {
                    fd,
                    inode,
                    acked,
                    received,
                    idle_ms,
                }),
                // The kernel (or an emulator) lacks the count: say so rather than report zeros.
                Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                    return Err(std::io::Error::new(
                        e.kind(),
                        "TCP_INFO has no acknowledged-byte count here",
                    ))
                }
                Err(_) => {} // closed meanwhile
            }
        }
        Ok(&self.found)
    }
}

/// The socket inode of `fd` when it is a TCP connection accepted on local port `port` (bound
/// there and connected to a peer: the listener itself has no peer); `None` for anything else,
/// including a descriptor closed meanwhile.
fn accepted_on(fd: BorrowedFd<'_>, port: u16) -> Option<u64> {
    let local = std::net::SocketAddr::try_from(rustix::net::getsockname(fd).ok()?).ok()?;
    if local.port() != port
        || rustix::net::sockopt::socket_type(fd).ok()? != rustix::net::SocketType::STREAM
    {
        return None;
    }
    rustix::net::getpeername(fd).ok()??;
    Some(rustix::fs::fstat(fd).ok()?.st_ino)
}

/// Lends `fd`, a descriptor libzmq owns, to `f`.
#[allow(unsafe_code)]
pub(crate) fn with_foreign_fd<R>(fd: RawFd, f: impl FnOnce(BorrowedFd<'_>) -> R) -> R {
    // SAFETY: `f` only asks the kernel about the descriptor (getsockname, getpeername,
    // getsockopt, fstat) or shuts its connection down (`shed`), and does not keep or close it.
    // libzmq may close it meanwhile, and the number may be reused: then the calls fail or
    // describe another descriptor, which the callers check again (port, type, peer, inode);
    // never memory unsafety.
    f(unsafe { BorrowedFd::borrow_raw(fd) })
}

/// The kernel's counts for this TCP socket: bytes the peer acknowledged, bytes received from
/// it, and milliseconds since it last sent data.
#[allow(unsafe_code)]
fn tcp_counts(fd: RawFd) -> std::io::Result<(u64, u64, u32)> {
    // SAFETY: getsockopt only writes into `info`, a plain C struct on the stack, up to `len`
    // bytes. `fd` belongs to libzmq; if it was closed and reused since it was listed, this reads
    // some other socket's counters (or fails): a wrong sample, never memory unsafety.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            std::ptr::addr_of_mut!(info).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // Kernels before 4.1 (and qemu-user's emulation) return a shorter struct without the counts.
    let needed =
        std::mem::offset_of!(libc::tcp_info, tcpi_bytes_received) + std::mem::size_of::<u64>();
    if (len as usize) < needed {
        return Err(std::io::Error::from(std::io::ErrorKind::Unsupported));
    }
    Ok((
        info.tcpi_bytes_acked,
        info.tcpi_bytes_received,
        info.tcpi_last_data_recv,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_tcp_endpoints_are_watched() {
        assert_eq!(
            LinkWatch::new("tcp://0.0.0.0:5555").map(|w| w.port),
            Some(5555)
        );
        assert_eq!(
            LinkWatch::new("tcp://[::1]:6000").map(|w| w.port),
            Some(6000)
        );
        assert!(LinkWatch::new("ipc:///tmp/cam").is_none());
        assert!(LinkWatch::new("inproc://cam").is_none());
    }

    #[test]
    fn running_out_of_descriptors_does_not_turn_the_watch_off() {
        let os = std::io::Error::from_raw_os_error;
        assert!(is_transient(&os(libc::EMFILE)) && is_transient(&os(libc::ENFILE)));
        assert!(!is_transient(&os(libc::ENOENT)) && !is_transient(&os(libc::EACCES)));
    }

    #[test]
    fn only_peers_that_sent_a_handshake_are_subscribers() {
        let connection = |received| Connection {
            fd: 3,
            inode: 1,
            acked: 0,
            received,
            idle_ms: 0,
        };
        assert!(!connection(0).handshaken(), "silent");
        assert!(
            !connection(64).handshaken(),
            "a greeting and no handshake command"
        );
        assert!(connection(MIN_HANDSHAKE_BYTES_FROM_PEER).handshaken());
    }

    #[test]
    fn a_link_delivering_less_than_the_stream_is_slow() {
        let mut watch = LinkWatch::new("tcp://127.0.0.1:1").unwrap();
        for i in 0..10u64 {
            watch.published_bytes = i * 20_000;
            // Inode 1 keeps up; inode 2 delivers half.
            watch.open_now = 2;
            record(
                &mut watch.window,
                watch.published_bytes,
                &[(1, i * 20_000), (2, i * 10_000)],
            );
        }
        let summary = watch.take_summary().unwrap();
        assert_eq!((summary.subscribers, summary.saturated), (2, 1));
        assert!((summary.worst_share - 0.5).abs() < 1e-9, "{summary:?}");
        // The next window goes on from the last samples; too little published to judge.
        watch.published_bytes += 1000;
        record(
            &mut watch.window,
            watch.published_bytes,
            &[(1, 181_000), (2, 90_000)],
        );
        let summary = watch.take_summary().unwrap();
        assert_eq!((summary.subscribers, summary.saturated), (2, 0));
    }

    /// Connects to `listener`, sends `bytes` from the accepted side and waits for them.
    fn connection_with(
        listener: &std::net::TcpListener,
        bytes: usize,
    ) -> (std::net::TcpStream, std::net::TcpStream) {
        use std::io::{Read as _, Write as _};
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut accepted, _) = listener.accept().unwrap();
        accepted.write_all(&vec![7u8; bytes]).unwrap();
        let mut received = vec![0u8; bytes];
        client.read_exact(&mut received).unwrap();
        (client, accepted)
    }

    /// Samples until one connection shows `acked` bytes (the acknowledgement may trail the
    /// data by a moment) or the table fails.
    fn sample_until(
        table: &mut ConnectionTable,
        port: u16,
        acked: u64,
    ) -> std::io::Result<Vec<(u64, u64)>> {
        let mut found = Ok(Vec::new());
        for _ in 0..100 {
            found = table
                .sample(port)
                .map(|c| c.iter().map(|c| (c.inode, c.acked)).collect());
            match &found {
                Ok(f) if f.len() == 1 && f[0].1 == acked => break,
                Err(_) => break,
                Ok(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        found
    }

    #[test]
    fn our_own_connections_and_their_acknowledged_bytes_are_found() {
        // IPv4 and IPv6; a connection replaced by another is noticed.
        for address in ["127.0.0.1:0", "[::1]:0"] {
            let listener = std::net::TcpListener::bind(address).unwrap();
            let port = listener.local_addr().unwrap().port();
            let mut table = ConnectionTable::default();
            let first = connection_with(&listener, 5000);
            let found = match sample_until(&mut table, port, 5000) {
                Ok(found) => found,
                // qemu-user (CI's aarch64 test run) returns a short TCP_INFO: that must be a
                // clear error, which turns the watch off with a log line, never a count of zero.
                Err(e) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::Unsupported, "{e}");
                    eprintln!(
                        "TCP_INFO without tcpi_bytes_acked here: checked the error path ({e})"
                    );
                    return;
                }
            };
            assert_eq!(found.len(), 1, "{address}: {found:?}");
            assert_eq!(found[0].1, 5000, "{address}: {found:?}");
            drop(first);
            let _second = connection_with(&listener, 3000);
            let found = sample_until(&mut table, port, 3000).unwrap();
            assert_eq!(found.len(), 1, "{address}: {found:?}");
            assert_eq!(
                found[0].1, 3000,
                "{address}: a new connection, counted from zero"
            );
        }
    }
}
