//! camrelay between real programs on loopback: messages pass through byte for byte (capture
//! timestamps and sequence numbers too), hostile publishers are refused, camview opens one
//! tile per relayed stream, the relay idles with no viewer, CURVE on both sides keeps unlisted
//! viewers and publishers out, and a relay restart heals by itself within 2 s.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use testkit::*;

const LIMIT: Duration = Duration::from_secs(40);
/// A fixed capture clock for the hand-made stream: the relay must not touch it.
const CAPTURE_BASE_NS: u64 = 1_700_000_000_000_000_000;
/// As e2e's restarts test: ZeroMQ reconnects within 0.1-1 s on both sides of the relay.
const MAX_RESTART_GAP_MS: f64 = 2000.0;

/// `camrelay --bind tcp://127.0.0.1:PORT --stats-interval 1 ARGS...`
fn relay(port: u16, args: &[&str]) -> LoggedProcess {
    LoggedProcess::spawn(
        camrelay()
            .args(["--bind", &endpoint(port), "--stats-interval", "1"])
            .args(args),
        "camrelay",
    )
}

fn alpha(seq: u64) -> Vec<u8> {
    let jpeg = solid_jpeg(64, 48, [(seq % 200) as u8, 80, 160]);
    native_at("alpha", seq, CAPTURE_BASE_NS + seq * 1000, 64, 48, &jpeg)
}

/// Messages a plain SUB socket gets from `endpoint` (subscribed to everything) for `time`.
fn receive_all(endpoint: &str, time: Duration) -> Vec<Vec<u8>> {
    let context = zmq::Context::new();
    let socket = context.socket(zmq::SUB).unwrap();
    socket.set_subscribe(b"").unwrap();
    socket.set_rcvtimeo(100).unwrap();
    socket.connect(endpoint).unwrap();
    let deadline = Instant::now() + time;
    let mut got = Vec::new();
    while Instant::now() < deadline {
        if let Ok(msg) = socket.recv_bytes(0) {
            got.push(msg);
        }
    }
    got
}

/// camview's JSON lines for the relay on `port`: two tiles, camA's then camB's, each named by
/// the relay's endpoint and its stream.
fn tile_lines(done: &Finished, port: u16) -> Vec<serde_json::Value> {
    let lines = done.json_lines();
    assert_eq!(lines.len(), 2, "{}", done.stdout);
    for (line, stream) in lines.iter().zip(["camA", "camB"]) {
        assert_eq!(
            line["endpoint"],
            format!("{} {stream}", endpoint(port)),
            "{line}"
        );
    }
    lines
}

#[test]
fn messages_pass_through_byte_for_byte_and_hostile_ones_are_refused() {
    let _serial = one_at_a_time();
    let (from, to) = (free_port(), free_port());
    // A publisher that sends its stream and, among it, what no campub sends: junk, a multipart
    // message, a frame under the directory's reserved name, a forged directory.
    let publisher = Publisher::start(from, Duration::from_millis(20), |tick| {
        let mut batch = vec![Outgoing::Single(alpha(tick))];
        match tick % 5 {
            1 => batch.push(Outgoing::Single(b"junk".to_vec())),
            2 => batch.push(Outgoing::Multipart(vec![alpha(tick), alpha(tick)])),
            3 => {
                let mut forged = Vec::new();
                camwire::encode_directory(
                    &[camwire::StreamName::new("ghost").unwrap()],
                    &mut forged,
                );
                batch.push(Outgoing::Single(forged));
            }
            _ => {}
        }
        batch
    });
    let mut camrelay = relay(to, &["--from", &endpoint(from), "--no-idle"]);
    assert!(camrelay.wait_for_log("stream \"alpha\" appeared", LIMIT));
    let got = receive_all(&endpoint(to), Duration::from_secs(3));
    publisher.stop();

    let (directories, frames): (Vec<_>, Vec<_>) =
        got.iter().partition(|m| camwire::is_directory(m));
    assert!(
        frames.len() > 50,
        "{} frames through the relay",
        frames.len()
    );
    for msg in &frames {
        let (stream, header, _) = camwire::parse_native(msg).unwrap();
        assert_eq!(stream, "alpha");
        assert_eq!(
            msg.as_slice(),
            alpha(header.seq).as_slice(),
            "frame {} changed on its way through the relay",
            header.seq
        );
    }
    // Every frame once, in order (the test's socket keeps up at this rate).
    let seqs: Vec<u64> = frames
        .iter()
        .map(|m| camwire::parse_native(m).unwrap().1.seq)
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(directories.len() >= 2, "a directory every second");
    for d in &directories {
        let names = camwire::parse_directory(d).unwrap();
        let names: Vec<&str> = names.iter().map(|n| n.as_str()).collect();
        assert_eq!(names, ["alpha"], "the forged directory must not pass");
    }
    assert!(camrelay.running(), "{:#?}", camrelay.log());
    // Logged once per burst, counted in every stats line.
    let log = camrelay.log();
    assert!(
        log.iter()
            .any(|l| l.contains("refused") && l.contains("further ones counted")),
        "{log:#?}"
    );
    let refused: u64 = log
        .iter()
        .filter_map(|l| l.split(", refused ").nth(1))
        .filter_map(|n| {
            n.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse::<u64>()
                .ok()
        })
        .sum();
    assert!(
        refused > 10,
        "the stats lines count the refused messages: {log:#?}"
    );
}

