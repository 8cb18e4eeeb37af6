//! Telling the three message shapes apart, per message, without trusting anything declared.

use base64::Engine as _;

use crate::header::{hex_prefix, is_stream_name_byte, parse_native, FrameHeader, WireError};

/// One received message, classified; every variant borrows from the message.
#[derive(Debug, PartialEq, Eq)]
pub enum Message<'a> {
    /// campub's native format.
    Native(NativeFrame<'a>),
    /// The tutorial's format: base64 text of a JPEG (still encoded; see [`decode_base64_into`]).
    Base64(&'a [u8]),
    /// A JPEG with nothing around it.
    BareJpeg(&'a [u8]),
}

/// Which of the three shapes a message has, without its contents: what a viewer counts and
/// names per sender.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageKind {
    Native,
    Base64,
    BareJpeg,
}

impl MessageKind {
    /// How a viewer names a sender that gives no stream name.
    pub fn label(self) -> &'static str {
        match self {
            MessageKind::Native => "native",
            MessageKind::Base64 => "tutorial base64",
            MessageKind::BareJpeg => "bare JPEG",
        }
    }
}

impl Message<'_> {
    /// This message's shape.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Native(_) => MessageKind::Native,
            Message::Base64(_) => MessageKind::Base64,
            Message::BareJpeg(_) => MessageKind::BareJpeg,
        }
    }
}

/// A native message's parts.
#[derive(Debug, PartialEq, Eq)]
pub struct NativeFrame<'a> {
    pub stream: &'a str,
    pub header: FrameHeader,
    pub jpeg: &'a [u8],
}

/// Base64 of any JPEG starts with these four characters (it encodes `FF D8 FF`).
const BASE64_JPEG_PREFIX: &[u8] = b"/9j/";
const JPEG_SOI: &[u8] = &[0xFF, 0xD8];

/// Classifies one ZeroMQ message. Cheap: only the native header is parsed here; base64 text and
/// JPEG data are checked by whoever decodes them.
pub fn classify(msg: &[u8]) -> Result<Message<'_>, WireError> {
    match msg.first() {
        None => Err(WireError::Empty),
        Some(_) if msg.starts_with(JPEG_SOI) => Ok(Message::BareJpeg(msg)),
        Some(_) if msg.starts_with(BASE64_JPEG_PREFIX) => Ok(Message::Base64(msg)),
        Some(&b) if is_stream_name_byte(b) => {
            let (stream, header, jpeg) = parse_native(msg)?;
            Ok(Message::Native(NativeFrame {
                stream,
                header,
                jpeg,
            }))
        }
        Some(_) => Err(WireError::Unrecognised(hex_prefix(msg))),
    }
}

/// Writes `jpeg` as the tutorial's base64 message into `out` (cleared first, capacity kept):
/// exactly what the tutorial's `base64.b64encode(buffer)` sends, padding included.
pub fn encode_base64_into(jpeg: &[u8], out: &mut Vec<u8>) {
    // Into the vector's own bytes (sized first): no temporary String per frame.
    let len = base64::encoded_len(jpeg.len(), true).unwrap_or(0);
    out.clear();
    out.resize(len, 0);
    let written = base64::engine::general_purpose::STANDARD
        .encode_slice(jpeg, out)
        .unwrap_or(0); // cannot fail: `out` has exactly the encoded length
    out.truncate(written);
}

/// Decodes the tutorial's base64 text into `out` (cleared first, capacity kept), exactly as
/// Python's `base64.b64decode` reads what `b64encode` wrote.
pub fn decode_base64_into(text: &[u8], out: &mut Vec<u8>) -> Result<(), WireError> {
    out.clear();
    base64::engine::general_purpose::STANDARD
        .decode_vec(text, out)
        .map_err(|e| WireError::Base64(e.to_string()))?;
    if !out.starts_with(JPEG_SOI) {
        return Err(WireError::NotJpeg);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{encode_native, StreamName};

    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xDB, 0, 4, 0xFF, 0xD9];

    #[test]
    fn base64_round_trips_as_the_tutorial_writes_it() {
        let mut text = Vec::new();
        encode_base64_into(JPEG, &mut text);
        assert_eq!(text, b"/9j/2wAE/9k=");
        let mut back = Vec::new();
        decode_base64_into(&text, &mut back).unwrap();
        assert_eq!(back, JPEG);
    }

    #[test]
    fn tells_the_three_shapes_apart() {
        let header = FrameHeader {
            seq: 1,
            capture_unix_ns: 2,
            width_px: 8,
            height_px: 8,
        };
        let mut native = Vec::new();
        encode_native(&StreamName::new("cam").unwrap(), &header, JPEG, &mut native);
        let b64 = base64::engine::general_purpose::STANDARD.encode(JPEG);

        assert!(
            matches!(classify(&native), Ok(Message::Native(f)) if f.stream == "cam" && f.jpeg == JPEG)
        );
        assert_eq!(
            classify(b64.as_bytes()),
            Ok(Message::Base64(b64.as_bytes()))
        );
        assert_eq!(classify(JPEG), Ok(Message::BareJpeg(JPEG)));
    }

    #[test]
    fn base64_decodes_like_python() {
        // base64.b64encode(bytes([0xFF,0xD8,0xFF,0xDB,0,4,0xFF,0xD9])) in Python 3:
        let python = b"/9j/2wAE/9k=";
        let mut out = vec![1, 2, 3];
        decode_base64_into(python, &mut out).unwrap();
        assert_eq!(out, JPEG);
    }

    #[test]
    fn bad_base64_is_an_error() {
        let mut out = Vec::new();
        assert!(matches!(
            decode_base64_into(b"/9j/!!!!", &mut out),
            Err(WireError::Base64(_))
        ));
        assert!(matches!(
            decode_base64_into(b"/9j/2w", &mut out),
            Err(WireError::Base64(_))
        ));
    }

    #[test]
    fn garbage_is_unrecognised() {
        assert_eq!(classify(b""), Err(WireError::Empty));
        assert!(matches!(
            classify(&[0x00, 1, 2]),
            Err(WireError::Unrecognised(_))
        ));
        assert!(matches!(
            classify(&[0x80; 40]),
            Err(WireError::Unrecognised(_))
        ));
        assert!(classify(b"hello world, no nul here").is_err());
        assert!(classify(b"cam\0XXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX").is_err());
    }

    #[test]
    fn random_bytes_never_panic() {
        // A small deterministic xorshift keeps this test reproducible without a dependency.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut msg = Vec::new();
        for _ in 0..20_000 {
            msg.clear();
            let len = (next() % 96) as usize;
            msg.extend((0..len).map(|_| next() as u8));
            if next() % 4 == 0 {
                msg.splice(0..0, b"cam\0CAMF\x01\x01\x20\x00".iter().copied());
            }
            let _ = classify(&msg);
        }
    }
}
