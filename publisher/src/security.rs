//! CURVE on the PUB socket and the ZAP handler that admits only the viewers on the allow-list:
//! a thread answering libzmq's ZAP 1.0 requests, reloading the list when SIGHUP asks for it.

use camthreads::Worker;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use camkeys::{KeyPair, PublicKey};

/// Where libzmq sends its authentication requests (ZeroMQ RFC 27).
const ZAP_ENDPOINT: &str = "inproc://zeromq.zap.01";
const ZAP_VERSION: &[u8] = b"1.0";
/// The ZAP domain campub's socket asks about; it shows in the handler's requests.
pub const ZAP_DOMAIN: &str = "campub";
/// How often the handler looks at its stop and reload flags while no request comes.
const POLL_MS: i64 = 200;
/// Rejected keys are logged once each; this many distinct keys are remembered.
const MAX_REMEMBERED_KEYS: usize = 4096;
/// At most this many log lines about refused keys per [`REJECT_LOG_WINDOW`]; the rest are
/// counted and summed up in one line.
const MAX_REJECT_LINES_PER_WINDOW: u32 = 10;
const REJECT_LOG_WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum SecurityError {
    #[error("cannot start the ZAP handler: {0}")]
    Zap(zmq::Error),
    #[error("cannot start the ZAP handler thread: {0}")]
    Thread(std::io::Error),
}

/// The checked security settings: CURVE keys, and the allow-list with the keys it held at start.
#[derive(Debug, Clone, Default)]
pub struct SecurityConfig {
    pub curve: Option<KeyPair>,
    pub allow: Option<AllowList>,
}

/// An allow-list file or directory and the keys read from it.
#[derive(Debug, Clone)]
pub struct AllowList {
    pub path: PathBuf,
    pub keys: Vec<PublicKey>,
}

impl AllowList {
    pub fn load(path: &Path) -> Result<Self, camkeys::KeyError> {
        Ok(Self {
            path: path.to_owned(),
            keys: camkeys::load_allow_list(path)?,
        })
    }
}

/// Makes `socket` a CURVE server with this key pair (call before bind).
pub fn make_curve_server(socket: &zmq::Socket, pair: &KeyPair) -> zmq::Result<()> {
    socket.set_curve_server(true)?;
    socket.set_curve_secretkey(pair.secret.as_bytes())?;
    socket.set_zap_domain(ZAP_DOMAIN)
}

/// The running ZAP handler; dropping it stops and joins the thread.
pub struct ZapHandler {
    _worker: Worker,
}

impl ZapHandler {
    /// Binds the handler in `context` (before any socket of that context binds, so no
    /// handshake ever finds it missing) and starts answering. `reload` set to true makes the
    /// handler read the allow-list again. `peer` names who connects, for the log ("viewer",
    /// "publisher").
    pub fn start(
        context: &zmq::Context,
        allow: AllowList,
        reload: Arc<AtomicBool>,
        peer: &'static str,
    ) -> Result<Self, SecurityError> {
        let socket = context.socket(zmq::REP).map_err(SecurityError::Zap)?;
        socket.set_linger(0).map_err(SecurityError::Zap)?;
        socket.bind(ZAP_ENDPOINT).map_err(SecurityError::Zap)?;
        let worker = Worker::spawn("zap", move |stop| {
            serve(&socket, allow, stop, &reload, peer)
        })
        .map_err(SecurityError::Thread)?;
        Ok(Self { _worker: worker })
    }
}

