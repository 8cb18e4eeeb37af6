//! Who may watch over HTTP: Basic against a users file of Argon2id hashes, bearer tokens from a
//! token file, a cache of recent good logins (so each /stream reconnect does not re-run
//! Argon2), and a per-address limit on failures. `campub passwd` writes the users file.
//!
//! Argon2id parameters: 4 MiB, 1 pass, 1 lane ([`HASH_PARAMS`]). Argon2's time follows memory
//! x passes; public figures for Cortex-A53 boards (about 8 ms per MiB-pass on a Pi 3) put a
//! verification at an estimated 30-40 ms on a Raspberry Pi Zero 2 (not yet measured on one;
//! `campub passwd` takes about 10 ms on an x86 server core, process start included). A login
//! stays quick on a Pi, each guess still costs 4 MiB of memory-hard work, [`FailureLimit`]
//! allows 5 guesses per 10 s per address, and good logins are cached. Hashes with other
//! parameters (written by other tools) verify too: the PHC string carries them.

use std::collections::HashMap;
use std::io::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use base64::Engine as _;
use blake2::{Blake2b512, Digest as _};
use subtle::ConstantTimeEq as _;

/// Memory in KiB, passes, lanes: see the module doc.
pub const HASH_PARAMS: (u32, u32, u32) = (4 * 1024, 1, 1);
/// A good login is remembered this long (by a hash of its Authorization header).
pub const CACHE_TTL: Duration = Duration::from_secs(300);
const CACHE_MAX_ENTRIES: usize = 256;
/// This many failures from one address within [`FAILURE_WINDOW`] block it for [`BLOCK_FOR`].
pub const MAX_FAILURES: u32 = 5;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(10);
pub const BLOCK_FOR: Duration = Duration::from_secs(10);
/// Addresses remembered by the failure limit; past it the stalest entry is forgotten.
const LIMIT_MAX_ADDRESSES: usize = 4096;
/// Shortest bearer token accepted: a token is a password nobody has to type.
pub const MIN_TOKEN_CHARS: usize = 16;

/// A users file or token file that cannot be used (campub exits 2).
#[derive(Debug, thiserror::Error)]
pub enum AuthFileError {
    #[error("{path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {why}")]
    Line {
        path: PathBuf,
        line: usize,
        why: String,
    },
    #[error("{path}: {why}")]
    File { path: PathBuf, why: String },
}

/// The checked credentials campub accepts.
#[derive(Clone, Debug, Default)]
pub struct Credentials {
    /// user -> PHC string.
    users: HashMap<String, String>,
    /// BLAKE2b of each token: compared in constant time, whatever the presented length.
    tokens: Vec<[u8; 64]>,
}

impl Credentials {
    pub fn is_empty(&self) -> bool {
        self.users.is_empty() && self.tokens.is_empty()
    }

    pub fn has_users(&self) -> bool {
        !self.users.is_empty()
    }

    /// Credentials made in memory from `user:PHC` pairs and tokens, for the fuzz entry point
    /// ([`super::fuzzing`]); campub itself reads them from files.
    #[doc(hidden)]
    pub fn from_parts(users: &[(&str, &str)], tokens: &[&str]) -> Self {
        Self {
            users: users
                .iter()
                .map(|(user, phc)| ((*user).to_owned(), (*phc).to_owned()))
                .collect(),
            tokens: tokens
                .iter()
                .map(|token| digest(token.as_bytes()))
                .collect(),
        }
    }

    /// Reads a users file: `user:PHC-hash` lines, `#` comments and blank lines.
    pub fn load_users(&mut self, path: &Path) -> Result<(), AuthFileError> {
        let text = read(path)?;
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad = |why: &str| AuthFileError::Line {
                path: path.to_owned(),
                line: number + 1,
                why: why.to_owned(),
            };
            let (user, hash) = line
                .split_once(':')
                .ok_or_else(|| bad("expected user:hash (campub passwd writes it)"))?;
            check_user_name(user).map_err(|why| bad(&why))?;
            PasswordHash::new(hash).map_err(|e| bad(&format!("not a PHC password hash ({e})")))?;
            self.users.insert(user.to_owned(), hash.to_owned());
        }
        if self.users.is_empty() {
            return Err(AuthFileError::File {
                path: path.to_owned(),
                why: "no users in it (campub passwd FILE USER adds one)".into(),
            });
        }
        Ok(())
    }

    /// Reads a token file: one token per line (at least [`MIN_TOKEN_CHARS`] characters), `#`
    /// comments. It must not be readable by group or others.
    pub fn load_tokens(&mut self, path: &Path) -> Result<(), AuthFileError> {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map_err(|source| AuthFileError::Read {
                path: path.to_owned(),
                source,
            })?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(AuthFileError::File {
                path: path.to_owned(),
                why: format!(
                    "mode {:04o} lets others read the tokens: chmod 600 it",
                    mode & 0o7777
                ),
            });
        }
        let text = read(path)?;
        for (number, line) in text.lines().enumerate() {
            let token = line.trim();
            if token.is_empty() || token.starts_with('#') {
                continue;
            }
            if token.chars().count() < MIN_TOKEN_CHARS || token.contains(char::is_whitespace) {
                return Err(AuthFileError::Line {
                    path: path.to_owned(),
                    line: number + 1,
                    why: format!("a token is at least {MIN_TOKEN_CHARS} characters without spaces"),
                });
            }
            self.tokens.push(digest(token.as_bytes()));
        }
        if self.tokens.is_empty() {
            return Err(AuthFileError::File {
                path: path.to_owned(),
                why: "no tokens in it".into(),
            });
        }
        Ok(())
    }
}

