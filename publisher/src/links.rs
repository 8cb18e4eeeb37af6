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
        match connections_on(self.port) {
            Ok(connections) => self.record(&connections),
            Err(e) => {
                log::info!("cannot watch the subscribers' links (reading /proc/self: {e})");
                self.disabled = true;
            }
        }
    }

    /// One sample: each open connection (by socket inode) with its acknowledged byte count.
    fn record(&mut self, connections: &[(u64, u64)]) {
        self.open_now = connections.len();
        // A subscriber that left is no longer judged.
        self.window
            .retain(|inode, _| connections.iter().any(|(open, _)| open == inode));
        let now = self.published_bytes;
        for &(inode, acked) in connections {
            self.window
                .entry(inode)
                .and_modify(|d| d.last = (acked, now))
                .or_insert(Delivered {
                    first: (acked, now),
                    last: (acked, now),
                });
        }
    }

    /// The window's summary; starts a new window.
    pub fn take_summary(&mut self) -> Option<LinkSummary> {
        if self.disabled {
            return None;
        }
        let shares: Vec<f64> = self
            .window
            .values()
            .filter_map(|d| {
                let published = d.last.1.saturating_sub(d.first.1);
                let delivered = d.last.0.saturating_sub(d.first.0);
                (published >= MIN_PUBLISHED_BYTES).then(|| delivered as f64 / published as f64)
            })
            .collect();
        // The next window starts from this one's last samples.
        self.window.retain(|_, d| {
            d.first = d.last;
            true
        });
        let saturated = shares.iter().filter(|s| **s < SLOW_BELOW_SHARE).count();
        Some(LinkSummary {
            subscribers: self.open_now,
            saturated,
            worst_share: shares.iter().copied().fold(1.0, f64::min),
        })
    }
}

/// Established connections whose local port is `port`: (socket inode, bytes acknowledged).
fn connections_on(port: u16) -> std::io::Result<Vec<(u64, u64)>> {
    let me = procfs::process::Process::myself().map_err(std::io::Error::other)?;
    let mut entries = me.tcp().map_err(std::io::Error::other)?;
    // A host without IPv6 has no tcp6 table; that is not an error.
    entries.extend(me.tcp6().unwrap_or_default());
    let inodes: Vec<u64> = entries
        .iter()
        .filter(|e| e.state == procfs::net::TcpState::Established && e.local_address.port() == port)
        .map(|e| e.inode)
        .collect();
    if inodes.is_empty() {
        return Ok(Vec::new());
    }
    let mut found = Vec::with_capacity(inodes.len());
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let entry = entry?;
        let Ok(target) = std::fs::read_link(entry.path()) else {
            continue; // closed meanwhile
        };
        let Some(inode) = socket_inode(&target.to_string_lossy()) else {
            continue;
        };
        if !inodes.contains(&inode) {
            continue;
        }
        let Some(fd) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<RawFd>().ok())
        else {
            continue;
        };
        match tcp_bytes_acked(fd) {
            Ok(acked) => found.push((inode, acked)),
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
    Ok(found)
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
            watch.record(&[(1, i * 20_000), (2, i * 10_000)]);
        }
        let summary = watch.take_summary().unwrap();
        assert_eq!((summary.subscribers, summary.saturated), (2, 1));
        assert!((summary.worst_share - 0.5).abs() < 1e-9, "{summary:?}");
        // The next window goes on from the last samples; too little published to judge.
        watch.published_bytes += 1000;
        watch.record(&[(1, 181_000), (2, 90_000)]);
        let summary = watch.take_summary().unwrap();
        assert_eq!((summary.subscribers, summary.saturated), (2, 0));
    }

    #[test]
    fn socket_links_name_their_inode() {
        assert_eq!(socket_inode("socket:[12345]"), Some(12345));
        assert_eq!(socket_inode("pipe:[12345]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
    }

    #[test]
    fn our_own_connection_and_its_acknowledged_bytes_are_found() {
        use std::io::{Read as _, Write as _};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (mut accepted, _) = listener.accept().unwrap();
        accepted.write_all(&[7u8; 5000]).unwrap();
        let mut received = [0u8; 5000];
        client.read_exact(&mut received).unwrap();
        // The acknowledgement may trail the data by a moment.
        let mut found = Ok(Vec::new());
        for _ in 0..100 {
            found = connections_on(port);
            match &found {
                Ok(f) if f.first().is_some_and(|(_, acked)| *acked == 5000) => break,
                Err(_) => break,
                Ok(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        match found {
            Ok(found) => {
                assert_eq!(found.len(), 1, "{found:?}");
                assert_eq!(found[0].1, 5000, "{found:?}");
            }
            // qemu-user (CI's aarch64 test run) returns a short TCP_INFO: that must be a clear
            // error, which turns the watch off with a log line, never a count of zero.
            Err(e) => {
                assert_eq!(e.kind(), std::io::ErrorKind::Unsupported, "{e}");
                eprintln!("TCP_INFO without tcpi_bytes_acked here: checked the error path ({e})");
            }
        }
    }
}
