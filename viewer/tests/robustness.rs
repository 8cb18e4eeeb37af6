//! camview under stress, headless: floods of malformed messages, a viewer slower than the
//! publisher, and a publisher that goes away and comes back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use base64::Engine as _;
use testkit::*;

const LIMIT: Duration = Duration::from_secs(30);

/// A small deterministic generator, so every run sends the same garbage.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// Every kind of malformed message, varied by `rng`.
fn malformed(rng: &mut XorShift, good_jpeg: &[u8]) -> Vec<Outgoing> {
    let b64 = |bytes: &[u8]| {
        base64::engine::general_purpose::STANDARD
            .encode(bytes)
            .into_bytes()
    };
    let mut future = native("good", 1, 320, 240, good_jpeg);
    future["good".len() + 1 + 4] = 2; // version 2
    let mut bad_length = native("good", 1, 320, 240, good_jpeg);
    bad_length.truncate(bad_length.len() - 10);
    let mut random_after_soi = vec![0xFF, 0xD8, 0xFF];
    random_after_soi.extend(rng.bytes(600));
    let cut = 10 + (rng.next() as usize) % (good_jpeg.len() - 20);
    let random_len = 1 + (rng.next() % 3000) as usize;
    vec![
        Outgoing::Single(rng.bytes(random_len)),
        Outgoing::Single(good_jpeg[..cut].to_vec()),
        Outgoing::Single(random_after_soi.clone()),
        Outgoing::Single(future),
        Outgoing::Single(bad_length),
        Outgoing::Single(native("good", 2, 16000, 16000, good_jpeg)),
        Outgoing::Single(native("good", 3, 0, 240, good_jpeg)),
        Outgoing::Single(testkit::media::with_sof_size(good_jpeg, 8000, 8000)),
        Outgoing::Single(testkit::media::with_sof_size(good_jpeg, 65000, 65000)),
        Outgoing::Single(b"/9j/this is not base64 at all!!".to_vec()),
        Outgoing::Single(b64(&random_after_soi)),
        Outgoing::Single(b64(&good_jpeg[..cut])),
        Outgoing::Single(Vec::new()),
        Outgoing::Single(b"good\0CAMF".to_vec()),
        Outgoing::Multipart(vec![b"good".to_vec(), good_jpeg.to_vec()]),
    ]
}

#[test]
fn malformed_messages_are_counted_and_memory_stays_flat() {
    let port = free_port();
    let good_jpeg = jpeg(320, 240, |x, y| [(x % 256) as u8, (y % 256) as u8, 128]);
    let publisher = Publisher::start(port, Duration::from_millis(4), move |tick| {
        let mut rng = XorShift(0x9E37_79B9_7F4A_7C15 ^ tick.wrapping_mul(0x2545_F491_4F6C_DD1D));
        // Garbage first, the good frame last: after each burst the newest message is good.
        let mut batch = malformed(&mut rng, &good_jpeg);
        batch.push(Outgoing::Single(native("good", tick, 320, 240, &good_jpeg)));
        batch
    });
    let running = spawn(camview().args(["--headless", "--duration", "6", &endpoint(port)]));
    let pid = running.pid();
    let started = Instant::now();
    std::thread::sleep(Duration::from_millis(1500));
    let early_kb = rss_kb(pid);
    std::thread::sleep(Duration::from_millis(5500).saturating_sub(started.elapsed()));
    let late_kb = rss_kb(pid);
    let done = running.finish(LIMIT);
    let sent = publisher.stop();

    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let s = done.summary();
    let shown = u64_at(&s, "/frames_shown");
    let bad = u64_at(&s, "/bad_messages");
    assert!(shown >= 50, "good frames keep coming: {s}");
    assert!(
        bad >= 2000,
        "thousands of bad messages counted ({sent} sent): {s}"
    );
    assert_eq!(
        s["streams"],
        serde_json::json!({ "good": shown }),
        "only good frames shown: {s}"
    );
    let reasons = s["bad_by_reason"].as_object().unwrap();
    for reason in [
        "unrecognised",
        "unsupported_version",
        "payload_length",
        "bad_dimensions",
        "empty",
        "truncated",
        "multipart",
        "bad_base64",
    ] {
        assert!(
            reasons.get(reason).and_then(|v| v.as_u64()).unwrap_or(0) > 0,
            "no {reason}: {s}"
        );
    }
    // JPEG-level problems are only seen when such a message is the newest one at a take.
    let jpeg_level: u64 = ["corrupt_jpeg", "size_mismatch", "too_large"]
        .iter()
        .map(|r| reasons.get(*r).and_then(|v| v.as_u64()).unwrap_or(0))
        .sum();
    assert!(jpeg_level > 0, "{s}");
    assert!(
        late_kb < early_kb + 20 * 1024,
        "memory grew from {early_kb} kB to {late_kb} kB while receiving garbage"
    );
    eprintln!("shown {shown}, bad {bad}, sent {sent}, RSS {early_kb} -> {late_kb} kB");
}

#[test]
fn a_slow_viewer_skips_instead_of_falling_behind() {
    let port = free_port();
    let jpeg = solid_jpeg(320, 240, [100, 100, 100]);
    // About 200 fps; each frame carries its capture time.
    let publisher = Publisher::start(port, Duration::from_millis(5), move |seq| {
        vec![Outgoing::Single(native("fast", seq, 320, 240, &jpeg))]
    });
    let done = run(
        camview().args([
            "--headless",
            "--debug-decode-delay-ms",
            "50",
            "--frames",
            "40",
            "--duration",
            "20",
            &endpoint(port),
        ]),
        LIMIT,
    );
    publisher.stop();

    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let s = done.summary();
    assert_eq!(u64_at(&s, "/frames_shown"), 40, "{s}");
    assert!(u64_at(&s, "/skipped") > 40, "most frames are skipped: {s}");
    let (p50, p95) = (f64_at(&s, "/latency_ms/p50"), f64_at(&s, "/latency_ms/p95"));
    // Each frame waits out the 50 ms delay; a growing backlog would reach seconds.
    assert!(p50 >= 45.0, "the delay is real: {s}");
    assert!(p95 < 500.0, "latency stays bounded: {s}");
    assert!(f64_at(&s, "/fps") < 25.0, "{s}");
}

#[test]
fn a_restarted_publisher_is_picked_up_again() {
    let port = free_port();
    let jpeg = solid_jpeg(64, 64, [1, 2, 3]);
    let running = spawn(camview().args([
        "--headless",
        "--frames",
        "60",
        "--duration",
        "20",
        &endpoint(port),
    ]));

    let first_jpeg = jpeg.clone();
    let first = Publisher::start(port, Duration::from_millis(33), move |seq| {
        vec![Outgoing::Single(native("first", seq, 64, 64, &first_jpeg))]
    });
    std::thread::sleep(Duration::from_millis(1500));
    let first_sent = first.stop();
    // At most ~45 frames came from the first publisher: the rest must come after the restart.
    assert!(first_sent < 60, "{first_sent}");
    std::thread::sleep(Duration::from_millis(500));
    let second = Publisher::start(port, Duration::from_millis(33), move |seq| {
        vec![Outgoing::Single(native("second", seq, 64, 64, &jpeg))]
    });
    let done = running.finish(LIMIT);
    second.stop();

    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let s = done.summary();
    assert_eq!(u64_at(&s, "/frames_shown"), 60, "{s}");
    assert!(u64_at(&s, "/streams/first") > 0, "{s}");
    assert!(u64_at(&s, "/streams/second") > 0, "{s}");
    assert_eq!(s["stream"], "second");
}
