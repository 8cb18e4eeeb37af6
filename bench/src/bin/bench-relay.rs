//! camrelay's cost and added latency (docs/SCALING.md, docs/PERFORMANCE.md "Relay").
//!
//!   bench-relay --campub PATH --camrelay PATH [--viewers 1,10,100] [--grid 8x10]
//!               [--seconds 10] [--runs 3]
//!
//! Fan-out cases, for each viewer count N: one campub (test pattern 1280x720 at 30 fps -> 640
//! wide, --no-idle) and N ZeroMQ subscribers in this process, first connected to campub
//! directly (the baseline), then through a camrelay on the same machine. Each subscriber reads
//! every message and takes its age (receive time minus the capture timestamp campub put in it:
//! one host, one clock). Reported: campub's CPU per second (it must not grow with N behind the
//! relay), the relay's CPU per second and per viewer, frames per viewer, and the age's p50/p99
//! with and without the relay (the difference is what the hop adds).
//!
//! Grid case (PxV): P campubs (640x360 at 10 fps, so that P of them fit on a small machine) and
//! V viewers through one relay, each viewer with one subscriber per stream (as camview's grid
//! does): the relay's CPU, the frames per (viewer, stream) and the age.
//!
//! Runs are interleaved case by case, so a load on the shared machine falls on all of them;
//! medians over the runs. Prints Markdown tables, then one JSON object per line per
//! measurement.

