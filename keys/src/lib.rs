//! CURVE keys for campub and camview: the key types, their Z85 text, and the key files both
//! programs read and `campub keygen` / `camview --keygen` write (see [`files`]).
//!
//! A key is 32 bytes, written as 40 characters of Z85 (ZeroMQ's text encoding). Key files use
//! ZeroMQ's certificate format (CZMQ's `zcert`), so other ZeroMQ tools read them too:
//!
//! ```text
//! #   ZeroMQ CURVE **Secret** Certificate
//! metadata
//! curve
//!     public-key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
//!     secret-key = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
//! ```
//!
//! ```
//! use camkeys::{parse_key_text, PublicKey};
//!
//! let key = PublicKey::from_z85("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7").unwrap();
//! let parsed = parse_key_text("# viewers\nrq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7 laptop\n").unwrap();
//! assert_eq!(parsed.public, vec![key]);
//! ```

pub mod files;

use std::fmt;

pub use files::{
    load_allow_list, load_public_arg, load_secret_file, write_key_pair, KeyError, KeyPaths,
    INLINE_KEY_PREFIX, MAX_KEY_FILE_BYTES, PUBLIC_SUFFIX, SECRET_SUFFIX,
};

/// Bytes in a CURVE key.
pub const KEY_BYTES: usize = 32;
/// Characters in a key's Z85 text.
pub const Z85_KEY_LEN: usize = 40;
/// The Z85 alphabet (ZeroMQ RFC 32), in value order.
const Z85_ALPHABET: &[u8; 85] =
    b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

/// Why a piece of text is not a key. Never contains the text itself (it may be a secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Z85Error {
    #[error("a key is {Z85_KEY_LEN} characters of Z85 text, this is {0}")]
    Length(usize),
    #[error("character {0} is not in the Z85 alphabet")]
    Charset(usize),
    #[error("its Z85 groups overflow 32 bits")]
    Overflow,
}

/// Decodes a 40-character Z85 key, checking length, alphabet and group range (libzmq's own
/// decoder checks none of them).
fn decode_z85_key(text: &str) -> Result<[u8; KEY_BYTES], Z85Error> {
    let bytes = text.as_bytes();
    if bytes.len() != Z85_KEY_LEN {
        return Err(Z85Error::Length(text.chars().count()));
    }
    let mut key = [0u8; KEY_BYTES];
    for (group, out) in bytes.chunks_exact(5).zip(key.chunks_exact_mut(4)) {
        let mut value: u64 = 0;
        for (i, &c) in group.iter().enumerate() {
            let digit = Z85_ALPHABET
                .iter()
                .position(|&a| a == c)
                .ok_or(Z85Error::Charset(
                    group.as_ptr() as usize - bytes.as_ptr() as usize + i + 1,
                ))?;
            value = value * 85 + digit as u64;
        }
        let value = u32::try_from(value).map_err(|_| Z85Error::Overflow)?;
        out.copy_from_slice(&value.to_be_bytes());
    }
    Ok(key)
}

fn encode_z85_key(key: &[u8; KEY_BYTES]) -> String {
    let mut text = String::with_capacity(Z85_KEY_LEN);
    for chunk in key.chunks_exact(4) {
        let mut value = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        let mut digits = [0u8; 5];
        for digit in digits.iter_mut().rev() {
            *digit = Z85_ALPHABET[(value % 85) as usize];
            value /= 85;
        }
        text.extend(digits.iter().map(|&d| char::from(d)));
    }
    text
}

/// A CURVE public key: safe to show, to log and to hand out.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey([u8; KEY_BYTES]);

impl PublicKey {
    pub fn from_z85(text: &str) -> Result<Self, Z85Error> {
        decode_z85_key(text).map(Self)
    }

    pub fn from_bytes(bytes: [u8; KEY_BYTES]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }

    pub fn to_z85(&self) -> String {
        encode_z85_key(&self.0)
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_z85())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_z85())
    }
}

