//! What campub can see of its subscribers' links: each TCP connection on its port, sampled a
//! few times a second, and how much of the stream it actually delivered (the kernel's count of
//! acknowledged bytes, `TCP_INFO`) against what campub published meanwhile.
//!
//! A connection that delivers less than the stream is on a link slower than the stream: ZeroMQ
//! is replacing frames for that subscriber (the viewer sees them as "lost"). PUB sockets have no
//! per-subscriber drop counter, so this is how the publisher knows (docs/WIFI.md). The sockets
//! belong to libzmq; they are found through /proc/self/net/tcp{,6} (by port) and /proc/self/fd
//! (by inode) and only read.

use std::collections::HashMap;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// How often the connections are read.
const SAMPLE_EVERY: Duration = Duration::from_millis(200);
/// A subscriber that delivered less than this share of the published bytes is on a slow link.
pub const SLOW_BELOW_SHARE: f64 = 0.9;
/// Published bytes needed in a window before a subscriber is judged at all.
const MIN_PUBLISHED_BYTES: u64 = 64 * 1024;

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
    /// Reading /proc failed (say, a sandbox hides it): reported once, then not tried again.
    disabled: bool,
}

impl LinkWatch {
    /// Watches the connections accepted on `endpoint` (as bound); `None` for non-TCP endpoints.
    pub fn new(endpoint: &str) -> Option<Self> {
        let port = endpoint
            .strip_prefix("tcp://")?
            .rsplit_once(':')?
            .1
            .parse()
            .ok()?;
        Some(Self {
            port,
            next_sample: Instant::now(),
            published_bytes: 0,
            window: HashMap::new(),
            open_now: 0,
            table: ConnectionTable::default(),
            disabled: false,
        })
    }

    /// Counts `bytes` published (to every subscriber); samples the connections when due.
    pub fn published(&mut self, bytes: usize, now: Instant) {
        self.published_bytes += bytes as u64;
        if self.disabled || now < self.next_sample {
            return;
        }
        self.next_sample = now + SAMPLE_EVERY;
        match self.table.sample(self.port) {
            Ok(connections) => {
                self.open_now = connections.len();
                record(&mut self.window, self.published_bytes, connections);
            }
            Err(e) => {
                log::info!("cannot watch the subscribers' links (reading /proc/self: {e})");
                self.disabled = true;
            }
        }
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

/// The established TCP connections on one local port and their acknowledged byte counts, read
/// from /proc/self/net/tcp{,6} and the connections' own sockets. Every buffer is kept between
/// samples: a steady set of subscribers is sampled without allocating (/proc/self/fd is read
/// again only when the set of connections changes).
#[derive(Debug, Default)]
struct ConnectionTable {
    /// The text of one /proc/self/net table.
    table_text: Vec<u8>,
    /// Inodes of the established connections on the port, sorted.
    inodes: Vec<u64>,
    /// The connections' sockets as found in /proc/self/fd: (inode, fd), for `fds_for`.
    fds: Vec<(u64, RawFd)>,
    /// Inodes `fds` was looked up for.
    fds_for: Vec<u64>,
    /// The sample: (inode, bytes acknowledged).
    found: Vec<(u64, u64)>,
}

impl ConnectionTable {
    /// Established connections whose local port is `port`: (socket inode, bytes acknowledged).
    fn sample(&mut self, port: u16) -> std::io::Result<&[(u64, u64)]> {
        self.inodes.clear();
        self.found.clear();
        self.read_table("/proc/self/net/tcp", port)?;
        // A host without IPv6 has no tcp6 table; that is not an error.
        match self.read_table("/proc/self/net/tcp6", port) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            other => other?,
        }
        self.inodes.sort_unstable();
        if self.inodes.is_empty() {
            return Ok(&self.found);
        }
        if self.inodes != self.fds_for {
            self.find_fds()?;
        }
        let mut stale = false;
        for &(inode, fd) in &self.fds {
            match tcp_bytes_acked(fd) {
                Ok(acked) => self.found.push((inode, acked)),
                // The kernel (or an emulator) lacks the count: say so rather than report zeros.
                Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                    return Err(std::io::Error::new(
                        e.kind(),
                        "TCP_INFO has no acknowledged-byte count here",
                    ))
                }
                Err(_) => stale = true, // closed meanwhile
            }
        }
        if stale {
            self.fds_for.clear(); // look the sockets up again next time
        }
        Ok(&self.found)
    }

    /// Adds the inodes of `path`'s established connections on `port` to `inodes`. The table's
    /// lines are `sl local_address rem_address st ... inode ...`, addresses as `HEXIP:HEXPORT`.
    fn read_table(&mut self, path: &str, port: u16) -> std::io::Result<()> {
        use std::io::Read as _;
        const ESTABLISHED: &[u8] = b"01";
        self.table_text.clear();
        std::fs::File::open(path)?.read_to_end(&mut self.table_text)?;
        for line in self.table_text.split(|&b| b == b'\n').skip(1) {
            let mut fields = line
                .split(|b| b.is_ascii_whitespace())
                .filter(|f| !f.is_empty());
            let (Some(local), Some(state), Some(inode)) =
                (fields.nth(1), fields.nth(1), fields.nth(5))
            else {
                continue;
            };
            let local_port = local
                .rsplit(|&b| b == b':')
                .next()
                .and_then(|hex| std::str::from_utf8(hex).ok())
                .and_then(|hex| u16::from_str_radix(hex, 16).ok());
            if state != ESTABLISHED || local_port != Some(port) {
                continue;
            }
            if let Some(inode) = std::str::from_utf8(inode).ok().and_then(|i| i.parse().ok()) {
                self.inodes.push(inode);
            }
        }
        Ok(())
    }

    /// Finds the sockets of `inodes` among this process's file descriptors.
    fn find_fds(&mut self) -> std::io::Result<()> {
        self.fds.clear();
        for entry in std::fs::read_dir("/proc/self/fd")? {
            let entry = entry?;
            let Ok(target) = std::fs::read_link(entry.path()) else {
                continue; // closed meanwhile
            };
            let Some(inode) = socket_inode(&target.to_string_lossy()) else {
                continue;
            };
            if self.inodes.binary_search(&inode).is_err() {
                continue;
            }
            if let Some(fd) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<RawFd>().ok())
            {
                self.fds.push((inode, fd));
            }
        }
        self.fds_for.clone_from(&self.inodes);
        Ok(())
    }
}

/// `socket:[12345]` -> 12345.
fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The kernel's count of bytes the peer has acknowledged on this TCP socket.
#[allow(unsafe_code)]
fn tcp_bytes_acked(fd: RawFd) -> std::io::Result<u64> {
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
    // Kernels before 4.1 (and qemu-user's emulation) return a shorter struct without the count.
    let needed =
        std::mem::offset_of!(libc::tcp_info, tcpi_bytes_acked) + std::mem::size_of::<u64>();
    if (len as usize) < needed {
        return Err(std::io::Error::from(std::io::ErrorKind::Unsupported));
    }
    Ok(info.tcpi_bytes_acked)
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

    #[test]
    fn socket_links_name_their_inode() {
        assert_eq!(socket_inode("socket:[12345]"), Some(12345));
        assert_eq!(socket_inode("pipe:[12345]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
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
            found = table.sample(port).map(<[_]>::to_vec);
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
        // Both tables (tcp and tcp6); a connection replaced by another is noticed.
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
