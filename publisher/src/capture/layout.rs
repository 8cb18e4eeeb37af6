//! The V4L2 pixel formats campub reads, and the one copy out of the driver's buffer that turns
//! each into one of campub's two raw layouts: packed YUYV or planar I420 (`frame.rs`).
//!
//! campub copies every frame out of the mmap buffer anyway (the buffer goes back to the driver at
//! once), so the conversion costs no extra pass: UYVY has its byte pairs swapped on the way
//! (YUYV), NV12/NV21 have their interleaved chroma split into two planes (I420), YV12 has its
//! chroma planes written in the other order (I420). Nothing is converted to RGB.

use v4l::FourCC;

use crate::frame::{i420_frame_bytes, PixelFormat};

/// A V4L2 format campub reads, with its memory layout (single-planar API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One JPEG per buffer.
    Mjpeg,
    /// Packed 4:2:2 `Y0 U Y1 V`.
    Yuyv,
    /// Packed 4:2:2 `U Y0 V Y1` (HDMI capture dongles, some cameras).
    Uyvy,
    /// Planar 4:2:0: Y, then U, then V; chroma rows of `bytesperline / 2` (V4L2's YU12 = I420).
    Yu12,
    /// YU12 with V before U.
    Yv12,
    /// Y plane, then one plane of interleaved `U V` pairs (`height / 2` rows of `bytesperline`).
    Nv12,
    /// NV12 with `V U` pairs.
    Nv21,
}

impl Layout {
    /// Every layout, in the order `--format auto` prefers them: MJPEG (least USB bandwidth), the
    /// packed 4:2:2 formats, then 4:2:0 (least data to copy of the raw ones).
    pub const ALL: [Layout; 7] = [
        Layout::Mjpeg,
        Layout::Yuyv,
        Layout::Uyvy,
        Layout::Nv12,
        Layout::Yu12,
        Layout::Nv21,
        Layout::Yv12,
    ];

    pub fn fourcc(self) -> FourCC {
        FourCC::new(match self {
            Layout::Mjpeg => b"MJPG",
            Layout::Yuyv => b"YUYV",
            Layout::Uyvy => b"UYVY",
            Layout::Yu12 => b"YU12",
            Layout::Yv12 => b"YV12",
            Layout::Nv12 => b"NV12",
            Layout::Nv21 => b"NV21",
        })
    }

    pub fn from_fourcc(fourcc: FourCC) -> Option<Self> {
        Self::ALL.into_iter().find(|l| l.fourcc() == fourcc)
    }

    /// What campub makes of it.
    pub fn pixel_format(self) -> PixelFormat {
        match self {
            Layout::Mjpeg => PixelFormat::Mjpeg,
            Layout::Yuyv | Layout::Uyvy => PixelFormat::Yuyv,
            Layout::Yu12 | Layout::Yv12 | Layout::Nv12 | Layout::Nv21 => PixelFormat::I420,
        }
    }

    /// Why a granted size and row stride cannot be read, if they cannot.
    pub fn check(self, width_px: u32, height_px: u32, stride_bytes: u32) -> Result<(), String> {
        let (w, h, stride) = (width_px, height_px, stride_bytes);
        let ok = match self {
            Layout::Mjpeg => true,
            Layout::Yuyv | Layout::Uyvy => w % 2 == 0 && stride >= w * 2,
            Layout::Yu12 | Layout::Yv12 | Layout::Nv12 | Layout::Nv21 => {
                w % 2 == 0 && h % 2 == 0 && stride % 2 == 0 && stride >= w
            }
        };
        if ok && w > 0 && h > 0 {
            Ok(())
        } else {
            Err(format!(
                "unusable {} layout {w}x{h} with rows of {stride} bytes",
                self.name()
            ))
        }
    }

    /// Bytes a complete frame fills in the driver's buffer (2 for MJPEG: the SOI marker).
    pub fn frame_bytes(self, height_px: u32, stride_bytes: u32) -> usize {
        let (h, stride) = (height_px as usize, stride_bytes as usize);
        match self {
            Layout::Mjpeg => 2,
            Layout::Yuyv | Layout::Uyvy => stride * h,
            Layout::Yu12 | Layout::Yv12 => i420_frame_bytes(stride, h),
            Layout::Nv12 | Layout::Nv21 => stride * h + stride * (h / 2),
        }
    }

