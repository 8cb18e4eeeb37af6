//! MJPEG frames to YUV planes with libjpeg-turbo, scaled in the DCT on the way: decoding a
//! 1280x720 frame at 1/2 costs a fraction of a full decode and needs no resize after it.

use turbojpeg::{Decompressor, ScalingFactor, Subsamp, YuvImage};

use crate::frame::{PlaneRef, YuvRef};

/// Largest camera frame accepted, in pixels per side.
const MAX_SOURCE_DIMENSION_PX: usize = camwire::MAX_PICTURE_SIDE_PX as usize;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("bad JPEG from the camera: {0}")]
    Jpeg(#[from] turbojpeg::Error),
    #[error("camera JPEG of {0}x{1} is outside what campub accepts")]
    Size(usize, usize),
    #[error("camera JPEG uses a chroma subsampling libjpeg-turbo cannot decode to YUV ({0:?})")]
    Subsampling(Subsamp),
}

/// Decodes camera JPEGs into one reused YUV buffer.
pub struct MjpegDecoder {
    decompressor: Decompressor,
    yuv: Vec<u8>,
    /// How `yuv` is laid out after the last successful decode.
    layout: YuvImage<()>,
}

impl MjpegDecoder {
    pub fn new() -> Result<Self, DecodeError> {
        let layout = YuvImage {
            pixels: (),
            width: 0,
            align: 1,
            height: 0,
            subsamp: Subsamp::Sub2x2,
        };
        Ok(Self {
            decompressor: Decompressor::new()?,
            yuv: Vec::new(),
            layout,
        })
    }

    /// Decodes `jpeg` at the smallest DCT scale (n/8) whose width is still at least
    /// `min_width_px` (full size if the image is narrower), into planes borrowed from `self`.
    pub fn decode_scaled(
        &mut self,
        jpeg: &[u8],
        min_width_px: usize,
    ) -> Result<YuvRef<'_>, DecodeError> {
        if let Err(e) = self.decode_into_buffer(jpeg, min_width_px) {
            // camview saw a libjpeg-turbo handle fail every later JPEG after some errors; a
            // fresh handle (made only on error) rules that out here too.
            if let Ok(fresh) = Decompressor::new() {
                self.decompressor = fresh;
            }
            return Err(e);
        }
        Ok(self.planes())
    }

    fn decode_into_buffer(&mut self, jpeg: &[u8], min_width_px: usize) -> Result<(), DecodeError> {
        let header = self.decompressor.read_header(jpeg)?;
        let (width, height) = (header.width, header.height);
        if width == 0
            || height == 0
            || width > MAX_SOURCE_DIMENSION_PX
            || height > MAX_SOURCE_DIMENSION_PX
        {
            return Err(DecodeError::Size(width, height));
        }
        if matches!(header.subsamp, Subsamp::Unknown) {
            return Err(DecodeError::Subsampling(header.subsamp));
        }
        let factor = dct_scale_for(width, min_width_px);
        self.decompressor.set_scaling_factor(factor)?;
        let (sw, sh) = (factor.scale(width), factor.scale(height));
        let len = turbojpeg::yuv_pixels_len(sw, 1, sh, header.subsamp)?;
        self.yuv.resize(len, 0);
        let layout = YuvImage {
            pixels: (),
            width: sw,
            align: 1,
            height: sh,
            subsamp: header.subsamp,
        };
        self.decompressor.decompress_to_yuv(
            jpeg,
            YuvImage {
                pixels: &mut self.yuv[..],
                width: sw,
                align: 1,
                height: sh,
                subsamp: header.subsamp,
            },
        )?;
        self.layout = layout;
        Ok(())
    }

    /// The planes of the last successful decode, borrowed from the buffer.
    fn planes(&self) -> YuvRef<'_> {
        let layout = &self.layout;
        let (yw, yh) = layout.y_size();
        let (cw, ch) = if layout.subsamp == Subsamp::Gray {
            (0, 0)
        } else {
            layout.uv_size()
        };
        let (y, rest) = self.yuv.split_at(yw * yh);
        let (u, rest) = rest.split_at(cw * ch);
        let v = &rest[..cw * ch];
        YuvRef {
            width_px: layout.width,
            height_px: layout.height,
            subsamp: layout.subsamp,
            y: PlaneRef {
                width_px: yw,
                height_px: yh,
                data: y,
            },
            u: PlaneRef {
                width_px: cw,
                height_px: ch,
                data: u,
            },
            v: PlaneRef {
                width_px: cw,
                height_px: ch,
                data: v,
            },
        }
    }
}

