//! What campub can see of its subscribers' links: the TCP connections on its port, sampled a few
//! times a second from /proc/self/net/tcp{,6}, and how often each had bytes waiting to go out.
//!
//! A connection that always has bytes queued is on a link slower than the stream: ZeroMQ is
//! dropping frames for that subscriber (the viewer sees them as "lost"). PUB sockets have no
//! per-subscriber drop counter, so this is how the publisher knows (docs/WIFI.md).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// How often the socket table is read.
const SAMPLE_EVERY: Duration = Duration::from_millis(200);
/// A subscriber whose connection had bytes queued in at least this share of the samples is
/// reported as slower than the stream. A link with room to spare is idle between frames.
pub const SATURATED_SHARE: f64 = 0.9;
/// Samples needed in a window before a subscriber is judged at all.
const MIN_SAMPLES: u32 = 5;

/// Subscribers seen in one stats window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkSummary {
    /// Connections open at the last sample.
    pub subscribers: usize,
    /// Of those, the ones whose link could not keep up with the stream.
    pub saturated: usize,
}

/// Per-connection sample counts for the current window.
#[derive(Debug, Default)]
struct Busy {
    samples: u32,
    queued: u32,
}

pub struct LinkWatch {
    port: u16,
    next_sample: Instant,
    window: HashMap<SocketAddr, Busy>,
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
            window: HashMap::new(),
            open_now: 0,
            disabled: false,
        })
    }

    /// Samples the socket table when it is due; cheap otherwise.
    pub fn maybe_sample(&mut self, now: Instant) {
        if self.disabled || now < self.next_sample {
            return;
        }
        self.next_sample = now + SAMPLE_EVERY;
        match established_on(self.port) {
            Ok(connections) => self.record(&connections),
            Err(e) => {
                log::info!("cannot watch the subscribers' links (reading /proc/self/net/tcp: {e})");
                self.disabled = true;
            }
        }
    }

    /// One sample: each open connection with its queued byte count.
    fn record(&mut self, connections: &[(SocketAddr, u32)]) {
        self.open_now = connections.len();
        for (peer, queued_bytes) in connections {
            let busy = self.window.entry(*peer).or_default();
            busy.samples += 1;
            busy.queued += u32::from(*queued_bytes > 0);
        }
    }

    /// The window's summary; starts a new window.
    pub fn take_summary(&mut self) -> Option<LinkSummary> {
        if self.disabled {
            return None;
        }
        let saturated = self
            .window
            .values()
            .filter(|b| {
                b.samples >= MIN_SAMPLES
                    && f64::from(b.queued) >= SATURATED_SHARE * f64::from(b.samples)
            })
            .count();
        self.window.clear();
        Some(LinkSummary {
            subscribers: self.open_now,
            saturated,
        })
    }
}

/// Established connections whose local port is `port`, with their send-queue byte counts.
fn established_on(port: u16) -> procfs::ProcResult<Vec<(SocketAddr, u32)>> {
    let me = procfs::process::Process::myself()?;
    let mut entries = me.tcp()?;
    // A host without IPv6 has no tcp6 table; that is not an error.
    entries.extend(me.tcp6().unwrap_or_default());
    Ok(entries
        .into_iter()
        .filter(|e| e.state == procfs::net::TcpState::Established && e.local_address.port() == port)
        .map(|e| (e.remote_address, e.tx_queue))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peer(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

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
    fn a_link_always_queued_is_saturated_and_an_idle_one_is_not() {
        let mut watch = LinkWatch::new("tcp://127.0.0.1:1").unwrap();
        for i in 0..10 {
            // The slow one always has bytes queued; the fast one only now and then.
            watch.record(&[
                (peer(1000), 8192),
                (peer(2000), if i % 3 == 0 { 900 } else { 0 }),
            ]);
        }
        let summary = watch.take_summary().unwrap();
        assert_eq!(
            summary,
            LinkSummary {
                subscribers: 2,
                saturated: 1
            }
        );
        // A fresh window: nothing judged on too few samples.
        watch.record(&[(peer(1000), 8192)]);
        assert_eq!(
            watch.take_summary().unwrap(),
            LinkSummary {
                subscribers: 1,
                saturated: 0
            }
        );
    }

    #[test]
    fn the_socket_table_shows_our_own_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (_accepted, _) = listener.accept().unwrap();
        let connections = established_on(port).unwrap();
        assert_eq!(connections.len(), 1, "{connections:?}");
        assert_eq!(connections[0].0, client.local_addr().unwrap());
    }
}
