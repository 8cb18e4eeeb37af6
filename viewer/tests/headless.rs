//! The real camview binary in --headless mode against test publishers on loopback: the three
//! message shapes, stream selection, the JSON summary, exit codes and command-line errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use base64::Engine as _;
use testkit::*;

const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn native_frames_are_shown_and_summarised() {
    let port = free_port();
    let jpeg = solid_jpeg(320, 240, [200, 100, 50]);
    let publisher = Publisher::start(port, Duration::from_millis(10), move |seq| {
        vec![Outgoing::Single(native("cam-1", seq, 320, 240, &jpeg))]
    });
    let done = run_headless(30, 15, port, LIMIT);
    publisher.stop();

    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let s = done.summary();
    assert_eq!(u64_at(&s, "/frames_shown"), 30, "{s}");
    assert_eq!(u64_at(&s, "/bad_messages"), 0, "{s}");
    assert_eq!((u64_at(&s, "/width"), u64_at(&s, "/height")), (320, 240));
    assert_eq!(s["stream"], "cam-1");
    assert_eq!(u64_at(&s, "/streams/cam-1"), 30);
    assert_eq!(u64_at(&s, "/source_format/native"), 30);
    assert!(u64_at(&s, "/last_seq") >= 29, "{s}");
    let (p50, p95, p99, max) = (
        f64_at(&s, "/latency_ms/p50"),
        f64_at(&s, "/latency_ms/p95"),
        f64_at(&s, "/latency_ms/p99"),
        f64_at(&s, "/latency_ms/max"),
    );
    assert!(
        0.0 <= p50 && p50 <= p95 && p95 <= p99 && p99 <= max && max < 2000.0,
        "{s}"
    );
    assert_eq!(u64_at(&s, "/latency_unsynchronised"), 0);
    assert!(f64_at(&s, "/fps") > 0.0, "{s}");
}

/// Exactly what the tutorial's server.py sends: `base64.b64encode(jpeg)` as one single-part
/// message, no topic, no header.
#[test]
fn tutorial_base64_frames_are_shown() {
    let port = free_port();
    let jpeg = solid_jpeg(640, 360, [10, 200, 10]);
    let text = base64::engine::general_purpose::STANDARD
        .encode(&jpeg)
        .into_bytes();
    let publisher = Publisher::start(port, Duration::from_millis(10), move |_| {
        vec![Outgoing::Single(text.clone())]
    });
    let done = run_headless(20, 15, port, LIMIT);
    publisher.stop();

    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let s = done.summary();
    assert_eq!(u64_at(&s, "/frames_shown"), 20, "{s}");
    assert_eq!(u64_at(&s, "/source_format/base64"), 20, "{s}");
    assert_eq!(u64_at(&s, "/bad_messages"), 0, "{s}");
    assert_eq!((u64_at(&s, "/width"), u64_at(&s, "/height")), (640, 360));
    assert!(
        s["latency_ms"]["p50"].is_null(),
        "no capture time, no latency: {s}"
    );
    assert!(s["stream"].is_null());
}

#[test]
fn bare_jpeg_frames_are_shown() {
    let port = free_port();
    let jpeg = solid_jpeg(64, 48, [0, 0, 255]);
    let publisher = Publisher::start(port, Duration::from_millis(10), move |_| {
        vec![Outgoing::Single(jpeg.clone())]
    });
    let done = run_headless(10, 15, port, LIMIT);
    publisher.stop();

    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let s = done.summary();
    assert_eq!(u64_at(&s, "/source_format/bare"), 10, "{s}");
}

#[test]
fn stream_option_shows_only_that_stream() {
    let port = free_port();
    let jpeg = solid_jpeg(32, 32, [9, 9, 9]);
    let publisher = Publisher::start(port, Duration::from_millis(5), move |seq| {
        ["a", "b", "bx", "b-2"]
            .iter()
            .map(|name| Outgoing::Single(native(name, seq, 32, 32, &jpeg)))
            .collect()
    });
    let done = run(
        camview().args([
            "--headless",
            "--stream",
            "b",
            "--frames",
            "15",
            "--duration",
            "15",
            &endpoint(port),
        ]),
        LIMIT,
    );
    publisher.stop();

    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let s = done.summary();
    assert_eq!(s["streams"], serde_json::json!({ "b": 15 }), "{s}");
    assert_eq!(s["stream"], "b");
    assert_eq!(u64_at(&s, "/bad_messages"), 0, "{s}");
}

