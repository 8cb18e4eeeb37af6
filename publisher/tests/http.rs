//! `campub --http` through the real binary and real sockets on 127.0.0.1: authentication
//! (Basic against a users file that `campub passwd` wrote, bearer tokens, the failure limit),
//! every endpoint (snapshots decoded, the MJPEG stream's parts, /status, /metrics, 404, 405),
//! and abuse (oversize headers, silent and half-open connections, more clients than allowed).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::process::Stdio;
use std::time::{Duration, Instant};

use base64::Engine as _;
use testkit::CampubProcess;

const EXIT_USAGE: i32 = 2;
const TOKEN: &str = "a-bearer-token-of-some-length";

/// campub with the test pattern and `--http 127.0.0.1:PORT ARGS...`, once its HTTP port answers.
fn start(args: &[&str]) -> (CampubProcess, String) {
    let port = testkit::free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut all = vec!["--http", &addr];
    all.extend_from_slice(args);
    let mut campub = CampubProcess::start(testkit::free_port(), &all);
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&addr).is_err() {
        assert!(campub.running(), "campub exited: {:?}", campub.log());
        assert!(Instant::now() < deadline, "no HTTP on {addr}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(campub.wait_for_log("first frame published", Duration::from_secs(10)));
    (campub, format!("http://{addr}"))
}

/// `campub passwd FILE USER` with the password on stdin.
fn passwd(file: &Path, user: &str, password: &str) -> std::process::Output {
    let mut child = testkit::campub()
        .arg("passwd")
        .arg(file)
        .arg(user)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// A users file with ann:secret-one and a token file with [`TOKEN`].
fn credential_files(name: &str) -> (String, String) {
    let dir = testkit::temp_dir(name);
    let users = dir.join("users");
    let out = passwd(&users, "ann", "secret-one");
    assert!(out.status.success(), "{out:?}");
    let tokens = testkit::write_file(
        &dir.join("tokens"),
        format!("# test\n{TOKEN}\n").as_bytes(),
        0o600,
    );
    (users.to_str().unwrap().to_owned(), tokens)
}

fn basic(user: &str, password: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn agent() -> ureq::Agent {
    // Read and connect timeouts, not one for the whole exchange: streams go on for minutes.
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(10))
        .timeout_read(Duration::from_secs(10))
        .build()
}

fn response(response: ureq::Response) -> Reply {
    let status = response.status();
    let headers = response
        .headers_names()
        .into_iter()
        .map(|n| {
            let v = response.header(&n).unwrap_or_default().to_owned();
            (n, v)
        })
        .collect();
    let mut body = Vec::new();
    response.into_reader().read_to_end(&mut body).unwrap();
    Reply {
        status,
        headers,
        body,
    }
}

/// One request; any status is a reply, only a transport failure panics.
fn request(method: &str, url: &str, authorization: Option<&str>) -> Reply {
    request_with(&agent(), method, url, authorization)
}

fn request_with(
    agent: &ureq::Agent,
    method: &str,
    url: &str,
    authorization: Option<&str>,
) -> Reply {
    let mut req = agent.request(method, url);
    if let Some(value) = authorization {
        req = req.set("Authorization", value);
    }
    match req.call() {
        Ok(r) | Err(ureq::Error::Status(_, r)) => response(r),
        Err(e) => panic!("{method} {url}: {e}"),
    }
}

fn get(url: &str, authorization: Option<&str>) -> Reply {
    request("GET", url, authorization)
}

/// A raw exchange: `bytes` out, everything the server answers until it closes.
fn raw(base: &str, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    // The server may answer and close before all of an oversize request is written.
    let _ = stream.write_all(bytes);
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    String::from_utf8_lossy(&answer).into_owned()
}

#[test]
fn http_needs_credentials_on_every_endpoint_and_takes_basic_and_bearer() {
    let (users, tokens) = credential_files("http-auth");
    let (_campub, base) = start(&["--http-users", &users, "--http-token-file", &tokens]);
    for path in [
        "/",
        "/stream",
        "/snapshot.jpg",
        "/status",
        "/metrics",
        "/nothing",
    ] {
        let reply = get(&format!("{base}{path}"), None);
        assert_eq!(reply.status, 401, "{path} without credentials");
        assert!(
            reply
                .header("www-authenticate")
                .unwrap()
                .starts_with("Basic realm=\"campub\""),
            "{path}"
        );
    }
    let status = format!("{base}/status");
    assert_eq!(get(&status, Some(&basic("ann", "wrong"))).status, 401);
    assert_eq!(get(&status, Some(&basic("bob", "secret-one"))).status, 401);
    assert_eq!(
        get(&status, Some("Bearer not-the-token-at-all")).status,
        401
    );
    assert_eq!(get(&status, Some(&basic("ann", "secret-one"))).status, 200);
    // Cached now: the same header again, and a page.
    assert_eq!(get(&status, Some(&basic("ann", "secret-one"))).status, 200);
    assert_eq!(
        get(&format!("{base}/"), Some(&format!("Bearer {TOKEN}"))).status,
        200
    );
}

#[test]
fn http_failed_logins_get_429_for_a_while_then_the_address_recovers() {
    let (users, tokens) = credential_files("http-limit");
    let (campub, base) = start(&["--http-users", &users, "--http-token-file", &tokens]);
    let status = format!("{base}/status");
    for _ in 0..5 {
        assert_eq!(get(&status, Some(&basic("ann", "guess"))).status, 401);
    }
    let limited = get(&status, Some(&basic("ann", "secret-one")));
    assert_eq!(limited.status, 429, "even good credentials while blocked");
    let retry_after: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    assert_eq!(get(&status, Some(&format!("Bearer {TOKEN}"))).status, 429);
    assert!(campub.wait_for_log("5 failed logins from 127.0.0.1", Duration::from_secs(2)));
    let log = campub.log();
    let count = |needle: &str| log.iter().filter(|l| l.contains(needle)).count();
    assert_eq!(count("wrong credentials from 127.0.0.1"), 1, "{log:?}");
    assert_eq!(count("5 failed logins from 127.0.0.1"), 1, "{log:?}");
    std::thread::sleep(Duration::from_secs(retry_after) + Duration::from_millis(500));
    assert_eq!(get(&status, Some(&basic("ann", "secret-one"))).status, 200);
}

#[test]
fn http_snapshot_status_metrics_and_errors() {
    // --no-idle: the figures below are those of a campub that streams while nobody watches
    // (a /status request is not a viewer; publisher/tests/idle.rs covers idling).
    let (campub, base) = start(&["--http-open", "--no-idle"]);
    assert!(campub.wait_for_log("--http-open: no authentication", Duration::from_secs(1)));
    let snapshot = get(&format!("{base}/snapshot.jpg"), None);
    assert_eq!(snapshot.status, 200);
    assert_eq!(snapshot.header("content-type"), Some("image/jpeg"));
    let header = turbojpeg::read_header(&snapshot.body).expect("a JPEG");
    assert_eq!((header.width, header.height), (640, 360));
    turbojpeg::decompress(&snapshot.body, turbojpeg::PixelFormat::RGB).expect("decodes");

    std::thread::sleep(Duration::from_millis(1200)); // a figures sample after the first frame
    let status = get(&format!("{base}/status"), None);
    assert_eq!(status.status, 200);
    assert_eq!(status.header("content-type"), Some("application/json"));
    let json: serde_json::Value = serde_json::from_slice(&status.body).unwrap();
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(
        (json["width_px"].as_u64(), json["height_px"].as_u64()),
        (Some(640), Some(360))
    );
    assert!(
        json["source"].as_str().unwrap().contains("test pattern"),
        "{json}"
    );
    assert!(json["published_fps"].as_f64().unwrap() > 1.0, "{json}");
    assert!(json["published_total"].as_u64().unwrap() >= 1, "{json}");
    assert_eq!(
        json["http_clients"].as_u64(),
        Some(1),
        "this request: {json}"
    );
    for key in [
        "captured_fps",
        "captured_total",
        "dropped_encoder_busy_total",
        "dropped_source_total",
        "bad_frames_total",
        "uptime_s",
        "zmq_subscribers",
        "idle",
        "http_streams",
        "capture_to_send_ms",
    ] {
        assert!(json.get(key).is_some(), "{key} missing: {json}");
    }

    let metrics = get(&format!("{base}/metrics"), None);
    assert_eq!(metrics.status, 200);
    let text = String::from_utf8(metrics.body).unwrap();
    let mut samples = 0;
    for line in text.lines() {
        if line.starts_with("# ") {
            continue;
        }
        // name{labels} value
        let (name, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line:?}"));
        let bare = name.split('{').next().unwrap();
        assert!(
            bare.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !bare.is_empty(),
            "{line:?}"
        );
        assert_eq!(name.contains('{'), name.ends_with('}'), "{line:?}");
        value.parse::<f64>().unwrap_or_else(|_| panic!("{line:?}"));
        samples += 1;
    }
    assert!(text.ends_with("# EOF\n"), "{text}");
    assert!(samples >= 10, "{text}");
    assert!(text.contains("\ncampub_frames_published_total "), "{text}");
    assert!(text.contains("\ncampub_http_clients 1\n"), "{text}");

    let page = get(&format!("{base}/"), None);
    assert_eq!(page.status, 200);
    let html = String::from_utf8(page.body).unwrap();
    assert!(
        html.contains("<img") && html.contains("src=\"stream\""),
        "{html}"
    );
    assert!(html.contains("name=\"viewport\"") && html.contains("new URL(\"status\""));
    assert_eq!(request("HEAD", &format!("{base}/status"), None).status, 200);
    assert_eq!(get(&format!("{base}/etc/passwd"), None).status, 404);
    assert_eq!(get(&format!("{base}/../../etc/passwd"), None).status, 404);
    let post = request("POST", &format!("{base}/status"), None);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
}

/// Reads one multipart part: its boundary line, headers and `Content-Length` bytes of JPEG.
fn read_part(reader: &mut impl BufRead) -> Vec<u8> {
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "--campubframe\r\n");
    let mut length = None;
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line == "\r\n" {
            break;
        }
        let (name, value) = line.trim_end().split_once(": ").unwrap();
        match name.to_ascii_lowercase().as_str() {
            "content-type" => assert_eq!(value, "image/jpeg"),
            "content-length" => length = Some(value.parse::<usize>().unwrap()),
            "x-timestamp" => {
                // The capture time, seconds.microseconds since the epoch: a moment ago.
                let (s, us) = value.split_once('.').unwrap();
                assert_eq!(us.len(), 6, "{value}");
                let capture_s = s.parse::<f64>().unwrap() + us.parse::<f64>().unwrap() / 1e6;
                let now_s = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_secs_f64();
                assert!(
                    capture_s <= now_s && capture_s > now_s - 60.0,
                    "{value} at {now_s}"
                );
            }
            other => panic!("unexpected part header {other}"),
        }
    }
    let mut jpeg = vec![0; length.expect("Content-Length")];
    reader.read_exact(&mut jpeg).unwrap();
    let mut end = [0; 2];
    reader.read_exact(&mut end).unwrap();
    assert_eq!(&end, b"\r\n");
    jpeg
}