fn read(path: &Path) -> Result<String, AuthFileError> {
    std::fs::read_to_string(path).map_err(|source| AuthFileError::Read {
        path: path.to_owned(),
        source,
    })
}

fn digest(bytes: &[u8]) -> [u8; 64] {
    Blake2b512::digest(bytes).into()
}

/// A user name fits a users-file line and a Basic header: 1-64 characters, no `:`, no spaces
/// or control characters.
pub fn check_user_name(user: &str) -> Result<(), String> {
    if user.is_empty() || user.chars().count() > 64 {
        return Err(format!("user name {user:?}: must be 1-64 characters"));
    }
    if user
        .chars()
        .any(|c| c == ':' || c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "user name {user:?}: no ':', spaces or control characters"
        ));
    }
    Ok(())
}

/// A new PHC string for `password` with [`HASH_PARAMS`].
pub fn hash_password(password: &str) -> Result<String, String> {
    let (m, t, p) = HASH_PARAMS;
    let params = Params::new(m, t, p, None).map_err(|e| format!("Argon2 parameters: {e}"))?;
    let salt = SaltString::generate(&mut OsRng);
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

/// Adds or replaces `user` in the users file at `path` (created with mode 0600), through a
/// temporary file renamed over it so a crash never leaves half a file.
pub fn write_user(path: &Path, user: &str, password: &str) -> Result<(), String> {
    use std::os::unix::fs::OpenOptionsExt as _;
    check_user_name(user)?;
    if password.is_empty() {
        return Err("the password is empty".into());
    }
    let old = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    let hash = hash_password(password)?;
    let mut text: String = old
        .lines()
        .filter(|l| l.trim().split_once(':').map(|(u, _)| u) != Some(user))
        .map(|l| format!("{l}\n"))
        .collect();
    text.push_str(&format!("{user}:{hash}\n"));
    let tmp = path.with_extension("campub-tmp");
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(text.as_bytes()).and_then(|()| f.sync_all()))
        .and_then(|()| std::fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("{}: {e}", path.display()));
    }
    Ok(())
}

/// What a request's credentials earn it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// No or wrong credentials: 401.
    Denied,
    /// Too many failures from this address: 429, retry after this many seconds.
    Limited(u64),
}

/// How a request's Authorization header is to be checked.
pub enum Presented {
    /// A good login seen in the last [`CACHE_TTL`], or a matching bearer token.
    Good,
    Missing,
    Bad,
    /// A Basic login to verify against this PHC string (Argon2: run it off the server thread).
    Verify {
        cache_key: [u8; 64],
        password: String,
        phc: String,
    },
}

/// The credentials, the cache of good logins and the failure limit.
pub struct Gate {
    credentials: Credentials,
    /// A hash that no password matches, verified for unknown users so that a wrong user name
    /// takes as long as a wrong password.
    decoy_phc: String,
    cache: Mutex<HashMap<[u8; 64], Instant>>,
    limit: Mutex<FailureLimit>,
}

impl Gate {
    pub fn new(credentials: Credentials) -> Self {
        Self {
            credentials,
            decoy_phc: hash_password("campub decoy: no password matches").unwrap_or_default(),
            cache: Mutex::new(HashMap::new()),
            limit: Mutex::new(FailureLimit::default()),
        }
    }

    /// Whether `peer` is blocked now: the seconds until it is not.
    pub fn blocked(&self, peer: IpAddr, now: Instant) -> Option<u64> {
        self.limit.lock().ok()?.blocked(peer, now)
    }

