//! The frames every benchmark uses, made in memory from campub's own test pattern: YUYV as an
//! uncompressed camera delivers it, MJPEG as a UVC camera sends it (4:2:2, high quality), and
//! the native messages campub publishes, for the viewer.

use campub::capture::pattern::PatternSource;
use campub::capture::{FrameSource, Next};
use campub::frame::{PixelFormat, RawFrame};
use campub::pipeline::FrameProcessor;
use camwire::{encode_native, FrameHeader, StreamName};
use turbojpeg::{Compressor, Subsamp, YuvPlanesImage};

use crate::BenchError;

/// JPEG quality of the camera-style MJPEG frames: UVC cameras compress lightly.
pub const CAMERA_QUALITY: u8 = 90;
/// campub's defaults, which the benchmarks measure.
pub const OUTPUT_WIDTH_PX: u32 = 640;
pub const OUTPUT_QUALITY: u8 = 80;

fn campub_err(e: impl std::fmt::Display) -> BenchError {
    BenchError::Campub(e.to_string())
}

/// `count` consecutive frames of campub's test pattern (moving bars, box, clock) as YUYV.
pub fn pattern_yuyv(
    width_px: u32,
    height_px: u32,
    count: usize,
) -> Result<Vec<RawFrame>, BenchError> {
    // A rate this high never makes the source wait.
    let mut source = PatternSource::new(width_px, height_px, 1e6).map_err(campub_err)?;
    (0..count)
        .map(|_| {
            let mut frame = RawFrame::empty();
            while source.next_frame(&mut frame).map_err(campub_err)? != Next::Frame {}
            Ok(frame)
        })
        .collect()
}

/// `count` frames of the test pattern as I420 with Y rows of `stride_bytes` (at least the
/// width, even; the padding filled with junk), as rpicam-vid writes them.
pub fn pattern_i420(
    width_px: u32,
    height_px: u32,
    stride_bytes: u32,
    count: usize,
) -> Result<Vec<RawFrame>, BenchError> {
    let (w, h, stride) = (width_px as usize, height_px as usize, stride_bytes as usize);
    if stride < w || !stride.is_multiple_of(2) || !h.is_multiple_of(2) {
        return Err(campub_err(format!(
            "I420 {w}x{h} with stride {stride}: the stride must be even and at least the width"
        )));
    }
    pattern_yuyv(width_px, height_px, count)?
        .into_iter()
        .map(|yuyv| {
            let mut data = vec![0x5A; campub::frame::i420_frame_bytes(stride, h)];
            let row = |y: usize| &yuyv.data[y * w * 2..(y + 1) * w * 2];
            for y in 0..h {
                for (x, px) in row(y).chunks_exact(2).enumerate() {
                    data[y * stride + x] = px[0];
                }
            }
            let (u_at, v_at) = (stride * h, stride * h + stride / 2 * h / 2);
            for y in 0..h / 2 {
                for (m, (a, b)) in row(2 * y)
                    .chunks_exact(4)
                    .zip(row(2 * y + 1).chunks_exact(4))
                    .enumerate()
                {
                    let mean = |i: usize| (u16::from(a[i]) + u16::from(b[i])).div_ceil(2) as u8;
                    data[u_at + y * stride / 2 + m] = mean(1);
                    data[v_at + y * stride / 2 + m] = mean(3);
                }
            }
            Ok(RawFrame {
                format: PixelFormat::I420,
                stride_bytes,
                data,
                ..yuyv
            })
        })
        .collect()
}

/// A YUYV frame as a camera's MJPEG frame: 4:2:2 JPEG at `quality`.
pub fn mjpeg_of(frame: &RawFrame, quality: u8) -> Result<Vec<u8>, BenchError> {
    if frame.format != PixelFormat::Yuyv {
        return Err(BenchError::Other(format!(
            "expected a YUYV frame, got {}",
            frame.format
        )));
    }
    let (w, h) = (frame.width_px as usize, frame.height_px as usize);
    let stride = frame.stride_bytes as usize;
    let (mut y, mut u, mut v) = (
        Vec::with_capacity(w * h),
        Vec::with_capacity(w * h / 2),
        Vec::with_capacity(w * h / 2),
    );
    for row in frame.data.chunks(stride).take(h) {
        for px in row[..w * 2].chunks_exact(4) {
            y.extend_from_slice(&[px[0], px[2]]);
            u.push(px[1]);
            v.push(px[3]);
        }
    }
    let image = YuvPlanesImage {
        y_plane: &y[..],
        u_plane: &u[..],
        v_plane: &v[..],
        width: w,
        height: h,
        y_stride: w,
        u_stride: w / 2,
        v_stride: w / 2,
        subsamp: Subsamp::Sub2x1,
    };
    let mut compressor = Compressor::new()?;
    compressor.set_quality(i32::from(quality))?;
    Ok(compressor.compress_yuv_planes_to_owned(&image)?.to_vec())
}

/// `count` pattern frames as a UVC camera's MJPEG frames.
pub fn pattern_mjpeg(
    width_px: u32,
    height_px: u32,
    count: usize,
) -> Result<Vec<RawFrame>, BenchError> {
    pattern_yuyv(width_px, height_px, count)?
        .into_iter()
        .map(|mut frame| {
            frame.data = mjpeg_of(&frame, CAMERA_QUALITY)?;
            frame.format = PixelFormat::Mjpeg;
            frame.stride_bytes = 0;
            Ok(frame)
        })
        .collect()
}

/// The native messages campub publishes for these frames (its default width and quality).
pub fn native_messages(frames: &[RawFrame]) -> Result<Vec<Vec<u8>>, BenchError> {
    let mut processor = FrameProcessor::new(OUTPUT_WIDTH_PX, OUTPUT_QUALITY).map_err(campub_err)?;
    let stream = StreamName::new("bench").map_err(campub_err)?;
    frames
        .iter()
        .enumerate()
        .map(|(seq, frame)| {
            let out = processor.process(frame).map_err(campub_err)?;
            let header = FrameHeader {
                seq: seq as u64,
                capture_unix_ns: frame.capture_unix_ns,
                width_px: u16::try_from(out.width_px).map_err(campub_err)?,
                height_px: u16::try_from(out.height_px).map_err(campub_err)?,
            };
            let mut msg = Vec::new();
            encode_native(&stream, &header, out.jpeg, &mut msg);
            Ok(msg)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mjpeg_frames_are_422_jpegs_of_the_pattern() {
        let frames = pattern_mjpeg(320, 240, 2).unwrap();
        let header = turbojpeg::read_header(&frames[0].data).unwrap();
        assert_eq!(
            (header.width, header.height, header.subsamp),
            (320, 240, Subsamp::Sub2x1)
        );
        assert_ne!(frames[0].data, frames[1].data, "the pattern moves");
        assert_eq!(frames[1].format, PixelFormat::Mjpeg);
    }

    #[test]
    fn native_messages_carry_campub_output() {
        let frames = pattern_yuyv(1280, 720, 1).unwrap();
        let msg = &native_messages(&frames).unwrap()[0];
        match camwire::classify(msg).unwrap() {
            camwire::Message::Native(f) => {
                assert_eq!((f.header.width_px, f.header.height_px), (640, 360));
                assert_eq!(f.stream, "bench");
            }
            other => panic!("{other:?}"),
        }
    }
}