fn open_stream(base: &str, authorization: Option<&str>) -> ureq::Response {
    let mut req = agent().get(&format!("{base}/stream"));
    if let Some(value) = authorization {
        req = req.set("Authorization", value);
    }
    req.call().unwrap()
}

#[test]
fn http_stream_sends_distinct_jpeg_parts() {
    let (users, tokens) = credential_files("http-stream");
    let (_campub, base) = start(&["--http-users", &users, "--http-token-file", &tokens]);
    let response = open_stream(&base, Some(&format!("Bearer {TOKEN}")));
    assert_eq!(
        response.header("content-type"),
        Some("multipart/x-mixed-replace; boundary=campubframe")
    );
    let mut reader = BufReader::new(response.into_reader());
    let mut parts: Vec<Vec<u8>> = Vec::new();
    for _ in 0..6 {
        let jpeg = read_part(&mut reader);
        let header = turbojpeg::read_header(&jpeg).expect("a JPEG");
        assert_eq!((header.width, header.height), (640, 360));
        parts.push(jpeg);
    }
    for pair in parts.windows(2) {
        assert_ne!(pair[0], pair[1], "each part is a newer frame");
    }
}

#[test]
fn http_clients_past_the_maximum_get_503() {
    let (_campub, base) = start(&["--http-open", "--http-max-clients", "2"]);
    let first = open_stream(&base, None);
    let second = open_stream(&base, None);
    let mut first = BufReader::new(first.into_reader());
    read_part(&mut first);
    let third = get(&format!("{base}/status"), None);
    assert_eq!(third.status, 503);
    drop(second);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = get(&format!("{base}/status"), None).status;
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(Instant::now() < deadline, "a slot never came free");
        std::thread::sleep(Duration::from_millis(100));
    }
    read_part(&mut first);
}

