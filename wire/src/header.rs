//! The native message: stream name, fixed little-endian header, JPEG payload.

use std::fmt;

/// First bytes of the header, right after the stream name's NUL.
pub const MAGIC: [u8; 4] = *b"CAMF";
/// The header layout this code writes and reads. A reader refuses any other major version.
pub const VERSION: u8 = 1;
/// Payload codec: baseline JPEG (JFIF or bare), the only one defined.
pub const CODEC_JPEG: u8 = 1;
/// Bytes from the magic to the payload in a version-1 header as written by this code.
pub const HEADER_LEN: usize = 32;
/// Longest stream name in bytes.
pub const MAX_STREAM_NAME_LEN: usize = 64;
/// Largest width or height a header may declare; anything above is treated as malformed.
pub const MAX_DIMENSION_PX: u16 = 16384;

/// Why a message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("empty message")]
    Empty,
    #[error("not a campub, tutorial base64 or JPEG message (starts with {0})")]
    Unrecognised(String),
    #[error("message too short: {len} bytes, need at least {need}")]
    Truncated { len: usize, need: usize },
    #[error("stream name is not 1..=64 characters of A-Z a-z 0-9 . _ -")]
    BadStreamName,
    #[error("unsupported wire version {found} (this program reads version {VERSION}); upgrade it")]
    UnsupportedVersion { found: u8 },
    #[error("unsupported payload codec {0}")]
    UnsupportedCodec(u8),
    #[error("header length {0} is shorter than the version-1 header")]
    BadHeaderLength(u16),
    #[error("declared size {width_px}x{height_px} is outside 1..={MAX_DIMENSION_PX}")]
    BadDimensions { width_px: u16, height_px: u16 },
    #[error("declared payload of {declared} bytes but {actual} bytes follow the header")]
    PayloadLength { declared: u32, actual: usize },
    #[error("payload does not start with a JPEG SOI marker")]
    NotJpeg,
    #[error("malformed JPEG: {0}")]
    MalformedJpeg(&'static str),
    #[error("invalid base64: {0}")]
    Base64(String),
    #[error("malformed relay directory: {0}")]
    BadDirectory(&'static str),
}

impl WireError {
    /// The word a viewer counts this refusal under (its JSON summary's `bad` keys): one word
    /// per kind of refusal, the same in every program.
    pub fn reason(&self) -> &'static str {
        match self {
            WireError::Empty => "empty",
            WireError::Unrecognised(_) => "unrecognised",
            WireError::Truncated { .. } => "truncated",
            WireError::BadStreamName => "bad_stream_name",
            WireError::UnsupportedVersion { .. } => "unsupported_version",
            WireError::UnsupportedCodec(_) => "unsupported_codec",
            WireError::BadHeaderLength(_) => "bad_header_length",
            WireError::BadDimensions { .. } => "bad_dimensions",
            WireError::PayloadLength { .. } => "payload_length",
            WireError::NotJpeg => "not_jpeg",
            WireError::MalformedJpeg(_) => "malformed_jpeg",
            WireError::Base64(_) => "bad_base64",
            WireError::BadDirectory(_) => "bad_directory",
        }
    }
}

/// A validated stream name: 1 to 64 bytes of `A-Z a-z 0-9 . _ -`.
///
/// The charset keeps names printable and guarantees that a native message never starts like a
/// JPEG (`0xFF`) or like the tutorial's base64 of a JPEG (`/9j/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamName(String);

