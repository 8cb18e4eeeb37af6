//! What the benchmark binaries that run programs share: free loopback ports, a process's CPU
//! time, medians.

use std::net::TcpListener;

use crate::BenchError;

/// A loopback port free at the time of asking.
pub fn free_port() -> Result<u16, BenchError> {
    let io = |source| BenchError::Io {
        what: "finding a free port".into(),
        source,
    };
    TcpListener::bind("127.0.0.1:0")
        .map_err(io)?
        .local_addr()
        .map(|a| a.port())
        .map_err(io)
}

/// CPU time of every thread of process `pid` so far, in nanoseconds: the first field of each
/// thread's /proc/PID/task/TID/schedstat (time on a CPU, user and system), far finer than the
/// clock ticks of /proc/PID/stat.
pub fn threads_cpu_ns(pid: u32) -> Result<u64, BenchError> {
    let dir = format!("/proc/{pid}/task");
    let tasks = std::fs::read_dir(&dir).map_err(|source| BenchError::Io {
        what: format!("reading {dir}"),
        source,
    })?;
    let mut total_ns = 0;
    for task in tasks.flatten() {
        // A thread may end between the listing and the read: it is simply not counted.
        let Ok(schedstat) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        total_ns += schedstat
            .split(' ')
            .next()
            .and_then(|ns| ns.parse::<u64>().ok())
            .ok_or_else(|| BenchError::Other(format!("{dir}: unexpected schedstat")))?;
    }
    Ok(total_ns)
}

/// The median; NaN for no values.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// The value at fraction `q` (0..=1) of sorted `values` (nearest rank); NaN for none.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}