#[test]
fn http_oversize_headers_are_refused_and_the_server_goes_on() {
    let (mut campub, base) = start(&["--http-open"]);
    let huge = format!(
        "GET /status HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let answer = raw(&base, huge.as_bytes());
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer}"
    );
    let many: String = (0..100).map(|i| format!("X-H{i}: v\r\n")).collect();
    let answer = raw(
        &base,
        format!("GET /status HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
    );
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    let answer = raw(&base, b"GARBAGE\x00\x01\r\n\r\n");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    assert!(campub.running());
    assert_eq!(get(&format!("{base}/status"), None).status, 200);
}

#[test]
fn http_a_client_that_half_closes_after_its_request_gets_the_answer() {
    // `nc -N`, some embedded HTTP clients and the fuzz harness shut their sending side once
    // the request is out; the answer must still come (hyper's default closes at that EOF).
    let (_campub, base) = start(&["--http-open"]);
    for (path, expect) in [
        ("/status", "\"published_total\""),
        ("/snapshot.jpg", "image/jpeg"),
    ] {
        let mut stream = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        write!(stream, "GET {path} HTTP/1.1\r\nHost: campub\r\n\r\n").unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 200"), "{path}: {answer:.200}");
        assert!(answer.contains(expect), "{path}: {answer:.300}");
    }
}