impl StreamName {
    pub fn new(name: &str) -> Result<Self, WireError> {
        if is_valid_stream_name(name.as_bytes()) {
            Ok(Self(name.to_owned()))
        } else {
            Err(WireError::BadStreamName)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The ZeroMQ subscription prefix that selects exactly this stream.
    pub fn subscription(&self) -> Vec<u8> {
        let mut prefix = Vec::with_capacity(self.0.len() + 1);
        prefix.extend_from_slice(self.0.as_bytes());
        prefix.push(0);
        prefix
    }
}

impl fmt::Display for StreamName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for StreamName {
    type Err = WireError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

pub(crate) fn is_stream_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')
}

fn is_valid_stream_name(bytes: &[u8]) -> bool {
    (1..=MAX_STREAM_NAME_LEN).contains(&bytes.len())
        && bytes.iter().all(|&b| is_stream_name_byte(b))
}

/// What every native frame says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Frame number from the publisher, +1 per published frame; a gap means frames were dropped.
    pub seq: u64,
    /// When the camera captured the frame: wall clock, nanoseconds since the Unix epoch.
    pub capture_unix_ns: u64,
    pub width_px: u16,
    pub height_px: u16,
}

/// Appends a complete native message to `out` (cleared first, capacity kept).
pub fn encode_native(name: &StreamName, header: &FrameHeader, jpeg: &[u8], out: &mut Vec<u8>) {
    out.clear();
    out.reserve(name.0.len() + 1 + HEADER_LEN + jpeg.len());
    out.extend_from_slice(name.0.as_bytes());
    out.push(0);
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(CODEC_JPEG);
    out.extend_from_slice(&(HEADER_LEN as u16).to_le_bytes());
    out.extend_from_slice(&header.seq.to_le_bytes());
    out.extend_from_slice(&header.capture_unix_ns.to_le_bytes());
    out.extend_from_slice(&header.width_px.to_le_bytes());
    out.extend_from_slice(&header.height_px.to_le_bytes());
    // Payloads are bounded by MAX_MESSAGE_BYTES in practice; saturate rather than wrap.
    out.extend_from_slice(&u32::try_from(jpeg.len()).unwrap_or(u32::MAX).to_le_bytes());
    out.extend_from_slice(jpeg);
}

/// Reads a native message: the stream name, the header and the JPEG, all borrowed from `msg`.
///
/// Every declared value is checked against what is actually there before it is used.
pub fn parse_native(msg: &[u8]) -> Result<(&str, FrameHeader, &[u8]), WireError> {
    let name_len = msg
        .iter()
        .take(MAX_STREAM_NAME_LEN + 1)
        .position(|&b| b == 0)
        .ok_or(WireError::BadStreamName)?;
    let name_bytes = &msg[..name_len];
    if !is_valid_stream_name(name_bytes) {
        return Err(WireError::BadStreamName);
    }
    // Only valid ASCII gets here, so this cannot fail; map it anyway rather than unwrap.
    let name = std::str::from_utf8(name_bytes).map_err(|_| WireError::BadStreamName)?;
    let rest = &msg[name_len + 1..];

    // The first 8 bytes (magic, version, codec, header length) are stable across all versions.
    if rest.len() < 8 {
        return Err(WireError::Truncated {
            len: msg.len(),
            need: name_len + 1 + 8,
        });
    }
    if rest[0..4] != MAGIC {
        return Err(WireError::Unrecognised(hex_prefix(msg)));
    }
    let version = rest[4];
    if version != VERSION {
        return Err(WireError::UnsupportedVersion { found: version });
    }
    let codec = rest[5];
    if codec != CODEC_JPEG {
        return Err(WireError::UnsupportedCodec(codec));
    }
    let header_len = u16::from_le_bytes([rest[6], rest[7]]);
    if usize::from(header_len) < HEADER_LEN {
        return Err(WireError::BadHeaderLength(header_len));
    }
    if rest.len() < usize::from(header_len) {
        return Err(WireError::Truncated {
            len: msg.len(),
            need: name_len + 1 + usize::from(header_len),
        });
    }
    let u64_at = |at: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&rest[at..at + 8]);
        u64::from_le_bytes(b)
    };
    let u16_at = |at: usize| u16::from_le_bytes([rest[at], rest[at + 1]]);
    let header = FrameHeader {
        seq: u64_at(8),
        capture_unix_ns: u64_at(16),
        width_px: u16_at(24),
        height_px: u16_at(26),
    };
    let declared = u32::from_le_bytes([rest[28], rest[29], rest[30], rest[31]]);
    let valid_dim = |d: u16| (1..=MAX_DIMENSION_PX).contains(&d);
    if !valid_dim(header.width_px) || !valid_dim(header.height_px) {
        return Err(WireError::BadDimensions {
            width_px: header.width_px,
            height_px: header.height_px,
        });
    }
    // Bytes between HEADER_LEN and header_len are fields added by a later minor revision of
    // version 1; this reader skips them.
    let jpeg = &rest[usize::from(header_len)..];
    if usize::try_from(declared).ok() != Some(jpeg.len()) {
        return Err(WireError::PayloadLength {
            declared,
            actual: jpeg.len(),
        });
    }
    if !jpeg.starts_with(&[0xFF, 0xD8]) {
        return Err(WireError::NotJpeg);
    }
    Ok((name, header, jpeg))
}

