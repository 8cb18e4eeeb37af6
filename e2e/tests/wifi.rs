//! A link slower than the stream (docs/WIFI.md): the real campub -> linksim's emulated wifi
//! (half the stream's bitrate, 20 ± 10 ms, 1 % loss) -> the real camview, next to a second
//! camview on a fast link. The slow viewer must get fewer frames, not older ones; its latency
//! must stay bounded and not grow; the fast viewer must not notice; when the link recovers the
//! frame rate comes back; and campub must say that a subscriber is on a slow link.
//!
//! The bounds are functional, not benchmarks: before campub bounded its per-subscriber queues,
//! this setup put 2.5-5 s between capture and display after 10 s, and growing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use linksim::{LinkShape, Proxy};
use testkit::*;

const LIMIT: Duration = Duration::from_secs(60);
/// Seconds between camview's interval reports.
const REPORT_EVERY_S: u64 = 2;
/// The slow viewer's run: constrained until `RECOVER_AT_S`, then uncapped.
const SLOW_RUN_S: u64 = 18;
const RECOVER_AT_S: u64 = 12;

#[derive(Debug)]
struct Interval {
    t_s: f64,
    fps: f64,
    p95_ms: f64,
    lost: u64,
}

fn intervals(done: &Finished) -> Vec<Interval> {
    done.stdout
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|v| v.get("t_s").is_some())
        .map(|v| Interval {
            t_s: f64_at(&v, "/t_s"),
            fps: f64_at(&v, "/fps"),
            p95_ms: v["latency_ms"]["p95"].as_f64().unwrap_or(f64::NAN),
            lost: u64_at(&v, "/lost_in_transit"),
        })
        .collect()
}

fn viewer(endpoint: &str, duration_s: u64) -> Running {
    spawn(camview().args([
        "--headless",
        "--duration",
        &duration_s.to_string(),
        "--report-every",
        &REPORT_EVERY_S.to_string(),
        endpoint,
    ]))
}

fn link_endpoint(proxy: &Proxy) -> String {
    format!("tcp://{}", proxy.local_addr())
}

#[test]
fn a_slow_link_gets_fewer_frames_not_older_ones_and_a_fast_one_does_not_notice() {
    let _serial = one_at_a_time();
    let port = free_port();
    let campub = spawn(testkit::campub().args([
        "--source",
        "pattern",
        "--size",
        "1280x720",
        "--fps",
        "30",
        "--stats-interval",
        "2",
        "--bind",
        &endpoint(port),
    ]));
    let upstream: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let listen: SocketAddr = "127.0.0.1:0".parse().unwrap();

    // The stream's bitrate, measured through an uncapped proxy, by a viewer on its own; its
    // latency is the fast viewer's baseline.
    let meter = Proxy::start(
        listen,
        upstream,
        LinkShape::delay_only(Duration::ZERO, Duration::ZERO),
    )
    .unwrap();
    let started = Instant::now();
    let alone = viewer(&link_endpoint(&meter), 5).finish(LIMIT);
    let stream_bps = meter.counters().forward_bytes.load(Ordering::Relaxed) as f64 * 8.0
        / started.elapsed().as_secs_f64();
    drop(meter);
    assert!(alone.status.success(), "{}", alone.stderr);
    let alone = alone.summary();
    let alone_p50 = f64_at(&alone, "/latency_ms/p50");
    assert!(
        stream_bps > 500_000.0,
        "the pattern stream is {stream_bps} bit/s"
    );

    // Half the stream's bitrate, with the delay, jitter and loss.
    let slow_link =
        Proxy::start(listen, upstream, LinkShape::wifi((stream_bps / 2.0) as u64)).unwrap();
    let fast = viewer(&endpoint(port), SLOW_RUN_S);
    let slow = viewer(&link_endpoint(&slow_link), SLOW_RUN_S);
    std::thread::sleep(Duration::from_secs(RECOVER_AT_S));
    slow_link.set_rate_bps(0);
    let slow = slow.finish(LIMIT);
    let fast = fast.finish(LIMIT);
    let campub = campub.terminate(LIMIT);
    assert!(
        slow.status.success() && fast.status.success(),
        "{}\n{}",
        slow.stderr,
        fast.stderr
    );
    let (slow_summary, fast_summary) = (slow.summary(), fast.summary());
    let (slow, fast) = (intervals(&slow), intervals(&fast));
    let context = format!(
        "stream {:.2} Mbit/s\nslow: {slow:#?}\nfast: {fast:#?}\ncampub:\n{}",
        stream_bps / 1e6,
        campub.stderr
    );
    assert!(slow.len() >= 8 && fast.len() >= 8, "{context}");

    // Constrained: skip the first interval (connecting), stop one before the recovery.
    let constrained: Vec<&Interval> = slow
        .iter()
        .filter(|i| i.t_s > REPORT_EVERY_S as f64 + 1.0 && i.t_s < RECOVER_AT_S as f64)
        .collect();
    assert!(constrained.len() >= 3, "{context}");
    for interval in &constrained {
        assert!(
            interval.p95_ms < 1000.0,
            "latency on the slow link must stay bounded: {interval:?}\n{context}"
        );
    }
    let (first, last) = (constrained[0], constrained[constrained.len() - 1]);
    assert!(
        last.p95_ms < first.p95_ms * 1.5 + 100.0,
        "latency on the slow link must not grow: {first:?} -> {last:?}\n{context}"
    );
    let fast_fps = f64_at(&fast_summary, "/fps");
    let constrained_fps = constrained.iter().map(|i| i.fps).sum::<f64>() / constrained.len() as f64;
    assert!(
        constrained_fps < 0.8 * fast_fps,
        "the slow link shows fewer frames per second: {constrained_fps} vs {fast_fps}\n{context}"
    );
    assert!(
        constrained.iter().all(|i| i.lost > 0),
        "camview sees the frames the publisher dropped for it\n{context}"
    );

    // Recovered: within two intervals the slow viewer runs at the fast viewer's rate again.
    let recovered = slow
        .iter()
        .rfind(|i| i.t_s > RECOVER_AT_S as f64 + 2.0 * REPORT_EVERY_S as f64)
        .unwrap_or_else(|| panic!("no interval after the recovery\n{context}"));
    assert!(
        recovered.fps > 0.8 * fast_fps && recovered.p95_ms < first.p95_ms,
        "the frame rate recovers with the link: {recovered:?}\n{context}"
    );

    // The fast viewer: every frame, and its latency as when it was alone.
    let fast_lost = u64_at(&fast_summary, "/lost_in_transit");
    let fast_shown = u64_at(&fast_summary, "/frames_shown");
    assert!(
        fast_lost * 50 <= fast_shown,
        "the fast viewer loses (almost) nothing: {fast_lost} of {fast_shown}\n{context}"
    );
    let fast_p50 = f64_at(&fast_summary, "/latency_ms/p50");
    assert!(
        fast_p50 < 2.0 * alone_p50 + 10.0,
        "the fast viewer's latency is unaffected: {fast_p50} ms, alone {alone_p50} ms\n{context}"
    );
    assert!(
        f64_at(&slow_summary, "/latency_ms/p50") > fast_p50,
        "the links differ\n{context}"
    );

    // campub noticed.
    assert!(
        campub.stderr.contains("2 subscribers (1 on a slow link"),
        "campub reports the slow subscriber\n{context}"
    );
    assert!(
        !campub.stderr.contains("(2 on a slow link"),
        "campub does not count the fast subscriber as slow\n{context}"
    );
    assert!(campub.status.success(), "{context}");
}