#[test]
fn several_endpoints_each_get_their_own_tile_and_summary_line() {
    let (port_a, port_b) = (free_port(), free_port());
    let jpeg = solid_jpeg(32, 32, [9, 9, 9]);
    let jpeg_b = jpeg.clone();
    let a = Publisher::start(port_a, Duration::from_millis(10), move |seq| {
        vec![Outgoing::Single(native("a", seq, 32, 32, &jpeg))]
    });
    let b = Publisher::start(port_b, Duration::from_millis(10), move |seq| {
        vec![Outgoing::Single(native("b", seq, 32, 32, &jpeg_b))]
    });
    // Shorthand HOST:PORT for the second endpoint.
    let short = format!("127.0.0.1:{port_b}");
    let done = run(
        camview().args(["--headless", "--duration", "2", &endpoint(port_a), &short]),
        LIMIT,
    );
    a.stop();
    b.stop();

    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    // A grid: one line per endpoint, each with only its own publisher's stream.
    let lines: Vec<serde_json::Value> = done
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{}", done.stdout);
    for (line, (stream, endpoint)) in lines
        .iter()
        .zip([("a", endpoint(port_a)), ("b", endpoint(port_b))])
    {
        assert_eq!(line["endpoint"], endpoint.as_str(), "{line}");
        assert_eq!(line["streams"].as_object().unwrap().len(), 1, "{line}");
        assert!(u64_at(line, &format!("/streams/{stream}")) > 0, "{line}");
    }
}

#[test]
fn no_frame_means_exit_code_3_with_a_summary() {
    let port = free_port();
    let done = run(
        camview().args(["--headless", "--duration", "0.5", &endpoint(port)]),
        LIMIT,
    );
    assert_eq!(done.status.code(), Some(3), "{}", done.stderr);
    let s = done.summary();
    assert_eq!(u64_at(&s, "/frames_shown"), 0);
    assert!(s["latency_ms"]["p95"].is_null() && s["width"].is_null());
    assert!(done.stderr.contains("no frame arrived"), "{}", done.stderr);
}

#[test]
fn bad_command_lines_give_one_line_errors() {
    for args in [
        vec!["http://example:1"],
        vec!["tcp://127.0.0.1"],
        vec!["--stream", "not a name"],
        vec!["--frames", "many"],
        vec!["--frames", "0"],
        vec!["--duration", "-3"],
        vec!["--width", "640"],
        vec!["--no-such-option"],
        vec!["--log-level", "loud"],
    ] {
        let done = run(camview().args(&args), LIMIT);
        assert_eq!(done.status.code(), Some(2), "{args:?}: {}", done.stderr);
        let lines: Vec<&str> = done.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {}", done.stderr);
        assert!(
            lines[0].starts_with("camview: error: "),
            "{args:?}: {}",
            done.stderr
        );
        assert!(done.stdout.is_empty());
    }
}

#[test]
fn short_help_and_version() {
    let done = run(camview().arg("-h"), LIMIT);
    assert!(done.status.success(), "{}", done.stderr);
    assert!(done.stdout.contains("--headless"), "{}", done.stdout);
    let done = run(camview().arg("--version"), LIMIT);
    assert!(done.status.success(), "{}", done.stderr);
    assert_eq!(
        done.stdout.trim(),
        format!("camview {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_gives_every_default_and_unit() {
    let done = run(camview().arg("--help"), LIMIT);
    assert!(done.status.success());
    let help = done.stdout;
    for needle in [
        "waiting until one answers",
        "--discover-seconds",
        "--stale-after-ms",
        "(default: 1500)",
        "milliseconds",
        "seconds",
        "pixels",
        "--screenshot",
        "f toggles fullscreen",
        "Error codes:",
        "3 --headless ended without a single frame shown",
    ] {
        assert!(help.contains(needle), "--help lacks {needle:?}:\n{help}");
    }
    assert!(
        !help.contains("debug-decode-delay"),
        "the debugging option stays hidden"
    );
}

#[test]
fn sigterm_ends_a_headless_run_cleanly() {
    let port = free_port();
    let jpeg = solid_jpeg(32, 32, [9, 9, 9]);
    let publisher = Publisher::start(port, Duration::from_millis(10), move |seq| {
        vec![Outgoing::Single(native("s", seq, 32, 32, &jpeg))]
    });
    let running = spawn(camview().args(["--headless", "--duration", "30", &endpoint(port)]));
    std::thread::sleep(Duration::from_millis(1500));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &running.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let done = running.finish(Duration::from_secs(5));
    publisher.stop();
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    assert!(u64_at(&done.summary(), "/frames_shown") > 0);
}

#[test]
fn capture_times_from_a_skewed_clock_are_not_reported_as_latency() {
    let port = free_port();
    let jpeg = solid_jpeg(32, 32, [9, 9, 9]);
    // The sender's clock runs a minute ahead of ours.
    let publisher = Publisher::start(port, Duration::from_millis(10), move |seq| {
        let ahead_ns = camwire::unix_time_ns() + 60_000_000_000;
        vec![Outgoing::Single(native_at(
            "skew", seq, ahead_ns, 32, 32, &jpeg,
        ))]
    });
    let done = run_headless(10, 15, port, LIMIT);
    publisher.stop();

    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let s = done.summary();
    assert_eq!(u64_at(&s, "/latency_unsynchronised"), 10, "{s}");
    assert!(s["latency_ms"]["p50"].is_null(), "{s}");
}

#[test]
fn a_window_without_a_display_is_a_one_line_error() {
    let port = free_port();
    let done = run(
        camview()
            .env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .args(["--duration", "5", &endpoint(port)]),
        LIMIT,
    );
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    let last = done.stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("camview: error: SDL"), "{}", done.stderr);
}