    /// The name `--format` takes and logs show.
    pub fn name(self) -> &'static str {
        match self {
            Layout::Mjpeg => "MJPEG",
            Layout::Yuyv => "YUYV",
            Layout::Uyvy => "UYVY",
            Layout::Yu12 => "YU12",
            Layout::Yv12 => "YV12",
            Layout::Nv12 => "NV12",
            Layout::Nv21 => "NV21",
        }
    }

    /// Copies one complete frame (`payload`, at least [`Layout::frame_bytes`]; checked by the
    /// caller) into `out` as campub's layout for it: YUYV rows of `stride_bytes`, or I420 whose
    /// Y plane has rows of `stride_bytes` (chroma `stride_bytes / 2`).
    pub fn copy_frame(self, payload: &[u8], height_px: u32, stride_bytes: u32, out: &mut Vec<u8>) {
        let (h, stride) = (height_px as usize, stride_bytes as usize);
        let need = self.frame_bytes(height_px, stride_bytes);
        let payload = &payload[..need.min(payload.len())];
        out.clear();
        match self {
            Layout::Mjpeg | Layout::Yuyv | Layout::Yu12 => out.extend_from_slice(payload),
            Layout::Uyvy => {
                out.resize(payload.len(), 0);
                swap_byte_pairs(payload, out);
            }
            Layout::Yv12 => {
                let (y, chroma) = payload.split_at(stride * h);
                let (v, u) = chroma.split_at(chroma.len() / 2);
                out.extend_from_slice(y);
                out.extend_from_slice(u);
                out.extend_from_slice(v);
            }
            Layout::Nv12 | Layout::Nv21 => {
                let (y, pairs) = payload.split_at(stride * h);
                out.resize(i420_frame_bytes(stride, h), 0);
                let (out_y, out_chroma) = out.split_at_mut(stride * h);
                out_y.copy_from_slice(y);
                let (first, second) = out_chroma.split_at_mut(out_chroma.len() / 2);
                let (u, v) = if self == Layout::Nv12 {
                    (first, second)
                } else {
                    (second, first)
                };
                split_pairs(pairs, stride, u, v);
            }
        }
    }
}

/// `U Y V Y` -> `Y U Y V`: every byte pair swapped, 32 bytes at a time as fixed-size arrays,
/// which the compiler turns into vector shuffles (measured: `cargo bench -p cambench --bench
/// campub -- v4l2_copy`; docs/CAMERAS.md).
fn swap_byte_pairs(src: &[u8], dst: &mut [u8]) {
    let (src_blocks, src_tail) = src.as_chunks::<32>();
    let (dst_blocks, dst_tail) = dst.as_chunks_mut::<32>();
    for (d, s) in dst_blocks.iter_mut().zip(src_blocks) {
        for i in 0..16 {
            d[2 * i] = s[2 * i + 1];
            d[2 * i + 1] = s[2 * i];
        }
    }
    for (d, s) in dst_tail.chunks_exact_mut(2).zip(src_tail.chunks_exact(2)) {
        d[0] = s[1];
        d[1] = s[0];
    }
}