use std::process::{Child, Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use cambench::procs::{free_port, median, quantile, threads_cpu_ns};
use cambench::BenchError;

#[derive(argh::FromArgs)]
/// camrelay's CPU and added latency against direct subscribers.
struct Args {
    /// the campub binary
    #[argh(option)]
    campub: String,
    /// the camrelay binary
    #[argh(option)]
    camrelay: String,
    /// viewer counts of the fan-out cases, comma-separated. Default: 1,10,100
    #[argh(option, default = "String::from(\"1,10,100\")")]
    viewers: String,
    /// the grid case: PUBLISHERSxVIEWERS. Default: 8x10
    #[argh(option, default = "String::from(\"8x10\")")]
    grid: String,
    /// seconds measured per case, after the subscribers settle. Default: 10
    #[argh(option, default = "10")]
    seconds: u64,
    /// repetitions of every case. Default: 3
    #[argh(option, default = "3")]
    runs: usize,
}

const SETTLE: Duration = Duration::from_secs(2);

/// A program under measurement; killed when dropped.
struct Program(Child);

impl Program {
    fn start(path: &str, args: &[String]) -> Result<Self, BenchError> {
        Command::new(path)
            .args(args)
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map(Self)
            .map_err(|source| BenchError::Io {
                what: format!("starting {path}"),
                source,
            })
    }

    fn cpu_ns(&self) -> Result<u64, BenchError> {
        threads_cpu_ns(self.0.id())
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn endpoint(port: u16) -> String {
    format!("tcp://127.0.0.1:{port}")
}

/// `campub --source pattern --no-idle` on a fresh port; returns it and its endpoint.
fn campub(path: &str, stream: &str, size: &str, fps: u32) -> Result<(Program, String), BenchError> {
    let at = endpoint(free_port()?);
    let args: Vec<String> = [
        "--source",
        "pattern",
        "--size",
        size,
        "--fps",
        &fps.to_string(),
        "--stream",
        stream,
        "--bind",
        &at,
        "--no-idle",
        "--stats-interval",
        "0",
        "--no-announce",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Ok((Program::start(path, &args)?, at))
}

/// `camrelay --no-idle --from ...` on a fresh port; returns it and its endpoint.
fn camrelay(path: &str, from: &[String]) -> Result<(Program, String), BenchError> {
    let at = endpoint(free_port()?);
    let mut args: Vec<String> = ["--bind", &at, "--no-idle", "--stats-interval", "0"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for f in from {
        args.extend(["--from".to_owned(), f.clone()]);
    }
    Ok((Program::start(path, &args)?, at))
}

/// Subscribers in this process, read by one thread with zmq::poll: each counts its frames and
/// keeps the age of every frame it gets.
struct Subscribers {
    _context: zmq::Context,
    sockets: Vec<zmq::Socket>,
    frames: Vec<u64>,
    ages_ms: Vec<f64>,
}

impl Subscribers {
    /// One socket per (endpoint, subscription).
    fn connect(targets: &[(String, Vec<u8>)]) -> Result<Self, BenchError> {
        let context = zmq::Context::new();
        let mut sockets = Vec::new();
        for (at, subscription) in targets {
            let socket = context.socket(zmq::SUB)?;
            // As camview: newest message only, and a bounded queue.
            socket.set_rcvhwm(4)?;
            socket.set_subscribe(subscription)?;
            socket.set_linger(0)?;
            socket.connect(at)?;
            sockets.push(socket);
        }
        let frames = vec![0; sockets.len()];
        Ok(Self {
            _context: context,
            sockets,
            frames,
            ages_ms: Vec::new(),
        })
    }

    /// Reads for `time`; with `keep` false the frames and ages are not recorded (settling).
    fn read_for(&mut self, time: Duration, keep: bool) -> Result<(), BenchError> {
        let deadline = Instant::now() + time;
        let mut message = zmq::Message::new();
        while Instant::now() < deadline {
            let mut items: Vec<_> = self
                .sockets
                .iter()
                .map(|s| s.as_poll_item(zmq::POLLIN))
                .collect();
            zmq::poll(&mut items, 50)?;
            let ready: Vec<usize> = items
                .iter()
                .enumerate()
                .filter(|(_, i)| i.is_readable())
                .map(|(n, _)| n)
                .collect();
            drop(items);
            for n in ready {
                while self.sockets[n].recv(&mut message, zmq::DONTWAIT).is_ok() {
                    let now = camwire::unix_time_ns();
                    let Ok((_, header, _)) = camwire::parse_native(&message) else {
                        continue; // the relay's directory
                    };
                    if keep {
                        self.frames[n] += 1;
                        self.ages_ms
                            .push(now.saturating_sub(header.capture_unix_ns) as f64 / 1e6);
                    }
                }
            }
        }
        Ok(())
    }
}

/// One case's measurement.
#[derive(Debug, Clone)]
struct Sample {
    case: String,
    run: usize,
    viewers: usize,
    /// CPU milliseconds per second of wall time.
    campub_ms_per_s: f64,
    relay_ms_per_s: Option<f64>,
    /// Frames per subscriber socket per second, median over the sockets.
    fps_per_socket: f64,
    age_p50_ms: f64,
    age_p99_ms: f64,
}

/// Subscribes `targets`, settles, measures the CPU of `publishers` and `relay` over `window`.
fn measure(
    case: &str,
    run: usize,
    viewers: usize,
    publishers: &[Program],
    relay: Option<&Program>,
    targets: &[(String, Vec<u8>)],
    window: Duration,
) -> Result<Sample, BenchError> {
    let mut subs = Subscribers::connect(targets)?;
    subs.read_for(SETTLE, false)?;
    let cpu = |programs: &[&Program]| -> Result<u64, BenchError> {
        programs.iter().map(|p| p.cpu_ns()).sum()
    };
    let pubs: Vec<&Program> = publishers.iter().collect();
    let (p0, r0, t0) = (
        cpu(&pubs)?,
        relay.map(Program::cpu_ns).transpose()?,
        Instant::now(),
    );
    subs.read_for(window, true)?;
    let (p1, r1, t1) = (
        cpu(&pubs)?,
        relay.map(Program::cpu_ns).transpose()?,
        Instant::now(),
    );
    let seconds = (t1 - t0).as_secs_f64();
    let per_s = |a: u64, b: u64| b.saturating_sub(a) as f64 / 1e6 / seconds;
    if subs.frames.contains(&0) {
        return Err(BenchError::Other(format!(
            "{case}: a subscriber received nothing in {seconds:.1} s"
        )));
    }
    let mut ages = std::mem::take(&mut subs.ages_ms);
    ages.sort_by(f64::total_cmp);
    Ok(Sample {
        case: case.to_owned(),
        run,
        viewers,
        campub_ms_per_s: per_s(p0, p1) / publishers.len() as f64,
        relay_ms_per_s: r0.zip(r1).map(|(a, b)| per_s(a, b)),
        fps_per_socket: median(subs.frames.iter().map(|&f| f as f64 / seconds).collect()),
        age_p50_ms: quantile(&ages, 0.5),
        age_p99_ms: quantile(&ages, 0.99),
    })
}

fn fan_out(
    args: &Args,
    viewers: usize,
    run: usize,
    window: Duration,
) -> Result<Vec<Sample>, BenchError> {
    let (publisher, at) = campub(&args.campub, "cam", "1280x720", 30)?;
    std::thread::sleep(Duration::from_millis(500));
    let direct_targets = vec![(at.clone(), Vec::new()); viewers];
    let direct = measure(
        &format!("direct {viewers}"),
        run,
        viewers,
        std::slice::from_ref(&publisher),
        None,
        &direct_targets,
        window,
    )?;
    let (relay, relay_at) = camrelay(&args.camrelay, &[at])?;
    let subscription = camwire::StreamName::new("cam")
        .map_err(|e| BenchError::Other(e.to_string()))?
        .subscription();
    let relayed_targets = vec![(relay_at, subscription); viewers];
    let relayed = measure(
        &format!("relay {viewers}"),
        run,
        viewers,
        std::slice::from_ref(&publisher),
        Some(&relay),
        &relayed_targets,
        window,
    )?;
    Ok(vec![direct, relayed])
}

fn grid(
    args: &Args,
    publishers: usize,
    viewers: usize,
    run: usize,
    window: Duration,
) -> Result<Sample, BenchError> {
    let mut programs = Vec::new();
    let mut endpoints = Vec::new();
    let mut names = Vec::new();
    for i in 0..publishers {
        let name = format!("cam{i}");
        let (p, at) = campub(&args.campub, &name, "640x360", 10)?;
        programs.push(p);
        endpoints.push(at);
        names.push(name);
    }
    let (relay, relay_at) = camrelay(&args.camrelay, &endpoints)?;
    let mut targets = Vec::new();
    for _ in 0..viewers {
        for name in &names {
            let stream =
                camwire::StreamName::new(name).map_err(|e| BenchError::Other(e.to_string()))?;
            targets.push((relay_at.clone(), stream.subscription()));
        }
    }
    measure(
        &format!("grid {publishers}x{viewers}"),
        run,
        viewers,
        &programs,
        Some(&relay),
        &targets,
        window,
    )
}

fn parse_grid(text: &str) -> Result<(usize, usize), BenchError> {
    let bad = || BenchError::Other(format!("--grid {text:?}: expected PUBLISHERSxVIEWERS"));
    let (p, v) = text.split_once('x').ok_or_else(bad)?;
    Ok((
        p.trim().parse().map_err(|_| bad())?,
        v.trim().parse().map_err(|_| bad())?,
    ))
}

fn run(args: &Args) -> Result<(), BenchError> {
    let counts: Vec<usize> = args
        .viewers
        .split(',')
        .map(|c| {
            c.trim()
                .parse()
                .map_err(|_| BenchError::Other(format!("--viewers {c:?}: not a number")))
        })
        .collect::<Result<_, _>>()?;
    let (grid_publishers, grid_viewers) = parse_grid(&args.grid)?;
    let window = Duration::from_secs(args.seconds.max(1));
    let mut samples = Vec::new();
    for run in 1..=args.runs.max(1) {
        for &n in &counts {
            for s in fan_out(args, n, run, window)? {
                eprintln!("bench-relay: run {run} {s:?}");
                samples.push(s);
            }
        }
        let s = grid(args, grid_publishers, grid_viewers, run, window)?;
        eprintln!("bench-relay: run {run} {s:?}");
        samples.push(s);
    }
    let med = |case: &str, f: fn(&Sample) -> f64| {
        median(samples.iter().filter(|s| s.case == case).map(f).collect())
    };
    let campub_1_direct = med(&format!("direct {}", counts[0]), |s| s.campub_ms_per_s);
    let relay_first = med(&format!("relay {}", counts[0]), |s| {
        s.relay_ms_per_s.unwrap_or(f64::NAN)
    });
    println!("| viewers | campub CPU direct | campub CPU behind the relay | x direct, {} viewer(s) | relay CPU | relay CPU per viewer | x relay, {} viewer(s) | fps per viewer direct / relayed | age p50 direct / relayed | age p99 direct / relayed |", counts[0], counts[0]);
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &n in &counts {
        let (d, r) = (format!("direct {n}"), format!("relay {n}"));
        let relay_cpu = med(&r, |s| s.relay_ms_per_s.unwrap_or(f64::NAN));
        println!(
            "| {n} | {:.1} ms/s | {:.1} ms/s | {:.2} | {relay_cpu:.1} ms/s | {:.2} ms/s | {:.2} | {:.1} / {:.1} | {:.1} / {:.1} ms | {:.1} / {:.1} ms |",
            med(&d, |s| s.campub_ms_per_s),
            med(&r, |s| s.campub_ms_per_s),
            med(&r, |s| s.campub_ms_per_s) / campub_1_direct,
            relay_cpu / n as f64,
            relay_cpu / relay_first,
            med(&d, |s| s.fps_per_socket),
            med(&r, |s| s.fps_per_socket),
            med(&d, |s| s.age_p50_ms),
            med(&r, |s| s.age_p50_ms),
            med(&d, |s| s.age_p99_ms),
            med(&r, |s| s.age_p99_ms),
        );
    }
    let g = format!("grid {grid_publishers}x{grid_viewers}");
    println!();
    println!("| grid | campub CPU each | relay CPU | relay CPU per (viewer, stream) | fps per (viewer, stream) | age p50 | age p99 |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let relay_cpu = med(&g, |s| s.relay_ms_per_s.unwrap_or(f64::NAN));
    println!(
        "| {grid_publishers} campubs x {grid_viewers} viewers (640x360, 10 fps) | {:.1} ms/s | {relay_cpu:.1} ms/s | {:.2} ms/s | {:.1} | {:.1} ms | {:.1} ms |",
        med(&g, |s| s.campub_ms_per_s),
        relay_cpu / (grid_publishers * grid_viewers) as f64,
        med(&g, |s| s.fps_per_socket),
        med(&g, |s| s.age_p50_ms),
        med(&g, |s| s.age_p99_ms),
    );
    for s in &samples {
        println!(
            "{}",
            serde_json::json!({
                "case": s.case, "run": s.run, "viewers": s.viewers,
                "campub_cpu_ms_per_s": s.campub_ms_per_s, "relay_cpu_ms_per_s": s.relay_ms_per_s,
                "fps_per_socket": s.fps_per_socket, "age_p50_ms": s.age_p50_ms,
                "age_p99_ms": s.age_p99_ms,
            })
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Args = argh::from_env();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-relay: {e}");
            ExitCode::FAILURE
        }
    }
}