fn serve(
    socket: &zmq::Socket,
    mut allow: AllowList,
    stop: &AtomicBool,
    reload: &AtomicBool,
    peer: &'static str,
) {
    let mut allowed: HashSet<PublicKey> = allow.keys.iter().copied().collect();
    let mut log = DecisionLog::new(peer);
    while !stop.load(Ordering::Relaxed) {
        if reload.swap(false, Ordering::Relaxed) {
            match AllowList::load(&allow.path) {
                Ok(fresh) => {
                    log::info!(
                        "SIGHUP: allow-list {} reloaded: {} keys (was {})",
                        fresh.path.display(),
                        fresh.keys.len(),
                        allow.keys.len()
                    );
                    allowed = fresh.keys.iter().copied().collect();
                    allow = fresh;
                    log = DecisionLog::new(peer);
                }
                Err(e) => log::error!("SIGHUP: keeping the previous allow-list: {e}"),
            }
        }
        match socket.poll(zmq::POLLIN, POLL_MS) {
            Ok(0) => continue,
            Ok(_) => {}
            Err(zmq::Error::EINTR) => continue,
            Err(e) => {
                log::error!("ZAP handler: {e}");
                std::thread::sleep(Duration::from_millis(POLL_MS as u64));
                continue;
            }
        }
        let request = match socket.recv_multipart(zmq::DONTWAIT) {
            Ok(request) => request,
            Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => continue,
            Err(e) => {
                log::error!("ZAP handler: {e}");
                continue;
            }
        };
        let reply = answer(&request, &allowed, &mut log, Instant::now());
        if let Err(e) = socket.send_multipart(reply, 0) {
            log::error!("ZAP handler cannot reply: {e}");
        }
    }
}

/// The reply to one ZAP request: 200 for a CURVE client on the list, 400 otherwise.
fn answer(
    request: &[Vec<u8>],
    allowed: &HashSet<PublicKey>,
    log: &mut DecisionLog,
    now: Instant,
) -> Vec<Vec<u8>> {
    let request_id = request.get(1).cloned().unwrap_or_default();
    let reply = |status: &str, text: &str, user: &[u8]| {
        vec![
            ZAP_VERSION.to_vec(),
            request_id.clone(),
            status.as_bytes().to_vec(),
            text.as_bytes().to_vec(),
            user.to_vec(),
            Vec::new(),
        ]
    };
    // version, request id, domain, address, routing id, mechanism, credentials...
    let [version, _, _, address, _, mechanism, credentials @ ..] = request else {
        log::warn!("ZAP handler: malformed request of {} frames", request.len());
        return reply("500", "malformed ZAP request", b"");
    };
    if version.as_slice() != ZAP_VERSION {
        return reply("500", "unsupported ZAP version", b"");
    }
    let address = String::from_utf8_lossy(address);
    let key = match (mechanism.as_slice(), credentials) {
        (b"CURVE", [key]) => match <[u8; camkeys::KEY_BYTES]>::try_from(key.as_slice()) {
            Ok(bytes) => PublicKey::from_bytes(bytes),
            Err(_) => return reply("400", "bad CURVE credentials", b""),
        },
        _ => {
            log.refused_other(&String::from_utf8_lossy(mechanism), &address, now);
            return reply("400", "CURVE required", b"");
        }
    };
    if allowed.contains(&key) {
        log.admitted(&key, &address);
        reply("200", "OK", key.to_z85().as_bytes())
    } else {
        log.refused(&key, &address, now);
        reply("400", "not on the allow-list", b"")
    }
}

/// What gets logged about ZAP decisions: each key once, refusals rate-limited, because a
/// refused viewer retries every second and a hostile one may try many keys.
#[derive(Debug, Default)]
struct DecisionLog {
    /// Who connects: "viewer", "publisher".
    peer: &'static str,
    admitted: HashSet<PublicKey>,
    refused: HashSet<PublicKey>,
    window_start: Option<Instant>,
    lines_in_window: u32,
    suppressed_in_window: u64,
}

impl DecisionLog {
    fn new(peer: &'static str) -> Self {
        Self {
            peer,
            ..Self::default()
        }
    }

    fn admitted(&mut self, key: &PublicKey, address: &str) {
        if remember(&mut self.admitted, key) {
            log::info!("admitted {} key {key} from {address}", self.peer);
        }
    }

    fn refused(&mut self, key: &PublicKey, address: &str, now: Instant) {
        if remember(&mut self.refused, key) && self.may_log(now) {
            log::warn!(
                "refused {} key {key} from {address}: not on the allow-list",
                self.peer
            );
        }
    }

    fn refused_other(&mut self, mechanism: &str, address: &str, now: Instant) {
        if self.may_log(now) {
            log::warn!("refused a {mechanism:?} connection from {address}: CURVE required");
        }
    }

