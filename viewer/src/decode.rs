//! Message -> picture: classify the message, find its JPEG, check it, and decode it with
//! libjpeg-turbo into reused buffers (YUV 4:2:0 planes, RGB only as a fallback).

use std::fmt;

use camwire::{Message, MessageKind, WireError};
use turbojpeg::{Decompressor, Image, PixelFormat, Subsamp, YuvImage};

/// Largest picture width or height camview decodes; larger JPEGs are refused before allocating.
pub const MAX_PICTURE_DIMENSION_PX: usize = camwire::MAX_PICTURE_SIDE_PX as usize;

/// The default pixel budget (`--max-pixels`): 4096x4096, more than any camera campub streams
/// from (a 4K UHD frame is 8.3 Mpx). A frame declaring more is refused before decoding.
pub const DEFAULT_MAX_PIXELS: usize = 4096 * 4096;

/// A JPEG needs at least one byte per this many pixels (a flat grey 8x8 block alone takes a few
/// bits); fewer means a tiny message declaring a huge image, refused before allocating for it.
const MAX_PIXELS_PER_JPEG_BYTE: usize = 4096;

/// Scans allowed in any JPEG. libjpeg writes 10 for a progressive colour JPEG (6 for grey),
/// mozjpeg's scan optimisation a few more; each scan is a pass over the whole picture, so a
/// 43 KB file of hundreds of scans once kept camview decoding for 18.6 s. Counted in the
/// marker walk before decoding, and set as libjpeg-turbo's TJPARAM_SCANLIMIT as well.
const MAX_SCANS: u32 = 64;

/// Decode work is bounded by scans x pixels: a picture at the full pixel budget may have this
/// many scans (enough for any progressive JPEG an encoder makes), a smaller one proportionally
/// more, up to [`MAX_SCANS`]. At the default budget a frame at the bound decodes in well under
/// a second (docs/SECURITY.md has the measurement).
const SCANS_AT_FULL_BUDGET: usize = 16;

/// What a frame may declare before camview spends time or memory on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest width x height decoded (`--max-pixels`).
    pub max_pixels: usize,
}

impl Default for FrameLimits {
    fn default() -> Self {
        Self {
            max_pixels: DEFAULT_MAX_PIXELS,
        }
    }
}

impl FrameLimits {
    /// Checks what a JPEG declares (from [`camwire::inspect_jpeg`]) against the limits: size,
    /// pixel budget, bytes per pixel and scans. Costs nothing: no decoding.
    pub fn check(
        &self,
        layout: &camwire::JpegLayout,
        jpeg_bytes: usize,
    ) -> Result<(), DecodeError> {
        let (width_px, height_px) = (usize::from(layout.width_px), usize::from(layout.height_px));
        let pixels = width_px.saturating_mul(height_px);
        if width_px > MAX_PICTURE_DIMENSION_PX
            || height_px > MAX_PICTURE_DIMENSION_PX
            || pixels > self.max_pixels
            || pixels / MAX_PIXELS_PER_JPEG_BYTE > jpeg_bytes
        {
            return Err(DecodeError::TooLarge {
                width_px,
                height_px,
                jpeg_bytes,
                max_pixels: self.max_pixels,
            });
        }
        let scan_work = usize::try_from(layout.scans)
            .unwrap_or(usize::MAX)
            .saturating_mul(pixels);
        if layout.scans > MAX_SCANS
            || scan_work > self.max_pixels.saturating_mul(SCANS_AT_FULL_BUDGET)
        {
            return Err(DecodeError::TooManyScans {
                scans: layout.scans,
                width_px,
                height_px,
            });
        }
        Ok(())
    }

    /// The scans allowed for a picture of this many pixels.
    pub fn max_scans(&self, pixels: usize) -> u32 {
        let by_work = self.max_pixels.saturating_mul(SCANS_AT_FULL_BUDGET) / pixels.max(1);
        u32::try_from(by_work).unwrap_or(u32::MAX).min(MAX_SCANS)
    }
}

/// A decode buffer this much larger than needed (and above 1 MiB) is given back to the allocator.
const SHRINK_FACTOR: usize = 4;
const SHRINK_ABOVE_BYTES: usize = 1 << 20;