/// Interleaved chroma rows (`stride` bytes of pairs each) -> two planes of `stride / 2`-byte
/// rows: the first byte of each pair into `first`, the second into `second`; whole blocks in
/// SIMD (`simd.rs`), the rest of each row here.
fn split_pairs(pairs: &[u8], stride: usize, first: &mut [u8], second: &mut [u8]) {
    let half = stride / 2;
    for ((row, a), b) in pairs
        .chunks_exact(stride)
        .zip(first.chunks_exact_mut(half))
        .zip(second.chunks_exact_mut(half))
    {
        let done = super::simd::split_pairs_blocks(row, a, b);
        for ((pair, x), y) in row[2 * done..]
            .chunks_exact(2)
            .zip(a[done..].iter_mut())
            .zip(b[done..].iter_mut())
        {
            *x = pair[0];
            *y = pair[1];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::RawFrame;

    /// A 4x2 picture, stride 6 (2 bytes of padding per luma row), as each layout carries it:
    /// luma 10..17, U 50/51, V 90/91 (4:2:0), padding 0xEE.
    fn planar(layout: Layout) -> Vec<u8> {
        let y = [10, 11, 12, 13, 0xEE, 0xEE, 14, 15, 16, 17, 0xEE, 0xEE];
        let chroma: &[u8] = match layout {
            Layout::Yu12 => &[50, 51, 0xEE, 90, 91, 0xEE],
            Layout::Yv12 => &[90, 91, 0xEE, 50, 51, 0xEE],
            Layout::Nv12 => &[50, 90, 51, 91, 0xEE, 0xEE],
            Layout::Nv21 => &[90, 50, 91, 51, 0xEE, 0xEE],
            _ => unreachable!(),
        };
        [&y[..], chroma].concat()
    }

    #[test]
    fn every_planar_layout_becomes_the_same_i420() {
        for layout in [Layout::Yu12, Layout::Yv12, Layout::Nv12, Layout::Nv21] {
            let payload = planar(layout);
            assert_eq!(payload.len(), layout.frame_bytes(2, 6), "{layout:?}");
            let mut frame = RawFrame::empty();
            layout.copy_frame(&payload, 2, 6, &mut frame.data);
            frame.format = layout.pixel_format();
            (frame.width_px, frame.height_px, frame.stride_bytes) = (4, 2, 6);
            let planes = frame.i420_planes().expect("a complete I420 frame");
            assert_eq!(&planes.y.data[..4], &[10, 11, 12, 13], "{layout:?}");
            assert_eq!(&planes.y.data[6..10], &[14, 15, 16, 17], "{layout:?}");
            assert_eq!(&planes.u.data[..2], &[50, 51], "{layout:?}: U");
            assert_eq!(&planes.v.data[..2], &[90, 91], "{layout:?}: V");
        }
    }

    #[test]
    fn uyvy_becomes_yuyv_whatever_the_length() {
        // 45 pairs: two 32-byte blocks and a remainder of 13 pairs.
        let uyvy: Vec<u8> = (0..90).collect();
        let mut out = Vec::new();
        Layout::Uyvy.copy_frame(&uyvy, 1, 90, &mut out);
        let expected: Vec<u8> = uyvy.chunks(2).flat_map(|p| [p[1], p[0]]).collect();
        assert_eq!(out, expected);
    }

    #[test]
    fn nv12_rows_longer_than_a_block_split_whole() {
        // 2 rows of 40 pairs (80 bytes): two 16-pair blocks and a tail of 8 pairs each.
        let (w, h, stride) = (80usize, 4usize, 80usize);
        let mut payload = vec![9u8; stride * h];
        for (i, px) in payload.iter_mut().enumerate() {
            *px = (i % 7) as u8; // luma
        }
        let pairs: Vec<u8> = (0..stride * h / 2).map(|i| (i % 251) as u8).collect();
        payload.extend_from_slice(&pairs);
        let mut frame = RawFrame::empty();
        Layout::Nv12.copy_frame(&payload, h as u32, stride as u32, &mut frame.data);
        frame.format = PixelFormat::I420;
        (frame.width_px, frame.height_px, frame.stride_bytes) = (w as u32, h as u32, stride as u32);
        let planes = frame.i420_planes().expect("I420");
        let u: Vec<u8> = pairs.iter().step_by(2).copied().collect();
        let v: Vec<u8> = pairs.iter().skip(1).step_by(2).copied().collect();
        assert_eq!(planes.u.data, &u[..]);
        assert_eq!(planes.v.data, &v[..]);
        assert_eq!(planes.y.data, &payload[..stride * h]);
    }

    #[test]
    fn slack_after_the_frame_is_not_copied() {
        let mut payload = planar(Layout::Yu12);
        payload.extend_from_slice(&[1, 2, 3]);
        let mut out = Vec::new();
        Layout::Yu12.copy_frame(&payload, 2, 6, &mut out);
        assert_eq!(out.len(), i420_frame_bytes(6, 2));
    }

    #[test]
    fn odd_sizes_and_short_strides_are_refused() {
        assert!(Layout::Nv12.check(640, 480, 640).is_ok());
        assert!(Layout::Nv12.check(640, 481, 640).is_err());
        assert!(Layout::Yu12.check(640, 480, 630).is_err());
        assert!(Layout::Uyvy.check(640, 480, 1280).is_ok());
        assert!(Layout::Uyvy.check(641, 480, 1282).is_err());
        let why = Layout::Yuyv.check(640, 480, 1000).unwrap_err();
        assert!(why.contains("YUYV") && why.contains("1000"), "{why}");
    }

    #[test]
    fn fourccs_round_trip() {
        for layout in Layout::ALL {
            assert_eq!(Layout::from_fourcc(layout.fourcc()), Some(layout));
        }
        assert_eq!(Layout::from_fourcc(FourCC::new(b"RGB3")), None);
    }
}
