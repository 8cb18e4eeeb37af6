//! Hostile publishers against the real camview binary (issue 16): a decompression bomb, a
//! message over the size limit, lying sequence numbers, junk that starts like a JPEG, and a
//! viewer stopped for seconds. Each publisher is a real ZeroMQ PUB socket on loopback.
//!
//! A test binary of its own (not a module of tests.rs): these tests load the machine on
//! purpose and measure camview's time and memory, so they run one at a time and never next to
//! the other integration tests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use testkit::*;
use turbojpeg::{Compressor, Image, PixelFormat, Subsamp};

const LIMIT: Duration = Duration::from_secs(60);

// These tests load the machine on purpose (floods, 1 GB messages, the costliest frames): each
// takes testkit's one_at_a_time() so that it measures camview, not its neighbours.

/// A progressive JPEG of a flat picture whose last scan is repeated `extra_scans` times: a few
/// tens of kilobytes that make a decoder pass over the whole picture once per scan.
fn progressive_bomb(width: usize, height: usize, extra_scans: usize) -> Vec<u8> {
    let pixels = vec![128u8; width * height * 3];
    let mut compressor = Compressor::new().unwrap();
    compressor.set_quality(90).unwrap();
    compressor.set_subsamp(Subsamp::Sub2x2).unwrap();
    compressor.set_progressive(true).unwrap();
    let image = Image {
        pixels: &pixels[..],
        width,
        pitch: 3 * width,
        height,
        format: PixelFormat::RGB,
    };
    let jpeg = compressor.compress_to_vec(image).unwrap();
    let last_sos = jpeg.windows(2).rposition(|w| w == [0xFF, 0xDA]).unwrap();
    let eoi = jpeg.len() - 2;
    assert_eq!(&jpeg[eoi..], &[0xFF, 0xD9]);
    let scan = jpeg[last_sos..eoi].to_vec();
    let mut bomb = jpeg[..eoi].to_vec();
    for _ in 0..extra_scans {
        bomb.extend_from_slice(&scan);
    }
    bomb.extend_from_slice(&[0xFF, 0xD9]);
    bomb
}

/// A JPEG of camera-like noise (the hardest to decode per pixel).
fn noise_jpeg(
    width: usize,
    height: usize,
    quality: i32,
    subsamp: Subsamp,
    progressive: bool,
) -> Vec<u8> {
    let pixels = testkit::media::noise(width * height * 3);
    let mut compressor = Compressor::new().unwrap();
    compressor.set_quality(quality).unwrap();
    compressor.set_subsamp(subsamp).unwrap();
    compressor.set_progressive(progressive).unwrap();
    let image = Image {
        pixels: &pixels[..],
        width,
        pitch: 3 * width,
        height,
        format: PixelFormat::RGB,
    };
    compressor.compress_to_vec(image).unwrap()
}

/// The summary's count for one bad-message reason (0 when absent).
fn bad(summary: &serde_json::Value, reason: &str) -> u64 {
    summary["bad_by_reason"][reason].as_u64().unwrap_or(0)
}

#[test]
fn decompression_bombs_are_refused_unread_and_sigterm_is_prompt() {
    let _serial = one_at_a_time();
    let port = free_port();
    // 4096x4096 with 300 scans: about 18x the decoding work of a real frame that size.
    let bomb = progressive_bomb(4096, 4096, 300);
    let huge = solid_jpeg(8192, 8192, [10, 200, 10]);
    eprintln!(
        "bomb {} bytes, 8192x8192 frame {} bytes",
        bomb.len(),
        huge.len()
    );
    let good = solid_jpeg(320, 240, [200, 50, 50]);
    let publisher = Publisher::start(port, Duration::from_millis(33), move |tick| {
        let mut batch = vec![Outgoing::Single(native("good", tick, 320, 240, &good))];
        if tick % 3 == 0 {
            // Sent last, so each is the newest message when it arrives.
            batch.push(Outgoing::Single(bomb.clone()));
            batch.push(Outgoing::Single(native("bomb", tick, 4096, 4096, &bomb)));
            batch.push(Outgoing::Single(huge.clone()));
        }
        batch
    });
    let running = spawn(camview().args(["--headless", &endpoint(port)]));
    let pid = running.pid();
    std::thread::sleep(Duration::from_secs(5));
    let rss_mb = rss_kb(pid) / 1024;
    let asked = Instant::now();
    let done = running.terminate(LIMIT);
    let answered = asked.elapsed();
    let sent = publisher.stop();

    let s = done.summary();
    eprintln!("{sent} messages sent, RSS {rss_mb} MB, SIGTERM answered in {answered:?}: {s}");
    assert!(done.status.success(), "{}", done.stderr);
    assert!(
        answered < Duration::from_secs(1),
        "SIGTERM took {answered:?}"
    );
    assert!(bad(&s, "too_many_scans") > 0, "{s}");
    assert!(bad(&s, "too_large") > 0, "{s}");
    assert_eq!(s["streams"].get("bomb"), None, "{s}");
    // Real frames keep coming at the stream's rate (30 fps; generous margin for a busy machine).
    let shown = u64_at(&s, "/frames_shown");
    assert!(shown > 60, "the picture froze: {s}");
    assert!(
        f64_at(&s, "/max_gap_ms") < 1000.0,
        "no long freeze of the picture: {s}"
    );
    assert!(rss_mb < 200, "camview took {rss_mb} MB");
}