    /// Sorts an Authorization header out without running Argon2.
    pub fn presented(&self, header: Option<&[u8]>, now: Instant) -> Presented {
        let Some(header) = header else {
            return Presented::Missing;
        };
        let text = String::from_utf8_lossy(header);
        let (scheme, rest) = text.trim().split_once(' ').unwrap_or((text.trim(), ""));
        if scheme.eq_ignore_ascii_case("bearer") {
            let presented = digest(rest.trim().as_bytes());
            let mut matched = subtle::Choice::from(0);
            for token in &self.credentials.tokens {
                matched |= token.ct_eq(&presented);
            }
            return if bool::from(matched) {
                Presented::Good
            } else {
                Presented::Bad
            };
        }
        if !scheme.eq_ignore_ascii_case("basic") || !self.credentials.has_users() {
            return Presented::Bad;
        }
        let cache_key = digest(header);
        if let Ok(mut cache) = self.cache.lock() {
            match cache.get(&cache_key) {
                Some(expires) if *expires > now => return Presented::Good,
                Some(_) => {
                    cache.remove(&cache_key);
                }
                None => {}
            }
        }
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest.trim()) else {
            return Presented::Bad;
        };
        let Ok(decoded) = String::from_utf8(decoded) else {
            return Presented::Bad;
        };
        let Some((user, password)) = decoded.split_once(':') else {
            return Presented::Bad;
        };
        let phc = self
            .credentials
            .users
            .get(user)
            .unwrap_or(&self.decoy_phc)
            .clone();
        Presented::Verify {
            cache_key,
            password: password.to_owned(),
            phc,
        }
    }

    /// Remembers a good Basic login.
    pub fn remember(&self, cache_key: [u8; 64], now: Instant) {
        let Ok(mut cache) = self.cache.lock() else {
            return;
        };
        if cache.len() >= CACHE_MAX_ENTRIES {
            cache.retain(|_, expires| *expires > now);
            if cache.len() >= CACHE_MAX_ENTRIES {
                cache.clear();
            }
        }
        cache.insert(cache_key, now + CACHE_TTL);
    }

    /// Counts a failure from `peer` (logged once per burst).
    pub fn failed(&self, peer: IpAddr, now: Instant) {
        if let Ok(mut limit) = self.limit.lock() {
            limit.failed(peer, now);
        }
    }
}

/// Argon2 verification of `password` against `phc`: slow on purpose, run it on a blocking thread.
pub fn verify(password: &str, phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &hash)
        .is_ok()
}

/// Failures per address: [`MAX_FAILURES`] within [`FAILURE_WINDOW`] block the address for
/// [`BLOCK_FOR`]. At most [`LIMIT_MAX_ADDRESSES`] addresses are remembered.
#[derive(Default)]
pub struct FailureLimit {
    peers: HashMap<IpAddr, Failures>,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
    blocked_until: Option<Instant>,
}

impl FailureLimit {
    pub fn blocked(&self, peer: IpAddr, now: Instant) -> Option<u64> {
        let until = self.peers.get(&peer)?.blocked_until?;
        // Rounded up: a client that waits that long is let in.
        (until > now).then(|| {
            let left = until - now;
            left.as_secs() + u64::from(left.subsec_nanos() > 0)
        })
    }

    pub fn failed(&mut self, peer: IpAddr, now: Instant) {
        if !self.peers.contains_key(&peer) && self.peers.len() >= LIMIT_MAX_ADDRESSES {
            self.peers.retain(|_, f| !f.stale(now));
            if self.peers.len() >= LIMIT_MAX_ADDRESSES {
                if let Some(stalest) = self.peers.iter().min_by_key(|(_, f)| f.since) {
                    let stalest = *stalest.0;
                    self.peers.remove(&stalest);
                }
            }
        }
        let entry = self.peers.entry(peer).or_insert(Failures {
            count: 0,
            since: now,
            blocked_until: None,
        });
        if entry.stale(now) {
            *entry = Failures {
                count: 0,
                since: now,
                blocked_until: None,
            };
        }
        entry.count += 1;
        if entry.count == 1 {
            log::warn!("HTTP: wrong credentials from {peer} (logged once per burst)");
        }
        if entry.count == MAX_FAILURES {
            entry.blocked_until = Some(now + BLOCK_FOR);
            log::warn!(
                "HTTP: {MAX_FAILURES} failed logins from {peer} within {} s: it gets 429 for {} s",
                FAILURE_WINDOW.as_secs(),
                BLOCK_FOR.as_secs()
            );
        }
    }

    pub fn len(&self) -> usize {
        self.peers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.peers.is_empty()
    }
}