/// The smallest of 1/8, 1/4, 1/2 and 1 (reduced, as libjpeg-turbo lists them) with
/// `width * n/8 >= min_width`. Not 3/8, 5/8...: libjpeg-turbo's inverse DCTs at those scales
/// are plain C, while the power-of-two ones have SIMD (SSE2, Neon). Decoding 1920x1080 at 1/2
/// and resampling 960 -> 640 costs less than decoding at 3/8 and resampling 720 -> 640
/// (docs/PERFORMANCE.md), and keeps more detail.
pub fn dct_scale_for(width_px: usize, min_width_px: usize) -> ScalingFactor {
    let num = [1, 2, 4, 8]
        .into_iter()
        .find(|n| (width_px * n).div_ceil(8) >= min_width_px)
        .unwrap_or(8);
    let gcd = [8, 4, 2, 1]
        .into_iter()
        .find(|d| num % d == 0 && 8 % d == 0)
        .unwrap_or(1);
    ScalingFactor::new(num / gcd, 8 / gcd)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jpeg::strip_huffman_tables;
    use crate::jpeg::tests::sample_jpeg;

    #[test]
    fn picks_the_smallest_dct_scale_not_below_the_target() {
        assert_eq!(dct_scale_for(1280, 640), ScalingFactor::new(1, 2));
        assert_eq!(dct_scale_for(1920, 640), ScalingFactor::new(1, 2));
        assert_eq!(dct_scale_for(3840, 640), ScalingFactor::new(1, 4));
        assert_eq!(dct_scale_for(640, 640), ScalingFactor::new(1, 1));
        assert_eq!(dct_scale_for(320, 640), ScalingFactor::new(1, 1));
        assert_eq!(dct_scale_for(2560, 640), ScalingFactor::new(1, 4));
    }

    #[test]
    fn decodes_1280_wide_at_half_size() {
        let jpeg = sample_jpeg(1280, 720);
        let mut decoder = MjpegDecoder::new().unwrap();
        let planes = decoder.decode_scaled(&jpeg, 640).unwrap();
        assert_eq!((planes.width_px, planes.height_px), (640, 360));
        assert_eq!(planes.subsamp, Subsamp::Sub2x1);
        assert_eq!((planes.u.width_px, planes.u.height_px), (320, 360));
        assert_eq!(planes.y.data.len(), 640 * 360);
    }

    #[test]
    fn camera_frames_without_huffman_tables_decode() {
        let jpeg = strip_huffman_tables(&sample_jpeg(320, 240));
        let mut decoder = MjpegDecoder::new().unwrap();
        assert_eq!(decoder.decode_scaled(&jpeg, 160).unwrap().width_px, 160);
    }

    #[test]
    fn damaged_frames_are_errors_not_panics() {
        let jpeg = sample_jpeg(64, 64);
        let mut decoder = MjpegDecoder::new().unwrap();
        assert!(decoder.decode_scaled(&jpeg[..20], 64).is_err());
        assert!(decoder.decode_scaled(b"\xFF\xD8garbage", 64).is_err());
        assert!(decoder.decode_scaled(&[], 64).is_err());
        // Still usable afterwards.
        assert!(decoder.decode_scaled(&jpeg, 64).is_ok());
    }

    #[test]
    fn a_frame_cut_mid_scan_does_not_break_the_next_ones() {
        let jpeg = sample_jpeg(320, 240);
        let mut decoder = MjpegDecoder::new().unwrap();
        for cut in [jpeg.len() / 2, jpeg.len() * 3 / 4, jpeg.len() - 2] {
            let _ = decoder.decode_scaled(&jpeg[..cut], 160);
            let good = decoder.decode_scaled(&jpeg, 160);
            assert!(good.is_ok(), "after a frame cut at {cut}: {:?}", good.err());
        }
    }
}
