//! JPEG marker walking: frame boundaries in a file of concatenated JPEGs, and the standard
//! Huffman tables that many UVC cameras leave out of their MJPEG frames.

use std::ops::Range;

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;
const DHT: u8 = 0xC4;

/// One marker found while walking a JPEG: its code and the offset of its `0xFF`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Marker {
    code: u8,
    at: usize,
}

/// Walks the markers of the JPEG starting at `data[0]` (which must be SOI) up to and including
/// EOI. Stops early, returning what it found, if the data is malformed or ends.
fn walk_markers(data: &[u8], mut visit: impl FnMut(Marker) -> bool) -> Option<usize> {
    if !data.starts_with(&[0xFF, SOI]) {
        return None;
    }
    let mut pos = 2;
    loop {
        // Markers may be preceded by any number of 0xFF fill bytes.
        while data.get(pos) == Some(&0xFF) && data.get(pos + 1) == Some(&0xFF) {
            pos += 1;
        }
        if data.get(pos) != Some(&0xFF) {
            return None;
        }
        let code = *data.get(pos + 1)?;
        let segment_end = match code {
            EOI | 0xD0..=0xD7 | 0x01 => pos + 2,
            _ => {
                let len = usize::from(u16::from_be_bytes([
                    *data.get(pos + 2)?,
                    *data.get(pos + 3)?,
                ]));
                if len < 2 || pos + 2 + len > data.len() {
                    return None;
                }
                pos + 2 + len
            }
        };
        if !visit(Marker { code, at: pos }) {
            return None;
        }
        pos = match code {
            EOI => return Some(segment_end),
            SOS => skip_entropy_coded(data, segment_end)?,
            _ => segment_end,
        };
    }
}

/// From the start of entropy-coded data, the offset of the next real marker: `0xFF` followed by
/// something other than a stuffed zero or a restart marker.
fn skip_entropy_coded(data: &[u8], mut pos: usize) -> Option<usize> {
    loop {
        pos += data.get(pos..)?.iter().position(|&b| b == 0xFF)?;
        match data.get(pos + 1)? {
            0x00 | 0xD0..=0xD7 | 0xFF => pos += 1,
            _ => return Some(pos),
        }
    }
}

/// The length of the complete JPEG at the start of `data` (SOI through EOI), or `None` when
/// `data` does not start with one (yet: a stream may not have delivered all of it).
pub fn complete_jpeg_len(data: &[u8]) -> Option<usize> {
    walk_markers(data, |_| true)
}

/// The byte ranges of the complete JPEGs in `data` (what `ffmpeg -f mjpeg` writes), in order.
/// Bytes between or after frames, and a truncated last frame, are ignored.
pub fn split_concatenated(data: &[u8]) -> Vec<Range<usize>> {
    let mut frames = Vec::new();
    let mut from = 0;
    while let Some(offset) = data[from..].windows(2).position(|w| w == [0xFF, SOI]) {
        let start = from + offset;
        match walk_markers(&data[start..], |_| true) {
            Some(len) => {
                frames.push(start..start + len);
                from = start + len;
            }
            None => from = start + 2,
        }
    }
    frames
}

/// True if the JPEG defines its own Huffman tables (a DHT segment before its first scan).
pub fn has_huffman_tables(jpeg: &[u8]) -> bool {
    let mut found = false;
    walk_markers(jpeg, |m| {
        found |= m.code == DHT;
        !found && m.code != SOS
    });
    found
}

/// Copies `jpeg` into `out` with the standard tables (ITU T.81 Annex K.3) inserted before the
/// first scan, which is what a decoder assumes for MJPEG frames without them. Returns false, with
/// `out` holding a plain copy, when the JPEG has no scan to insert before.
pub fn insert_standard_huffman_tables(jpeg: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut first_scan = None;
    walk_markers(jpeg, |m| {
        if m.code == SOS {
            first_scan = Some(m.at);
        }
        first_scan.is_none()
    });
    let Some(at) = first_scan else {
        out.extend_from_slice(jpeg);
        return false;
    };
    out.reserve(jpeg.len() + STANDARD_DHT_LEN);
    out.extend_from_slice(&jpeg[..at]);
    append_standard_dht(out);
    out.extend_from_slice(&jpeg[at..]);
    true
}

/// The JPEG with its DHT segments cut out, as many UVC cameras send their frames (for tests and
/// benchmarks of the passthrough). Built only for tests and for the `bench` feature (which
/// `bench/` turns on): campub itself never makes such frames.
#[cfg(any(test, feature = "bench"))]
pub fn strip_huffman_tables(jpeg: &[u8]) -> Vec<u8> {
    let mut tables = Vec::new();
    walk_markers(jpeg, |m| {
        if m.code == DHT {
            tables.push(m.at);
        }
        m.code != SOS
    });
    let mut out = Vec::with_capacity(jpeg.len());
    let mut pos = 0;
    for at in tables {
        let len = jpeg
            .get(at + 2..at + 4)
            .map_or(0, |b| usize::from(u16::from_be_bytes([b[0], b[1]])));
        out.extend_from_slice(&jpeg[pos..at]);
        pos = (at + 2 + len).min(jpeg.len());
    }
    out.extend_from_slice(&jpeg[pos..]);
    out
}