#[test]
fn http_a_silent_connection_is_closed_after_the_header_timeout() {
    let (_campub, base) = start(&["--http-open"]);
    let mut silent = TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    silent
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let started = Instant::now();
    let mut answer = Vec::new();
    let result = silent.read_to_end(&mut answer);
    let waited = started.elapsed();
    assert!(
        result.is_ok()
            || result
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "{result:?} after {waited:?}: closed by campub, not by our read timeout"
    );
    assert!(waited < Duration::from_secs(15), "{waited:?}");
}

#[test]
fn http_half_open_connections_do_not_lock_a_client_out() {
    let (mut campub, base) = start(&["--http-open", "--http-max-clients", "4"]);
    let addr = base.trim_start_matches("http://").to_owned();
    // Four times what may wait (4 clients x 8): the oldest are closed to make room.
    let mut idle = Vec::new();
    for i in 0..128 {
        let mut stream = TcpStream::connect(&addr).unwrap();
        if i % 2 == 0 {
            let _ = stream.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n");
        }
        idle.push(stream);
    }
    let started = Instant::now();
    let reply = get(&format!("{base}/status"), None);
    assert_eq!(reply.status, 200);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let mut closed = 0;
    for stream in &mut idle {
        stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut byte = [0; 1];
        // A reset when campub closed it with our unread request bytes in its buffer.
        closed += usize::from(match stream.read(&mut byte) {
            Ok(n) => n == 0,
            Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        });
    }
    assert!(
        closed >= 128 - 32,
        "only {closed} of the oldest were closed"
    );
    let rss_kb = testkit::rss_kb(campub.pid());
    assert!(rss_kb < 200_000, "{rss_kb} kB");
    assert!(campub.running());
}

/// What one connection that sent part of a request may cost campub at most: hyper's read buffer
/// (8 KiB, `MAX_HEADER_BYTES`), the connection's task, its futures and the allocator's slack.
/// Measured here: 500 such connections added 4.9 to 6.7 MB, 19 to 26 KiB for each of the 256
/// that campub keeps (8 per client slot, 32 slots; the older ones are closed); 40 KiB leaves room.
const HALF_OPEN_COST_KIB: u64 = 40;
/// Connections waiting for their request that campub keeps with the default 32 client slots.
const HALF_OPEN_KEPT: u64 = 32 * 8;