/// A CURVE secret key. Its `Debug` does not show it, and it has no `Display`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretKey([u8; KEY_BYTES]);

impl SecretKey {
    pub fn from_z85(text: &str) -> Result<Self, Z85Error> {
        decode_z85_key(text).map(Self)
    }

    pub fn as_bytes(&self) -> &[u8; KEY_BYTES] {
        &self.0
    }

    fn to_z85(&self) -> String {
        encode_z85_key(&self.0)
    }

    /// The public key that belongs to this secret key (Curve25519 scalar multiplication of
    /// the base point, done by libzmq with libsodium): a key file's two lines must agree.
    pub fn public_key(&self) -> Result<PublicKey, zmq::Error> {
        let public = curve_public_z85(&self.to_z85())?;
        PublicKey::from_z85(&public).map_err(|_| zmq::Error::EINVAL)
    }
}

// libzmq's own function (zmq_curve_public(3), libzmq >= 4.2); zmq-sys declares it but does not
// export it. libzmq is linked through zmq-sys.
#[allow(unsafe_code)]
extern "C" {
    fn zmq_curve_public(
        z85_public_key: *mut std::ffi::c_char,
        z85_secret_key: *const std::ffi::c_char,
    ) -> std::ffi::c_int;
}

/// libzmq's `zmq_curve_public`, which the `zmq` crate does not expose: the Z85 public key of a
/// Z85 secret key.
#[allow(unsafe_code)]
fn curve_public_z85(secret_z85: &str) -> Result<String, zmq::Error> {
    let secret = std::ffi::CString::new(secret_z85).map_err(|_| zmq::Error::EINVAL)?;
    // 40 characters and the terminating NUL, as zmq_curve_public(3) requires.
    let mut public = [0u8; Z85_KEY_LEN + 1];
    // SAFETY: `public` is a writable buffer of the 41 bytes libzmq writes; `secret` is a
    // NUL-terminated string of 40 characters that libzmq only reads. Neither is kept.
    let rc = unsafe { zmq_curve_public(public.as_mut_ptr().cast(), secret.as_ptr()) };
    if rc != 0 {
        // SAFETY: reads libzmq's thread-local error number; no arguments.
        return Err(zmq::Error::from_raw(unsafe { zmq_sys::zmq_errno() }));
    }
    let text = public.get(..Z85_KEY_LEN).unwrap_or_default();
    String::from_utf8(text.to_vec()).map_err(|_| zmq::Error::EINVAL)
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey(..)")
    }
}

/// A public key and its secret key.
#[derive(Debug, Clone)]
pub struct KeyPair {
    pub public: PublicKey,
    pub secret: SecretKey,
}

impl KeyPair {
    /// A new random key pair, from libzmq (libsodium underneath).
    pub fn generate() -> Result<Self, zmq::Error> {
        let pair = zmq::CurveKeyPair::new()?;
        Ok(Self {
            public: PublicKey(pair.public_key),
            secret: SecretKey(pair.secret_key),
        })
    }
}

/// The keys found in a key file's text.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct KeyText {
    /// Every public key, in file order (`public-key = "…"` lines and bare Z85 lines).
    pub public: Vec<PublicKey>,
    /// The `secret-key = "…"` line's key, if there is one.
    pub secret: Option<SecretKey>,
}

/// Why a line of a key file could not be read: its 1-based number and the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct SyntaxError {
    pub line: usize,
    pub reason: String,
}

/// The sections of a `zcert` file; their property lines other than the two keys are metadata.
const ZPL_SECTIONS: [&str; 2] = ["metadata", "curve"];

