//! A JPEG's marker structure, walked without decoding: the size it declares, how many scans it
//! has, and whether its segments hold together from SOI to EOI.
//!
//! A receiver runs this on every message before the message may become "the newest": it costs
//! one pass over the bytes (a search for 0xFF), so a flood of messages that merely start like a
//! JPEG cannot displace a real frame, and a decompression bomb (a huge declared size, thousands
//! of progressive scans) is seen for what it is before a decoder spends time or memory on it.

use crate::header::WireError;

/// What a structurally sound JPEG declares about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JpegLayout {
    pub width_px: u16,
    pub height_px: u16,
    /// Start-of-scan markers: 1 for a baseline JPEG, about 10 for a usual progressive one.
    pub scans: u32,
    pub progressive: bool,
}

const SOI: u8 = 0xD8;
const EOI: u8 = 0xD9;
const SOS: u8 = 0xDA;

/// Walks `jpeg`'s markers from SOI to EOI (bytes after EOI are ignored: some cameras pad their
/// frames). Refuses anything a decoder would refuse for its structure: no SOI, a segment
/// length running past the end, no frame header (SOF) before the first scan, a second SOF, a
/// zero width or height, no scan, no EOI.
pub fn inspect_jpeg(jpeg: &[u8]) -> Result<JpegLayout, WireError> {
    let bad = |why: &'static str| Err(WireError::MalformedJpeg(why));
    if !jpeg.starts_with(&[0xFF, SOI]) {
        return Err(WireError::NotJpeg);
    }
    let mut frame: Option<(u16, u16, bool)> = None;
    let mut scans: u32 = 0;
    let mut at = 2;
    loop {
        // A marker: 0xFF, any number of 0xFF fill bytes, the marker code.
        if jpeg.get(at) != Some(&0xFF) {
            return bad("expected a marker");
        }
        while jpeg.get(at) == Some(&0xFF) {
            at += 1;
        }
        let Some(&code) = jpeg.get(at) else {
            return bad("ends inside a marker");
        };
        at += 1;
        match code {
            EOI => break,
            SOI => return bad("a second SOI"),
            0x00 => return bad("a stuffed zero where a marker belongs"),
            // Restart markers and TEM stand alone.
            0xD0..=0xD7 | 0x01 => continue,
            _ => {}
        }
        let Some(len_bytes) = jpeg.get(at..at + 2) else {
            return bad("ends inside a segment length");
        };
        let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        if len < 2 {
            return bad("a segment length below 2");
        }
        let Some(segment) = jpeg.get(at + 2..at + len) else {
            return bad("a segment runs past the end");
        };
        at += len;
        match code {
            // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
            0xC0..=0xCF if !matches!(code, 0xC4 | 0xC8 | 0xCC) => {
                if frame.is_some() {
                    return bad("a second frame header");
                }
                let [_precision, h0, h1, w0, w1, ..] = *segment else {
                    return bad("a short frame header");
                };
                let (height_px, width_px) =
                    (u16::from_be_bytes([h0, h1]), u16::from_be_bytes([w0, w1]));
                if width_px == 0 || height_px == 0 {
                    return bad("a zero width or height");
                }
                let progressive = matches!(code, 0xC2 | 0xC6 | 0xCA | 0xCE);
                frame = Some((width_px, height_px, progressive));
            }
            SOS => {
                if frame.is_none() {
                    return bad("a scan before the frame header");
                }
                scans = scans.saturating_add(1);
                at = end_of_entropy_data(jpeg, at);
            }
            _ => {}
        }
    }
    match frame {
        Some((width_px, height_px, progressive)) if scans > 0 => Ok(JpegLayout {
            width_px,
            height_px,
            scans,
            progressive,
        }),
        Some(_) => bad("no scan"),
        None => bad("no frame header"),
    }
}

/// Where the entropy-coded data that starts at `from` ends: at the first 0xFF that is not a
/// stuffed zero (FF 00) or a restart marker (FF D0..D7), which is the next marker. Fill bytes
/// (FF FF) before a marker belong to the marker. Returns `jpeg.len()` when no marker follows.
fn end_of_entropy_data(jpeg: &[u8], from: usize) -> usize {
    let mut at = from;
    while let Some(offset) = jpeg
        .get(at..)
        .and_then(|rest| rest.iter().position(|&b| b == 0xFF))
    {
        let ff = at + offset;
        match jpeg.get(ff + 1) {
            Some(0x00 | 0xD0..=0xD7) => at = ff + 2,
            _ => return ff,
        }
    }
    jpeg.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal structurally valid baseline JPEG (not decodable: no tables).
    fn minimal(width: u16, height: u16) -> Vec<u8> {
        let mut j = vec![0xFF, 0xD8];
        j.extend([0xFF, 0xC0, 0, 11, 8]);
        j.extend(height.to_be_bytes());
        j.extend(width.to_be_bytes());
        j.extend([1, 1, 0x11, 0]);
        j.extend([0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0]);
        j.extend([0x12, 0xFF, 0x00, 0x34, 0xFF, 0xD3, 0x56]);
        j.extend([0xFF, 0xD9]);
        j
    }

    #[test]
    fn a_sound_jpeg_is_described() {
        assert_eq!(
            inspect_jpeg(&minimal(640, 360)),
            Ok(JpegLayout {
                width_px: 640,
                height_px: 360,
                scans: 1,
                progressive: false
            })
        );
        let mut padded = minimal(8, 8);
        padded.extend([0; 100]);
        assert!(
            inspect_jpeg(&padded).is_ok(),
            "padding after EOI is allowed"
        );
    }

    #[test]
    fn scans_are_counted_and_stuffing_is_not_a_marker() {
        let mut j = minimal(16, 16);
        j.truncate(j.len() - 2);
        for _ in 0..5 {
            j.extend([
                0xFF, 0xDA, 0, 8, 1, 1, 0, 0, 63, 0, 0xAA, 0xFF, 0x00, 0xFF, 0xD0,
            ]);
        }
        j.extend([0xFF, 0xFF, 0xD9]);
        assert_eq!(inspect_jpeg(&j).map(|l| l.scans), Ok(6));
    }

    #[test]
    fn junk_that_starts_like_a_jpeg_is_refused() {
        let good = minimal(16, 16);
        let mut junk = vec![0xFF, 0xD8];
        junk.extend([1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(matches!(
            inspect_jpeg(&junk),
            Err(WireError::MalformedJpeg(_))
        ));
        assert_eq!(inspect_jpeg(b"\x00\x01"), Err(WireError::NotJpeg));
        for len in 0..good.len() {
            assert!(inspect_jpeg(&good[..len]).is_err(), "prefix of {len} bytes");
        }
        assert!(inspect_jpeg(&minimal(0, 16)).is_err());
        let mut two_frames = good.clone();
        two_frames.splice(2..2, good[2..15].iter().copied());
        assert!(inspect_jpeg(&two_frames).is_err());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut state: u64 = 0x2545_F491_4F6C_DD1D;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let good = minimal(32, 32);
        for _ in 0..20_000 {
            let mut j = good.clone();
            for _ in 0..(next() % 4) {
                let i = (next() as usize) % j.len();
                j[i] = next() as u8;
            }
            j.truncate((next() as usize) % (j.len() + 1));
            let _ = inspect_jpeg(&j);
        }
    }
}
