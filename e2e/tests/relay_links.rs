//! camrelay between hosts made of network namespaces (testkit::netns): a Pi behind NAT that
//! dials the relay (`campub --connect`), whose outgoing bytes stay one stream however many
//! viewers watch through the relay; and a viewer on a slow link (the kernel's tbf) that gets
//! fewer frames of both cameras, never one camera at the other's expense, while a fast viewer
//! keeps the full rate.
//!
//! Needs root, `ip`, `tc` and `nft` (scripts/setup-debian.sh --test installs them; CI runs as
//! root): without them the tests fail, they never skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use testkit::netns::{link, Host};
use testkit::*;

const LIMIT: Duration = Duration::from_secs(60);

/// `python3 -c HUNDRED_SUBSCRIBERS ENDPOINT COUNT SECONDS`: COUNT SUB sockets on ENDPOINT,
/// each subscribed to stream "garden", read for SECONDS; prints each one's message count.
const HUNDRED_SUBSCRIBERS: &str = r#"
import sys, time, zmq
endpoint, count, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ctx = zmq.Context()
poller, socks = zmq.Poller(), []
for _ in range(count):
    s = ctx.socket(zmq.SUB)
    s.setsockopt(zmq.RCVHWM, 4)
    s.setsockopt(zmq.SUBSCRIBE, b"garden\0")
    s.connect(endpoint)
    poller.register(s, zmq.POLLIN)
    socks.append(s)
got = {id(s): 0 for s in socks}
end = time.monotonic() + seconds
while time.monotonic() < end:
    for s, _ in poller.poll(100):
        while True:
            try:
                s.recv(zmq.NOBLOCK)
            except zmq.Again:
                break
            got[id(s)] += 1
print(" ".join(str(got[id(s)]) for s in socks))
"#;

/// The JSON lines of a headless camview, one per tile, keyed by stream.
fn lines_by_stream(done: &Finished) -> std::collections::BTreeMap<String, serde_json::Value> {
    done.json_lines()
        .into_iter()
        .map(|v| (v["stream"].as_str().unwrap_or("").to_owned(), v))
        .collect()
}

#[test]
fn a_pi_behind_nat_dials_the_relay_and_sends_one_stream_whatever_the_viewer_count() {
    let _serial = one_at_a_time();
    let pi = Host::new("pi");
    let relay_host = Host::new("relay");
    let viewers = Host::new("viewers");
    let ((pi_addr, pi_dev), (relay_pi_side, _)) = link(&pi, &relay_host, 41);
    let (_, (relay_viewer_side, _)) = link(&viewers, &relay_host, 42);
    pi.refuse_incoming();

    let listen = format!("tcp://{relay_pi_side}:5556");
    let bind = format!("tcp://{relay_viewer_side}:5555");
    let camrelay = LoggedProcess::spawn(
        relay_host.command("camrelay").args([
            "--listen",
            &listen,
            "--bind",
            &bind,
            "--stats-interval",
            "1",
        ]),
        "camrelay",
    );
    let campub = LoggedProcess::spawn(
        pi.command("campub").args([
            "--source",
            "pattern",
            "--fps",
            "30",
            "--stream",
            "garden",
            "--bind",
            "tcp://*:5555",
            "--connect",
            &listen,
            "--stats-interval",
            "0",
        ]),
        "campub",
    );
    assert!(campub.wait_for_log("dialling out to", LIMIT));

    // The Pi cannot be reached: its own port is closed to the relay's host...
    let direct = run(
        relay_host
            .command("camview")
            .args(["--headless", "--duration", "3"])
            .arg(format!("tcp://{pi_addr}:5555")),
        LIMIT,
    );
    assert_eq!(direct.status.code(), Some(3), "{}", direct.stdout);
    // ...yet its stream reaches a viewer through the relay it dialled.
    let one = run(
        viewers.command("camview").args([
            "--headless",
            "--frames",
            "60",
            "--duration",
            "20",
            &bind,
        ]),
        LIMIT,
    );
    assert!(one.status.success(), "{}\n{}", one.stdout, one.stderr);
    assert!(u64_at(&one.summary(), "/streams/garden") >= 60);

    // The Pi's outgoing bytes over 4 s with 1 viewer, then with 10: one stream either way.
    let sent_while = |count: usize| {
        let running: Vec<Running> = (0..count)
            .map(|_| {
                spawn(
                    viewers
                        .command("camview")
                        .args(["--headless", "--duration", "8", &bind]),
                )
            })
            .collect();
        std::thread::sleep(Duration::from_secs(3));
        let before = pi.bytes(&pi_dev).0;
        std::thread::sleep(Duration::from_secs(4));
        let sent = pi.bytes(&pi_dev).0 - before;
        for r in running {
            let done = r.finish(LIMIT);
            assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
            assert!(
                u64_at(&done.summary(), "/frames_shown") > 100,
                "{}",
                done.stdout
            );
        }
        sent
    };
    let with_one = sent_while(1);
    let with_ten = sent_while(10);
    // 100 viewers: ZeroMQ subscribers in one Python process (pyzmq, installed by
    // scripts/setup-debian.sh --test) in the viewers' namespace, each subscribed to the
    // stream on its own connection and counting what it gets; 100 camviews would measure
    // this machine's decoding instead.
    let hundred = {
        let mut subscribers = viewers.command_any("python3");
        subscribers.args(["-c", HUNDRED_SUBSCRIBERS, &bind, "100", "8"]);
        let running = spawn(&mut subscribers);
        std::thread::sleep(Duration::from_secs(3));
        let before = pi.bytes(&pi_dev).0;
        std::thread::sleep(Duration::from_secs(4));
        let sent = pi.bytes(&pi_dev).0 - before;
        let done = running.finish(LIMIT);
        assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
        let counts: Vec<u64> = done
            .stdout
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(counts.len(), 100, "{}", done.stdout);
        assert!(
            counts.iter().all(|&n| n > 100),
            "every subscriber gets the stream: {counts:?}"
        );
        sent
    };
    eprintln!(
        "the Pi sent {with_one} B with 1 viewer, {with_ten} B with 10, {hundred} B with 100 in 4 s"
    );
    assert!(with_one > 500_000, "about 550 kB/s of stream: {with_one}");
    for (viewers, sent) in [(10, with_ten), (100, hundred)] {
        let ratio = sent as f64 / with_one as f64;
        assert!(
            (0.7..1.3).contains(&ratio),
            "{viewers} viewers cost the Pi {ratio:.2} times what one does"
        );
    }
    drop(campub);
    drop(camrelay);
}