pub(crate) fn hex_prefix(msg: &[u8]) -> String {
    let shown: Vec<String> = msg.iter().take(8).map(|b| format!("{b:02x}")).collect();
    shown.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 1, 2, 3, 0xFF, 0xD9];

    fn sample() -> (StreamName, FrameHeader) {
        let name = StreamName::new("cam-1.front_door").unwrap();
        let header = FrameHeader {
            seq: u64::MAX - 3,
            capture_unix_ns: 1_764_000_000_123_456_789,
            width_px: 640,
            height_px: 360,
        };
        (name, header)
    }

    fn encoded() -> Vec<u8> {
        let (name, header) = sample();
        let mut out = vec![9; 3];
        encode_native(&name, &header, JPEG, &mut out);
        out
    }

    #[test]
    fn round_trip_keeps_every_field() {
        let (name, header) = sample();
        let msg = encoded();
        assert_eq!(msg.len(), name.as_str().len() + 1 + HEADER_LEN + JPEG.len());
        let (got_name, got_header, got_jpeg) = parse_native(&msg).unwrap();
        assert_eq!(got_name, name.as_str());
        assert_eq!(got_header, header);
        assert_eq!(got_jpeg, JPEG);
    }

    #[test]
    fn layout_matches_protocol_doc() {
        let msg = encoded();
        let at = "cam-1.front_door".len() + 1;
        assert_eq!(msg[at - 1], 0);
        assert_eq!(&msg[at..at + 4], b"CAMF");
        assert_eq!(msg[at + 4], 1, "version");
        assert_eq!(msg[at + 5], 1, "codec");
        assert_eq!(&msg[at + 6..at + 8], &32u16.to_le_bytes());
        assert_eq!(&msg[at + 24..at + 26], &640u16.to_le_bytes());
        assert_eq!(&msg[at + 28..at + 32], &(JPEG.len() as u32).to_le_bytes());
    }

    #[test]
    fn subscription_prefix_selects_only_that_stream() {
        let msg = encoded();
        let mine = StreamName::new("cam-1.front_door").unwrap().subscription();
        let shorter = StreamName::new("cam-1").unwrap().subscription();
        assert!(msg.starts_with(&mine));
        assert!(
            !msg.starts_with(&shorter),
            "cam-1 must not match cam-1.front_door"
        );
    }

    #[test]
    fn stream_names_are_validated() {
        for bad in ["", "has space", "slash/", "é", &"x".repeat(65), "nul\0"] {
            assert_eq!(
                StreamName::new(bad),
                Err(WireError::BadStreamName),
                "{bad:?}"
            );
        }
        assert!(StreamName::new(&"x".repeat(64)).is_ok());
    }

    #[test]
    fn future_version_is_refused_not_misread() {
        let mut msg = encoded();
        let at = "cam-1.front_door".len() + 1;
        msg[at + 4] = 2;
        assert_eq!(
            parse_native(&msg),
            Err(WireError::UnsupportedVersion { found: 2 })
        );
        let text = parse_native(&msg).unwrap_err().to_string();
        assert!(
            text.contains("version 2") && text.contains("upgrade"),
            "{text}"
        );
    }

    #[test]
    fn longer_header_of_same_version_is_skipped() {
        let (name, header) = sample();
        let mut msg = Vec::new();
        encode_native(&name, &header, JPEG, &mut msg);
        let at = name.as_str().len() + 1;
        msg[at + 6..at + 8].copy_from_slice(&36u16.to_le_bytes());
        msg.splice(at + 32..at + 32, [0xAA; 4]);
        let (_, got, jpeg) = parse_native(&msg).unwrap();
        assert_eq!(got, header);
        assert_eq!(jpeg, JPEG);
    }

    #[test]
    fn malformed_headers_are_rejected() {
        let msg = encoded();
        let at = "cam-1.front_door".len() + 1;
        let with = |i: usize, v: &[u8]| {
            let mut m = msg.clone();
            m[i..i + v.len()].copy_from_slice(v);
            parse_native(&m).unwrap_err()
        };
        assert!(matches!(with(at, b"XAMF"), WireError::Unrecognised(_)));
        assert_eq!(with(at + 5, &[7]), WireError::UnsupportedCodec(7));
        assert_eq!(
            with(at + 6, &8u16.to_le_bytes()),
            WireError::BadHeaderLength(8)
        );
        assert!(matches!(
            with(at + 6, &60000u16.to_le_bytes()),
            WireError::Truncated { .. }
        ));
        assert!(matches!(
            with(at + 24, &0u16.to_le_bytes()),
            WireError::BadDimensions { .. }
        ));
        assert!(matches!(
            with(at + 26, &65535u16.to_le_bytes()),
            WireError::BadDimensions { .. }
        ));
        assert!(matches!(
            with(at + 28, &u32::MAX.to_le_bytes()),
            WireError::PayloadLength {
                declared: u32::MAX,
                ..
            }
        ));
        assert_eq!(with(at + 32, &[0x00]), WireError::NotJpeg);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let msg = encoded();
        for len in 0..msg.len() {
            assert!(
                parse_native(&msg[..len]).is_err(),
                "prefix of {len} bytes accepted"
            );
        }
    }
}
