//! campub's CPU per published frame with 0, 1, 10 and 50 clients of each kind: HTTP /stream
//! clients and ZeroMQ subscribers (docs/PERFORMANCE.md, "Clients"), and its CPU while idle.
//!
//!   bench-clients --campub PATH [--clients 0,1,10,50] [--seconds 10] [--runs 3]
//!                 [--source pattern|file:PATH]
//!
//! Each case starts a fresh campub (1280x720 at 30 fps -> 640 wide, the default quality;
//! ZeroMQ and HTTP on loopback, both always on so that only the clients differ), connects the
//! clients from this process (each reads and drops every byte it gets, so that it keeps up),
//! lets them settle, then reads campub's CPU time (every thread, from
//! /proc/PID/task/*/schedstat) and its published-frame total (from /status) at the start and
//! the end of the window. Cases are interleaved run by run, so a load on the shared machine
//! falls on all of them; the report gives each case's median over the runs and its ratio to
//! the median of 0 clients (campub run with --no-idle, so that it encodes for nobody; its
//! default, idle while nobody watches, is measured beside it as CPU per second). Prints
//! Markdown tables, then one JSON object per line with every measurement.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use cambench::procs::{free_port, median, threads_cpu_ns};
use cambench::BenchError;

#[derive(argh::FromArgs)]
/// campub's CPU per frame with HTTP and ZeroMQ clients.
struct Args {
    /// the campub binary to measure
    #[argh(option)]
    campub: String,
    /// client counts, comma-separated. Default: 0,1,10,50
    #[argh(option, default = "String::from(\"0,1,10,50\")")]
    clients: String,
    /// seconds measured per case, after the clients settle. Default: 10
    #[argh(option, default = "10")]
    seconds: u64,
    /// repetitions of every case. Default: 3
    #[argh(option, default = "3")]
    runs: usize,
    /// campub's --source: "pattern" (made by campub, about 2 ms of CPU a frame) or
    /// "file:PATH" (JPEGs read from memory, as cheap as a camera's MJPEG). Default: pattern
    #[argh(option, default = "String::from(\"pattern\")")]
    source: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Http,
    Zmq,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Http => "http",
            Kind::Zmq => "zmq",
        }
    }
}

/// One case's measurement.
#[derive(Debug, Clone)]
struct Sample {
    kind: Kind,
    clients: usize,
    run: usize,
    cpu_ns_per_frame: f64,
    /// CPU milliseconds per second of wall time.
    cpu_ms_per_s: f64,
    published_fps: f64,
    /// Frames a client received per second, mean over the clients (0 with none).
    client_fps: f64,
}

/// Settling time: campub's first frames, the clients' connections and first frames.
const SETTLE: Duration = Duration::from_secs(2);
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A campub under measurement; dropping it stops it.
struct Campub {
    child: Child,
    http: SocketAddr,
    zmq: String,
}

impl Campub {
    /// `idle`: campub's default, idle while nobody watches; otherwise --no-idle.
    fn start(path: &str, source: &str, idle: bool) -> Result<Self, BenchError> {
        let http: SocketAddr = ([127, 0, 0, 1], free_port()?).into();
        let zmq = format!("tcp://127.0.0.1:{}", free_port()?);
        let mut command = Command::new(path);
        if !idle {
            command.arg("--no-idle");
        }
        let child = command
            .args(["--source", source, "--size", "1280x720", "--fps", "30"])
            .args(["--bind", &zmq, "--http", &http.to_string(), "--http-open"])
            .args(["--http-max-clients", "100", "--stats-interval", "0"])
            .env("RUST_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|source| BenchError::Io {
                what: format!("starting {path}"),
                source,
            })?;
        let campub = Self { child, http, zmq };
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(published) = campub.published() {
                if published > 0 {
                    return Ok(campub);
                }
            }
            if Instant::now() > deadline {
                return Err(BenchError::Campub(format!(
                    "published nothing on http://{} within {START_TIMEOUT:?}",
                    campub.http
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `published_total` from /status.
    fn published(&self) -> Result<u64, BenchError> {
        let io = |source| BenchError::Io {
            what: format!("GET http://{}/status", self.http),
            source,
        };
        let mut stream =
            TcpStream::connect_timeout(&self.http, Duration::from_secs(2)).map_err(io)?;
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .map_err(io)?;
        stream
            .write_all(b"GET /status HTTP/1.1\r\nHost: campub\r\nConnection: close\r\n\r\n")
            .map_err(io)?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).map_err(io)?;
        let body_at = response
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| BenchError::Campub("/status: no end of headers".into()))?;
        let status: serde_json::Value = serde_json::from_slice(&response[body_at + 4..])
            .map_err(|e| BenchError::Campub(format!("/status is not JSON: {e}")))?;
        status["published_total"]
            .as_u64()
            .ok_or_else(|| BenchError::Campub(format!("/status has no published_total: {status}")))
    }

    /// (published_total, CPU ns, when) just after campub's once-a-second figures sample: /status
    /// is polled until its total moves, so that the frames counted and the CPU time read cover
    /// the same span (within the polling interval) however long the window.
    fn at_sample(&self) -> Result<(u64, u64, Instant), BenchError> {
        let before = self.published()?;
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            std::thread::sleep(Duration::from_millis(10));
            let now = self.published()?;
            if now != before {
                return Ok((now, self.cpu_ns()?, Instant::now()));
            }
            if Instant::now() > deadline {
                return Err(BenchError::Campub(format!(
                    "published_total stuck at {now} for 5 s"
                )));
            }
        }
    }

    /// CPU time of every thread so far, in nanoseconds.
    fn cpu_ns(&self) -> Result<u64, BenchError> {
        threads_cpu_ns(self.child.id())
    }
}

impl Drop for Campub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The clients of one case, each on its own thread, counting the frames they receive.
struct Clients {
    stop: Arc<AtomicBool>,
    frames: Vec<Arc<AtomicU64>>,
    threads: Vec<JoinHandle<()>>,
}

impl Clients {
    fn start(kind: Kind, count: usize, campub: &Campub) -> Result<Self, BenchError> {
        let stop = Arc::new(AtomicBool::new(false));
        let context = zmq::Context::new();
        let mut clients = Self {
            stop: Arc::clone(&stop),
            frames: Vec::new(),
            threads: Vec::new(),
        };
        for _ in 0..count {
            let frames = Arc::new(AtomicU64::new(0));
            let counter = Arc::clone(&frames);
            let stop = Arc::clone(&stop);
            let thread = match kind {
                Kind::Http => {
                    let stream = http_stream(campub.http)?;
                    std::thread::spawn(move || read_http(stream, &counter, &stop))
                }
                Kind::Zmq => {
                    let socket = context.socket(zmq::SUB)?;
                    socket.set_subscribe(b"")?;
                    socket.set_rcvtimeo(200)?;
                    socket.connect(&campub.zmq)?;
                    std::thread::spawn(move || read_zmq(&socket, &counter, &stop))
                }
            };
            clients.frames.push(frames);
            clients.threads.push(thread);
        }
        Ok(clients)
    }

