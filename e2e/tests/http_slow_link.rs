//! A slow HTTP client through a real slow link: campub `--http` in a network namespace of its
//! own, a `/stream` client (curl) in a second namespace behind a veth whose egress is shaped by
//! the kernel's tbf to a quarter of the stream's bitrate, and a fast client (curl) in a third
//! namespace on an unshaped veth. The slow client must get fewer frames but each one recent
//! (its age from the parts' `X-Timestamp`, the capture time), and the fast client's rate must
//! not change.
//!
//! Needs root, `ip` and `tc` (iproute2) and `curl`, which `scripts/setup-debian.sh --test`
//! installs and CI has: without them the test fails, it never skips.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use testkit::netns::run_ok;
use testkit::*;

const PUB_SLOW_ADDR: &str = "10.232.0.1";
const SLOW_ADDR: &str = "10.232.0.2";
const PUB_FAST_ADDR: &str = "10.232.1.1";
const FAST_ADDR: &str = "10.232.1.2";
const HTTP_PORT: u16 = 8080;
/// How long each phase is measured.
const PHASE: Duration = Duration::from_secs(8);
/// The slow link's share of the stream's bitrate.
const SLOW_SHARE: f64 = 0.25;
/// tbf's queue: what waits beyond this is dropped, as at a real bottleneck.
const TBF_LATENCY_MS: u64 = 50;

/// Fails loudly when the test cannot do what it must: root, `ip`, `tc`, `curl`.
fn require_prerequisites() {
    testkit::netns::require_root();
    for (program, arg, package) in [
        ("ip", "-V", "iproute2"),
        ("tc", "-V", "iproute2"),
        ("curl", "--version", "curl"),
    ] {
        assert!(
            Command::new(program).arg(arg).output().is_ok(),
            "`{program}` is missing: install {package} (scripts/setup-debian.sh --test)"
        );
    }
}

/// Three namespaces: campub's, joined by one veth pair to the slow client's and by another to
/// the fast client's. Removed on drop.
struct Net {
    publisher: String,
    slow: String,
    fast: String,
}

