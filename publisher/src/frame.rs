//! The frame types that travel through campub: what capture produces and what scale/encode use.

use std::time::Instant;

/// Pixel layouts a source can deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// Packed 4:2:2, `Y0 U Y1 V`, `stride_bytes` per row.
    Yuyv,
    /// One JPEG per frame, as UVC cameras send it (Huffman tables may be missing).
    Mjpeg,
}

impl std::fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PixelFormat::Yuyv => "YUYV",
            PixelFormat::Mjpeg => "MJPEG",
        })
    }
}

/// One captured frame. Its buffer is reused: capture refills frames handed back to it.
#[derive(Debug)]
pub struct RawFrame {
    pub format: PixelFormat,
    pub width_px: u32,
    pub height_px: u32,
    /// Bytes per row for packed formats; 0 for MJPEG.
    pub stride_bytes: u32,
    /// YUYV rows or the JPEG bytes; exactly the frame, no trailing slack.
    pub data: Vec<u8>,
    /// When the frame was captured, wall clock (ns since the Unix epoch); goes on the wire.
    pub capture_unix_ns: u64,
    /// The same moment on the monotonic clock, for measuring how late a stage is.
    pub captured_at: Instant,
    /// The source's own frame counter; a jump means the source dropped frames.
    pub source_seq: u64,
}

impl RawFrame {
    pub fn empty() -> Self {
        Self {
            format: PixelFormat::Yuyv,
            width_px: 0,
            height_px: 0,
            stride_bytes: 0,
            data: Vec::new(),
            capture_unix_ns: 0,
            captured_at: Instant::now(),
            source_seq: 0,
        }
    }
}

/// One 8-bit image plane, rows packed (`stride == width_px`).
#[derive(Debug, Default, Clone)]
pub struct Plane {
    pub width_px: usize,
    pub height_px: usize,
    pub data: Vec<u8>,
}

impl Plane {
    /// Resizes the plane for `width_px` x `height_px`, keeping the allocation when it fits.
    pub fn reshape(&mut self, width_px: usize, height_px: usize) {
        self.width_px = width_px;
        self.height_px = height_px;
        self.data.resize(width_px * height_px, 0);
    }
}

/// Planar YUV (full-range JPEG YCbCr) at `width_px` x `height_px`; plane sizes follow the
/// chroma subsampling and may be padded beyond the image, as libjpeg-turbo lays them out.
#[derive(Debug, Clone)]
pub struct YuvPlanes {
    pub width_px: usize,
    pub height_px: usize,
    pub subsamp: turbojpeg::Subsamp,
    pub y: Plane,
    pub u: Plane,
    pub v: Plane,
}

impl Default for YuvPlanes {
    fn default() -> Self {
        Self {
            width_px: 0,
            height_px: 0,
            subsamp: turbojpeg::Subsamp::Sub2x2,
            y: Plane::default(),
            u: Plane::default(),
            v: Plane::default(),
        }
    }
}

impl YuvPlanes {
    /// Lays the planes out for an image of this size and subsampling (as libjpeg-turbo does).
    pub fn reshape(&mut self, width_px: usize, height_px: usize, subsamp: turbojpeg::Subsamp) {
        let layout = turbojpeg::YuvImage {
            pixels: (),
            width: width_px,
            align: 1,
            height: height_px,
            subsamp,
        };
        self.width_px = width_px;
        self.height_px = height_px;
        self.subsamp = subsamp;
        self.y.reshape(layout.y_width(), layout.y_height());
        if subsamp == turbojpeg::Subsamp::Gray {
            self.u.reshape(0, 0);
            self.v.reshape(0, 0);
        } else {
            self.u.reshape(layout.uv_width(), layout.uv_height());
            self.v.reshape(layout.uv_width(), layout.uv_height());
        }
    }

    pub fn as_ref(&self) -> YuvRef<'_> {
        YuvRef {
            width_px: self.width_px,
            height_px: self.height_px,
            subsamp: self.subsamp,
            y: self.y.as_ref(),
            u: self.u.as_ref(),
            v: self.v.as_ref(),
        }
    }
}

/// A borrowed plane: `data` holds `height_px` rows of `width_px` bytes.
#[derive(Debug, Clone, Copy)]
pub struct PlaneRef<'a> {
    pub width_px: usize,
    pub height_px: usize,
    pub data: &'a [u8],
}

/// Borrowed planar YUV, laid out as [`YuvPlanes`]; what scale and encode read.
#[derive(Debug, Clone, Copy)]
pub struct YuvRef<'a> {
    pub width_px: usize,
    pub height_px: usize,
    pub subsamp: turbojpeg::Subsamp,
    pub y: PlaneRef<'a>,
    pub u: PlaneRef<'a>,
    pub v: PlaneRef<'a>,
}

impl YuvRef<'_> {
    /// Visible chroma size (the part of the U/V planes that the image covers).
    pub fn chroma_size_px(&self) -> (usize, usize) {
        if self.subsamp == turbojpeg::Subsamp::Gray {
            return (0, 0);
        }
        (
            self.width_px.div_ceil(self.subsamp.width()),
            self.height_px.div_ceil(self.subsamp.height()),
        )
    }
}

impl Plane {
    pub fn as_ref(&self) -> PlaneRef<'_> {
        PlaneRef {
            width_px: self.width_px,
            height_px: self.height_px,
            data: &self.data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_follow_libjpeg_turbo_layout() {
        let mut p = YuvPlanes::default();
        p.reshape(35, 35, turbojpeg::Subsamp::Sub2x1);
        assert_eq!((p.y.width_px, p.y.height_px), (36, 35));
        assert_eq!((p.u.width_px, p.u.height_px), (18, 35));
        p.reshape(640, 360, turbojpeg::Subsamp::Sub2x2);
        assert_eq!(p.u.data.len(), 320 * 180);
        assert_eq!(p.as_ref().chroma_size_px(), (320, 180));
    }
}