#[test]
fn camview_shows_each_relayed_stream_in_its_own_tile_with_end_to_end_latency() {
    let _serial = one_at_a_time();
    let (a, b, to) = (free_port(), free_port(), free_port());
    let _cam_a = CampubProcess::start(a, &["--fps", "30", "--stream", "camA"]);
    let _cam_b = CampubProcess::start(b, &["--fps", "30", "--stream", "camB"]);
    // --no-idle: both streams are known before camview asks (the directory a viewer gets
    // lists the streams seen so far; camview opens its tiles from the first one).
    let camrelay = relay(
        to,
        &["--from", &endpoint(a), "--from", &endpoint(b), "--no-idle"],
    );
    for stream in ["camA", "camB"] {
        assert!(camrelay.wait_for_log(&format!("stream \"{stream}\" appeared"), LIMIT));
    }
    let done = run(
        camview()
            .args(["--headless", "--frames", "60", "--duration", "20"])
            .arg(endpoint(to)),
        LIMIT,
    );
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    assert!(
        done.stderr.contains("is a relay carrying 2 streams"),
        "{}",
        done.stderr
    );
    for (line, stream) in tile_lines(&done, to).iter().zip(["camA", "camB"]) {
        assert_eq!(line["streams"].as_object().unwrap().len(), 1, "{line}");
        assert!(u64_at(line, &format!("/streams/{stream}")) >= 60, "{line}");
        assert_eq!(u64_at(line, "/bad_messages"), 0, "{line}");
        // campub's capture clock crossed the relay: camview measures latency from it (same
        // host, same clock), and campub's sequence numbers show no loss on loopback.
        assert_eq!(u64_at(line, "/latency_unsynchronised"), 0, "{line}");
        let p50 = f64_at(line, "/latency_ms/p50");
        assert!(p50 > 0.0 && p50 < 1000.0, "{line}");
        assert_eq!(u64_at(line, "/lost_in_transit"), 0, "{line}");
        assert!(u64_at(line, "/last_seq") >= 60, "{line}");
    }
}