/// Why a message was not shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    Wire(WireError),
    /// libjpeg-turbo refused the data (corrupt, truncated, unsupported).
    Jpeg(String),
    /// The native header and the JPEG disagree about the picture size.
    SizeMismatch {
        header: (u16, u16),
        jpeg: (usize, usize),
    },
    /// Larger than [`MAX_PICTURE_DIMENSION_PX`] or the pixel budget, or implausibly large for
    /// its byte count.
    TooLarge {
        width_px: usize,
        height_px: usize,
        jpeg_bytes: usize,
        max_pixels: usize,
    },
    /// More scans than a picture of its size may have (see [`FrameLimits::max_scans`]).
    TooManyScans {
        scans: u32,
        width_px: usize,
        height_px: usize,
    },
}

impl DecodeError {
    /// A short snake_case word for the counts in the banner and the JSON summary.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::Wire(e) => e.reason(),
            DecodeError::Jpeg(_) => "corrupt_jpeg",
            DecodeError::SizeMismatch { .. } => "size_mismatch",
            DecodeError::TooLarge { .. } => "too_large",
            DecodeError::TooManyScans { .. } => "too_many_scans",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Wire(e) => write!(f, "{e}"),
            DecodeError::Jpeg(e) => write!(f, "JPEG not decodable: {e}"),
            DecodeError::SizeMismatch { header, jpeg } => write!(
                f,
                "header says {}x{} but the JPEG is {}x{}",
                header.0, header.1, jpeg.0, jpeg.1
            ),
            DecodeError::TooLarge {
                width_px,
                height_px,
                jpeg_bytes,
                max_pixels,
            } => write!(
                f,
                "JPEG of {jpeg_bytes} bytes declares {width_px}x{height_px} pixels (limits: \
                 {max_pixels} pixels (--max-pixels), {MAX_PICTURE_DIMENSION_PX} per side, one \
                 byte per {MAX_PIXELS_PER_JPEG_BYTE} pixels)"
            ),
            DecodeError::TooManyScans {
                scans,
                width_px,
                height_px,
            } => write!(
                f,
                "JPEG of {width_px}x{height_px} pixels has {scans} scans (at most \
                 {MAX_SCANS}, and scans x pixels at most {SCANS_AT_FULL_BUDGET} x --max-pixels)"
            ),
        }
    }
}

impl From<WireError> for DecodeError {
    fn from(e: WireError) -> Self {
        DecodeError::Wire(e)
    }
}

/// How a [`Picture`]'s bytes are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Planar Y, U, V (full-range JPEG YCbCr, 4:2:0); see [`Picture::planes`].
    Yuv420,
    /// Packed R, G, B rows of `3 * width_px` bytes.
    Rgb24,
}

/// One decoded picture. For [`Layout::Yuv420`] the planes are padded to even dimensions, as
/// libjpeg-turbo writes them with a row alignment of 1.
#[derive(Debug, Clone)]
pub struct Picture {
    pub width_px: usize,
    pub height_px: usize,
    pub layout: Layout,
    pub data: Vec<u8>,
}

/// The three planes of a [`Layout::Yuv420`] picture with their row pitches in bytes.
#[derive(Debug, Clone, Copy)]
pub struct Planes<'a> {
    pub y: &'a [u8],
    pub y_pitch: usize,
    pub u: &'a [u8],
    pub v: &'a [u8],
    pub uv_pitch: usize,
}

impl Picture {
    fn empty() -> Self {
        Self {
            width_px: 0,
            height_px: 0,
            layout: Layout::Rgb24,
            data: Vec::new(),
        }
    }

    /// Width and height of the luma plane: the picture size rounded up to even numbers.
    pub fn padded_size(&self) -> (usize, usize) {
        (
            self.width_px.next_multiple_of(2),
            self.height_px.next_multiple_of(2),
        )
    }

    fn needed_bytes(width_px: usize, height_px: usize, layout: Layout) -> usize {
        match layout {
            Layout::Yuv420 => {
                let (w, h) = (width_px.next_multiple_of(2), height_px.next_multiple_of(2));
                w * h + 2 * (w / 2) * (h / 2)
            }
            Layout::Rgb24 => 3 * width_px * height_px,
        }
    }

