//! The entry point shared by the `wire_message` fuzz target and the replay of its corpus
//! (`tests/fuzz_corpus.rs`): every reader of the wire format on one input, with the promises
//! each makes checked (the relay's directory reader too). It panics only when a promise breaks, which is what a fuzzer looks for.

use crate::{
    classify, decode_base64_into, encode_directory, encode_native, is_reserved_stream_name,
    parse_directory, parse_native, Message, StreamName, HEADER_LEN, MAX_DIRECTORY_STREAMS,
};

/// Runs `classify`, `parse_native` and `decode_base64_into` on `msg`.
pub fn check_message(msg: &[u8]) {
    match classify(msg) {
        Ok(Message::Native(frame)) => {
            assert!(frame.jpeg.starts_with(&[0xFF, 0xD8]));
            // A message written with this version's header re-encodes to the same bytes.
            let Ok(name) = StreamName::new(frame.stream) else {
                panic!("accepted an invalid stream name {:?}", frame.stream);
            };
            let mut again = Vec::new();
            encode_native(&name, &frame.header, frame.jpeg, &mut again);
            let header_len_at = frame.stream.len() + 1 + 6;
            let header_len = u16::from_le_bytes([msg[header_len_at], msg[header_len_at + 1]]);
            if usize::from(header_len) == HEADER_LEN {
                assert_eq!(again, msg, "parse and encode disagree");
            }
        }
        Ok(Message::Base64(text)) => {
            let mut jpeg = Vec::new();
            if decode_base64_into(text, &mut jpeg).is_ok() {
                assert!(jpeg.starts_with(&[0xFF, 0xD8]));
                assert!(jpeg.len() <= text.len() * 3 / 4);
            }
        }
        Ok(Message::BareJpeg(jpeg)) => assert!(jpeg.starts_with(&[0xFF, 0xD8])),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
    // Each reader on its own, whatever the first byte says.
    if let Ok((stream, header, jpeg)) = parse_native(msg) {
        assert!(stream.len() + 1 + HEADER_LEN + jpeg.len() <= msg.len());
        assert!(header.width_px >= 1 && header.height_px >= 1);
    }
    // A relay's directory: valid names only, each once, and it encodes back to the same bytes.
    if let Ok(names) = parse_directory(msg) {
        assert!(names.len() <= MAX_DIRECTORY_STREAMS);
        assert!(names.iter().all(|n| !is_reserved_stream_name(n.as_str())));
        let mut again = Vec::new();
        encode_directory(&names, &mut again);
        assert_eq!(again, msg, "directory parse and encode disagree");
    }
    let mut out = Vec::new();
    if decode_base64_into(msg, &mut out).is_ok() {
        assert!(out.len() <= msg.len() * 3 / 4);
    }
    // Allocation follows the input, never a declared size.
    assert!(
        out.capacity() <= msg.len() + 64,
        "{} for {}",
        out.capacity(),
        msg.len()
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FrameHeader;

    #[test]
    fn every_shape_passes_its_checks() {
        let header = FrameHeader {
            seq: 1,
            capture_unix_ns: 2,
            width_px: 3,
            height_px: 4,
        };
        let mut native = Vec::new();
        let name = StreamName::new("cam").unwrap();
        encode_native(&name, &header, &[0xFF, 0xD8, 0xFF, 0xD9], &mut native);
        for msg in [
            &native[..],
            b"/9j/2Q==",
            &[0xFF, 0xD8],
            b"",
            b"cam\0CAMF",
            &[0; 40],
        ] {
            check_message(msg);
        }
    }
}