#[test]
fn frames_at_the_limits_are_shown_within_the_memory_bound_and_sigterm_stays_prompt() {
    let _serial = one_at_a_time();
    let port = free_port();
    // The costliest frames the default limits let through: 4096x4096 (the pixel budget),
    // progressive 4:4:4 (RGB output and the largest coefficient buffer) of noise, just under
    // the 16 MiB message limit.
    let worst = noise_jpeg(4096, 4096, 60, Subsamp::None, true);
    assert!(worst.len() < camwire::MAX_MESSAGE_BYTES, "{}", worst.len());
    eprintln!("worst frame {} bytes", worst.len());
    let publisher = Publisher::start(port, Duration::from_millis(100), move |_| {
        vec![Outgoing::Single(worst.clone())]
    });
    let running = spawn(camview().args(["--headless", &endpoint(port)]));
    let pid = running.pid();
    std::thread::sleep(Duration::from_secs(6));
    let peak_mb = peak_rss_mb(pid).unwrap();
    let asked = Instant::now();
    let done = running.terminate(LIMIT);
    let answered = asked.elapsed();
    publisher.stop();

    let s = done.summary();
    eprintln!("peak RSS {peak_mb} MB, SIGTERM answered in {answered:?}: {s}");
    assert!(done.status.success(), "{}", done.stderr);
    assert!(u64_at(&s, "/frames_shown") >= 2, "{s}");
    assert_eq!(u64_at(&s, "/bad_messages"), 0, "nothing refused: {s}");
    assert!(
        answered < Duration::from_secs(1),
        "SIGTERM took {answered:?}"
    );
    // The heap bound at the default --max-pixels is 592 MiB; RSS adds the program itself.
    assert!(peak_mb < 650, "camview reached {peak_mb} MB");
}

#[test]
fn a_message_over_the_limit_costs_one_reconnect_not_the_stream() {
    let _serial = one_at_a_time();
    let port = free_port();
    let good = solid_jpeg(64, 48, [1, 2, 3]);
    let publisher = Publisher::start(port, Duration::from_millis(33), move |tick| {
        // Two seconds of "before", one message one byte over the limit, then "after".
        match tick {
            0..=59 => vec![Outgoing::Single(native("before", tick, 64, 48, &good))],
            60 => vec![Outgoing::Single(vec![b'x'; camwire::MAX_MESSAGE_BYTES + 1])],
            _ => vec![Outgoing::Single(native("after", tick, 64, 48, &good))],
        }
    });
    let done = run(
        camview().args(["--headless", "--duration", "6", &endpoint(port)]),
        LIMIT,
    );
    publisher.stop();

    let s = done.summary();
    eprintln!("{s}");
    assert!(done.status.success(), "{}", done.stderr);
    assert!(u64_at(&s, "/streams/before") > 10, "{s}");
    // About 4 s of "after" at 30 fps: it must come back within 2 s (1.5 s of margin here).
    let after = s["streams"]["after"].as_u64().unwrap_or(0);
    assert!(after > 45, "the stream did not come back: {s}");
    assert!(bad(&s, "oversized") >= 1, "counted as bad: {s}");
    assert_eq!(s["connection"][0]["state"], "connected", "{s}");
    assert!(
        done.stderr.contains("over 16777216 bytes"),
        "a log line says why: {}",
        done.stderr
    );
}

/// Peak resident memory of a running process in MB, from /proc (`None` once it has gone).
fn peak_rss_mb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024)
}