/// Several endpoints, two of them relays: each relay's tile becomes, where it was, one tile
/// per stream it carries; a campub given directly keeps its own tile.
#[test]
fn several_endpoints_with_relays_among_them_show_every_stream_of_each() {
    let _serial = one_at_a_time();
    let ports: Vec<u16> = (0..6).map(|_| free_port()).collect();
    let [a, b, c, d, relay_1, relay_2] = ports[..] else {
        unreachable!()
    };
    let _cams: Vec<CampubProcess> = [(a, "camA"), (b, "camB"), (c, "camC"), (d, "camD")]
        .into_iter()
        .map(|(port, stream)| CampubProcess::start(port, &["--fps", "30", "--stream", stream]))
        .collect();
    let first = relay(
        relay_1,
        &["--from", &endpoint(a), "--from", &endpoint(b), "--no-idle"],
    );
    let second = relay(relay_2, &["--from", &endpoint(c), "--no-idle"]);
    for (camrelay, streams) in [(&first, &["camA", "camB"][..]), (&second, &["camC"][..])] {
        for stream in streams {
            assert!(
                camrelay.wait_for_log(&format!("stream \"{stream}\" appeared"), LIMIT),
                "{:#?}",
                camrelay.log()
            );
        }
    }
    let done = run(
        camview()
            .args(["--headless", "--frames", "60", "--duration", "25"])
            .args([endpoint(relay_1), endpoint(d), endpoint(relay_2)]),
        LIMIT,
    );
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    assert!(
        done.stderr
            .contains("is a relay carrying 2 streams (camA, camB): tile 1 becomes")
            // Tile 3 or 4: whichever relay's directory came first was expanded first.
            && done
                .stderr
                .contains("is a relay carrying 1 streams (camC): tile "),
        "{}",
        done.stderr
    );
    let lines = done.json_lines();
    let expected = [
        (format!("{} camA", endpoint(relay_1)), "camA"),
        (format!("{} camB", endpoint(relay_1)), "camB"),
        (endpoint(d), "camD"),
        (format!("{} camC", endpoint(relay_2)), "camC"),
    ];
    assert_eq!(lines.len(), expected.len(), "{}", done.stdout);
    for (line, (label, stream)) in lines.iter().zip(&expected) {
        assert_eq!(line["endpoint"], label.as_str(), "{line}");
        // Each tile one stream: the relays' tiles subscribe to theirs alone.
        assert_eq!(line["streams"].as_object().unwrap().len(), 1, "{line}");
        assert!(u64_at(line, &format!("/streams/{stream}")) >= 60, "{line}");
        assert_eq!(u64_at(line, "/bad_messages"), 0, "{line}");
    }
}

#[test]
fn a_stream_that_appears_later_gets_a_tile_of_its_own() {
    let _serial = one_at_a_time();
    let (listen, to) = (free_port(), free_port());
    let camrelay = relay(to, &["--listen", &endpoint(listen)]);
    let dialling = |stream: &str| {
        CampubProcess::start(
            free_port(),
            &[
                "--fps",
                "30",
                "--stream",
                stream,
                "--connect",
                &endpoint(listen),
            ],
        )
    };
    let _cam_a = dialling("camA");
    let viewer = spawn(
        camview()
            .args(["--headless", "--duration", "10"])
            .arg(endpoint(to)),
    );
    // camview's grid is up when the relay counts its two connections: camA's tile and the
    // directory watch. Only then does the second Pi dial in.
    assert!(
        camrelay.wait_for_log("streams [camA", LIMIT)
            && camrelay.wait_for_log("; 2 viewer connections", LIMIT),
        "{:#?}",
        camrelay.log()
    );
    let _cam_b = dialling("camB");
    let done = viewer.finish(LIMIT);
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    assert!(
        done.stderr.contains("is a relay carrying 1 streams (camA)")
            && done.stderr.contains("stream camB appeared: tile 2"),
        "{}",
        done.stderr
    );
    // camview's heap bound follows its tiles (docs/SECURITY.md): camA's tile and the
    // directory watch's connection at the start, one tile more once camB has its own.
    let bound_after = |marker: &str| -> u64 {
        let at = done
            .stderr
            .find(marker)
            .unwrap_or_else(|| panic!("{marker}: {}", done.stderr));
        let rest = &done.stderr[at + marker.len()..];
        rest.split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no MiB after {marker}: {rest}"))
    };
    let (at_start, with_cam_b) = (
        bound_after("; heap bound "),
        bound_after("appeared: tile 2; heap bound now "),
    );
    // 64 MiB + 528 MiB per tile at the default --max-pixels + 96 MiB for the watch.
    assert_eq!((at_start, with_cam_b), (64 + 528 + 96, 64 + 2 * 528 + 96));
    for (line, stream) in tile_lines(&done, to).iter().zip(["camA", "camB"]) {
        // camB: its tile within about a second of the Pi dialling in, then its frames.
        assert!(u64_at(line, &format!("/streams/{stream}")) >= 30, "{line}");
        assert_eq!(u64_at(line, "/bad_messages"), 0, "{line}");
    }
}

