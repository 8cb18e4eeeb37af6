//! End to end on loopback: the real campub (test pattern) -> the real camview.
//!
//! campub is found by `testkit::bin` ($CAMPUB_BIN, else the target directory, built when
//! missing); a campub that cannot be had fails these tests, they never skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::{Child, Stdio};
use std::time::Duration;

use testkit::*;

const LIMIT: Duration = Duration::from_secs(30);

/// A running campub, killed when dropped.
struct Campub(Child);

impl Campub {
    fn start(port: u16, wire: &str, stream: &str) -> Self {
        let child = testkit::campub()
            .args([
                "--source", "pattern", "--size", "1280x720", "--fps", "30", "--wire", wire,
                "--stream", stream,
            ])
            .args(["--bind", &endpoint(port), "--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start campub: {e}"));
        Self(child)
    }
}

impl Drop for Campub {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn campub_native_pattern_reaches_headless_camview() {
    let _serial = one_at_a_time();
    let port = free_port();
    let _campub = Campub::start(port, "native", "lab");
    let done = run_headless(30, 20, port, LIMIT);
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let s = done.summary();
    assert_eq!(u64_at(&s, "/frames_shown"), 30, "{s}");
    assert_eq!(u64_at(&s, "/bad_messages"), 0, "{s}");
    assert_eq!(
        (u64_at(&s, "/width"), u64_at(&s, "/height")),
        (640, 360),
        "1280x720 scaled to 640 wide"
    );
    assert_eq!(s["streams"], serde_json::json!({ "lab": 30 }), "{s}");
    assert_eq!(u64_at(&s, "/source_format/native"), 30);
    assert_eq!(u64_at(&s, "/latency_unsynchronised"), 0, "same clock: {s}");
    let (p50, max) = (f64_at(&s, "/latency_ms/p50"), f64_at(&s, "/latency_ms/max"));
    assert!(p50 >= 0.0 && max < 2000.0, "sane latency on loopback: {s}");
}

#[test]
fn campub_base64_pattern_reaches_headless_camview() {
    let _serial = one_at_a_time();
    let port = free_port();
    let _campub = Campub::start(port, "base64", "lab");
    let done = run_headless(20, 20, port, LIMIT);
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let s = done.summary();
    assert_eq!(u64_at(&s, "/source_format/base64"), 20, "{s}");
    assert_eq!(u64_at(&s, "/bad_messages"), 0, "{s}");
    assert_eq!((u64_at(&s, "/width"), u64_at(&s, "/height")), (640, 360));
}

#[test]
fn campub_pattern_in_a_window_under_xvfb() {
    let _serial = one_at_a_time();
    let display = Display::open();
    let port = free_port();
    let _campub = Campub::start(port, "native", "lab");
    let dir = temp_dir("campub-window");
    let shot = dir.join("campub.png");
    let done = run(
        camview()
            .env("DISPLAY", &display.name)
            .env("SDL_AUDIODRIVER", "dummy")
            .args([
                "--width",
                "960",
                "--height",
                "540",
                "--frames",
                "20",
                "--duration",
                "20",
                "--screenshot",
                shot.to_str().unwrap(),
                &endpoint(port),
            ]),
        LIMIT,
    );
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let png = Png::read(&shot);
    assert_eq!((png.width, png.height), (960, 540));
    // The banner: the tutorial's blue box at the top-left, with white text.
    assert_near(&png, 12, 12, [10, 20, 222], 2);
    assert!(
        png.count(10, 10, 250, 60, |p| p.iter().all(|&c| c > 200)) > 100,
        "banner text"
    );
    // The test pattern: saturated colours in the picture below the banner.
    let strong = |channel: usize| {
        move |p: [u8; 3]| p[channel] > 150 && (0..3).all(|c| c == channel || p[c] < 90)
    };
    for (channel, name) in [(0, "red"), (1, "green"), (2, "blue")] {
        let n = png.count(0, 120, 960, 540, strong(channel));
        assert!(n > 1000, "{name} bar: {n} pixels");
    }
    if std::env::var_os("CAMVIEW_KEEP_SCREENSHOT").is_none() {
        std::fs::remove_dir_all(dir).unwrap();
    } else {
        eprintln!("screenshot kept at {}", shot.display());
    }
}