#[test]
fn a_huge_multipart_message_is_bounded_and_the_stream_recovers() {
    let _serial = one_at_a_time();
    let port = free_port();
    let good = solid_jpeg(64, 48, [7, 7, 7]);
    // Frames at 30 fps; after 1 s a multipart message of 1000 parts of 1 MiB (each part within
    // ZMQ_MAXMSGSIZE, 1 GB in all), which libzmq holds whole before handing any part over, and
    // which holds up the frames behind it.
    let publisher = Publisher::start(port, Duration::from_millis(33), move |tick| {
        let mut batch = vec![Outgoing::Single(native("good", tick, 64, 48, &good))];
        if tick == 30 {
            batch.push(Outgoing::Multipart(vec![vec![0x55; 1 << 20]; 1000]));
        }
        batch
    });
    // 150 frames: only possible if the stream comes back after the multipart message.
    let mut running = spawn(camview().args([
        "--headless",
        "--frames",
        "150",
        "--duration",
        "50",
        &endpoint(port),
    ]));
    let pid = running.pid();
    let mut peak_mb = 0;
    let started = Instant::now();
    while running.child.try_wait().unwrap().is_none() && started.elapsed() < LIMIT {
        if let Some(mb) = peak_rss_mb(pid) {
            peak_mb = peak_mb.max(mb);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let done = running.finish(LIMIT);
    publisher.stop();

    let s = done.summary();
    eprintln!("peak RSS {peak_mb} MB: {s}");
    assert!(done.status.success(), "{}", done.stderr);
    assert_eq!(
        u64_at(&s, "/frames_shown"),
        150,
        "the stream came back: {s}"
    );
    // The heap bound at the default --max-pixels is 592 MiB (docs/SECURITY.md); before, the
    // whole message was held: over 1000 MB.
    assert!(peak_mb < 800, "camview reached {peak_mb} MB");
    assert!(bad(&s, "oversized") >= 1, "counted as bad: {s}");
    assert!(
        done.stderr.contains("over camview's bound"),
        "a log line says why: {}",
        done.stderr
    );
}

/// The grid's heap bound is per tile (docs/SECURITY.md): with two tiles at `--max-pixels
/// 921600` it is 64 + 2 x 195 = 455 MiB. One tile's publisher sends the 1 GB multipart
/// message; the other tile's stream goes on and both come back.
#[test]
fn a_huge_multipart_message_in_one_grid_tile_is_bounded_and_both_tiles_go_on() {
    let _serial = one_at_a_time();
    let (port_good, port_hostile) = (free_port(), free_port());
    let good = solid_jpeg(64, 48, [7, 7, 7]);
    let good_too = good.clone();
    let _good = Publisher::start(port_good, Duration::from_millis(33), move |tick| {
        vec![Outgoing::Single(native("good", tick, 64, 48, &good))]
    });
    let _hostile = Publisher::start(port_hostile, Duration::from_millis(33), move |tick| {
        let mut batch = vec![Outgoing::Single(native("hostile", tick, 64, 48, &good_too))];
        if tick == 30 {
            batch.push(Outgoing::Multipart(vec![vec![0x55; 1 << 20]; 1000]));
        }
        batch
    });
    let mut running = spawn(camview().args([
        "--headless",
        "--max-pixels",
        "921600",
        "--frames",
        "150",
        "--duration",
        "50",
        &endpoint(port_good),
        &endpoint(port_hostile),
    ]));
    let pid = running.pid();
    let mut peak_mb = 0;
    let started = Instant::now();
    while running.child.try_wait().unwrap().is_none() && started.elapsed() < LIMIT {
        if let Some(mb) = peak_rss_mb(pid) {
            peak_mb = peak_mb.max(mb);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let done = running.finish(LIMIT);
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let lines: Vec<serde_json::Value> = done
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    eprintln!("peak RSS {peak_mb} MB: {lines:?}");
    assert_eq!(lines.len(), 2);
    for line in &lines {
        assert!(u64_at(line, "/frames_shown") >= 150, "came back: {line}");
    }
    assert_eq!(lines[1]["endpoint"], endpoint(port_hostile).as_str());
    assert!(
        bad(&lines[1], "oversized") >= 1,
        "counted as bad: {}",
        lines[1]
    );
    // The good tile reconnects too (every tile watches the one heap): it may count
    // `oversized` as well, and nothing else.
    assert_eq!(
        u64_at(&lines[0], "/bad_messages"),
        bad(&lines[0], "oversized"),
        "{}",
        lines[0]
    );
    // Two tiles' bound is 455 MiB; the whole message held would be over 1000 MB.
    assert!(peak_mb < 650, "camview reached {peak_mb} MB");
}

#[test]
fn lying_sequence_numbers_do_not_inflate_lost_in_transit() {
    let _serial = one_at_a_time();
    let port = free_port();
    let good = solid_jpeg(64, 48, [9, 9, 9]);
    let lies = [u64::MAX - 100, 3, u64::MAX / 2, 1 << 62, 7, u64::MAX];
    let publisher = Publisher::start(port, Duration::from_millis(20), move |tick| {
        let seq = if tick % 2 == 0 {
            lies[(tick / 2) as usize % lies.len()]
        } else {
            tick
        };
        vec![Outgoing::Single(native("liar", seq, 64, 48, &good))]
    });
    let done = run(
        camview().args(["--headless", "--duration", "3", &endpoint(port)]),
        LIMIT,
    );
    publisher.stop();

    let s = done.summary();
    eprintln!("{s}");
    assert!(done.status.success(), "{}", done.stderr);
    assert!(u64_at(&s, "/frames_shown") > 20, "{s}");
    // Real loss is at most the frames sent (150 in 3 s); lies must not add to it.
    let lost = u64_at(&s, "/lost_in_transit");
    assert!(lost < 200, "lost_in_transit {lost}: {s}");
}

#[test]
fn junk_that_starts_like_a_jpeg_does_not_displace_real_frames() {
    let _serial = one_at_a_time();
    let port = free_port();
    let good = solid_jpeg(320, 240, [30, 90, 200]);
    // Each tick: one real frame, then 300 messages of FF D8 and 8 bytes (about 90 000 a second).
    let publisher = Publisher::start(port, Duration::from_millis(3), move |tick| {
        let mut batch = Vec::new();
        if tick % 10 == 0 {
            batch.push(Outgoing::Single(native("real", tick / 10, 320, 240, &good)));
        }
        for i in 0..300u64 {
            let mut junk = vec![0xFF, 0xD8];
            junk.extend_from_slice(&(tick * 1000 + i).to_le_bytes());
            batch.push(Outgoing::Single(junk));
        }
        batch
    });
    let done = run(
        camview().args(["--headless", "--duration", "5", &endpoint(port)]),
        LIMIT,
    );
    let sent = publisher.stop();

    let s = done.summary();
    eprintln!("{sent} messages sent: {s}");
    assert!(done.status.success(), "{}", done.stderr);
    let shown = u64_at(&s, "/frames_shown");
    let skipped = u64_at(&s, "/skipped");
    let lost = u64_at(&s, "/lost_in_transit");
    // Every real frame that arrived is shown or counted as skipped; junk never takes its place,
    // so skipping stays rare (a good frame is skipped only for a newer good frame). How many
    // real frames the publisher gets out depends on the machine's load (a loaded CI machine
    // managed 10 a second, not the 33 asked for), so the floor is only what makes the ratio
    // below mean something.
    assert!(shown >= 20, "{s}");
    assert!(
        skipped * 5 < shown,
        "real frames were displaced ({skipped} skipped, {shown} shown, {lost} lost): {s}"
    );
    assert_eq!(s["streams"], serde_json::json!({ "real": shown }), "{s}");
    assert!(bad(&s, "malformed_jpeg") > 10_000, "{s}");
}

#[test]
fn after_a_stall_the_first_frames_shown_are_current() {
    let _serial = one_at_a_time();
    let port = free_port();
    let _campub = CampubProcess::start(port, &["--fps", "30"]);
    let running = spawn(camview().args(["--headless", "--duration", "14", &endpoint(port)]));
    let pid = running.pid();
    std::thread::sleep(Duration::from_secs(4));
    signal(pid, "STOP");
    std::thread::sleep(Duration::from_secs(7));
    signal(pid, "CONT");
    let done = running.finish(LIMIT);

    let s = done.summary();
    eprintln!("{s}");
    assert!(done.status.success(), "{}", done.stderr);
    assert!(u64_at(&s, "/frames_shown") > 100, "{s}");
    // Before the fix the first frame shown after the resume was queued before the stop: about
    // 7000 ms old. Now what was queued is dropped and the next frame is current.
    let max = f64_at(&s, "/latency_ms/max");
    assert!(max < 2000.0, "an old frame was shown after the stall: {s}");
    assert!(
        done.stderr.contains("resumed after a stall"),
        "{}",
        done.stderr
    );
}