    /// Sizes the buffer for a picture, keeping its allocation unless it is far too large.
    fn prepare(&mut self, width_px: usize, height_px: usize, layout: Layout) {
        let needed = Self::needed_bytes(width_px, height_px, layout);
        let capacity = self.data.capacity();
        if capacity > SHRINK_ABOVE_BYTES && capacity > needed.saturating_mul(SHRINK_FACTOR) {
            self.data = Vec::new();
        }
        self.data.resize(needed, 0);
        self.width_px = width_px;
        self.height_px = height_px;
        self.layout = layout;
    }

    /// The Y, U and V planes of a [`Layout::Yuv420`] picture (`None` for RGB).
    pub fn planes(&self) -> Option<Planes<'_>> {
        if self.layout != Layout::Yuv420 {
            return None;
        }
        let (w, h) = self.padded_size();
        let y_len = w * h;
        let uv_len = (w / 2) * (h / 2);
        let y = self.data.get(..y_len)?;
        let u = self.data.get(y_len..y_len + uv_len)?;
        let v = self.data.get(y_len + uv_len..y_len + 2 * uv_len)?;
        Some(Planes {
            y,
            y_pitch: w,
            u,
            v,
            uv_pitch: w / 2,
        })
    }
}

/// What is known about the picture besides its pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameInfo {
    pub source: MessageKind,
    /// The stream name (native messages only; empty otherwise).
    pub stream: String,
    pub seq: Option<u64>,
    pub capture_unix_ns: Option<u64>,
}

/// Decodes messages one after another, reusing every buffer.
pub struct Decoder {
    limits: FrameLimits,
    decompressor: Decompressor,
    base64: Vec<u8>,
    /// The last successfully decoded picture, its JPEG bytes and what came with it.
    picture: Picture,
    jpeg: Vec<u8>,
    info: Option<FrameInfo>,
    /// Where the next picture is decoded; swapped with `picture` on success.
    scratch: Picture,
}

impl Decoder {
    /// A decoder with the default [`FrameLimits`].
    pub fn new() -> Result<Self, turbojpeg::Error> {
        Self::with_limits(FrameLimits::default())
    }

    pub fn with_limits(limits: FrameLimits) -> Result<Self, turbojpeg::Error> {
        Ok(Self {
            limits,
            decompressor: new_decompressor()?,
            base64: Vec::new(),
            picture: Picture::empty(),
            jpeg: Vec::new(),
            info: None,
            scratch: Picture::empty(),
        })
    }

    /// Decodes one message. On success it becomes the current picture; on failure the current
    /// picture is untouched.
    pub fn decode(&mut self, msg: &[u8]) -> Result<(), DecodeError> {
        let (jpeg, source, native) = match camwire::classify(msg)? {
            Message::Native(frame) => (frame.jpeg, MessageKind::Native, Some(frame)),
            Message::BareJpeg(jpeg) => (jpeg, MessageKind::BareJpeg, None),
            Message::Base64(text) => {
                camwire::decode_base64_into(text, &mut self.base64)?;
                (&self.base64[..], MessageKind::Base64, None)
            }
        };
        let declared = native
            .as_ref()
            .map(|f| (f.header.width_px, f.header.height_px));
        // The marker walk first: the limits are checked on what the JPEG declares, before
        // libjpeg-turbo spends time or memory on it.
        let layout = camwire::inspect_jpeg(jpeg)?;
        self.limits.check(&layout, jpeg.len())?;
        let max_scans = self
            .limits
            .max_scans(usize::from(layout.width_px) * usize::from(layout.height_px));
        if let Err(e) = self.decompressor.set_scan_limit(max_scans) {
            return Err(DecodeError::Jpeg(format!("cannot set the scan limit: {e}")));
        }
        if let Err(e) = decode_jpeg(
            &mut self.decompressor,
            jpeg,
            declared,
            &self.limits,
            &mut self.scratch,
        ) {
            // An error can leave a libjpeg-turbo handle unusable (every later JPEG then fails
            // with the same message), so every failure gets a fresh handle.
            match new_decompressor() {
                Ok(fresh) => self.decompressor = fresh,
                Err(init) => log::warn!("cannot reset the JPEG decoder: {init}"),
            }
            return Err(e);
        }

        std::mem::swap(&mut self.picture, &mut self.scratch);
        self.jpeg.clear();
        self.jpeg.extend_from_slice(jpeg);
        let info = self.info.get_or_insert_with(|| FrameInfo {
            source,
            stream: String::new(),
            seq: None,
            capture_unix_ns: None,
        });
        info.source = source;
        info.stream.clear();
        info.seq = None;
        info.capture_unix_ns = None;
        if let Some(frame) = native {
            info.stream.push_str(frame.stream);
            info.seq = Some(frame.header.seq);
            info.capture_unix_ns = Some(frame.header.capture_unix_ns);
        }
        Ok(())
    }

