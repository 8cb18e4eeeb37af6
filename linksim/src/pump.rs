//! One direction of one proxied connection: a reader that paces what it takes from the sender
//! by the link's bandwidth and queue, and a writer that hands each segment on when it "arrives".

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::{Shared, SEGMENT_BYTES};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Server to client: capped, queued, lossy.
    Forward,
    /// Client to server: delayed only.
    Reverse,
}

/// A segment on the wire, and when it reaches the other end.
struct InFlight {
    arrives_at: Instant,
    bytes: Vec<u8>,
}

pub fn start(
    direction: Direction,
    from: TcpStream,
    to: TcpStream,
    shared: Arc<Shared>,
) -> io::Result<()> {
    let (wire_in, wire_out) = mpsc::channel::<InFlight>();
    let name = match direction {
        Direction::Forward => "linksim-fwd",
        Direction::Reverse => "linksim-rev",
    };
    {
        let shared = Arc::clone(&shared);
        let to = to.try_clone()?;
        std::thread::Builder::new()
            .name(format!("{name}-in"))
            .spawn(move || {
                if let Err(e) = read_into_link(direction, &from, &wire_in, &shared) {
                    log::debug!("linksim: {direction:?} reader ended: {e}");
                }
                // Dropping `wire_in` lets the writer finish what is in flight, then close.
                let _ = from.shutdown(Shutdown::Read);
                drop(to);
            })?;
    }
    std::thread::Builder::new()
        .name(format!("{name}-out"))
        .spawn(move || {
            if let Err(e) = deliver(&to, &wire_out) {
                log::debug!("linksim: {direction:?} writer ended: {e}");
            }
            let _ = to.shutdown(Shutdown::Write);
        })?;
    Ok(())
}

fn read_into_link(
    direction: Direction,
    mut from: &TcpStream,
    wire: &mpsc::Sender<InFlight>,
    shared: &Shared,
) -> io::Result<()> {
    let shape = shared.shape;
    let mut buffer = vec![0u8; SEGMENT_BYTES];
    // When the bottleneck has finished sending everything accepted so far.
    let mut serialised_until = Instant::now();
    let mut last_arrival = Instant::now();
    loop {
        let rate_bps = match direction {
            Direction::Forward => shared.rate_bps.load(Ordering::Relaxed),
            Direction::Reverse => 0,
        };
        let now = Instant::now();
        if rate_bps > 0 {
            // A full queue: stop reading, so the sender's buffers fill up instead.
            let backlog = serialised_until.saturating_duration_since(now);
            if backlog > shape.queue {
                std::thread::sleep(backlog - shape.queue);
                continue;
            }
        }
        let read = from.read(&mut buffer)?;
        if read == 0 {
            return Ok(());
        }
        let now = Instant::now();
        let sent_at = if rate_bps > 0 {
            let on_wire = Duration::from_secs_f64(read as f64 * 8.0 / rate_bps as f64);
            serialised_until = serialised_until.max(now) + on_wire;
            serialised_until
        } else {
            now
        };
        let mut arrives_at = sent_at + jittered(shape.delay, shape.jitter);
        if direction == Direction::Forward
            && shape.loss_percent > 0.0
            && fastrand::f64() * 100.0 < shape.loss_percent
        {
            arrives_at += shape.retransmit_delay;
            shared
                .counters
                .lost_segments
                .fetch_add(1, Ordering::Relaxed);
        }
        // TCP delivers in order: nothing overtakes a delayed segment.
        arrives_at = arrives_at.max(last_arrival);
        last_arrival = arrives_at;
        let counter = match direction {
            Direction::Forward => &shared.counters.forward_bytes,
            Direction::Reverse => &shared.counters.reverse_bytes,
        };
        counter.fetch_add(read as u64, Ordering::Relaxed);
        let segment = InFlight {
            arrives_at,
            bytes: buffer[..read].to_vec(),
        };
        if wire.send(segment).is_err() {
            return Ok(());
        }
    }
}

fn deliver(mut to: &TcpStream, wire: &mpsc::Receiver<InFlight>) -> io::Result<()> {
    for segment in wire {
        let wait = segment.arrives_at.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        to.write_all(&segment.bytes)?;
    }
    Ok(())
}

/// `delay ± jitter`, uniformly, never below zero.
fn jittered(delay: Duration, jitter: Duration) -> Duration {
    if jitter.is_zero() {
        return delay;
    }
    let offset_s = (fastrand::f64() * 2.0 - 1.0) * jitter.as_secs_f64();
    Duration::from_secs_f64((delay.as_secs_f64() + offset_s).max(0.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_bounds() {
        let delay = Duration::from_millis(20);
        let jitter = Duration::from_millis(10);
        for _ in 0..1000 {
            let d = jittered(delay, jitter);
            assert!(
                d >= Duration::from_millis(10) && d <= Duration::from_millis(30),
                "{d:?}"
            );
        }
        assert_eq!(jittered(delay, Duration::ZERO), delay);
        assert!(jittered(Duration::ZERO, jitter) <= jitter);
    }
}
