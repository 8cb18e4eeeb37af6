//! Encode: YUV planes to JPEG with libjpeg-turbo (no colour conversion on the way), and the
//! passthrough for camera JPEGs that already have the output width.

use turbojpeg::{Compressor, Subsamp, YuvImage, YuvPlanesImage};

use crate::frame::YuvRef;
use crate::jpeg::{has_huffman_tables, insert_standard_huffman_tables};
use crate::orient::Orientation;

#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("libjpeg-turbo: {0}")]
    Jpeg(#[from] turbojpeg::Error),
    #[error("{0} plane of {1} bytes is too small for a {2}x{3} image")]
    ShortPlane(&'static str, usize, usize, usize),
    #[error("camera JPEG is {got_w}x{got_h}, the camera said {want_w}x{want_h}")]
    SizeMismatch {
        got_w: usize,
        got_h: usize,
        want_w: u32,
        want_h: u32,
    },
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

/// Camera JPEGs rotated or flipped without recompression: libjpeg-turbo moves the DCT
/// coefficients (`tj3Transform`), which is lossless and skips the decode and encode the other
/// path needs. It works on whole MCU blocks (8 or 16 pixels), so a JPEG whose size is not a
/// multiple of them on an edge the transform moves cannot be done this way ([`Lossless::fits`]);
/// the pipeline decodes those instead.
pub struct Lossless {
    transformer: turbojpeg::Transformer,
    out: Vec<u8>,
}

impl Lossless {
    pub fn new() -> Result<Self, EncodeError> {
        Ok(Self {
            transformer: turbojpeg::Transformer::new()?,
            out: Vec::new(),
        })
    }

    /// Whether `orientation` can be applied to a JPEG of this size and subsampling exactly:
    /// no partial MCU block has to move to the top or left edge.
    pub fn fits(
        orientation: Orientation,
        width_px: usize,
        height_px: usize,
        subsamp: Subsamp,
    ) -> bool {
        let whole_columns = width_px.is_multiple_of(subsamp.mcu_width());
        let whole_rows = height_px.is_multiple_of(subsamp.mcu_height());
        // A flip moves the right (bottom) edge to the left (top); a transpose alone moves
        // nothing off its edge; after a transpose the flips act on the picture before it.
        (!orientation.hflip || whole_columns) && (!orientation.vflip || whole_rows)
    }

    /// Whether `jpeg` is `width_px` x `height_px` as the camera said (an error if not) and
    /// [`fits`](Self::fits) a lossless `orientation`. Reads the header only.
    pub fn check(
        orientation: Orientation,
        jpeg: &[u8],
        (width_px, height_px): (u32, u32),
    ) -> Result<bool, EncodeError> {
        let header = turbojpeg::read_header(jpeg)?;
        if (header.width, header.height) != (width_px as usize, height_px as usize) {
            return Err(EncodeError::SizeMismatch {
                got_w: header.width,
                got_h: header.height,
                want_w: width_px,
                want_h: height_px,
            });
        }
        Ok(Self::fits(
            orientation,
            header.width,
            header.height,
            header.subsamp,
        ))
    }

    /// `jpeg` (complete, with Huffman tables; [`check`](Self::check)ed) oriented.
    pub fn apply(&mut self, orientation: Orientation, jpeg: &[u8]) -> Result<&[u8], EncodeError> {
        let header = turbojpeg::read_header(jpeg)?;
        let (ow, oh) = orientation.oriented_size(header.width, header.height);
        // The transform writes the same coefficients in another order: at most what a
        // compressor may write for that size, and the input's own markers.
        let worst_case = turbojpeg::compressed_buf_len(ow, oh, header.subsamp)? + jpeg.len();
        if self.out.len() < worst_case {
            self.out = vec![0; worst_case];
        }
        let mut transform = turbojpeg::Transform::op(orientation.transform_op());
        // An imperfect transform is an error rather than odd strips at an edge.
        transform.perfect = true;
        let mut output = turbojpeg::OutputBuf::borrowed(&mut self.out);
        self.transformer.transform(&transform, jpeg, &mut output)?;
        let len = output.len();
        drop(output);
        Ok(&self.out[..len])
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
