//! The HTTP server's request path on any bytes, for the `http_request` fuzz target and the
//! corpus replay test: the same hyper settings, authentication and endpoints as a real
//! connection, over an in-memory pipe instead of a socket.

use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::Notify;

use super::auth::{self, Credentials};
use super::feed::Feed;
use super::serve::{self, State};
use super::{Access, HttpConfig, SourceInfo};

/// The bearer token the fuzzer's server accepts.
pub const TOKEN: &str = "fuzz-token-0123456789";
/// The Basic user and password it accepts (`Authorization: Basic ZnV6ejpodW50ZXIy`).
pub const USER: &str = "fuzz";
pub const PASSWORD: &str = "hunter2";
const BASIC: &[u8] = b"ZnV6ejpodW50ZXIy";

/// Bytes of response read at most: the head and a little body is all the checks need.
const MAX_RESPONSE_BYTES: usize = 64 * 1024;
/// Longer than any answer takes (a snapshot waits up to 2 s for a fresh frame, which the
/// fixture always has): a connection still open after it is held by the server.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);

struct Fixture {
    runtime: tokio::runtime::Runtime,
    credentials: Credentials,
    jpeg: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => panic!("fuzz fixture: no tokio runtime: {e}"),
        };
        let phc = match auth::hash_password(PASSWORD) {
            Ok(phc) => phc,
            Err(e) => panic!("fuzz fixture: {e}"),
        };
        Fixture {
            runtime,
            credentials: Credentials::from_parts(&[(USER, &phc)], &[TOKEN]),
            jpeg: tiny_jpeg(),
        }
    })
}

/// A valid 16x16 JPEG, so that /stream and /snapshot.jpg have a frame to serve.
fn tiny_jpeg() -> Vec<u8> {
    let pixels = vec![128u8; 16 * 16 * 3];
    let image = turbojpeg::Image {
        pixels: pixels.as_slice(),
        width: 16,
        pitch: 16 * 3,
        height: 16,
        format: turbojpeg::PixelFormat::RGB,
    };
    match turbojpeg::compress(image, 80, turbojpeg::Subsamp::Sub2x2) {
        Ok(jpeg) => jpeg.to_vec(),
        Err(e) => panic!("fuzz fixture: cannot encode a test frame: {e}"),
    }
}

/// One connection that sends `request` and then closes its sending side, served by a fresh
/// server (so each input is judged alone). Panics when an invariant breaks:
/// - any answer is a well-formed HTTP/1.1 status line;
/// - a 2xx needs the good token or the good Basic credentials in the request, and a path the
///   server has;
/// - the connection ends and every client slot is given back (a leak would lock clients out);
///   only a /stream may stay open, and then it must be sending a multipart stream.
pub fn request(request: &[u8]) -> Vec<u8> {
    let fixture = fixture();
    let feed = Arc::new(Feed::new());
    feed.frame(
        &fixture.jpeg,
        16,
        16,
        camwire::unix_time_ns(),
        Duration::from_millis(1),
    );
    let config = HttpConfig {
        addr: (Ipv6Addr::LOCALHOST, 0).into(),
        access: Access::Credentials(fixture.credentials.clone()),
        max_clients: 4,
        tls: None,
    };
    let source = SourceInfo {
        description: "fuzz".into(),
        stream: "fuzz".into(),
        quality: 80,
    };
    let state = Arc::new(State::new(&config, Arc::clone(&feed), source));
    // A new address each time: the failed-login limit is per address and would otherwise turn
    // every later input into a 429.
    static PEER: AtomicU16 = AtomicU16::new(0);
    let peer = IpAddr::V6(Ipv6Addr::new(
        0xfd00,
        0,
        0,
        0,
        0,
        0,
        0,
        PEER.fetch_add(1, Ordering::Relaxed),
    ));
    let (response, held) = fixture.runtime.block_on(async {
        let (mut client, server) = tokio::io::duplex(MAX_RESPONSE_BYTES);
        let evict = Arc::new(Notify::new());
        state.wait(0, Arc::clone(&evict));
        let served = tokio::spawn(serve::serve(server, peer, Arc::clone(&state), 0, evict));
        // The server may answer (and close) before it has read everything: a write error then
        // is the server's choice, not a failure.
        let _ = client.write_all(request).await;
        let _ = client.shutdown().await;
        let mut response = Vec::new();
        let read = tokio::time::timeout(ANSWER_TIMEOUT, async {
            let mut buf = [0u8; 4096];
            while response.len() < MAX_RESPONSE_BYTES {
                match client.read(&mut buf).await {
                    Ok(0) | Err(_) => return false,
                    Ok(n) => response.extend_from_slice(&buf[..n]),
                }
                // A /stream never ends by itself: its first whole frame is enough.
                if contains(&response, b"multipart/x-mixed-replace")
                    && contains(&response, &[0xff, 0xd9])
                {
                    return true;
                }
            }
            true
        })
        .await;
        let held = read.unwrap_or(true);
        drop(client);
        // With the client gone the server must end the connection by itself: at once, or for a
        // /stream waiting for a frame, when the next frame finds no one to take it.
        feed.frame(
            &fixture.jpeg,
            16,
            16,
            camwire::unix_time_ns(),
            Duration::from_millis(1),
        );
        if tokio::time::timeout(ANSWER_TIMEOUT, served).await.is_err() {
            panic!("the server kept a connection whose client had gone");
        }
        (response, held)
    });
    check(request, &response, held);
    assert_eq!(
        state.in_use(),
        (0, 0, 0),
        "client slots, streams or waiting connections left taken after the connection ended"
    );
    response
}