impl Net {
    fn new() -> Self {
        require_prerequisites();
        let id = std::process::id() % 100_000;
        let net = Self {
            publisher: format!("hp-{id}"),
            slow: format!("hs-{id}"),
            fast: format!("hf-{id}"),
        };
        for ns in [&net.publisher, &net.slow, &net.fast] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            run_ok("ip", &["netns", "add", ns]);
            run_ok("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        // Made inside campub's namespace, the peers moved out: no name in the test's own.
        for (dev, peer, ns, pub_addr, addr) in [
            ("vslow", "veth0", &net.slow, PUB_SLOW_ADDR, SLOW_ADDR),
            ("vfast", "veth0", &net.fast, PUB_FAST_ADDR, FAST_ADDR),
        ] {
            run_ok(
                "ip",
                &[
                    "-n",
                    &net.publisher,
                    "link",
                    "add",
                    dev,
                    "type",
                    "veth",
                    "peer",
                    "name",
                    peer,
                    "netns",
                    ns,
                ],
            );
            for (in_ns, name, address) in [(&net.publisher, dev, pub_addr), (ns, peer, addr)] {
                run_ok(
                    "ip",
                    &[
                        "-n",
                        in_ns,
                        "addr",
                        "add",
                        &format!("{address}/24"),
                        "dev",
                        name,
                    ],
                );
                run_ok("ip", &["-n", in_ns, "link", "set", name, "up"]);
            }
        }
        net
    }

    /// tbf on campub's side of the slow client's veth: what campub sends it leaves at `rate_bps`.
    fn shape_slow(&self, rate_bps: u64) {
        run_ok(
            "ip",
            &[
                "netns",
                "exec",
                &self.publisher,
                "tc",
                "qdisc",
                "add",
                "dev",
                "vslow",
                "root",
                "tbf",
                "rate",
                &format!("{rate_bps}bit"),
                "burst",
                "16kb",
                "latency",
                &format!("{TBF_LATENCY_MS}ms"),
            ],
        );
    }

    fn campub(&self) -> Running {
        let addr = format!("0.0.0.0:{HTTP_PORT}");
        let port = free_port().to_string();
        spawn(
            Command::new("ip")
                .args(["netns", "exec", &self.publisher])
                .arg(testkit::bin::path("campub"))
                .args([
                    "--source",
                    "pattern",
                    "--size",
                    "1280x720",
                    "--fps",
                    "30",
                    "--bind",
                    &format!("tcp://127.0.0.1:{port}"),
                    "--http",
                    &addr,
                    "--http-open",
                ]),
        )
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in [&self.publisher, &self.slow, &self.fast] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// One part received: when (wall clock, s), its capture time (X-Timestamp, s), its size.
#[derive(Clone, Copy, Debug)]
struct Part {
    received_s: f64,
    captured_s: f64,
    bytes: usize,
}

impl Part {
    fn age_ms(&self) -> f64 {
        (self.received_s - self.captured_s) * 1000.0
    }
}

fn now_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A `/stream` client: curl in `ns`, its output parsed into parts on a thread of its own.
struct Viewer {
    curl: Child,
    parts: Arc<Mutex<Vec<Part>>>,
}

impl Viewer {
    fn start(ns: &str, url: &str) -> Self {
        let mut curl = Command::new("ip")
            .args([
                "netns",
                "exec",
                ns,
                "curl",
                "-sS",
                "-N",
                "--max-time",
                "120",
            ])
            .arg(url)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("curl");
        let parts = Arc::new(Mutex::new(Vec::new()));
        let mut reader = BufReader::new(curl.stdout.take().unwrap());
        let found = Arc::clone(&parts);
        std::thread::spawn(move || {
            while let Some(part) = read_part(&mut reader) {
                found.lock().unwrap().push(part);
            }
        });
        Self { curl, parts }
    }

    /// The parts received between `from` and `to` (wall clock, s).
    fn between(&self, from: f64, to: f64) -> Vec<Part> {
        self.parts
            .lock()
            .unwrap()
            .iter()
            .copied()
            .filter(|p| p.received_s >= from && p.received_s < to)
            .collect()
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        let _ = self.curl.kill();
        let _ = self.curl.wait();
    }
}

/// One multipart part, or None when the stream ends.
fn read_part(reader: &mut impl BufRead) -> Option<Part> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    if line.is_empty() {
        return None;
    }
    assert_eq!(line, "--campubframe\r\n");
    let (mut length, mut captured_s) = (None, None);
    loop {
        line.clear();
        reader.read_line(&mut line).ok()?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
        let (name, value) = line.trim_end().split_once(": ").unwrap();
        match name.to_ascii_lowercase().as_str() {
            "content-length" => length = Some(value.parse::<usize>().unwrap()),
            "x-timestamp" => captured_s = Some(value.parse::<f64>().unwrap()),
            _ => {}
        }
    }
    let mut jpeg = vec![0; length.expect("Content-Length")];
    reader.read_exact(&mut jpeg).ok()?;
    let received_s = now_s();
    let mut end = [0; 2];
    reader.read_exact(&mut end).ok()?;
    Some(Part {
        received_s,
        captured_s: captured_s.expect("X-Timestamp in every part"),
        bytes: jpeg.len(),
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    assert!(!values.is_empty());
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[test]
fn http_a_slow_stream_client_gets_fewer_recent_frames_and_a_fast_one_does_not_notice() {
    let _serial = one_at_a_time();
    let net = Net::new();
    let campub = net.campub();
    let fast_url = format!("http://{PUB_FAST_ADDR}:{HTTP_PORT}/stream");
    let slow_url = format!("http://{PUB_SLOW_ADDR}:{HTTP_PORT}/stream");
    let deadline = Instant::now() + Duration::from_secs(10);
    let fast = loop {
        let viewer = Viewer::start(&net.fast, &fast_url);
        std::thread::sleep(Duration::from_millis(500));
        if !viewer.parts.lock().unwrap().is_empty() {
            break viewer;
        }
        assert!(Instant::now() < deadline, "no /stream from campub");
    };

    // The fast client alone: its rate, and the stream's bitrate.
    let alone_from = now_s() + 1.0;
    std::thread::sleep(Duration::from_secs(1) + PHASE);
    let alone = fast.between(alone_from, alone_from + PHASE.as_secs_f64());
    let stream_bps = alone.iter().map(|p| p.bytes as f64 * 8.0).sum::<f64>() / PHASE.as_secs_f64();
    let frame_bytes = median(alone.iter().map(|p| p.bytes as f64).collect());
    let fast_fps_alone = alone.len() as f64 / PHASE.as_secs_f64();

    // The slow client behind a quarter of that.
    let slow_bps = (stream_bps * SLOW_SHARE) as u64;
    net.shape_slow(slow_bps);
    let slow = Viewer::start(&net.slow, &slow_url);
    // Three seconds to connect and settle (TCP's first window against tbf's drops: frames
    // more than a second old were seen in the first two), then both over the same time.
    let from = now_s() + 3.0;
    std::thread::sleep(Duration::from_secs(3) + PHASE);
    let to = from + PHASE.as_secs_f64();
    let (slow_parts, fast_parts) = (slow.between(from, to), fast.between(from, to));
    let campub = campub.terminate(Duration::from_secs(20));
    let slow_fps = slow_parts.len() as f64 / PHASE.as_secs_f64();
    let fast_fps = fast_parts.len() as f64 / PHASE.as_secs_f64();
    let ages: Vec<f64> = slow_parts.iter().map(Part::age_ms).collect();
    let fast_ages: Vec<f64> = fast_parts.iter().map(Part::age_ms).collect();
    let context = format!(
        "stream {:.2} Mbit/s, frames {frame_bytes:.0} B, slow link {:.2} Mbit/s; fast alone \
         {fast_fps_alone:.1} fps, beside the slow one {fast_fps:.1} fps (median age {:.0} ms); \
         slow {slow_fps:.1} fps, ages {ages:.0?} ms\ncampub:\n{}",
        stream_bps / 1e6,
        slow_bps as f64 / 1e6,
        median(fast_ages.clone()),
        campub.stderr
    );
    eprintln!("{context}");

    // Fewer frames: at a quarter of the bitrate, at most about a quarter of them.
    assert!(
        slow_parts.len() >= 4,
        "the slow client gets frames\n{context}"
    );
    assert!(
        slow_fps < 0.5 * fast_fps,
        "the slow client gets fewer frames\n{context}"
    );
    // Each recent. A frame's trip through the slow link: its own bytes at the link's rate,
    // after what is already on the way: what hyper has queued for the connection (it polls
    // /stream for more until it holds 16 body chunks, three per frame: up to 5 frames, shared
    // Bytes, no copy), the 8 KiB TCP_NOTSENT_LOWAT in campub's socket, the data in flight and
    // tbf's 50 ms queue. So at most 6 frames' time on the link, the queue and 300 ms for TCP's
    // recovery from tbf's drops. Measured: 260 to 800 ms at 1.07 Mbit/s (140 ms per frame). A
    // backlog, by contrast, would grow by 0.75 s every second (8 s: 6 s).
    let frame_on_link_ms = frame_bytes * 8.0 / slow_bps as f64 * 1000.0;
    let age_bound_ms = 6.0 * frame_on_link_ms + TBF_LATENCY_MS as f64 + 300.0;
    let worst_age_ms = ages.iter().copied().fold(0.0, f64::max);
    assert!(
        worst_age_ms < age_bound_ms,
        "the slow client's oldest frame was {worst_age_ms:.0} ms old, bound {age_bound_ms:.0} ms\n{context}"
    );
    // ...and not getting older.
    let half = ages.len() / 2;
    let (first, second) = (median(ages[..half].to_vec()), median(ages[half..].to_vec()));
    assert!(
        second < first * 1.5 + 50.0,
        "the slow client's frames get older: median {first:.0} ms, then {second:.0} ms\n{context}"
    );
    // The fast client does not notice.
    assert!(
        fast_fps >= 0.9 * fast_fps_alone,
        "the fast client's rate fell\n{context}"
    );
    assert!(
        median(fast_ages) < 200.0,
        "the fast client's frames are recent\n{context}"
    );
    drop(slow);
    drop(fast);
    drop(net);
}