impl Failures {
    /// The burst is over: its window has passed and any block has run out.
    fn stale(&self, now: Instant) -> bool {
        now.duration_since(self.since) > FAILURE_WINDOW
            && self.blocked_until.is_none_or(|until| until <= now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(user: &str, password: &str) -> Vec<u8> {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        format!("Basic {encoded}").into_bytes()
    }

    #[test]
    fn users_file_round_trip_and_verification() {
        let dir = std::env::temp_dir().join(format!("campub-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users");
        write_user(&path, "ann", "s3cret").unwrap();
        write_user(&path, "bob", "hunter2").unwrap();
        write_user(&path, "ann", "new-one").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let mut credentials = Credentials::default();
        credentials.load_users(&path).unwrap();
        let gate = Gate::new(credentials);
        let now = Instant::now();
        let outcome = |header: &[u8]| match gate.presented(Some(header), now) {
            Presented::Verify { password, phc, .. } => verify(&password, &phc),
            Presented::Good => true,
            Presented::Bad | Presented::Missing => false,
        };
        assert!(outcome(&basic("ann", "new-one")));
        assert!(
            !outcome(&basic("ann", "s3cret")),
            "the old password is gone"
        );
        assert!(outcome(&basic("bob", "hunter2")));
        assert!(!outcome(&basic("eve", "hunter2")));
        assert!(!outcome(b"Basic !!!"));
        assert!(!outcome(b"Bearer abcdefabcdefabcdef"), "no tokens loaded");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_good_login_is_cached_a_bad_one_never() {
        let mut credentials = Credentials::default();
        credentials
            .users
            .insert("ann".into(), hash_password("pw").unwrap());
        let gate = Gate::new(credentials);
        let now = Instant::now();
        let header = basic("ann", "pw");
        let Presented::Verify { cache_key, .. } = gate.presented(Some(&header), now) else {
            panic!("expected a verification");
        };
        gate.remember(cache_key, now);
        assert!(matches!(
            gate.presented(Some(&header), now),
            Presented::Good
        ));
        assert!(matches!(
            gate.presented(Some(&header), now + CACHE_TTL + Duration::from_secs(1)),
            Presented::Verify { .. }
        ));
        assert!(matches!(
            gate.presented(Some(&basic("ann", "other")), now),
            Presented::Verify { .. }
        ));
    }

    #[test]
    fn bearer_tokens_match_exactly() {
        let mut credentials = Credentials::default();
        credentials.tokens.push(digest(b"0123456789abcdef-token"));
        let gate = Gate::new(credentials);
        let now = Instant::now();
        assert!(matches!(
            gate.presented(Some(b"Bearer 0123456789abcdef-token"), now),
            Presented::Good
        ));
        for bad in [
            &b"Bearer 0123456789abcdef-toke"[..],
            b"Bearer 0123456789abcdef-token2",
            b"Bearer ",
            b"Token 0123456789abcdef-token",
        ] {
            assert!(matches!(gate.presented(Some(bad), now), Presented::Bad));
        }
        assert!(matches!(gate.presented(None, now), Presented::Missing));
    }

    #[test]
    fn failures_block_an_address_for_a_while_and_the_map_stays_bounded() {
        let mut limit = FailureLimit::default();
        let peer: IpAddr = [10, 0, 0, 1].into();
        let now = Instant::now();
        for _ in 0..MAX_FAILURES - 1 {
            limit.failed(peer, now);
        }
        assert_eq!(limit.blocked(peer, now), None);
        limit.failed(peer, now);
        assert_eq!(limit.blocked(peer, now), Some(BLOCK_FOR.as_secs()));
        let later = now + BLOCK_FOR + FAILURE_WINDOW + Duration::from_secs(1);
        assert_eq!(limit.blocked(peer, later), None);
        for i in 0..(LIMIT_MAX_ADDRESSES as u32 + 100) {
            limit.failed(IpAddr::from(i.to_be_bytes()), now);
        }
        assert!(limit.len() <= LIMIT_MAX_ADDRESSES);
    }

    #[test]
    fn token_files_open_to_others_and_short_tokens_are_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = std::env::temp_dir().join(format!("campub-tokens-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tokens");
        std::fs::write(&path, "# viewers\nlong-enough-token-1234\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = Credentials::default().load_tokens(&path).unwrap_err();
        assert!(err.to_string().contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        Credentials::default().load_tokens(&path).unwrap();
        std::fs::write(&path, "short\n").unwrap();
        let err = Credentials::default().load_tokens(&path).unwrap_err();
        assert!(err.to_string().contains(":1:"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
