//! Nobody watching costs nothing: with no ZeroMQ subscriber and no HTTP client campub keeps
//! capturing but encodes nothing, and the first viewer of either kind gets the next frame.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use testkit::CampubProcess;

/// campub with the pattern, ZeroMQ on a free port and `--http-open` on another.
fn start(extra: &[&str]) -> (CampubProcess, String, String) {
    let zmq_port = testkit::free_port();
    let http = format!("127.0.0.1:{}", testkit::free_port());
    let mut args = vec![
        "--size",
        "320x240",
        "--fps",
        "30",
        "--http",
        &http,
        "--http-open",
    ];
    args.extend_from_slice(extra);
    let campub = CampubProcess::start(zmq_port, &args);
    assert!(
        campub.wait_for_log("first frame published", Duration::from_secs(20)),
        "{:?}",
        campub.log()
    );
    (campub, testkit::net::endpoint(zmq_port), http)
}

/// GET on `addr`: (status code, body).
fn get(addr: &str, path: &str) -> (u16, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(stream, "GET {path} HTTP/1.1\r\nHost: campub\r\n\r\n").unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let head_end = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let status = String::from_utf8_lossy(&answer[9..12]).parse().unwrap();
    (status, answer[head_end + 4..].to_vec())
}

/// (captured_total, published_total) from /status, which campub samples once a second.
fn totals(http: &str) -> (u64, u64) {
    let json = status(http);
    (
        json["captured_total"].as_u64().unwrap(),
        json["published_total"].as_u64().unwrap(),
    )
}

/// /status as JSON.
fn status(http: &str) -> serde_json::Value {
    let (status, body) = get(http, "/status");
    assert_eq!(status, 200);
    serde_json::from_slice(&body).unwrap()
}

/// `idle` of /status, and `campub_idle` of /metrics (1 or 0).
fn idle_figures(http: &str) -> (bool, String) {
    let idle = status(http)["idle"].as_bool().unwrap();
    let (code, body) = get(http, "/metrics");
    assert_eq!(code, 200);
    let text = String::from_utf8(body).unwrap();
    let gauge = text
        .lines()
        .find_map(|l| l.strip_prefix("campub_idle "))
        .unwrap_or_else(|| panic!("no campub_idle in {text}"))
        .to_owned();
    (idle, gauge)
}

fn log_count(campub: &CampubProcess, needle: &str) -> usize {
    campub.log().iter().filter(|l| l.contains(needle)).count()
}

fn wait_for_count(campub: &CampubProcess, needle: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while log_count(campub, needle) < count {
        assert!(
            Instant::now() < deadline,
            "no {count} x {needle:?} in {:?}",
            campub.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn nobody_watching_campub_encodes_nothing_and_the_next_frame_goes_to_a_new_viewer() {
    let (campub, endpoint, http) = start(&[]);
    wait_for_count(&campub, "idle: nobody is watching", 1);
    // Two samples of /status (a /status request is not a viewer): capture goes on, nothing
    // is published.
    std::thread::sleep(Duration::from_millis(1500));
    let (captured_a, published_a) = totals(&http);
    std::thread::sleep(Duration::from_millis(2500));
    let (captured_b, published_b) = totals(&http);
    assert!(
        captured_b > captured_a,
        "capture stopped: {captured_a} -> {captured_b}"
    );
    assert_eq!(published_a, published_b, "published while nobody watched");
    assert_eq!(idle_figures(&http), (true, "1".to_owned()), "idle, said");

    // A ZeroMQ subscriber gets frames captured after it connected, not one kept from before.
    let context = zmq::Context::new();
    let sub = context.socket(zmq::SUB).unwrap();
    sub.set_rcvtimeo(10_000).unwrap();
    sub.set_subscribe(b"").unwrap();
    let connected_ns = camwire::unix_time_ns();
    sub.connect(&endpoint).unwrap();
    let first = sub.recv_bytes(0).expect("no frame for a new subscriber");
    let (_, header, _) = camwire::parse_native(&first).unwrap();
    assert!(
        header.capture_unix_ns + 500_000_000 > connected_ns,
        "the first frame was captured {} ms before the subscriber connected",
        (connected_ns - header.capture_unix_ns) / 1_000_000
    );
    for _ in 0..10 {
        sub.recv_bytes(0).expect("frames stopped");
    }
    if log_count(&campub, "cannot watch the subscribers' links") > 0 {
        // Under qemu-user (CI runs these tests for aarch64 emulated) TCP_INFO comes back
        // without the acknowledged-byte count, so campub cannot see its subscribers: then it
        // must say so and stream whether anyone watches or not (it never idles blind).
        wait_for_count(&campub, "can no longer see its ZeroMQ subscribers", 1);
        drop(sub);
        drop(context);
        std::thread::sleep(Duration::from_millis(1500));
        let (_, published_c) = totals(&http);
        std::thread::sleep(Duration::from_millis(2500));
        let (_, published_d) = totals(&http);
        assert!(
            published_d > published_c,
            "idle while blind: {published_c} -> {published_d}"
        );
        assert_eq!(log_count(&campub, "idle: nobody is watching"), 1);
        return;
    }
    wait_for_count(&campub, "resumed: a ZeroMQ subscriber connected", 1);
    // Sampled once a second.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        idle_figures(&http),
        (false, "0".to_owned()),
        "streaming, said"
    );

    // The subscriber leaves: idle again; then an HTTP snapshot is served a fresh frame.
    drop(sub);
    drop(context);
    wait_for_count(&campub, "idle: nobody is watching", 2);
    // Past the age up to which a snapshot is served the newest frame as it is (one second).
    std::thread::sleep(Duration::from_millis(1500));
    let (status, jpeg) = get(&http, "/snapshot.jpg");
    assert_eq!(status, 200);
    assert!(jpeg.starts_with(&[0xFF, 0xD8]), "not a JPEG");
    wait_for_count(&campub, "resumed: an HTTP client connected", 1);
}

#[test]
fn with_no_idle_campub_publishes_for_nobody() {
    let (campub, _endpoint, http) = start(&["--no-idle"]);
    std::thread::sleep(Duration::from_millis(1500));
    let (_, published_a) = totals(&http);
    std::thread::sleep(Duration::from_millis(2500));
    let (_, published_b) = totals(&http);
    assert!(published_b > published_a, "{published_a} -> {published_b}");
    assert_eq!(log_count(&campub, "idle:"), 0, "{:?}", campub.log());
}
