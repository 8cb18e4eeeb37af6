//! CPU time instead of wall time: the targets are "CPU per frame", and on a shared machine the
//! CPU a piece of code used is far steadier than the wall time it took.

use std::time::Duration;

use criterion::measurement::{Measurement, ValueFormatter, WallTime};

/// CPU time of the whole process (every thread: libzmq's I/O thread included), in nanoseconds.
pub fn process_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    u64::try_from(t.tv_sec).unwrap_or(0) * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap_or(0)
}

/// A criterion measurement of the process's CPU time. Values are nanoseconds, shown like
/// criterion's wall-time durations.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuTime;

impl Measurement for CpuTime {
    type Intermediate = u64;
    type Value = Duration;

    fn start(&self) -> u64 {
        process_cpu_ns()
    }

    fn end(&self, started_ns: u64) -> Duration {
        Duration::from_nanos(process_cpu_ns().saturating_sub(started_ns))
    }

    fn add(&self, a: &Duration, b: &Duration) -> Duration {
        *a + *b
    }

    fn zero(&self) -> Duration {
        Duration::ZERO
    }

    fn to_f64(&self, value: &Duration) -> f64 {
        value.as_nanos() as f64
    }

    fn formatter(&self) -> &dyn ValueFormatter {
        // Same unit (ns) as wall time, so criterion's duration formatting fits.
        const WALL: &WallTime = &WallTime;
        WALL.formatter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread_cpu_ns() -> u64 {
        let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
        u64::try_from(t.tv_sec).unwrap() * 1_000_000_000 + u64::try_from(t.tv_nsec).unwrap()
    }

    /// Work in another thread (as libzmq's I/O thread sends) is counted; other tests running
    /// meanwhile can only add to the process's time, so the check is "at least".
    #[test]
    fn cpu_time_counts_the_work_of_every_thread() {
        let cpu = CpuTime;
        let start = cpu.start();
        let worker = std::thread::spawn(|| {
            let started = thread_cpu_ns();
            let mut x = 0u64;
            for _ in 0..20_000_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            thread_cpu_ns() - started
        });
        let worker_ns = worker.join().unwrap();
        let counted = cpu.end(start);
        assert!(worker_ns > 0);
        assert!(
            counted >= Duration::from_nanos(worker_ns),
            "process CPU {counted:?}, the worker thread alone {worker_ns} ns"
        );
    }
}