#[test]
fn the_relay_and_its_campub_idle_with_no_viewer_and_resume_for_one() {
    let _serial = one_at_a_time();
    let (a, to) = (free_port(), free_port());
    let cam = CampubProcess::start(a, &["--fps", "30", "--stream", "camA"]);
    let camrelay = relay(to, &["--from", &endpoint(a)]);
    assert!(
        camrelay.wait_for_log("idle: no viewer connected", LIMIT),
        "{:#?}",
        camrelay.log()
    );
    // The relay hung up on campub, which sees nobody watching and stops encoding too.
    assert!(
        cam.wait_for_log("idle: nobody is watching", LIMIT),
        "{:#?}",
        cam.log()
    );
    // Idle: the stats lines say so and nothing is forwarded.
    assert!(camrelay.wait_for_log("idle (no viewer)", LIMIT));
    let done = run_headless(30, 20, to, LIMIT);
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    assert!(u64_at(&done.summary(), "/frames_shown") >= 30);
    assert!(
        cam.log()
            .iter()
            .any(|l| l.contains("resumed: a ZeroMQ subscriber connected")),
        "campub resumed for the relay's viewer: {:#?}",
        cam.log()
    );
    // Resumed for the viewer, then idle again once it has gone (maybe already by now).
    let idle_after_resume = |log: &[String]| {
        log.iter()
            .position(|l| l.contains("resumed after"))
            .is_some_and(|at| log[at..].iter().any(|l| l.contains("idle: no viewer")))
    };
    let deadline = Instant::now() + LIMIT;
    while !idle_after_resume(&camrelay.log()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(idle_after_resume(&camrelay.log()), "{:#?}", camrelay.log());
}

/// The paths of a key pair made by `program` (campub or camview) under `dir`.
fn key_pair(program: &str, dir: &std::path::Path, name: &str) -> (String, String) {
    let stem = dir.join(name);
    keygen(program, &stem);
    let path = |suffix: &str| format!("{}{suffix}", stem.display());
    (path(".key"), path(".key_secret"))
}

#[test]
fn curve_on_both_sides_keeps_unlisted_viewers_and_publishers_out() {
    let _serial = one_at_a_time();
    let dir = temp_dir("relay-curve");
    let (relay_public, relay_secret) = key_pair("campub", &dir, "relay");
    let (listed_pub, listed_secret) = key_pair("campub", &dir, "listed");
    let (_, unlisted_secret) = key_pair("campub", &dir, "unlisted");
    let (viewer_public, viewer_secret) = key_pair("camview", &dir, "viewer");
    let (_, stranger_secret) = key_pair("camview", &dir, "stranger");
    let (from, listen, to) = (free_port(), free_port(), free_port());

    // One publisher the relay dials (campub admits only the relay's key), two that dial the
    // relay: one listed in --publishers-allow, one not.
    let _dialled = CampubProcess::start(
        from,
        &[
            "--stream",
            "dialled",
            "--curve-secret-key",
            &listed_secret,
            "--allow",
            &relay_public,
        ],
    );
    let dial_in = |stream: &str, secret: &str| {
        CampubProcess::start(
            free_port(),
            &[
                "--stream",
                stream,
                "--curve-secret-key",
                secret,
                "--connect",
                &endpoint(listen),
                "--connect-server-key",
                &relay_public,
            ],
        )
    };
    let _listed = dial_in("listed", &listed_secret);
    let _unlisted = dial_in("intruder", &unlisted_secret);
    let camrelay = relay(
        to,
        &[
            "--from",
            &endpoint(from),
            "--from-server-key",
            &listed_pub,
            "--listen",
            &endpoint(listen),
            "--curve-secret-key",
            &relay_secret,
            "--allow",
            &viewer_public,
            "--publishers-allow",
            &listed_pub,
            "--no-idle",
        ],
    );
    assert!(camrelay.wait_for_log("stream \"listed\" appeared", LIMIT));
    assert!(camrelay.wait_for_log("stream \"dialled\" appeared", LIMIT));

    let done = run(
        camview()
            .args(["--headless", "--frames", "30", "--duration", "20"])
            .args(["--server-key", &relay_public, "--key", &viewer_secret])
            .arg(endpoint(to)),
        LIMIT,
    );
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let streams: Vec<String> = done
        .json_lines()
        .iter()
        .map(|l| l["stream"].to_string())
        .collect();
    assert_eq!(streams, ["\"dialled\"", "\"listed\""], "{}", done.stdout);
    let log = camrelay.log();
    assert!(!log.iter().any(|l| l.contains("intruder")), "{log:#?}");
    assert!(
        log.iter()
            .any(|l| l.contains("refused publisher key") && l.contains("not on the allow-list")),
        "{log:#?}"
    );

    // A viewer whose key is not listed gets nothing, and is told why.
    let done = run(
        camview()
            .args(["--headless", "--duration", "4"])
            .args(["--server-key", &relay_public, "--key", &stranger_secret])
            .arg(endpoint(to)),
        LIMIT,
    );
    assert_eq!(
        done.status.code(),
        Some(3),
        "{}\n{}",
        done.stdout,
        done.stderr
    );
    let s = done.summary();
    assert_eq!(u64_at(&s, "/frames_shown"), 0, "{s}");
    assert!(u64_at(&s, "/connection/0/handshakes_failed") >= 1, "{s}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_relay_restart_heals_viewers_and_dialling_publishers_within_2_s() {
    let _serial = one_at_a_time();
    let (listen, to) = (free_port(), free_port());
    let _cam = CampubProcess::start(
        free_port(),
        &[
            "--fps",
            "30",
            "--stream",
            "camA",
            "--connect",
            &endpoint(listen),
        ],
    );
    let args = ["--listen", &endpoint(listen), "--no-idle"];
    let first = relay(to, &args);
    assert!(first.wait_for_log("stream \"camA\" appeared", LIMIT));
    let viewer = spawn(camview().args(["--headless", "--duration", "9", &endpoint(to)]));
    std::thread::sleep(Duration::from_secs(3));
    first.signal("KILL");
    drop(first);
    let second = relay(to, &args);
    let done = viewer.finish(LIMIT);
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let s = done.summary();
    let gap_ms = f64_at(&s, "/max_gap_ms");
    eprintln!("relay restart: longest gap between frames {gap_ms} ms");
    assert!(u64_at(&s, "/frames_shown") > 100, "{s}");
    assert!(
        gap_ms < MAX_RESTART_GAP_MS,
        "the relay's restart interrupted the picture for {gap_ms} ms: {s}"
    );
    assert!(second.wait_for_log("stream \"camA\" appeared", LIMIT));
}

#[test]
fn camrelay_exits_2_on_a_bad_option_and_0_on_sigterm_with_its_config_file() {
    let _serial = one_at_a_time();
    let done = run(camrelay().args(["--from", "tcp://*:5555"]), LIMIT);
    assert_eq!(done.status.code(), Some(2), "{}", done.stderr);
    assert!(done.stderr.contains("--from"), "{}", done.stderr);
    assert_eq!(done.stderr.lines().count(), 1, "{}", done.stderr);

    // The options of a config file (systemd/camrelay.conf's format), the command line winning.
    let dir = temp_dir("relay-config");
    let (a, to) = (free_port(), free_port());
    let conf = dir.join("camrelay.conf");
    std::fs::write(
        &conf,
        format!(
            "# test\nfrom = {}\nbind = tcp://127.0.0.1:1\nno-idle = true\nstats-interval = 0\n",
            endpoint(a)
        ),
    )
    .unwrap();
    let _cam = CampubProcess::start(a, &["--stream", "conf"]);
    let running = spawn(
        camrelay()
            .arg("--config")
            .arg(&conf)
            .args(["--bind", &endpoint(to)]),
    );
    let viewer = run_headless(20, 20, to, LIMIT);
    assert!(viewer.status.success(), "{}", viewer.stderr);
    assert!(u64_at(&viewer.summary(), "/streams/conf") >= 20);
    let started = Instant::now();
    let done = running.terminate(LIMIT);
    assert_eq!(done.status.code(), Some(0), "{}", done.stderr);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "SIGTERM took {:?}",
        started.elapsed()
    );
    assert!(done.stderr.contains("stopped"), "{}", done.stderr);
    std::fs::remove_dir_all(dir).unwrap();
}

/// A GET on loopback: (status, content type, body). Any status is an answer.
fn http_get(url: &str, authorization: Option<&str>) -> (u16, String, Vec<u8>) {
    let agent = ureq::AgentBuilder::new()
        .timeout_connect(Duration::from_secs(10))
        .timeout_read(Duration::from_secs(10))
        .build();
    let mut request = agent.get(url);
    if let Some(value) = authorization {
        request = request.set("Authorization", value);
    }
    let response = match request.call() {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("GET {url}: {e}"),
    };
    let status = response.status();
    let kind = response.content_type().to_owned();
    let mut body = Vec::new();
    if kind != "multipart/x-mixed-replace" {
        std::io::Read::read_to_end(&mut response.into_reader(), &mut body).unwrap();
    } else {
        // The first 200 kB of an endless stream: several parts.
        std::io::Read::read_to_end(
            &mut std::io::Read::take(response.into_reader(), 200_000),
            &mut body,
        )
        .unwrap();
    }
    (status, kind, body)
}

/// A campub streaming "camA" and a relay taking it, serving it over HTTP on `http_port` with
/// `args` added.
fn relay_serving_cam_a(http_port: u16, args: &[&str]) -> (CampubProcess, LoggedProcess) {
    let cam_port = free_port();
    let cam = CampubProcess::start(cam_port, &["--fps", "30", "--stream", "camA"]);
    let (from, http_stream) = (endpoint(cam_port), format!("camA@127.0.0.1:{http_port}"));
    let mut all = vec!["--from", &from, "--http-stream", &http_stream];
    all.extend_from_slice(args);
    (cam, relay(free_port(), &all))
}

#[test]
fn a_relayed_stream_over_http_wakes_an_idle_relay_and_needs_its_token() {
    let _serial = one_at_a_time();
    let dir = temp_dir("relay-http");
    let token = "relay-test-token-0123456789";
    let tokens = write_file(&dir.join("tokens"), format!("{token}\n").as_bytes(), 0o600);
    let http_port = free_port();
    let (_cam, camrelay) = relay_serving_cam_a(http_port, &["--http-token-file", &tokens]);
    assert!(camrelay.wait_for_log("idle: no viewer connected", LIMIT));
    let base = format!("http://127.0.0.1:{http_port}");
    let bearer = format!("Bearer {token}");

    let (status, _, _) = http_get(&format!("{base}/snapshot.jpg"), None);
    assert_eq!(status, 401, "no token, no picture");
    // While the relay idles, a snapshot waits for a fresh frame (the last one before idling is
    // older than a snapshot may be after this sleep): the relay resumes for it.
    std::thread::sleep(Duration::from_millis(1500));
    // Idle, and /status says so (a /status request is not a viewer).
    let (code, _, json) = http_get(&format!("{base}/status"), Some(&bearer));
    assert_eq!(code, 200);
    let idle: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(idle["idle"], true, "{idle}");
    let (status, kind, jpeg) = http_get(&format!("{base}/snapshot.jpg"), Some(&bearer));
    assert_eq!(
        (status, kind.as_str()),
        (200, "image/jpeg"),
        "{:#?}",
        camrelay.log()
    );
    assert!(jpeg.starts_with(&[0xFF, 0xD8]) && jpeg.len() > 5_000);
    assert!(
        camrelay.wait_for_log("an HTTP client is waiting for a frame", LIMIT),
        "{:#?}",
        camrelay.log()
    );
    let (status, kind, body) = http_get(&format!("{base}/stream"), Some(&bearer));
    assert_eq!((status, kind.as_str()), (200, "multipart/x-mixed-replace"));
    let parts = body.windows(2).filter(|w| *w == [0xFF, 0xD8]).count();
    assert!(parts >= 3, "{parts} JPEG parts in the first 200 kB");
    // /status: the figures are sampled once a second.
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        let (code, _, json) = http_get(&format!("{base}/status"), Some(&bearer));
        assert_eq!(code, 200);
        let status: serde_json::Value = serde_json::from_slice(&json).unwrap();
        if u64_at(&status, "/published_total") > 3 || Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(status["stream"], "camA", "{status}");
    assert!(u64_at(&status, "/published_total") > 3, "{status}");
    assert_eq!(
        (u64_at(&status, "/width_px"), u64_at(&status, "/height_px")),
        (640, 360)
    );
    let (status, _, metrics) = http_get(&format!("{base}/metrics"), Some(&bearer));
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&metrics).contains("published"));
    std::fs::remove_dir_all(dir).unwrap();
}

