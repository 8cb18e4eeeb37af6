//! The real campub binary against a real ZeroMQ SUB socket on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may stop at the first surprise

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use camwire::Message;

/// A running campub; killed if the test ends early.
struct Campub {
    child: Child,
    endpoint: String,
}

impl Campub {
    fn start(args: &[&str]) -> Campub {
        let mut child = testkit::campub()
            .args(["--bind", "tcp://127.0.0.1:0", "--stats-interval", "0"])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start campub");
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("campub: {line}");
                // Keep draining after the test stops listening, so campub never blocks on stderr.
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        let endpoint = loop {
            let line = rx
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .expect("campub did not log its endpoint");
            if let Some(rest) = line.split(" on tcp://").nth(1) {
                break format!("tcp://{}", rest.split_whitespace().next().unwrap());
            }
        };
        Campub { child, endpoint }
    }

    fn subscribe(&self, prefix: &[u8]) -> zmq::Socket {
        let context = zmq::Context::new();
        let sub = context.socket(zmq::SUB).unwrap();
        sub.set_rcvtimeo(5000).unwrap();
        sub.set_subscribe(prefix).unwrap();
        sub.connect(&self.endpoint).unwrap();
        sub
    }

    fn terminate(mut self) -> (ExitStatus, Duration) {
        let pid = self.child.id().to_string();
        let started = Instant::now();
        assert!(Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success());
        let deadline = started + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            assert!(Instant::now() < deadline, "campub ignored SIGTERM for 10 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

impl Drop for Campub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn jpeg_size(jpeg: &[u8]) -> (usize, usize) {
    let header = turbojpeg::read_header(jpeg).expect("a decodable JPEG");
    (header.width, header.height)
}

#[test]
fn pattern_streams_native_frames_at_the_requested_size_and_rate() {
    let campub = Campub::start(&[
        "--source", "pattern", "--size", "1280x720", "--fps", "20", "--stream", "yard",
    ]);
    let sub = campub.subscribe(b"yard\0");
    // The first message may predate the subscription settling; count from the second.
    let first = sub.recv_bytes(0).expect("no frame within 5 s");
    assert!(matches!(camwire::classify(&first), Ok(Message::Native(_))));
    let started = Instant::now();
    let mut seqs = Vec::new();
    while started.elapsed() < Duration::from_secs(3) {
        let msg = sub.recv_bytes(0).expect("frames stopped");
        let Ok(Message::Native(frame)) = camwire::classify(&msg) else {
            panic!("not a native frame")
        };
        assert_eq!(frame.stream, "yard");
        assert_eq!((frame.header.width_px, frame.header.height_px), (640, 360));
        assert_eq!(jpeg_size(frame.jpeg), (640, 360));
        let age_ns = camwire::unix_time_ns().saturating_sub(frame.header.capture_unix_ns);
        assert!(age_ns < 2_000_000_000, "capture time is {age_ns} ns old");
        seqs.push(frame.header.seq);
    }
    assert!(
        seqs.windows(2).all(|w| w[1] > w[0]),
        "sequence numbers increase: {seqs:?}"
    );
    let span = seqs.last().unwrap() - seqs.first().unwrap() + 1;
    assert!(
        span - seqs.len() as u64 <= 2,
        "at most a couple of gaps on loopback: {seqs:?}"
    );
    // 20 fps for 3 s is 60 frames. The pacer cannot run ahead; a loaded machine can lag.
    // Under an emulator (CAMPUB_TEST_RUNNER, e.g. the aarch64 build under qemu-user) campub
    // cannot keep this rate (the debug build published 11 frames in these 3 s on a loaded
    // 2-core host) and finishes the frame in hand more slowly when stopped (1.03 s measured),
    // so there only a steady flow is asserted, not the rate, and a stop within 3 s.
    let emulated = testkit::bin::runner().is_some();
    if emulated {
        eprintln!(
            "{} is set: under emulation the rate is not asserted, only that frames flow, and \
             SIGTERM may take 3 s instead of 1",
            testkit::bin::RUNNER_VAR
        );
    }
    let fewest = if emulated { 3 } else { 24 };
    assert!(
        (fewest..=66).contains(&seqs.len()),
        "{} frames in 3 s at 20 fps",
        seqs.len()
    );

    let (status, took) = campub.terminate();
    assert!(
        status.success(),
        "SIGTERM must end campub with exit 0, got {status}"
    );
    let limit = Duration::from_secs(if emulated { 3 } else { 1 });
    assert!(took < limit, "SIGTERM took {took:?}, limit {limit:?}");
}

#[test]
fn base64_mode_is_what_the_tutorial_client_decodes() {
    let campub = Campub::start(&[
        "--source", "pattern", "--size", "640x480", "--fps", "30", "--wire", "base64",
    ]);
    let sub = campub.subscribe(b"");
    for _ in 0..5 {
        let msg = sub.recv_bytes(0).expect("no frame within 5 s");
        // client.py: img = base64.b64decode(frame); cv2.imdecode(np.frombuffer(img), 1)
        use base64::Engine as _;
        let jpeg = base64::engine::general_purpose::STANDARD
            .decode(&msg)
            .expect("valid base64");
        assert_eq!(
            jpeg_size(&jpeg),
            (640, 480),
            "no resize at the target width"
        );
        let rgb = turbojpeg::decompress(&jpeg, turbojpeg::PixelFormat::BGR).unwrap();
        assert_eq!(rgb.pixels.len(), 640 * 480 * 3);
    }
    let (status, _) = campub.terminate();
    assert!(status.success());
}

#[test]
fn a_subscription_to_another_stream_gets_nothing() {
    let campub = Campub::start(&[
        "--source", "pattern", "--size", "320x240", "--fps", "30", "--stream", "cam10",
    ]);
    let other = campub.subscribe(b"cam1\0");
    other.set_rcvtimeo(1500).unwrap();
    assert!(other.recv_bytes(0).is_err(), "cam1 must not receive cam10");
    let mine = campub.subscribe(b"cam10\0");
    assert!(mine.recv_bytes(0).is_ok());
}

fn mjpeg_file(width: usize, height: usize, frames: usize) -> (std::path::PathBuf, Vec<Vec<u8>>) {
    let jpegs: Vec<Vec<u8>> = (0..frames)
        .map(|i| {
            let pixels: Vec<u8> = (0..width * height * 3)
                .map(|p| ((p / 3 + i * 40) % 256) as u8)
                .collect();
            testkit::media::compress_rgb(&pixels, width, height, 85, turbojpeg::Subsamp::Sub2x1)
        })
        .collect();
    let path =
        std::env::temp_dir().join(format!("campub-test-{}-{width}.mjpeg", std::process::id()));
    std::fs::write(&path, jpegs.concat()).unwrap();
    (path, jpegs)
}

#[test]
fn mjpeg_file_is_scaled_and_a_matching_width_passes_through() {
    let (big, _) = mjpeg_file(1280, 720, 3);
    let campub = Campub::start(&[
        "--source",
        &format!("file:{}", big.display()),
        "--fps",
        "30",
    ]);
    let sub = campub.subscribe(b"");
    let msg = sub.recv_bytes(0).expect("no frame");
    let Ok(Message::Native(frame)) = camwire::classify(&msg) else {
        panic!("not native")
    };
    assert_eq!(jpeg_size(frame.jpeg), (640, 360));
    drop(campub);
    std::fs::remove_file(&big).unwrap();

    let (exact, originals) = mjpeg_file(640, 480, 3);
    let campub = Campub::start(&[
        "--source",
        &format!("file:{}", exact.display()),
        "--fps",
        "30",
    ]);
    let sub = campub.subscribe(b"");
    for _ in 0..4 {
        let msg = sub.recv_bytes(0).expect("no frame");
        let Ok(Message::Native(frame)) = camwire::classify(&msg) else {
            panic!("not native")
        };
        assert!(
            originals.iter().any(|o| o == frame.jpeg),
            "passthrough must send the camera's bytes"
        );
    }
    drop(campub);
    std::fs::remove_file(&exact).unwrap();
}

#[test]
fn a_frame_over_the_message_limit_is_skipped_not_sent() {
    // A 4096x2304 JPEG of noise at q100 is 18.6 MB; at the output width it would be passed
    // through as it is. Next to it in the file, a flat frame of the same size.
    let (width, height) = (4096, 2304);
    let noise = testkit::media::noise(width * height * 3);
    let huge = testkit::media::compress_rgb(&noise, width, height, 100, turbojpeg::Subsamp::Sub2x2);
    assert!(huge.len() > camwire::MAX_MESSAGE_BYTES, "{}", huge.len());
    let flat = vec![90u8; width * height * 3];
    let small = testkit::media::compress_rgb(&flat, width, height, 100, turbojpeg::Subsamp::Sub2x2);
    let path = std::env::temp_dir().join(format!("campub-test-{}-huge.mjpeg", std::process::id()));
    std::fs::write(&path, [huge, small.clone()].concat()).unwrap();

    let campub = Campub::start(&[
        "--source",
        &format!("file:{}", path.display()),
        "--width",
        "4096",
        "--fps",
        "10",
    ]);
    let sub = campub.subscribe(b"");
    let started = Instant::now();
    let mut received = 0;
    while started.elapsed() < Duration::from_secs(2) {
        let msg = sub.recv_bytes(0).expect("frames stopped");
        assert!(
            msg.len() <= camwire::MAX_MESSAGE_BYTES,
            "campub sent a message of {} bytes",
            msg.len()
        );
        let Ok(Message::Native(frame)) = camwire::classify(&msg) else {
            panic!("not native")
        };
        assert_eq!(frame.jpeg, &small[..]);
        received += 1;
    }
    assert!(received >= 5, "{received}");
    drop(campub);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_missing_camera_is_a_clear_error_and_exit_1() {
    let out = testkit::campub()
        .args([
            "--device",
            "/dev/video-campub-missing",
            "--bind",
            "tcp://127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot open /dev/video-campub-missing"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_options_are_one_line_errors_with_exit_2() {
    for args in [
        &["--quality", "101"][..],
        &["--size", "big"],
        &["--bind", "nonsense://x", "--source", "pattern"],
    ] {
        let out = testkit::campub().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} was accepted");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert!(
            stderr
                .lines()
                .filter(|l| !l.contains(" INFO ") && !l.contains(" WARN "))
                .count()
                == 1,
            "{args:?}: {stderr}"
        );
    }
}

#[test]
fn a_taken_port_is_reported() {
    let first = Campub::start(&["--source", "pattern", "--size", "320x240"]);
    let out = testkit::campub()
        .args(["--source", "pattern", "--bind", &first.endpoint])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("cannot bind {}", first.endpoint)),
        "{stderr}"
    );
}

#[test]
fn tells_systemd_ready_after_the_first_frame_and_feeds_the_watchdog() {
    use std::os::unix::net::UnixDatagram;
    let dir = std::env::temp_dir().join(format!("campub-notify-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let socket_path = dir.join("notify.sock");
    let _ = std::fs::remove_file(&socket_path);
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();

    let mut child = testkit::campub()
        .args([
            "--source",
            "pattern",
            "--size",
            "320x240",
            "--fps",
            "30",
            "--bind",
            "tcp://127.0.0.1:0",
        ])
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "200000")
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut messages = Vec::new();
    let mut buf = [0u8; 512];
    while messages
        .iter()
        .filter(|m: &&String| m.contains("WATCHDOG=1"))
        .count()
        < 3
    {
        let n = socket.recv(&mut buf).expect("campub stopped notifying");
        messages.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    assert!(child.wait().unwrap().success());
    socket
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap();
    let mut after = Vec::new();
    while let Ok(n) = socket.recv(&mut buf) {
        after.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    std::fs::remove_dir_all(&dir).unwrap();

    assert!(
        messages[0].contains("READY=1")
            && messages[0].contains("STATUS=streaming on tcp://127.0.0.1:"),
        "{messages:?}"
    );
    assert!(
        after.last().is_some_and(|m| m.contains("STOPPING=1")),
        "{after:?}"
    );
}
