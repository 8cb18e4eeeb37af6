//! Encode: YUV planes to JPEG with libjpeg-turbo (no colour conversion on the way), and the
//! passthrough for camera JPEGs that already have the output width.

use turbojpeg::{Compressor, Subsamp, YuvImage, YuvPlanesImage};

use crate::frame::YuvRef;
use crate::jpeg::{has_huffman_tables, insert_standard_huffman_tables};

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("libjpeg-turbo: {0}")]
    Jpeg(#[from] turbojpeg::Error),
    #[error("{0} plane of {1} bytes is too small for a {2}x{3} image")]
    ShortPlane(&'static str, usize, usize, usize),
}

/// Encodes planes into one reused output buffer sized for the worst case.
pub struct JpegEncoder {
    compressor: Compressor,
    out: Vec<u8>,
}

impl JpegEncoder {
    pub fn new(quality: u8) -> Result<Self, EncodeError> {
        let mut compressor = Compressor::new()?;
        compressor.set_quality(i32::from(quality))?;
        Ok(Self {
            compressor,
            out: Vec::new(),
        })
    }

    pub fn encode(&mut self, planes: YuvRef<'_>) -> Result<&[u8], EncodeError> {
        let (w, h, subsamp) = (planes.width_px, planes.height_px, planes.subsamp);
        // libjpeg-turbo's Rust binding asserts (panics) on short planes; check first.
        let layout = YuvImage {
            pixels: (),
            width: w,
            align: 1,
            height: h,
            subsamp,
        };
        let chroma = if subsamp == Subsamp::Gray {
            (0, 0)
        } else {
            layout.uv_size()
        };
        for (name, plane, (pw, ph)) in [
            ("Y", planes.y, layout.y_size()),
            ("U", planes.u, chroma),
            ("V", planes.v, chroma),
        ] {
            // What tj3YUVPlaneSize asks for: full rows of `stride` but the last one.
            let need = if ph == 0 {
                0
            } else {
                plane.width_px * (ph - 1) + pw
            };
            if plane.data.len() < need || plane.width_px < pw {
                return Err(EncodeError::ShortPlane(name, plane.data.len(), w, h));
            }
        }
        let worst_case = turbojpeg::compressed_buf_len(w, h, subsamp)?;
        if self.out.len() < worst_case {
            // Zeroed by the allocator (fresh pages): only what libjpeg-turbo writes becomes
            // resident, not the whole worst case.
            self.out = vec![0; worst_case];
        }
        let image = YuvPlanesImage {
            y_plane: planes.y.data,
            u_plane: planes.u.data,
            v_plane: planes.v.data,
            width: w,
            height: h,
            y_stride: planes.y.width_px,
            u_stride: planes.u.width_px,
            v_stride: planes.v.width_px,
            subsamp,
        };
        let len = self
            .compressor
            .compress_yuv_planes_to_slice(&image, &mut self.out)?;
        Ok(&self.out[..len])
    }
}

/// Camera JPEGs sent as they are; only the Huffman tables are added when the camera left them
/// out (as many UVC cameras do), so any decoder can read the result.
#[derive(Default)]
pub struct Passthrough {
    fixed: Vec<u8>,
}

impl Passthrough {
    pub fn prepare<'a>(&'a mut self, jpeg: &'a [u8]) -> &'a [u8] {
        if has_huffman_tables(jpeg) || !insert_standard_huffman_tables(jpeg, &mut self.fixed) {
            jpeg
        } else {
            &self.fixed
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::YuvPlanes;
    use crate::jpeg::strip_huffman_tables;
    use crate::jpeg::tests::sample_jpeg;

    #[test]
    fn encodes_decodable_jpeg_of_the_planes_size() {
        let mut planes = YuvPlanes::default();
        planes.reshape(640, 360, Subsamp::Sub2x2);
        planes.y.data.fill(200);
        planes.u.data.fill(128);
        planes.v.data.fill(128);
        let mut encoder = JpegEncoder::new(80).unwrap();
        let jpeg = encoder.encode(planes.as_ref()).unwrap().to_vec();
        assert!(jpeg.starts_with(&[0xFF, 0xD8]) && jpeg.ends_with(&[0xFF, 0xD9]));
        let header = turbojpeg::read_header(&jpeg).unwrap();
        assert_eq!(
            (header.width, header.height, header.subsamp),
            (640, 360, Subsamp::Sub2x2)
        );
        let gray = turbojpeg::decompress(&jpeg, turbojpeg::PixelFormat::GRAY).unwrap();
        assert!(gray.pixels.iter().all(|&p| p.abs_diff(200) <= 2));
    }

    #[test]
    fn higher_quality_makes_bigger_files() {
        let mut planes = YuvPlanes::default();
        planes.reshape(320, 240, Subsamp::Sub2x2);
        for (i, p) in planes.y.data.iter_mut().enumerate() {
            *p = (i * 31 % 253) as u8;
        }
        let low = JpegEncoder::new(20)
            .unwrap()
            .encode(planes.as_ref())
            .unwrap()
            .len();
        let high = JpegEncoder::new(95)
            .unwrap()
            .encode(planes.as_ref())
            .unwrap()
            .len();
        assert!(high > low * 2, "q95 {high} bytes vs q20 {low} bytes");
    }

    #[test]
    fn short_planes_are_an_error_not_a_panic() {
        let mut planes = YuvPlanes::default();
        planes.reshape(64, 64, Subsamp::Sub2x2);
        planes.u.data.truncate(10);
        let mut encoder = JpegEncoder::new(80).unwrap();
        assert!(matches!(
            encoder.encode(planes.as_ref()),
            Err(EncodeError::ShortPlane(..))
        ));
    }

    #[test]
    fn passthrough_returns_the_camera_bytes() {
        let jpeg = sample_jpeg(640, 480);
        let mut pass = Passthrough::default();
        let out = pass.prepare(&jpeg);
        assert_eq!(
            out.as_ptr(),
            jpeg.as_ptr(),
            "no copy when the JPEG is complete"
        );
        assert_eq!(out, &jpeg[..]);
    }

    #[test]
    fn passthrough_adds_missing_huffman_tables() {
        let stripped = strip_huffman_tables(&sample_jpeg(640, 480));
        let mut pass = Passthrough::default();
        let out = pass.prepare(&stripped).to_vec();
        assert!(has_huffman_tables(&out));
        assert!(turbojpeg::decompress(&out, turbojpeg::PixelFormat::RGB).is_ok());
    }
}