/// With --no-idle the relay's /status is sampled all the same (it once was only when the
/// relay could idle: its figures stayed at zero).
#[test]
fn a_relay_that_never_idles_keeps_its_http_figures_current() {
    let _serial = one_at_a_time();
    let http_port = free_port();
    let (_cam, camrelay) = relay_serving_cam_a(http_port, &["--no-idle", "--http-open"]);
    assert!(
        camrelay.wait_for_log(&format!("HTTP on http://127.0.0.1:{http_port}/"), LIMIT),
        "{:#?}",
        camrelay.log()
    );
    let url = format!("http://127.0.0.1:{http_port}/status");
    let sample = || -> serde_json::Value {
        let (code, _, json) = http_get(&url, None);
        assert_eq!(code, 200);
        serde_json::from_slice(&json).unwrap()
    };
    let deadline = Instant::now() + LIMIT;
    let first = loop {
        let status = sample();
        if u64_at(&status, "/captured_total") > 0 || Instant::now() > deadline {
            break status;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(u64_at(&first, "/captured_total") > 0, "{first}");
    std::thread::sleep(Duration::from_millis(2500));
    let later = sample();
    assert!(
        u64_at(&later, "/captured_total") > u64_at(&first, "/captured_total"),
        "{first} -> {later}"
    );
    assert_eq!(later["idle"], false, "{later}");
}

#[test]
fn a_campub_that_dials_an_idle_relay_idles_too_and_comes_back_for_a_viewer() {
    let _serial = one_at_a_time();
    let (listen, to) = (free_port(), free_port());
    let camrelay = relay(to, &["--listen", &endpoint(listen)]);
    let cam = CampubProcess::start(
        free_port(),
        &[
            "--fps",
            "30",
            "--stream",
            "camA",
            "--connect",
            &endpoint(listen),
        ],
    );
    assert!(
        camrelay.wait_for_log("idle: no viewer connected", LIMIT),
        "{:#?}",
        camrelay.log()
    );
    // Not listening while idle: campub's connection is closed and it stops encoding.
    assert!(
        cam.wait_for_log("idle: nobody is watching", LIMIT),
        "{:#?}",
        cam.log()
    );
    let done = run_headless(30, 20, to, LIMIT);
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    assert_eq!(u64_at(&done.summary(), "/streams/camA"), 30);
    assert!(
        cam.log()
            .iter()
            .any(|l| l.contains("resumed: a ZeroMQ subscriber connected")),
        "{:#?}",
        cam.log()
    );
}
