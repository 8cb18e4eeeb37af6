//! Stalled subscribers cost campub nothing: with one camview frozen (SIGSTOP) and one ZeroMQ
//! subscriber that never reads, both for 30 s, campub's memory stays flat and a subscriber
//! that keeps up sees the same latency and rate as before the stall.
//! The only long test of the suite (about 45 s), in a file of its own so that no other test
//! of this binary runs beside it and skews the timings it compares.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use testkit::*;

const BEFORE: Duration = Duration::from_secs(8);
const STALL: Duration = Duration::from_secs(30);
/// campub's resident memory may grow by less than this during the stall (the bound).
const MAX_RSS_GROWTH_KB: u64 = 5 * 1024;

/// One received frame: when, and how old it was (capture to receipt, in ms).
#[derive(Clone, Copy)]
struct Sample {
    at: Instant,
    latency_ms: f64,
    seq: u64,
}

fn median(mut values: Vec<f64>) -> f64 {
    assert!(!values.is_empty());
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[test]
fn stalled_subscribers_cost_nothing_and_do_not_slow_the_others() {
    let _serial = one_at_a_time();
    let port = free_port();
    // 1280x720 pattern at 30 fps, 640x360 JPEGs of tens of kB: 30 s of them is tens of MB,
    // so any queue kept for a stalled subscriber would show in campub's memory.
    let campub = CampubProcess::start(port, &["--size", "1280x720", "--fps", "30"]);

    // The subscriber that keeps up: receives on its own thread, recording every frame.
    let samples = Arc::new(Mutex::new(Vec::<Sample>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let fast = {
        let (samples, stop) = (Arc::clone(&samples), Arc::clone(&stop));
        let context = zmq::Context::new();
        let sub = context.socket(zmq::SUB).unwrap();
        sub.set_rcvtimeo(100).unwrap();
        sub.set_subscribe(b"").unwrap();
        sub.connect(&endpoint(port)).unwrap();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let Ok(msg) = sub.recv_bytes(0) else { continue };
                let now_ns = camwire::unix_time_ns();
                if let Ok(camwire::Message::Native(frame)) = camwire::classify(&msg) {
                    let latency_ns = now_ns.saturating_sub(frame.header.capture_unix_ns);
                    samples.lock().unwrap().push(Sample {
                        at: Instant::now(),
                        latency_ms: latency_ns as f64 / 1e6,
                        seq: frame.header.seq,
                    });
                }
            }
            drop(sub);
            drop(context);
        })
    };
    // A subscriber that connects and never reads: libzmq fills its queue, then TCP's.
    let idle_context = zmq::Context::new();
    let idle = idle_context.socket(zmq::SUB).unwrap();
    idle.set_subscribe(b"").unwrap();
    idle.set_rcvhwm(1).unwrap();
    idle.connect(&endpoint(port)).unwrap();
    // A real viewer, about to be frozen.
    let frozen = spawn(camview().args(["--headless", "--duration", "120", &endpoint(port)]));

    std::thread::sleep(BEFORE);
    let stall_started = Instant::now();
    let rss_before_kb = rss_kb(campub.pid());
    signal(frozen.pid(), "STOP");
    let mut rss_max_kb = rss_before_kb;
    while stall_started.elapsed() < STALL {
        std::thread::sleep(Duration::from_secs(1));
        rss_max_kb = rss_max_kb.max(rss_kb(campub.pid()));
    }
    let rss_end_kb = rss_kb(campub.pid());
    signal(frozen.pid(), "CONT");
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    fast.join().unwrap();
    signal(frozen.pid(), "TERM");
    let frozen = frozen.finish(LIMIT);

    let samples = samples.lock().unwrap().clone();
    let phase = |from: Instant, to: Instant| -> Vec<Sample> {
        samples
            .iter()
            .copied()
            .filter(|s| s.at >= from && s.at < to)
            .collect()
    };
    // The first seconds are warm-up (connections settling); the stall's first seconds count.
    let first = samples.first().expect("the fast subscriber got frames").at;
    let before = phase(first + Duration::from_secs(2), stall_started);
    let during = phase(stall_started, stall_started + STALL);
    let rate = |s: &[Sample], over: Duration| s.len() as f64 / over.as_secs_f64();
    let before_span = stall_started.saturating_duration_since(first + Duration::from_secs(2));
    let (rate_before, rate_during) = (rate(&before, before_span), rate(&during, STALL));
    let median_before = median(before.iter().map(|s| s.latency_ms).collect());
    let median_during = median(during.iter().map(|s| s.latency_ms).collect());
    let lost_during = during
        .windows(2)
        .map(|w| w[1].seq.saturating_sub(w[0].seq + 1))
        .sum::<u64>();
    eprintln!(
        "campub RSS {rss_before_kb} kB before the stall, max {rss_max_kb} kB, {rss_end_kb} kB \
         at its end; fast subscriber: median latency {median_before:.1} ms before, \
         {median_during:.1} ms during, {rate_before:.1} fps before, {rate_during:.1} fps \
         during, {lost_during} frames lost during"
    );

    assert!(
        rss_max_kb < rss_before_kb + MAX_RSS_GROWTH_KB,
        "campub grew from {rss_before_kb} kB to {rss_max_kb} kB while subscribers stalled"
    );
    // Relative checks with a generous margin: a queue building behind the stalled
    // subscribers, or a publisher blocked by them, would multiply these.
    assert!(
        median_during <= 2.0 * median_before + 10.0,
        "latency went from {median_before:.1} ms to {median_during:.1} ms"
    );
    assert!(
        rate_during >= 0.8 * rate_before,
        "rate went from {rate_before:.1} to {rate_during:.1} fps"
    );
    assert!(
        (lost_during as f64) < 0.05 * during.len() as f64,
        "{lost_during} frames lost of {}",
        during.len()
    );
    // The frozen viewer picks up again once thawed, and ends normally.
    assert!(frozen.status.success(), "{}", frozen.stderr);
    assert!(u64_at(&frozen.summary(), "/frames_shown") > 0);
    drop(idle);
    drop(idle_context);
}

const LIMIT: Duration = Duration::from_secs(20);