fn check(request: &[u8], response: &[u8], held: bool) {
    if response.is_empty() {
        assert!(!held, "the server held a connection without answering");
        return;
    }
    let status = status(response);
    let authorised = contains(request, TOKEN.as_bytes()) || contains(request, BASIC);
    if (200..300).contains(&status) {
        assert!(
            authorised,
            "{status} without the credentials: {}",
            String::from_utf8_lossy(&response[..response.len().min(200)])
        );
        assert!(
            ["/", "/stream", "/snapshot.jpg", "/status", "/metrics"]
                .iter()
                .any(|path| contains(request, path.as_bytes())),
            "{status} for a path the server does not have"
        );
    }
    if held {
        assert!(
            status == 200 && contains(response, b"multipart/x-mixed-replace"),
            "a connection held open that is not a /stream: {}",
            String::from_utf8_lossy(&response[..response.len().min(200)])
        );
    }
}

/// The status code of `HTTP/1.1 NNN ...` (`HTTP/1.0` for a 1.0 request); panics on anything else.
fn status(response: &[u8]) -> u16 {
    let line_end = response
        .windows(2)
        .position(|w| w == b"\r\n")
        .unwrap_or(response.len());
    let line = String::from_utf8_lossy(&response[..line_end]);
    let mut words = line.split(' ');
    assert!(
        matches!(words.next(), Some("HTTP/1.1" | "HTTP/1.0")),
        "status line {line:?}"
    );
    match words.next().map(str::parse::<u16>) {
        Some(Ok(code)) if (100..600).contains(&code) => code,
        _ => panic!("status line {line:?}"),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(request: &str) -> String {
        let response = super::request(request.as_bytes());
        String::from_utf8_lossy(&response).into_owned()
    }

    #[test]
    fn a_good_token_gets_the_status_and_a_missing_one_a_401() {
        let good = answer(&format!(
            "GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\r\n"
        ));
        assert!(good.starts_with("HTTP/1.1 200"), "{good}");
        assert!(good.contains("\"version\""), "{good}");
        let none = answer("GET /status HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(none.starts_with("HTTP/1.1 401"), "{none}");
    }

    #[test]
    fn basic_login_snapshot_and_stream_are_served() {
        let auth = format!("Authorization: Basic {}", String::from_utf8_lossy(BASIC));
        let snapshot = super::request(
            format!("GET /snapshot.jpg HTTP/1.1\r\nHost: x\r\n{auth}\r\n\r\n").as_bytes(),
        );
        assert!(snapshot.starts_with(b"HTTP/1.1 200"));
        assert!(
            contains(&snapshot, &[0xff, 0xd8, 0xff]),
            "no JPEG in the snapshot"
        );
        let stream = answer(&format!(
            "GET /stream HTTP/1.1\r\nHost: x\r\n{auth}\r\n\r\n"
        ));
        assert!(stream.starts_with("HTTP/1.1 200"), "{stream}");
        assert!(stream.contains("multipart/x-mixed-replace"), "{stream}");
    }

    #[test]
    fn garbage_and_a_half_request_end_cleanly() {
        assert!(answer("\x16\x03\x01garbage\r\n\r\n").starts_with("HTTP/1.1 400"));
        assert_eq!(answer("GET /status HTTP/1.1\r\nHost"), "");
    }
}