/// Reads the keys in a key file: ZeroMQ certificate lines (`public-key = "…"`,
/// `secret-key = "…"`, sections and metadata), bare 40-character Z85 public keys (anything after
/// the key on its line is a label), `#` comments and blank lines. Anything else is an error.
pub fn parse_key_text(text: &str) -> Result<KeyText, SyntaxError> {
    let mut keys = KeyText::default();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let fail = |reason: String| SyntaxError { line, reason };
        let trimmed = raw.trim();
        // A bare key first: Z85 has '#' and '=' in its alphabet, so a key may start like a
        // comment or contain what looks like a property.
        let first = trimmed.split_whitespace().next().unwrap_or("");
        if let Ok(key) = PublicKey::from_z85(first) {
            keys.public.push(key);
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some((name, value)) = trimmed.split_once('=') {
            let name = name.trim();
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            match name {
                "public-key" => keys.public.push(
                    PublicKey::from_z85(value).map_err(|e| fail(format!("public-key: {e}")))?,
                ),
                "secret-key" => {
                    let secret =
                        SecretKey::from_z85(value).map_err(|e| fail(format!("secret-key: {e}")))?;
                    if keys.secret.replace(secret).is_some() {
                        return Err(fail("a second secret-key".into()));
                    }
                }
                _ if is_zpl_name(name) => {} // certificate metadata
                _ => return Err(fail(not_a_key_line())),
            }
            continue;
        }
        if ZPL_SECTIONS.contains(&trimmed) {
            continue;
        }
        return Err(fail(not_a_key_line()));
    }
    Ok(keys)
}

fn not_a_key_line() -> String {
    format!("neither a key ({Z85_KEY_LEN} characters of Z85 text) nor a ZeroMQ certificate line")
}

fn is_zpl_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'/'))
}

/// The text of a secret key file: ZeroMQ's secret certificate format, both keys.
pub fn secret_certificate_text(pair: &KeyPair, generator: &str) -> String {
    format!(
        "#   ****  Generated by {generator}  ****\n\
         #   ZeroMQ CURVE **Secret** Certificate\n\
         #   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its permissions.\n\
         \n\
         metadata\n\
         curve\n\
         \x20   public-key = \"{}\"\n\
         \x20   secret-key = \"{}\"\n",
        pair.public.to_z85(),
        pair.secret.to_z85()
    )
}