#[test]
fn http_500_half_open_connections_cost_bounded_memory_and_viewers_go_on() {
    const HALF_OPEN: usize = 500;
    // 500 sockets here and 500 in campub (which inherits this limit): CI's default soft limit
    // may be 1024, too few for both plus the test harness, so raise it to the hard limit.
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let wanted = 4 * HALF_OPEN as u64;
    if limit.current.is_some_and(|soft| soft < wanted) {
        rustix::process::setrlimit(
            rustix::process::Resource::Nofile,
            rustix::process::Rlimit {
                current: limit.maximum.map(|hard| hard.min(wanted)).or(Some(wanted)),
                maximum: limit.maximum,
            },
        )
        .expect("raise RLIMIT_NOFILE for 500 connections");
    }
    let (mut campub, base) = start(&["--http-open"]);
    let addr = base.trim_start_matches("http://").to_owned();
    // A viewer that counts the parts it receives, all along.
    let parts = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let viewer = {
        let parts = std::sync::Arc::clone(&parts);
        let mut reader = BufReader::new(open_stream(&base, None).into_reader());
        std::thread::spawn(move || loop {
            read_part(&mut reader);
            parts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        })
    };
    let parts_now = || parts.load(std::sync::atomic::Ordering::Relaxed);
    let parts_grow = |what: &str| {
        let before = parts_now();
        let deadline = Instant::now() + Duration::from_secs(10);
        while parts_now() < before + 5 {
            assert!(!viewer.is_finished(), "the viewer's stream ended {what}");
            assert!(Instant::now() < deadline, "the viewer got no frames {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    let snapshot = |what: &str| {
        let reply = get(&format!("{base}/snapshot.jpg"), None);
        assert_eq!(reply.status, 200, "{what}");
        let header = turbojpeg::read_header(&reply.body).expect("a JPEG");
        assert_eq!((header.width, header.height), (640, 360), "{what}");
    };
    parts_grow("before");
    snapshot("before");
    let baseline_kb = testkit::rss_kb(campub.pid());

    let mut half_open = Vec::new();
    for _ in 0..HALF_OPEN {
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream
            .write_all(b"GET /status HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        half_open.push(stream);
    }
    parts_grow("while 500 connections stall");
    snapshot("while 500 connections stall");
    let loaded_kb = testkit::rss_kb(campub.pid());
    // Were all 500 kept (no bound on waiting connections), they would cost 9.5 to 13 MB, more
    // than this 10 MB.
    let bound_kb = baseline_kb + HALF_OPEN_KEPT * HALF_OPEN_COST_KIB;
    assert!(
        loaded_kb <= bound_kb,
        "{loaded_kb} kB with {HALF_OPEN} half-open connections, more than {baseline_kb} kB + \
         {HALF_OPEN_KEPT} kept x {HALF_OPEN_COST_KIB} KiB"
    );

    // campub closes every one of them: the oldest to make room, the rest after the 5 s header
    // timeout.
    for stream in &mut half_open {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut answer = Vec::new();
        match stream.read_to_end(&mut answer) {
            Ok(_) => {}
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        }
        assert!(
            answer.is_empty() || String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 408"),
            "{:?}",
            String::from_utf8_lossy(&answer)
        );
    }
    drop(half_open);
    parts_grow("after");
    snapshot("after");
    let status: serde_json::Value =
        serde_json::from_slice(&get(&format!("{base}/status"), None).body).unwrap();
    // The viewer and this request: nothing left of the 500.
    assert_eq!(status["http_clients"], 2, "{status}");
    assert_eq!(status["http_streams"], 1, "{status}");
    assert!(campub.running());
    println!(
        "RSS: {baseline_kb} kB before, {loaded_kb} kB with {HALF_OPEN} half-open connections \
         (bound {bound_kb} kB), {} kB after",
        testkit::rss_kb(campub.pid())
    );
}

#[test]
fn http_configuration_errors_exit_2() {
    let dir = testkit::temp_dir("http-config");
    let open_tokens = testkit::write_file(&dir.join("tokens"), TOKEN.as_bytes(), 0o644);
    let bad_users = testkit::write_file(&dir.join("users"), b"ann\n", 0o600);
    for (args, needle) in [
        (&["--http", "127.0.0.1:0"][..], "--http-open"),
        (&["--http", "8080", "--http-open"], "ADDR:PORT"),
        (
            &["--http", "127.0.0.1:0", "--http-users", "/nonexistent"],
            "--http-users",
        ),
        (
            &["--http", "127.0.0.1:0", "--http-users", &bad_users],
            ":1:",
        ),
        (
            &["--http", "127.0.0.1:0", "--http-token-file", &open_tokens],
            "chmod 600",
        ),
        (
            &[
                "--http",
                "127.0.0.1:0",
                "--http-open",
                "--http-token-file",
                &open_tokens,
            ],
            "--http-open",
        ),
    ] {
        let out = testkit::campub()
            .args(["--source", "pattern", "--bind", "tcp://127.0.0.1:0"])
            .args(args)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(EXIT_USAGE), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let out = passwd(&dir.join("empty"), "ann", "");
    assert_eq!(out.status.code(), Some(EXIT_USAGE), "{out:?}");
    let out = passwd(&dir.join("colon"), "a:b", "pw");
    assert_eq!(out.status.code(), Some(EXIT_USAGE), "{out:?}");
    use std::os::unix::fs::PermissionsExt as _;
    let users = dir.join("new-users");
    assert!(passwd(&users, "ann", "pw").status.success());
    let mode = std::fs::metadata(&users).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// An agent that trusts only the certificate in `cert` (PEM).
fn tls_agent(cert: &Path) -> ureq::Agent {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for der in rustls::pki_types::CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(der.unwrap()).unwrap();
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(10))
        .timeout_read(Duration::from_secs(10))
        .tls_config(std::sync::Arc::new(config))
        .build()
}

/// A certificate and key from `campub tls-selfsigned` (with `args`) in a new directory.
fn self_signed_pair(dir: &str, args: &[&str]) -> (std::path::PathBuf, std::path::PathBuf) {
    let dir = testkit::temp_dir(dir);
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = testkit::campub()
        .arg("tls-selfsigned")
        .args([&cert, &key])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    (cert, key)
}

#[test]
fn http_over_tls_with_a_self_signed_certificate() {
    let (users, _tokens) = credential_files("http-tls");
    let (cert, key) = self_signed_pair("http-tls-pair", &["--name", "cam.test"]);
    // What browsers and Apple's platforms look at, read by openssl: a server certificate for
    // the names, valid for at most 825 days.
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in"])
        .arg(&cert)
        .output()
        .expect("openssl (scripts/setup-debian.sh --test installs it)");
    let text = String::from_utf8_lossy(&text.stdout);
    for want in [
        "Subject: CN = cam.test",
        "TLS Web Server Authentication",
        "DNS:cam.test, DNS:localhost",
    ] {
        assert!(
            text.contains(want),
            "no {want:?} in the certificate:\n{text}"
        );
    }
    let dates = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-checkend",
            &(823 * 24 * 3600).to_string(),
            "-in",
        ])
        .arg(&cert)
        .status()
        .unwrap();
    assert!(dates.success(), "valid for 823 more days");
    let dates = Command::new("openssl")
        .args([
            "x509",
            "-noout",
            "-checkend",
            &(825 * 24 * 3600).to_string(),
            "-in",
        ])
        .arg(&cert)
        .status()
        .unwrap();
    assert!(
        !dates.success(),
        "not valid for 826 days (Apple's limit is 825)"
    );
    let (campub, base) = start(&[
        "--http-users",
        &users,
        "--http-cert",
        cert.to_str().unwrap(),
        "--http-key",
        key.to_str().unwrap(),
    ]);
    assert!(
        !campub.log().iter().any(|l| l.contains("IN THE CLEAR")),
        "{:?}",
        campub.log()
    );
    let https = base.replace("http://127.0.0.1", "https://localhost");
    let trusting = tls_agent(&cert);
    let login = basic("ann", "secret-one");
    assert_eq!(
        request_with(&trusting, "GET", &format!("{https}/status"), None).status,
        401
    );
    let snapshot = request_with(
        &trusting,
        "GET",
        &format!("{https}/snapshot.jpg"),
        Some(&login),
    );
    assert_eq!(snapshot.status, 200);
    let header = turbojpeg::read_header(&snapshot.body).expect("a JPEG");
    assert_eq!((header.width, header.height), (640, 360));
    let stream = trusting
        .get(&format!("{https}/stream"))
        .set("Authorization", &login)
        .call()
        .unwrap();
    let mut reader = BufReader::new(stream.into_reader());
    let (a, b) = (read_part(&mut reader), read_part(&mut reader));
    assert_ne!(a, b);
    // A client that does not trust the certificate gets nothing.
    assert!(agent().get(&format!("{https}/status")).call().is_err());
    assert_eq!(
        request_with(&trusting, "GET", &format!("{https}/status"), Some(&login)).status,
        200
    );
}

#[test]
fn http_plain_requests_to_the_tls_port_get_400_naming_https_logged_once_per_burst() {
    let (users, _tokens) = credential_files("http-plain-on-tls");
    let (cert, key) = self_signed_pair("http-plain-on-tls-pair", &[]);
    let (mut campub, base) = start(&[
        "--http-users",
        &users,
        "--http-cert",
        cert.to_str().unwrap(),
        "--http-key",
        key.to_str().unwrap(),
    ]);
    let addr = base.trim_start_matches("http://");
    for _ in 0..5 {
        let answer = raw(&base, b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(
            answer.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{answer:?}"
        );
        assert!(
            answer.ends_with(&format!(
                "\r\n\r\nThis port speaks HTTPS: use https://{addr}/\n"
            )),
            "{answer:?}"
        );
    }
    // Five plain requests, one warning; TLS clients go on as before.
    assert!(campub.wait_for_log("plain HTTP from 127.0.0.1", Duration::from_secs(5)));
    let warnings = campub
        .log()
        .iter()
        .filter(|l| l.contains("plain HTTP from"))
        .count();
    assert_eq!(warnings, 1, "{:?}", campub.log());
    let https = base.replace("http://127.0.0.1", "https://localhost");
    assert_eq!(
        request_with(
            &tls_agent(&cert),
            "GET",
            &format!("{https}/status"),
            Some(&basic("ann", "secret-one"))
        )
        .status,
        200
    );
    assert!(campub.running());
}

#[test]
fn http_a_stream_client_that_stops_reading_is_dropped_and_others_go_on() {
    let (campub, base) = start(&["--http-open"]);
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    // A small receive buffer, so that the kernel's buffers fill after a few frames.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut stalled: TcpStream = socket.into();
    stalled
        .write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    // It never reads. A reader beside it keeps getting new frames all along.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reading = {
        let stop = std::sync::Arc::clone(&stop);
        let mut reader = BufReader::new(open_stream(&base, None).into_reader());
        std::thread::spawn(move || {
            let mut parts = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                read_part(&mut reader);
                parts += 1;
            }
            parts
        })
    };
    assert!(
        campub.wait_for_log(
            "/stream client took no frame for 30 s",
            Duration::from_secs(45)
        ),
        "{:?}",
        campub.log()
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let parts = reading
        .join()
        .expect("the reader beside it was never cut off");
    assert!(parts >= 100, "{parts} parts in 30 s");
    // What campub had sent it is still in the buffers; then the end.
    stalled
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut sink = Vec::new();
    let end = stalled.read_to_end(&mut sink);
    assert!(
        end.is_ok()
            || end
                .as_ref()
                .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionReset),
        "{end:?}"
    );
}

/// Python's prometheus_client OpenMetrics parser: "name type samples" per family, one a line.
const PARSE_METRICS_PY: &str = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for family in text_string_to_metric_families(sys.stdin.read()):
    print(family.name, family.type, len(family.samples))
"#;

/// The first of `python3` and Debian's `/usr/bin/python3` that has prometheus_client.
fn python_with_prometheus_client() -> String {
    for python in ["python3", "/usr/bin/python3"] {
        let has = std::process::Command::new(python)
            .args(["-c", "import prometheus_client"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if has {
            return python.to_owned();
        }
    }
    panic!("no python3 with prometheus_client: run scripts/setup-debian.sh --test");
}

#[test]
fn http_metrics_parse_with_prometheus_clients_own_parser() {
    let (_campub, base) = start(&["--http-open"]);
    std::thread::sleep(Duration::from_millis(1200)); // a figures sample after the first frame
    let metrics = get(&format!("{base}/metrics"), None);
    assert_eq!(metrics.status, 200);
    let mut python = std::process::Command::new(python_with_prometheus_client())
        .args(["-c", PARSE_METRICS_PY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    python
        .stdin
        .take()
        .unwrap()
        .write_all(&metrics.body)
        .unwrap();
    let out = python.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&metrics.body),
        String::from_utf8_lossy(&out.stderr)
    );
    for family in [
        "campub_frames_published counter 1",
        "campub_frames_captured counter 1",
        "campub_published_fps gauge 1",
        "campub_http_clients gauge 1",
        "campub_build info 1",
    ] {
        assert!(
            stdout.lines().any(|l| l == family),
            "{family} in:\n{stdout}"
        );
    }
}

/// ffmpeg reads `url` (with `extra` input options) and writes its first 5 frames as JPEGs.
fn ffmpeg_frames(url: &str, extra: &[&str], dir: &Path) -> Vec<Vec<u8>> {
    let out = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-loglevel", "error"])
        .args(extra)
        .args(["-i", url, "-frames:v", "5", "-c:v", "copy", "-f", "image2"])
        .arg(dir.join("frame%d.jpg"))
        .output()
        .expect("ffmpeg (scripts/setup-debian.sh --test installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (1..=5)
        .map(|n| std::fs::read(dir.join(format!("frame{n}.jpg"))).unwrap())
        .collect()
}

#[test]
fn http_ffmpeg_reads_the_stream_over_http_and_https() {
    let (users, _tokens) = credential_files("http-ffmpeg");
    let (cert, key) = self_signed_pair("http-ffmpeg-pair", &[]);
    let dir = cert.parent().unwrap().to_path_buf();
    let (_plain, base) = start(&["--http-users", &users]);
    let (_tls, tls_base) = start(&[
        "--http-users",
        &users,
        "--http-cert",
        cert.to_str().unwrap(),
        "--http-key",
        key.to_str().unwrap(),
    ]);
    let https = tls_base.replace("http://127.0.0.1", "https://localhost");
    for (url, extra, name) in [
        (
            base.replace("http://", "http://ann:secret-one@"),
            vec![],
            "plain",
        ),
        (
            https.replace("https://", "https://ann:secret-one@"),
            vec!["-ca_file", cert.to_str().unwrap(), "-tls_verify", "1"],
            "tls",
        ),
    ] {
        let frames_dir = dir.join(name);
        std::fs::create_dir_all(&frames_dir).unwrap();
        let frames = ffmpeg_frames(&format!("{url}/stream"), &extra, &frames_dir);
        for jpeg in &frames {
            let header = turbojpeg::read_header(jpeg).expect("a JPEG");
            assert_eq!((header.width, header.height), (640, 360), "{name}");
        }
        assert_ne!(frames[0], frames[4], "{name}: the picture moves");
    }
}

#[test]
fn http_page_in_headless_chromium_shows_the_picture_and_the_figures() {
    let (users, _tokens) = credential_files("http-chromium");
    let (_campub, base) = start(&["--http-users", &users]);
    let dir = testkit::temp_dir("http-chromium-shot");
    let shot = dir.join("shot.png");
    // A phone-sized window; the login in the URL, as a user would type it once.
    let url = format!("{}/", base.replace("http://", "http://ann:secret-one@"));
    let finished = testkit::run(
        std::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
            ])
            .args(["--window-size=412,800", "--virtual-time-budget=3000"])
            .arg(format!("--user-data-dir={}", dir.join("profile").display()))
            .arg(format!("--screenshot={}", shot.display()))
            .arg(&url),
        Duration::from_secs(60),
    );
    assert!(finished.status.success(), "{}", finished.stderr);
    let png = testkit::screen::Png::read(&shot);
    assert_eq!((png.width, png.height), (412, 800));
    // The picture (640x360 shown 412 wide): the pattern's colour bars in its top rows.
    for (name, colour) in [
        ("cyan", [0, 192, 192]),
        ("green", [0, 192, 0]),
        ("magenta", [192, 0, 192]),
        ("blue", [0, 0, 192]),
    ] {
        let count = png.count(0, 0, 412, 170, |rgb| testkit::screen::near(rgb, colour, 50));
        assert!(count > 2000, "{name}: {count} pixels");
    }
    // The figures from /status: three lines of light grey text under the picture (the page
    // says "connecting..." on one line until /status answers, and shows errors in red).
    let text = |y0, y1| png.count(0, y0, 412, y1, |rgb| rgb.iter().all(|&c| c > 150));
    assert!(text(240, 256) > 100, "first line: {}", text(240, 256));
    assert!(text(278, 296) > 100, "third line: {}", text(278, 296));
    // Below them, only the page's background.
    let background = png.count(0, 320, 412, 800, |rgb| {
        testkit::screen::near(rgb, [17, 17, 17], 4)
    });
    assert_eq!(background, 412 * 480);
}
