//! CURVE end to end on loopback, with the real campub and camview: who gets frames, what the
//! refused see and log, what a relay in the middle can read, and reloading the allow-list.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use testkit::*;

const LIMIT: Duration = Duration::from_secs(40);

/// Key files for one test: the publisher's pair and two viewers' pairs, `viewer1` allowed.
struct Keys {
    dir: std::path::PathBuf,
    viewer2_public: String,
}

impl Keys {
    fn new(name: &str) -> Self {
        let dir = temp_dir(name);
        keygen("campub", &dir.join("server"));
        keygen("camview", &dir.join("viewer1"));
        let viewer2_public = keygen("camview", &dir.join("viewer2"));
        std::fs::create_dir(dir.join("allowed")).unwrap();
        std::fs::copy(dir.join("viewer1.key"), dir.join("allowed/viewer1.key")).unwrap();
        Self {
            dir,
            viewer2_public,
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().unwrap().to_owned()
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `camview --headless` with these extra arguments against `endpoint`, run to its end.
fn view(endpoint: &str, args: &[&str]) -> Running {
    spawn(camview().arg("--headless").args(args).arg(endpoint))
}

fn connection_state(summary: &serde_json::Value) -> String {
    summary["connection"][0]["state"]
        .as_str()
        .unwrap_or_else(|| panic!("no connection state in {summary}"))
        .to_owned()
}

#[test]
fn only_allowed_viewers_with_the_right_server_key_get_frames() {
    let _serial = one_at_a_time();
    let keys = Keys::new("curve-allow");
    let port = free_port();
    let campub = CampubProcess::start(
        port,
        &[
            "--size",
            "320x240",
            "--width",
            "320",
            "--curve-secret-key",
            &keys.path("server.key_secret"),
            "--allow",
            &keys.path("allowed"),
        ],
    );
    let at = endpoint(port);
    let server_key = keys.path("server.key");
    let authorised = view(
        &at,
        &[
            "--frames",
            "10",
            "--duration",
            "20",
            "--server-key",
            &server_key,
            "--key",
            &keys.path("viewer1.key_secret"),
        ],
    );
    // Long enough for camview's retry after the refusal: campub must still log the key once.
    let refused_png = keys.dir.join("refused.png");
    let unknown = view(
        &at,
        &[
            "--screenshot",
            refused_png.to_str().unwrap(),
            "--duration",
            "5",
            "--server-key",
            &server_key,
            "--key",
            &keys.path("viewer2.key_secret"),
        ],
    );
    let wrong_server = view(
        &at,
        &[
            "--duration",
            "4",
            "--server-key",
            &keys.path("viewer2.key"),
            "--key",
            &keys.path("viewer1.key_secret"),
        ],
    );
    let plaintext = view(&at, &["--duration", "3"]);

    let done = authorised.finish(LIMIT);
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let s = done.summary();
    assert_eq!(u64_at(&s, "/frames_shown"), 10, "{s}");
    assert_eq!(connection_state(&s), "connected", "{s}");

    let done = unknown.finish(LIMIT);
    assert_eq!(done.status.code(), Some(3), "no frame: {}", done.stderr);
    let s = done.summary();
    assert_eq!(u64_at(&s, "/messages_received"), 0, "{s}");
    assert_eq!(connection_state(&s), "not_authorised", "{s}");
    assert!(
        done.stderr.contains("not authorised"),
        "camview says why: {}",
        done.stderr
    );
    assert!(
        u64_at(&s, "/connection/0/handshakes_failed") >= 2,
        "refused connections are retried: {s}"
    );

    let done = wrong_server.finish(LIMIT);
    assert_eq!(done.status.code(), Some(3), "no frame: {}", done.stderr);
    let s = done.summary();
    assert_eq!(u64_at(&s, "/messages_received"), 0, "{s}");
    assert_eq!(connection_state(&s), "handshake_failed", "{s}");
    assert!(done.stderr.contains("handshake failed"), "{}", done.stderr);
    assert!(done.stderr.contains("--server-key"), "{}", done.stderr);

    let done = plaintext.finish(LIMIT);
    assert_eq!(done.status.code(), Some(3));
    assert_eq!(connection_state(&done.summary()), "handshake_failed");
    assert!(done.stderr.contains("requires CURVE"), "{}", done.stderr);

    // On screen: the "waiting for" notice grows the reason, the viewer's key and a hint,
    // four lines more than a viewer that is merely waiting shows.
    let waiting_png = keys.dir.join("waiting.png");
    let waiting = run(
        camview().args([
            "--headless",
            "--duration",
            "1",
            "--screenshot",
            waiting_png.to_str().unwrap(),
            &endpoint(free_port()),
        ]),
        LIMIT,
    );
    assert_eq!(waiting.status.code(), Some(3));
    let (waiting_rows, refused_rows) = (
        notice_rows(&Png::read(&waiting_png)),
        notice_rows(&Png::read(&refused_png)),
    );
    assert!(waiting_rows > 20, "a notice box: {waiting_rows} rows");
    assert!(
        refused_rows > 2 * waiting_rows,
        "the refusal is spelled out: {refused_rows} rows against {waiting_rows}"
    );

    let log = campub.log();
    let refusals = log
        .iter()
        .filter(|l| l.contains(&format!("refused viewer key {}", keys.viewer2_public)))
        .count();
    assert_eq!(
        refusals, 1,
        "logged once per key, however often it retries: {log:#?}"
    );
    assert!(
        log.iter().any(|l| l.contains("admitted viewer key")),
        "{log:#?}"
    );
}

#[test]
fn start_order_does_not_matter() {
    let _serial = one_at_a_time();
    let keys = Keys::new("curve-order");
    let port = free_port();
    let viewer = view(
        &endpoint(port),
        &[
            "--frames",
            "5",
            "--duration",
            "20",
            "--server-key",
            &keys.path("server.key"),
            "--key",
            &keys.path("viewer1.key_secret"),
        ],
    );
    std::thread::sleep(Duration::from_millis(1500));
    let _campub = CampubProcess::start(
        port,
        &[
            "--size",
            "320x240",
            "--curve-secret-key",
            &keys.path("server.key_secret"),
            "--allow",
            &keys.path("allowed"),
        ],
    );
    let done = viewer.finish(LIMIT);
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    assert_eq!(u64_at(&done.summary(), "/frames_shown"), 5);
}

#[test]
fn sighup_reloads_the_allow_list_and_a_waiting_viewer_gets_in() {
    let _serial = one_at_a_time();
    let keys = Keys::new("curve-reload");
    let allow_file = keys.dir.join("allow.txt");
    let viewer1 = std::fs::read_to_string(keys.dir.join("viewer1.key")).unwrap();
    std::fs::write(&allow_file, &viewer1).unwrap();
    let port = free_port();
    let mut campub = CampubProcess::start(
        port,
        &[
            "--size",
            "320x240",
            "--curve-secret-key",
            &keys.path("server.key_secret"),
            "--allow",
            allow_file.to_str().unwrap(),
        ],
    );
    let viewer = view(
        &endpoint(port),
        &[
            "--frames",
            "5",
            "--duration",
            "25",
            "--server-key",
            &keys.path("server.key"),
            "--key",
            &keys.path("viewer2.key_secret"),
        ],
    );
    let refused = format!("refused viewer key {}", keys.viewer2_public);
    assert!(
        campub.wait_for_log(&refused, Duration::from_secs(10)),
        "{:#?}",
        campub.log()
    );
    // A bare Z85 line with a label, appended to the certificate already there.
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&allow_file)
        .unwrap();
    writeln!(file, "{} viewer2", keys.viewer2_public).unwrap();
    drop(file);
    campub.signal("HUP");
    assert!(
        campub.wait_for_log("reloaded: 2 keys", Duration::from_secs(5)),
        "{:#?}",
        campub.log()
    );
    let done = viewer.finish(LIMIT);
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let s = done.summary();
    assert_eq!(u64_at(&s, "/frames_shown"), 5, "{s}");
    assert_eq!(connection_state(&s), "connected");
    assert!(campub.running(), "SIGHUP did not stop campub");
}

/// Rows of the screenshot crossed by the notice box (its dark grey, 32,32,32).
fn notice_rows(png: &Png) -> u32 {
    (0..png.height)
        .filter(|&y| png.count(0, y, png.width, y + 1, |p| p == [32, 32, 32]) > 50)
        .count() as u32
}

/// A TCP forwarder on loopback that records every byte going either way.
struct Relay {
    port: u16,
    recorded: Arc<Mutex<Vec<u8>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// Bytes recorded at most (the checks need the first few hundred kB).
const MAX_RECORDED_BYTES: usize = 32 << 20;

impl Relay {
    fn start(upstream_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (recorded, stop) = (Arc::clone(&recorded), Arc::clone(&stop));
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((client, _)) => {
                            client.set_nonblocking(false).unwrap();
                            let Ok(server) = TcpStream::connect(("127.0.0.1", upstream_port))
                            else {
                                continue; // the publisher is not up yet: the client retries
                            };
                            pipe(&client, &server, &recorded);
                            pipe(&server, &client, &recorded);
                        }
                        Err(_) => std::thread::sleep(Duration::from_millis(10)),
                    }
                }
            })
        };
        Self {
            port,
            recorded,
            stop,
            thread: Some(thread),
        }
    }

    fn recorded(&self) -> Vec<u8> {
        self.recorded.lock().unwrap().clone()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Copies `from` to `to` on a thread, recording what passes.
fn pipe(from: &TcpStream, to: &TcpStream, recorded: &Arc<Mutex<Vec<u8>>>) {
    let (mut from, mut to) = (from.try_clone().unwrap(), to.try_clone().unwrap());
    let recorded = Arc::clone(recorded);
    std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    {
                        let mut log = recorded.lock().unwrap();
                        if log.len() + n <= MAX_RECORDED_BYTES {
                            log.extend_from_slice(&buf[..n]);
                        }
                    }
                    if to.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            }
        }
        let _ = to.shutdown(Shutdown::Both);
    });
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    haystack
        .windows(needle.len())
        .filter(|w| w == &needle)
        .count()
}

