//! Restarts on loopback with the real binaries: a publisher killed and started again under a
//! running viewer (plain and with CURVE), and viewers coming and going beside another one.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use testkit::*;

const LIMIT: Duration = Duration::from_secs(40);
/// The restart must be over within this: ZeroMQ reconnects within 0.1-1 s (camview's reconnect
/// interval doubles from 100 ms to at most 1 s), and campub starts in well under a second.
const MAX_RESTART_GAP_MS: f64 = 2000.0;

fn publisher_restart_resumes_quickly(curve: bool) {
    let dir = temp_dir(if curve {
        "restart-curve"
    } else {
        "restart-plain"
    });
    keygen("campub", &dir.join("server"));
    keygen("camview", &dir.join("viewer"));
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let port = free_port();
    let (secret, public, viewer_key) = (
        path("server.key_secret"),
        path("server.key"),
        path("viewer.key_secret"),
    );
    let allow = path("viewer.key");
    let campub_args = |stream: &'static str| {
        let mut args = vec!["--size", "640x360", "--fps", "30", "--stream", stream];
        if curve {
            args.extend(["--curve-secret-key", &secret, "--allow", &allow]);
        }
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let start = |stream: &'static str| {
        let args = campub_args(stream);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        CampubProcess::start(port, &args)
    };

    let mut view_args = vec!["--headless", "--duration", "9"];
    if curve {
        view_args.extend(["--server-key", &public, "--key", &viewer_key]);
    }
    let first = start("first");
    let viewer = spawn(camview().args(&view_args).arg(endpoint(port)));
    std::thread::sleep(Duration::from_secs(3));
    first.signal("KILL");
    drop(first);
    let second = start("second");
    let done = viewer.finish(LIMIT);
    drop(second);

    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let s = done.summary();
    assert!(u64_at(&s, "/streams/first") > 10, "{s}");
    assert!(
        u64_at(&s, "/streams/second") > 10,
        "frames after the restart: {s}"
    );
    let gap_ms = f64_at(&s, "/max_gap_ms");
    eprintln!("curve {curve}: longest gap between frames {gap_ms} ms");
    assert!(
        gap_ms < MAX_RESTART_GAP_MS,
        "the restart interrupted the picture for {gap_ms} ms: {s}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_publisher_restart_resumes_within_2_s() {
    let _serial = one_at_a_time();
    publisher_restart_resumes_quickly(false);
}

#[test]
fn a_publisher_restart_resumes_within_2_s_with_curve() {
    let _serial = one_at_a_time();
    publisher_restart_resumes_quickly(true);
}

#[test]
fn viewers_coming_and_going_disturb_neither_the_publisher_nor_other_viewers() {
    let _serial = one_at_a_time();
    let port = free_port();
    let mut campub = CampubProcess::start(port, &["--size", "640x360", "--fps", "30"]);
    let steady = spawn(camview().args(["--headless", "--duration", "10", &endpoint(port)]));
    std::thread::sleep(Duration::from_millis(1500));
    for round in 0..6 {
        let passing = spawn(camview().args(["--headless", "--duration", "30", &endpoint(port)]));
        std::thread::sleep(Duration::from_millis(700));
        // Half of them vanish without a goodbye, the others stop cleanly.
        signal(passing.pid(), if round % 2 == 0 { "KILL" } else { "TERM" });
        drop(passing);
    }
    let done = steady.finish(LIMIT);
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let s = done.summary();
    // About 300 frames in 10 s; a stalled publisher would leave a gap of seconds.
    assert!(u64_at(&s, "/frames_shown") > 150, "{s}");
    let gap_ms = f64_at(&s, "/max_gap_ms");
    assert!(
        gap_ms < 1000.0,
        "the steady viewer saw a {gap_ms} ms gap: {s}"
    );
    assert!(campub.running(), "campub still runs");
    let log = campub.log();
    assert!(
        !log.iter().any(|l| l.contains("ERROR")),
        "no errors in campub's log: {log:#?}"
    );
}