    /// The current picture, once one was decoded.
    pub fn picture(&self) -> Option<&Picture> {
        self.info.as_ref().map(|_| &self.picture)
    }

    pub fn info(&self) -> Option<&FrameInfo> {
        self.info.as_ref()
    }

    /// The current picture's JPEG exactly as it arrived (base64 already undone).
    pub fn jpeg(&self) -> Option<&[u8]> {
        self.info.as_ref().map(|_| &self.jpeg[..])
    }
}

fn new_decompressor() -> Result<Decompressor, turbojpeg::Error> {
    let mut decompressor = Decompressor::new()?;
    decompressor.set_scan_limit(MAX_SCANS)?;
    Ok(decompressor)
}

/// Checks a JPEG's header, then decodes it into `out`: straight to YUV planes for 4:2:0 (what
/// an SDL IYUV texture takes), to RGB for anything else.
fn decode_jpeg(
    decompressor: &mut Decompressor,
    jpeg: &[u8],
    declared: Option<(u16, u16)>,
    limits: &FrameLimits,
    out: &mut Picture,
) -> Result<(), DecodeError> {
    let header = decompressor
        .read_header(jpeg)
        .map_err(|e| DecodeError::Jpeg(e.to_string()))?;
    let (width_px, height_px) = (header.width, header.height);
    if let Some((w, h)) = declared {
        if (usize::from(w), usize::from(h)) != (width_px, height_px) {
            return Err(DecodeError::SizeMismatch {
                header: (w, h),
                jpeg: (width_px, height_px),
            });
        }
    }
    // libjpeg-turbo's own reading of the size, checked again (the marker walk read the SOF).
    let pixels = width_px.saturating_mul(height_px);
    if width_px == 0
        || height_px == 0
        || width_px > MAX_PICTURE_DIMENSION_PX
        || height_px > MAX_PICTURE_DIMENSION_PX
        || pixels > limits.max_pixels
        || pixels / MAX_PIXELS_PER_JPEG_BYTE > jpeg.len()
    {
        return Err(DecodeError::TooLarge {
            width_px,
            height_px,
            jpeg_bytes: jpeg.len(),
            max_pixels: limits.max_pixels,
        });
    }

    let to_yuv = header.subsamp == Subsamp::Sub2x2 && !header.is_lossless;
    let jpeg_err = |e: turbojpeg::Error| DecodeError::Jpeg(e.to_string());
    if to_yuv {
        out.prepare(width_px, height_px, Layout::Yuv420);
        // Checked here because turbojpeg panics when the buffer is too small.
        let needed =
            turbojpeg::yuv_pixels_len(width_px, 1, height_px, Subsamp::Sub2x2).map_err(jpeg_err)?;
        if needed > out.data.len() {
            return Err(DecodeError::Jpeg(format!(
                "YUV size {needed} exceeds the buffer"
            )));
        }
        let image = YuvImage {
            pixels: &mut out.data[..],
            width: width_px,
            align: 1,
            height: height_px,
            subsamp: Subsamp::Sub2x2,
        };
        decompressor
            .decompress_to_yuv(jpeg, image)
            .map_err(jpeg_err)
    } else {
        out.prepare(width_px, height_px, Layout::Rgb24);
        let image = Image {
            pixels: &mut out.data[..],
            width: width_px,
            pitch: 3 * width_px,
            height: height_px,
            format: PixelFormat::RGB,
        };
        decompressor.decompress(jpeg, image).map_err(jpeg_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use camwire::{encode_native, FrameHeader, StreamName};

    /// A solid-colour JPEG made with libjpeg-turbo.
    fn solid_jpeg(width: usize, height: usize, rgb: [u8; 3], subsamp: Subsamp) -> Vec<u8> {
        let pixels: Vec<u8> = (0..width * height).flat_map(|_| rgb).collect();
        testkit::media::compress_rgb(&pixels, width, height, 90, subsamp)
    }

    fn native(stream: &str, width: u16, height: u16, jpeg: &[u8]) -> Vec<u8> {
        let header = FrameHeader {
            seq: 42,
            capture_unix_ns: 123,
            width_px: width,
            height_px: height,
        };
        let mut msg = Vec::new();
        encode_native(&StreamName::new(stream).unwrap(), &header, jpeg, &mut msg);
        msg
    }

    fn mean(plane: &[u8]) -> f64 {
        plane.iter().map(|&b| f64::from(b)).sum::<f64>() / plane.len() as f64
    }

    #[test]
    fn native_420_decodes_to_yuv_planes() {
        let jpeg = solid_jpeg(64, 48, [255, 255, 255], Subsamp::Sub2x2);
        let mut decoder = Decoder::new().unwrap();
        assert!(decoder.picture().is_none());
        decoder.decode(&native("cam", 64, 48, &jpeg)).unwrap();

        let picture = decoder.picture().unwrap();
        assert_eq!(
            (picture.width_px, picture.height_px, picture.layout),
            (64, 48, Layout::Yuv420)
        );
        let planes = picture.planes().unwrap();
        assert_eq!(
            (
                planes.y.len(),
                planes.u.len(),
                planes.y_pitch,
                planes.uv_pitch
            ),
            (64 * 48, 32 * 24, 64, 32)
        );
        assert!(mean(planes.y) > 250.0, "white is full-range luma");
        assert!((mean(planes.u) - 128.0).abs() < 2.0 && (mean(planes.v) - 128.0).abs() < 2.0);

        let info = decoder.info().unwrap();
        assert_eq!(
            (info.source, info.stream.as_str(), info.seq),
            (MessageKind::Native, "cam", Some(42))
        );
        assert_eq!(info.capture_unix_ns, Some(123));
        assert_eq!(
            decoder.jpeg().unwrap(),
            &jpeg[..],
            "original bytes are kept for saving"
        );
    }

    #[test]
    fn odd_sizes_match_libjpeg_turbo_layout() {
        let jpeg = solid_jpeg(33, 17, [0, 0, 255], Subsamp::Sub2x2);
        let mut decoder = Decoder::new().unwrap();
        decoder.decode(&jpeg).unwrap();
        let picture = decoder.picture().unwrap();
        assert_eq!(picture.padded_size(), (34, 18));
        assert_eq!(
            picture.data.len(),
            turbojpeg::yuv_pixels_len(33, 1, 17, Subsamp::Sub2x2).unwrap()
        );
        assert!(picture.planes().is_some());
    }

    #[test]
    fn other_subsampling_falls_back_to_rgb() {
        for subsamp in [Subsamp::None, Subsamp::Sub2x1, Subsamp::Gray] {
            let jpeg = solid_jpeg(16, 8, [200, 10, 10], subsamp);
            let mut decoder = Decoder::new().unwrap();
            decoder.decode(&jpeg).unwrap();
            let picture = decoder.picture().unwrap();
            assert_eq!(picture.layout, Layout::Rgb24, "{subsamp:?}");
            assert_eq!(picture.data.len(), 16 * 8 * 3);
            assert!(picture.planes().is_none());
            assert_eq!(decoder.info().unwrap().source, MessageKind::BareJpeg);
        }
    }

    #[test]
    fn base64_like_the_tutorial_decodes() {
        let jpeg = solid_jpeg(32, 32, [0, 255, 0], Subsamp::Sub2x2);
        let text = base64::engine::general_purpose::STANDARD.encode(&jpeg);
        let mut decoder = Decoder::new().unwrap();
        decoder.decode(text.as_bytes()).unwrap();
        assert_eq!(decoder.info().unwrap().source, MessageKind::Base64);
        assert_eq!(
            decoder.jpeg().unwrap(),
            &jpeg[..],
            "saved bytes are the JPEG, not base64"
        );
        assert_eq!(decoder.info().unwrap().seq, None);

        let err = decoder.decode(b"/9j/not*base64*at*all").unwrap_err();
        assert_eq!(err.reason(), "bad_base64");
    }

    #[test]
    fn truncated_jpeg_is_refused_and_the_picture_kept() {
        let good = solid_jpeg(64, 64, [255, 255, 255], Subsamp::Sub2x2);
        let stripes: Vec<u8> = (0..64 * 64)
            .flat_map(|i| if i % 3 == 0 { [0, 0, 0] } else { [250, 90, 10] })
            .collect();
        let image = Image {
            pixels: &stripes[..],
            width: 64,
            pitch: 192,
            height: 64,
            format: PixelFormat::RGB,
        };
        let busy = turbojpeg::compress(image, 95, Subsamp::Sub2x2)
            .unwrap()
            .to_vec();
        let mut decoder = Decoder::new().unwrap();
        decoder.decode(&good).unwrap();
        let before = decoder.picture().unwrap().data.clone();

        for cut in [busy.len() / 2, busy.len() - 2, 20, 2] {
            let err = decoder.decode(&busy[..cut]).unwrap_err();
            // Cut short, the marker walk finds no EOI (or a segment running past the end).
            assert_eq!(err.reason(), "malformed_jpeg", "cut at {cut}: {err}");
        }
        assert_eq!(
            decoder.picture().unwrap().data,
            before,
            "a bad message never touches the shown picture"
        );
        assert_eq!(decoder.jpeg().unwrap(), &good[..]);
    }

    #[test]
    fn garbage_after_soi_does_not_break_the_next_decode() {
        let good = solid_jpeg(64, 48, [255, 0, 0], Subsamp::Sub2x2);
        let mut decoder = Decoder::new().unwrap();
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for round in 0..200 {
            let mut garbage = vec![0xFF, 0xD8, 0xFF];
            garbage.extend((0..600).map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            }));
            assert!(decoder.decode(&garbage).is_err());
            decoder
                .decode(&good)
                .unwrap_or_else(|e| panic!("round {round}: {e}"));
        }
    }

    #[test]
    fn header_size_must_match_the_jpeg() {
        let jpeg = solid_jpeg(64, 48, [9, 9, 9], Subsamp::Sub2x2);
        let mut decoder = Decoder::new().unwrap();
        let err = decoder.decode(&native("cam", 640, 480, &jpeg)).unwrap_err();
        assert_eq!(
            err,
            DecodeError::SizeMismatch {
                header: (640, 480),
                jpeg: (64, 48)
            }
        );
        assert_eq!(err.reason(), "size_mismatch");
        assert!(err.to_string().contains("640x480"), "{err}");
        assert!(decoder.picture().is_none());
    }

    #[test]
    fn absurd_sizes_are_refused_before_allocating() {
        let jpeg = solid_jpeg(16, 16, [1, 2, 3], Subsamp::Sub2x2);
        let mut decoder = Decoder::new().unwrap();
        for (w, h) in [(8193, 16), (16, 60000), (8000, 8000)] {
            let err = decoder
                .decode(&testkit::media::with_sof_size(&jpeg, w, h))
                .unwrap_err();
            assert_eq!(err.reason(), "too_large", "{w}x{h}: {err}");
        }
        assert_eq!(
            decoder.scratch.data.capacity(),
            0,
            "nothing was allocated for them"
        );
    }

    #[test]
    fn garbage_is_classified_not_decoded() {
        let mut decoder = Decoder::new().unwrap();
        assert_eq!(decoder.decode(b"").unwrap_err().reason(), "empty");
        assert_eq!(
            decoder.decode(&[0x80, 1, 2, 3]).unwrap_err().reason(),
            "unrecognised"
        );
        assert_eq!(
            decoder.decode(&[0xFF, 0xD8, 0xFF]).unwrap_err().reason(),
            "malformed_jpeg"
        );
        let mut future = native("cam", 16, 16, &solid_jpeg(16, 16, [0; 3], Subsamp::Sub2x2));
        future[4 + 4] = 2;
        assert_eq!(
            decoder.decode(&future).unwrap_err().reason(),
            "unsupported_version"
        );
    }

    #[test]
    fn oversized_buffers_are_released() {
        let mut picture = Picture::empty();
        picture.prepare(4000, 3000, Layout::Rgb24);
        picture.prepare(64, 48, Layout::Yuv420);
        assert!(picture.data.capacity() < SHRINK_ABOVE_BYTES);
        assert_eq!(picture.data.len(), 64 * 48 * 3 / 2);
    }
}