    fn received(&self) -> Vec<u64> {
        self.frames
            .iter()
            .map(|f| f.load(Ordering::Relaxed))
            .collect()
    }
}

impl Drop for Clients {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn http_stream(addr: SocketAddr) -> Result<TcpStream, BenchError> {
    let io = |source| BenchError::Io {
        what: format!("GET http://{addr}/stream"),
        source,
    };
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).map_err(io)?;
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(io)?;
    stream
        .write_all(b"GET /stream HTTP/1.1\r\nHost: campub\r\n\r\n")
        .map_err(io)?;
    Ok(stream)
}

/// Counts the parts of a multipart stream by their boundary line.
fn read_http(mut stream: TcpStream, frames: &AtomicU64, stop: &AtomicBool) {
    const MARK: &[u8] = b"--campubframe";
    let mut buf = vec![0u8; 64 * 1024];
    // The end of the previous read, so that a mark split across two reads is still seen.
    let mut carry = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                carry.extend_from_slice(&buf[..n]);
                let marks = carry.windows(MARK.len()).filter(|w| *w == MARK).count();
                frames.fetch_add(marks as u64, Ordering::Relaxed);
                let keep = carry.len().min(MARK.len() - 1);
                carry.drain(..carry.len() - keep);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => break,
        }
    }
}

fn read_zmq(socket: &zmq::Socket, frames: &AtomicU64, stop: &AtomicBool) {
    while !stop.load(Ordering::Relaxed) {
        match socket.recv_bytes(0) {
            Ok(_) => {
                frames.fetch_add(1, Ordering::Relaxed);
            }
            Err(zmq::Error::EAGAIN) => {}
            Err(_) => break,
        }
    }
}

fn measure(
    campub_path: &str,
    source: &str,
    kind: Kind,
    clients: usize,
    run: usize,
    window: Duration,
) -> Result<Sample, BenchError> {
    let campub = Campub::start(campub_path, source, false)?;
    let connected = Clients::start(kind, clients, &campub)?;
    std::thread::sleep(SETTLE);
    let (published0, cpu0, t0) = campub.at_sample()?;
    let received0 = connected.received();
    std::thread::sleep(window.saturating_sub(Duration::from_millis(500)));
    let (published1, cpu1, t1) = campub.at_sample()?;
    let received1 = connected.received();
    drop(connected);
    let frames = published1.saturating_sub(published0);
    if frames == 0 {
        return Err(BenchError::Campub(format!(
            "{} {clients}: no frame published in {window:?}",
            kind.name()
        )));
    }
    let seconds = (t1 - t0).as_secs_f64();
    let got: u64 = received1
        .iter()
        .zip(&received0)
        .map(|(a, b)| a.saturating_sub(*b))
        .sum();
    if clients > 0 && got == 0 {
        return Err(BenchError::Other(format!(
            "{} {clients}: the clients received nothing",
            kind.name()
        )));
    }
    Ok(Sample {
        kind,
        clients,
        run,
        cpu_ns_per_frame: cpu1.saturating_sub(cpu0) as f64 / frames as f64,
        cpu_ms_per_s: cpu1.saturating_sub(cpu0) as f64 / 1e6 / seconds,
        published_fps: frames as f64 / seconds,
        client_fps: if clients == 0 {
            0.0
        } else {
            got as f64 / seconds / clients as f64
        },
    })
}