#[test]
fn a_viewer_on_a_slow_link_loses_frames_of_both_cameras_fairly_and_others_keep_theirs() {
    let _serial = one_at_a_time();
    let relay_host = Host::new("relay");
    let fast = Host::new("fast");
    let slow = Host::new("slow");
    let (_, (fast_side, _)) = link(&fast, &relay_host, 43);
    let (_, (slow_side, slow_dev)) = link(&slow, &relay_host, 44);
    // Two cameras of about 4.4 Mbit/s each through a 3 Mbit/s link: a third of the frames fit.
    relay_host.shape(&slow_dev, 3_000_000, 200);

    let cameras: Vec<LoggedProcess> = [("camA", "7001"), ("camB", "7002")]
        .iter()
        .map(|(stream, port)| {
            LoggedProcess::spawn(
                relay_host.command("campub").args([
                    "--source",
                    "pattern",
                    "--fps",
                    "30",
                    "--stream",
                    stream,
                    "--bind",
                    &format!("tcp://127.0.0.1:{port}"),
                    "--stats-interval",
                    "0",
                ]),
                "campub",
            )
        })
        .collect();
    let camrelay = LoggedProcess::spawn(
        relay_host.command("camrelay").args([
            "--from",
            "tcp://127.0.0.1:7001",
            "--from",
            "tcp://127.0.0.1:7002",
            "--bind",
            "tcp://*:5555",
            "--no-idle",
            "--stats-interval",
            "2",
        ]),
        "camrelay",
    );
    for stream in ["camA", "camB"] {
        assert!(camrelay.wait_for_log(&format!("stream \"{stream}\" appeared"), LIMIT));
    }
    let watch = |host: &Host, addr: &str| {
        spawn(host.command("camview").args([
            "--headless",
            "--duration",
            "12",
            &format!("tcp://{addr}:5555"),
        ]))
    };
    let (fast_run, slow_run) = (watch(&fast, &fast_side), watch(&slow, &slow_side));
    let (fast_done, slow_done) = (fast_run.finish(LIMIT), slow_run.finish(LIMIT));
    for done in [&fast_done, &slow_done] {
        assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    }
    let (fast_lines, slow_lines) = (lines_by_stream(&fast_done), lines_by_stream(&slow_done));
    assert_eq!(fast_lines.len(), 2, "{}", fast_done.stdout);
    assert_eq!(slow_lines.len(), 2, "{}", slow_done.stdout);
    let mut slow_frames = Vec::new();
    for stream in ["camA", "camB"] {
        let (f, s) = (&fast_lines[stream], &slow_lines[stream]);
        eprintln!(
            "{stream}: fast {} fps p99 {} ms; slow {} fps p50 {} ms p99 {} ms",
            f["fps"],
            f["latency_ms"]["p99"],
            s["fps"],
            s["latency_ms"]["p50"],
            s["latency_ms"]["p99"]
        );
        // The fast viewer keeps about the cameras' 30 fps whatever the slow one does.
        assert!(f64_at(f, "/fps") > 24.0, "fast viewer, {stream}: {f}");
        // The slow one gets fewer frames, of both cameras, and fresh ones: the relay keeps
        // at most one frame per (viewer, stream) waiting, so no backlog builds up.
        let frames = u64_at(s, "/frames_shown");
        assert!(frames > 20, "slow viewer, {stream}: {s}");
        assert!(
            f64_at(s, "/fps") < f64_at(f, "/fps"),
            "the link was meant to be too slow: {s}"
        );
        assert!(
            f64_at(s, "/latency_ms/p50") < 1500.0,
            "slow viewer, {stream}: {s}"
        );
        slow_frames.push(frames as f64);
    }
    let fairness = slow_frames[0] / slow_frames[1];
    assert!(
        (0.5..2.0).contains(&fairness),
        "one camera starved the other on the slow link: {slow_frames:?}"
    );
    drop(cameras);
    drop(camrelay);
}