/// Streams 20 frames through a recording relay; returns what the relay saw.
fn relay_capture(keys: &Keys, curve: bool) -> Vec<u8> {
    let port = free_port();
    let mut args = vec!["--size", "320x240", "--width", "320"];
    let secret = keys.path("server.key_secret");
    let server_key = keys.path("server.key");
    if curve {
        args.extend(["--curve-secret-key", &secret]);
    }
    let _campub = CampubProcess::start(port, &args);
    let relay = Relay::start(port);
    let mut view_args = vec!["--frames", "20", "--duration", "20"];
    if curve {
        view_args.extend(["--server-key", &server_key]);
    }
    let done = view(&endpoint(relay.port), &view_args).finish(LIMIT);
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    assert_eq!(u64_at(&done.summary(), "/frames_shown"), 20);
    relay.recorded()
}

#[test]
fn a_relay_in_the_middle_reads_nothing_with_curve_and_everything_without() {
    let _serial = one_at_a_time();
    let keys = Keys::new("curve-relay");
    // Without CURVE the relay sees every frame: the check below can fail.
    let plain = relay_capture(&keys, false);
    let soi = plain
        .windows(3)
        .position(|w| w == [0xFF, 0xD8, 0xFF])
        .expect("a JPEG start marker in the plaintext stream");
    // The JPEG start marker with the rest of the JPEG's first segment header, as campub sends
    // it: long enough that ciphertext cannot match it by chance (3 bytes alone would, about
    // once in 16 MB).
    let jpeg_head = plain[soi..soi + 12].to_vec();
    let frame_head = b"CAMF\x01\x01";
    assert!(count(&plain, &jpeg_head) >= 20, "{jpeg_head:02x?}");
    assert!(count(&plain, frame_head) >= 20);
    assert!(count(&plain, b"cam\0CAMF") >= 20);

    let encrypted = relay_capture(&keys, true);
    // 20 frames of 320x240 JPEG went through: at least 20 x 2 kB.
    assert!(
        encrypted.len() > 40_000,
        "{} bytes relayed",
        encrypted.len()
    );
    assert_eq!(
        count(&encrypted, &jpeg_head),
        0,
        "JPEG headers in the clear"
    );
    assert_eq!(
        count(&encrypted, frame_head),
        0,
        "frame headers in the clear"
    );
    assert_eq!(
        count(&encrypted, b"cam\0CAMF"),
        0,
        "stream names in the clear"
    );
}