/// campub's CPU per second while idle (its default with nobody watching): the capture goes on,
/// nothing is encoded.
fn measure_idle(campub_path: &str, source: &str, window: Duration) -> Result<f64, BenchError> {
    let campub = Campub::start(campub_path, source, true)?;
    std::thread::sleep(SETTLE);
    let (cpu0, published0, t0) = (campub.cpu_ns()?, campub.published()?, Instant::now());
    std::thread::sleep(window);
    let (cpu1, published1, t1) = (campub.cpu_ns()?, campub.published()?, Instant::now());
    if published1 != published0 {
        return Err(BenchError::Campub(format!(
            "published {} frames while nobody watched: not idle",
            published1 - published0
        )));
    }
    Ok(cpu1.saturating_sub(cpu0) as f64 / 1e6 / (t1 - t0).as_secs_f64())
}

fn run(args: &Args) -> Result<(), BenchError> {
    let counts: Vec<usize> = args
        .clients
        .split(',')
        .map(|c| {
            c.trim()
                .parse()
                .map_err(|_| BenchError::Other(format!("--clients {:?}: not a number", c)))
        })
        .collect::<Result<_, _>>()?;
    let window = Duration::from_secs(args.seconds.max(1));
    // 0 clients is one case, whatever the kind.
    let mut cases = Vec::new();
    for &n in &counts {
        cases.push((Kind::Http, n));
        if n > 0 {
            cases.push((Kind::Zmq, n));
        }
    }
    let mut samples = Vec::new();
    let mut idle_ms_per_s = Vec::new();
    for run in 1..=args.runs.max(1) {
        let idle = measure_idle(&args.campub, &args.source, window)?;
        eprintln!("bench-clients: run {run} idle: {idle:.2} ms CPU per second");
        idle_ms_per_s.push(idle);
        for &(kind, n) in &cases {
            let sample = measure(&args.campub, &args.source, kind, n, run, window)?;
            eprintln!(
                "bench-clients: run {run} {} {n}: {:.0} us CPU per frame, {:.1} fps published, {:.1} fps per client",
                if n == 0 { "none" } else { kind.name() },
                sample.cpu_ns_per_frame / 1000.0,
                sample.published_fps,
                sample.client_fps
            );
            samples.push(sample);
        }
    }
    let median_of = |kind: Kind, n: usize, f: fn(&Sample) -> f64| {
        median(
            samples
                .iter()
                .filter(|s| s.clients == n && (n == 0 || s.kind == kind))
                .map(f)
                .collect(),
        )
    };
    let baseline = median_of(Kind::Http, 0, |s| s.cpu_ns_per_frame);
    println!("| clients | HTTP: CPU per frame | x 0 clients | fps per client | ZeroMQ: CPU per frame | x 0 clients | fps per client |");
    println!("|---:|---:|---:|---:|---:|---:|---:|");
    for &n in &counts {
        let cell = |kind: Kind| {
            let cpu = median_of(kind, n, |s| s.cpu_ns_per_frame);
            let fps = median_of(kind, n, |s| s.client_fps);
            format!(
                "{:.0} us | {:.2} | {}",
                cpu / 1000.0,
                cpu / baseline,
                if n == 0 {
                    "-".into()
                } else {
                    format!("{fps:.1}")
                }
            )
        };
        println!("| {n} | {} | {} |", cell(Kind::Http), cell(Kind::Zmq));
    }
    let streaming = median_of(Kind::Http, 0, |s| s.cpu_ms_per_s);
    let idle = median(idle_ms_per_s.clone());
    println!();
    println!("| nobody watching | campub CPU per second | x encoding for nobody |");
    println!("|---|---:|---:|");
    println!(
        "| idle (the default) | {idle:.1} ms | {:.3} |",
        idle / streaming
    );
    println!("| encoding for nobody (--no-idle) | {streaming:.1} ms | 1.000 |");
    for idle in &idle_ms_per_s {
        println!(
            "{}",
            serde_json::json!({"kind": "idle", "clients": 0, "cpu_ms_per_s": idle})
        );
    }
    for s in &samples {
        println!(
            "{}",
            serde_json::json!({
                "kind": if s.clients == 0 { "none" } else { s.kind.name() },
                "clients": s.clients,
                "run": s.run,
                "cpu_ns_per_frame": s.cpu_ns_per_frame,
                "cpu_ms_per_s": s.cpu_ms_per_s,
                "published_fps": s.published_fps,
                "client_fps": s.client_fps,
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
            eprintln!("bench-clients: {e}");
            ExitCode::FAILURE
        }
    }
}