const STANDARD_DHT_LEN: usize = 4 + 4 * 17 + 12 + 162 + 12 + 162;

fn append_standard_dht(out: &mut Vec<u8>) {
    out.extend_from_slice(&[0xFF, DHT]);
    out.extend_from_slice(&((STANDARD_DHT_LEN - 2) as u16).to_be_bytes());
    for (class_id, bits, vals) in [
        (0x00, &BITS_DC_LUMA, &VALS_DC[..]),
        (0x10, &BITS_AC_LUMA, &VALS_AC_LUMA[..]),
        (0x01, &BITS_DC_CHROMA, &VALS_DC[..]),
        (0x11, &BITS_AC_CHROMA, &VALS_AC_CHROMA[..]),
    ] {
        out.push(class_id);
        out.extend_from_slice(bits);
        out.extend_from_slice(vals);
    }
}

// The tables, as in libjpeg-turbo's jstdhuff.c.
const BITS_DC_LUMA: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const BITS_DC_CHROMA: [u8; 16] = [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
const VALS_DC: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
const BITS_AC_LUMA: [u8; 16] = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d];
#[rustfmt::skip]
const VALS_AC_LUMA: [u8; 162] = [
    0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61, 0x07,
    0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xa1, 0x08, 0x23, 0x42, 0xb1, 0xc1, 0x15, 0x52, 0xd1, 0xf0,
    0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0a, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x25, 0x26, 0x27, 0x28,
    0x29, 0x2a, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49,
    0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69,
    0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
    0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
    0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3, 0xc4, 0xc5,
    0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda, 0xe1, 0xe2,
    0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];
const BITS_AC_CHROMA: [u8; 16] = [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 0x77];
#[rustfmt::skip]
const VALS_AC_CHROMA: [u8; 162] = [
    0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61, 0x71,
    0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xa1, 0xb1, 0xc1, 0x09, 0x23, 0x33, 0x52, 0xf0,
    0x15, 0x62, 0x72, 0xd1, 0x0a, 0x16, 0x24, 0x34, 0xe1, 0x25, 0xf1, 0x17, 0x18, 0x19, 0x1a, 0x26,
    0x27, 0x28, 0x29, 0x2a, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3a, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48,
    0x49, 0x4a, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5a, 0x63, 0x64, 0x65, 0x66, 0x67, 0x68,
    0x69, 0x6a, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7a, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8a, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0xa2, 0xa3, 0xa4, 0xa5,
    0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xc2, 0xc3,
    0xc4, 0xc5, 0xc6, 0xc7, 0xc8, 0xc9, 0xca, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8, 0xd9, 0xda,
    0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
    0xf9, 0xfa,
];

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A real JPEG from libjpeg-turbo (it always writes DHT segments).
    pub(crate) fn sample_jpeg(width: usize, height: usize) -> Vec<u8> {
        let pixels: Vec<u8> = (0..width * height * 3)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        testkit::media::compress_rgb(&pixels, width, height, 80, turbojpeg::Subsamp::Sub2x1)
    }

    #[test]
    fn splits_concatenated_frames_and_ignores_a_truncated_tail() {
        let a = sample_jpeg(32, 16);
        let b = sample_jpeg(48, 32);
        let mut file = a.clone();
        file.extend_from_slice(&b);
        file.extend_from_slice(&a[..a.len() / 2]);
        let frames = split_concatenated(&file);
        assert_eq!(frames, vec![0..a.len(), a.len()..a.len() + b.len()]);
    }

    #[test]
    fn detects_and_restores_missing_huffman_tables() {
        let full = sample_jpeg(64, 48);
        assert!(has_huffman_tables(&full));
        let stripped = strip_huffman_tables(&full);
        assert!(stripped.len() < full.len());
        assert!(!has_huffman_tables(&stripped));

        let mut fixed = Vec::new();
        assert!(insert_standard_huffman_tables(&stripped, &mut fixed));
        assert!(has_huffman_tables(&fixed));
        assert_eq!(fixed.len(), stripped.len() + STANDARD_DHT_LEN);
        // libjpeg-turbo writes the standard tables too, so the fixed image decodes identically.
        let want = turbojpeg::decompress(&full, turbojpeg::PixelFormat::RGB).unwrap();
        let got = turbojpeg::decompress(&fixed, turbojpeg::PixelFormat::RGB).unwrap();
        assert_eq!(got.pixels, want.pixels);
    }

    #[test]
    fn malformed_input_never_panics() {
        for data in [
            &b""[..],
            b"\xFF",
            b"\xFF\xD8",
            b"\xFF\xD8\xFF",
            b"\xFF\xD8\xFF\xC4\x00",
            b"\xFF\xD8\x00",
        ] {
            assert!(!has_huffman_tables(data));
            assert!(split_concatenated(data).is_empty());
            let mut out = Vec::new();
            assert!(!insert_standard_huffman_tables(data, &mut out));
            assert_eq!(out, data);
        }
    }
}
