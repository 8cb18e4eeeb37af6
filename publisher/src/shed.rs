//! At the file-descriptor limit: campub raises its soft limit to the hard one at start, and a
//! guard thread sheds connections that never finished a ZMTP handshake when libzmq can no
//! longer accept, so that a flood of silent connections neither keeps viewers out nor makes
//! libzmq's accept loop spin.
//!
//! Why a guard: libzmq's TCP listener retries a failed accept (EMFILE) as soon as epoll reports
//! the listening socket readable again, which is at once while a connection waits in the
//! backlog: 86-106 % of a core under 1150 silent connections at 1024 descriptors. campub opened
//! the listener itself (`listener`), so it can watch it: a connection that waits in the backlog
//! for [`STUCK_AFTER`] means libzmq cannot take it. The guard then shuts down (`shutdown(2)`,
//! never `close`: the descriptors are libzmq's, which closes them itself on the end of stream)
//! the connections whose peers sent less than a handshake, most idle first, which frees
//! descriptors for the waiting ones.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::links::{Connection, ConnectionTable};

/// How long a connection may wait in the backlog before libzmq counts as unable to accept:
/// libzmq accepts within microseconds when it can.
const STUCK_AFTER: Duration = Duration::from_millis(20);
/// How long the guard waits on the listener before looking at its stop flag (campub's exit
/// waits for it).
const POLL_MS: i32 = 100;
/// At least this many connections are shed at once (or all that never finished a handshake,
/// when fewer): each round frees room for a burst of newcomers.
const MIN_SHED_BATCH: usize = 16;
/// Shed connections are logged at most once per this interval, with a count.
const LOG_EVERY: Duration = Duration::from_secs(10);

/// Raises the soft RLIMIT_NOFILE to the hard limit, so that a service started with systemd's
/// default soft limit (1024) has the room its hard limit allows. Returns (old, new) soft limits
/// when it changed anything.
pub fn raise_descriptor_limit() -> std::io::Result<Option<(u64, u64)>> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let (Some(current), maximum) = (limit.current, limit.maximum) else {
        return Ok(None); // unlimited already
    };
    // An unlimited hard limit is not a number to set; the kernel's own cap is nr_open.
    let target = maximum.unwrap_or(1 << 20);
    if target <= current {
        return Ok(None);
    }
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(target),
            maximum,
        },
    )?;
    Ok(Some((current, target)))
}

/// The running guard; dropping it stops and joins the thread.
pub struct DescriptorGuard {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl DescriptorGuard {
    /// Watches `listener` (a duplicate of the listening socket libzmq accepts on) for
    /// connections libzmq cannot take; sheds connections on `port` that never finished a
    /// handshake.
    pub fn start(listener: OwnedFd, port: u16) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("fd-guard".into())
                .spawn(move || guard(&listener, port, &stop))?
        };
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for DescriptorGuard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error!("the descriptor guard thread panicked");
            }
        }
    }
}

fn guard(listener: &OwnedFd, port: u16, stop: &AtomicBool) {
    // Sampled once now, so that the table holds its /proc/self/fd descriptor before the limit
    // is reached: at the limit no descriptor could be opened for it.
    let mut table = ConnectionTable::default();
    if let Err(e) = table.sample(port) {
        log::info!("cannot list connections (reading /proc/self: {e}): no shedding at the file-descriptor limit");
        return;
    }
    let mut shed_since_log = 0usize;
    let mut last_log: Option<Instant> = None;
    while !stop.load(Ordering::Relaxed) {
        if !waiting(listener, POLL_MS) {
            continue;
        }
        // A connection waits; libzmq normally takes it at once.
        std::thread::sleep(STUCK_AFTER);
        if !waiting(listener, 0) {
            continue;
        }
        let shed = match table.sample(port) {
            Ok(connections) => shed_unhandshaken(connections),
            Err(e) => {
                log::warn!("at the file-descriptor limit and cannot list connections: {e}");
                0
            }
        };
        shed_since_log += shed;
        if shed == 0 {
            // Every connection is a subscriber: nothing to shed, and nothing to gain by
            // looking again at once.
            std::thread::sleep(Duration::from_millis(100));
        }
        if shed_since_log > 0 && last_log.is_none_or(|at| at.elapsed() >= LOG_EVERY) {
            log::warn!(
                "at the file-descriptor limit: closed {shed_since_log} connections that had \
                 not finished a handshake, to let new ones in"
            );
            shed_since_log = 0;
            last_log = Some(Instant::now());
        }
    }
}

/// Whether a connection waits in the listener's backlog (within `timeout_ms`).
fn waiting(listener: &OwnedFd, timeout_ms: i32) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::new(listener, PollFlags::IN)];
    let timeout = Timespec {
        tv_sec: i64::from(timeout_ms / 1000),
        tv_nsec: i64::from(timeout_ms % 1000) * 1_000_000,
    };
    matches!(poll(&mut fds, Some(&timeout)), Ok(n) if n > 0)
        && fds[0].revents().contains(PollFlags::IN)
}

/// Shuts down the most idle connections that never finished a handshake: at least
/// [`MIN_SHED_BATCH`], or an eighth of them. Returns how many.
fn shed_unhandshaken(connections: &[Connection]) -> usize {
    let mut victims: Vec<Connection> = connections
        .iter()
        .filter(|c| !c.handshaken())
        .copied()
        .collect();
    victims.sort_by_key(|c| std::cmp::Reverse(c.idle_ms));
    let batch = MIN_SHED_BATCH.max(victims.len() / 8);
    victims
        .iter()
        .take(batch)
        .filter(|c| shut_down_foreign(c))
        .count()
}

/// Shuts down a connection libzmq owns: libzmq sees the end of the stream and closes it.
fn shut_down_foreign(connection: &Connection) -> bool {
    crate::links::with_foreign_fd(connection.fd, |fd| {
        // The number may have been closed and reused since the sample: shut down only the
        // same socket (same inode), still without a handshake.
        let same = rustix::fs::fstat(fd).is_ok_and(|st| st.st_ino == connection.inode);
        same && rustix::net::shutdown(fd.as_fd(), rustix::net::Shutdown::Both).is_ok()
    })
}