    /// Whether one more refusal line fits in the current window; says how many did not fit
    /// when a new window starts.
    fn may_log(&mut self, now: Instant) -> bool {
        let start = *self.window_start.get_or_insert(now);
        if now.saturating_duration_since(start) >= REJECT_LOG_WINDOW {
            if self.suppressed_in_window > 0 {
                log::warn!(
                    "refused {} more connections in the last {} s without logging each",
                    self.suppressed_in_window,
                    REJECT_LOG_WINDOW.as_secs()
                );
            }
            self.window_start = Some(now);
            self.lines_in_window = 0;
            self.suppressed_in_window = 0;
        }
        if self.lines_in_window < MAX_REJECT_LINES_PER_WINDOW {
            self.lines_in_window += 1;
            true
        } else {
            self.suppressed_in_window += 1;
            false
        }
    }
}

/// Adds `key` to `set` (forgetting everything when full); `true` if it was new.
fn remember(set: &mut HashSet<PublicKey>, key: &PublicKey) -> bool {
    if set.len() >= MAX_REMEMBERED_KEYS {
        set.clear();
    }
    set.insert(*key)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(mechanism: &str, credentials: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut frames = vec![
            b"1.0".to_vec(),
            b"7".to_vec(),
            ZAP_DOMAIN.as_bytes().to_vec(),
            b"127.0.0.1".to_vec(),
            Vec::new(),
            mechanism.as_bytes().to_vec(),
        ];
        frames.extend(credentials.iter().map(|c| c.to_vec()));
        frames
    }

    #[test]
    fn listed_keys_get_200_and_others_400() {
        let ok = KeyPair::generate().unwrap().public;
        let other = KeyPair::generate().unwrap().public;
        let allowed: HashSet<PublicKey> = [ok].into_iter().collect();
        let mut log = DecisionLog::new("viewer");
        let now = Instant::now();
        let reply = answer(&request("CURVE", &[ok.as_bytes()]), &allowed, &mut log, now);
        assert_eq!(reply.len(), 6);
        assert_eq!(
            (&reply[0][..], &reply[1][..], &reply[2][..]),
            (&b"1.0"[..], &b"7"[..], &b"200"[..])
        );
        assert_eq!(reply[4], ok.to_z85().into_bytes(), "user id is the key");
        let reply = answer(
            &request("CURVE", &[other.as_bytes()]),
            &allowed,
            &mut log,
            now,
        );
        assert_eq!(reply[2], b"400");
        let reply = answer(&request("NULL", &[]), &allowed, &mut log, now);
        assert_eq!(reply[2], b"400");
        let reply = answer(&request("CURVE", &[b"short"]), &allowed, &mut log, now);
        assert_eq!(reply[2], b"400");
        let reply = answer(&[b"1.0".to_vec()], &allowed, &mut log, now);
        assert_eq!(reply[2], b"500");
        let mut old = request("CURVE", &[ok.as_bytes()]);
        old[0] = b"0.9".to_vec();
        assert_eq!(answer(&old, &allowed, &mut log, now)[2], b"500");
    }

    #[test]
    fn refusals_are_logged_once_per_key_and_rate_limited() {
        let mut log = DecisionLog::new("viewer");
        let start = Instant::now();
        let key = KeyPair::generate().unwrap().public;
        for _ in 0..100 {
            log.refused(&key, "a", start);
        }
        assert_eq!(
            log.lines_in_window, 1,
            "one line for one key, however often"
        );
        for _ in 0..50 {
            let fresh = KeyPair::generate().unwrap().public;
            log.refused(&fresh, "a", start);
        }
        assert_eq!(log.lines_in_window, MAX_REJECT_LINES_PER_WINDOW);
        assert_eq!(log.suppressed_in_window, 41);
        assert!(log.may_log(start + REJECT_LOG_WINDOW), "a new window");
        assert_eq!(log.suppressed_in_window, 0);
    }

    #[test]
    fn remembered_keys_are_bounded() {
        let mut set = HashSet::new();
        for i in 0..(MAX_REMEMBERED_KEYS + 10) {
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&(i as u64).to_le_bytes());
            remember(&mut set, &PublicKey::from_bytes(bytes));
        }
        assert!(set.len() <= MAX_REMEMBERED_KEYS);
    }
}