/// The text of a public key file: ZeroMQ's public certificate format.
pub fn public_certificate_text(public: &PublicKey, generator: &str) -> String {
    format!(
        "#   ****  Generated by {generator}  ****\n\
         #   ZeroMQ CURVE Public Certificate\n\
         #   Exchange securely, or use a secure mechanism to verify the contents\n\
         #   of this file after exchange.\n\
         \n\
         metadata\n\
         curve\n\
         \x20   public-key = \"{}\"\n",
        public.to_z85()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of ZeroMQ's Z85 specification (RFC 32).
    #[test]
    fn z85_matches_the_specification() {
        let mut bytes = [0u8; KEY_BYTES];
        let spec = [0x86, 0x4F, 0xD2, 0x6F, 0xB5, 0x59, 0xF7, 0x5B];
        bytes[..8].copy_from_slice(&spec);
        let text = PublicKey::from_bytes(bytes).to_z85();
        assert!(text.starts_with("HelloWorld"), "{text}");
        assert_eq!(PublicKey::from_z85(&text).unwrap().as_bytes(), &bytes);
    }

    #[test]
    fn z85_agrees_with_libzmq() {
        let pair = zmq::CurveKeyPair::new().unwrap();
        let ours = PublicKey::from_bytes(pair.public_key).to_z85();
        assert_eq!(ours, zmq::z85_encode(&pair.public_key).unwrap());
        assert_eq!(
            zmq::z85_decode(&ours).unwrap(),
            pair.public_key.to_vec(),
            "libzmq reads our text"
        );
    }

    #[test]
    fn bad_z85_is_refused_with_a_reason() {
        let good = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
        assert!(PublicKey::from_z85(good).is_ok());
        assert_eq!(PublicKey::from_z85(&good[1..]), Err(Z85Error::Length(39)));
        assert_eq!(PublicKey::from_z85(""), Err(Z85Error::Length(0)));
        let bad_char = format!("{}~", &good[..39]);
        assert_eq!(PublicKey::from_z85(&bad_char), Err(Z85Error::Charset(40)));
        assert_eq!(
            PublicKey::from_z85(&"#".repeat(40)),
            Err(Z85Error::Overflow)
        );
        // Forty characters that are not all ASCII: still a length error, not a panic.
        assert!(PublicKey::from_z85(&"é".repeat(20)).is_err());
    }

    #[test]
    fn the_public_key_is_derived_from_the_secret_key() {
        for _ in 0..4 {
            let pair = KeyPair::generate().unwrap();
            assert_eq!(pair.secret.public_key().unwrap(), pair.public);
        }
        // The test vector of ZeroMQ's curve_keygen (zmq_curve_public(3)'s example pair).
        let secret = SecretKey::from_z85("JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6").unwrap();
        assert_eq!(
            secret.public_key().unwrap().to_z85(),
            "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
        );
    }

    #[test]
    fn secret_keys_do_not_show_in_debug() {
        let pair = KeyPair::generate().unwrap();
        let shown = format!("{pair:?}");
        assert!(!shown.contains(&pair.secret.to_z85()), "{shown}");
        assert!(shown.contains(&pair.public.to_z85()), "{shown}");
    }

    #[test]
    fn certificates_round_trip() {
        let pair = KeyPair::generate().unwrap();
        let secret = parse_key_text(&secret_certificate_text(&pair, "test")).unwrap();
        assert_eq!(secret.public, vec![pair.public]);
        assert_eq!(secret.secret.as_ref(), Some(&pair.secret));
        let public = parse_key_text(&public_certificate_text(&pair.public, "test")).unwrap();
        assert_eq!(
            public,
            KeyText {
                public: vec![pair.public],
                secret: None
            }
        );
    }

    #[test]
    fn czmq_certificates_are_read() {
        // As CZMQ's zcert_save_secret writes it, with metadata.
        let text = "#   ****  Generated on 2024-05-01 10:00:00 by CZMQ  ****\n\
                    #   ZeroMQ CURVE **Secret** Certificate\n\
                    \n\
                    metadata\n\
                    \x20   name = \"laptop\"\n\
                    curve\n\
                    \x20   public-key = \"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\"\n\
                    \x20   secret-key = \"JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6\"\n";
        let keys = parse_key_text(text).unwrap();
        assert_eq!(
            keys.public[0].to_z85(),
            "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
        );
        assert!(keys.secret.is_some());
    }

    #[test]
    fn bare_keys_may_contain_comment_and_property_characters() {
        // '#' and '=' are Z85 digits. '#' (84) can never start a group (84 * 85^4 > 2^32), so a
        // line starting with '#' is always a comment; '=' can start one.
        assert_eq!(
            PublicKey::from_z85(&format!("#{}", "0".repeat(39))),
            Err(Z85Error::Overflow)
        );
        let key = format!("=00000#000{}", "0".repeat(30));
        let text = format!("{key} office pc\n# a comment\n\n");
        let keys = parse_key_text(&text).unwrap();
        assert_eq!(keys.public, vec![PublicKey::from_z85(&key).unwrap()]);
    }

    #[test]
    fn bad_lines_name_their_number() {
        let err = parse_key_text("# ok\nnot a key\n").unwrap_err();
        assert_eq!(err.line, 2);
        let err = parse_key_text("curve\n    public-key = \"short\"\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.reason.contains("public-key"), "{err}");
        let short = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf";
        let err = parse_key_text(short).unwrap_err();
        assert_eq!(err.line, 1);
        let err =
            parse_key_text("secret-key = \"JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6\"\nsecret-key = \"JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6\"").unwrap_err();
        assert!(err.reason.contains("second"), "{err}");
    }
}
