//! The frame types that travel through campub: what capture produces and what scale/encode use.

use std::time::Instant;

/// Pixel layouts a source can deliver.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelFormat {
    /// Packed 4:2:2, `Y0 U Y1 V`, `stride_bytes` per row.
    Yuyv,
    /// One JPEG per frame, as UVC cameras send it (Huffman tables may be missing).
    Mjpeg,
    /// Planar 4:2:0 (I420, YUV420P): the Y plane (`height_px` rows of `stride_bytes`), then U,
    /// then V (`height_px / 2` rows of `stride_bytes / 2` each), back to back, no gaps: what
    /// `rpicam-vid --codec yuv420` and `ffmpeg -pix_fmt yuv420p -f rawvideo` write. Width and
    /// height are even.
    I420,
}

impl std::fmt::Display for PixelFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PixelFormat::Yuyv => "YUYV",
            PixelFormat::Mjpeg => "MJPEG",
            PixelFormat::I420 => "I420",
        })
    }
}

/// One captured frame. Its buffer is reused: capture refills frames handed back to it.
#[derive(Debug)]
pub struct RawFrame {
    pub format: PixelFormat,
    pub width_px: u32,
    pub height_px: u32,
    /// Bytes per row for YUYV, of the Y plane for I420 (the chroma planes have half); 0 for
    /// MJPEG.
    pub stride_bytes: u32,
    /// YUYV rows, I420 planes or the JPEG bytes; exactly the frame, no trailing slack.
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

    /// The planes of an I420 frame, borrowed (no copy): what scale and encode read. `None` when
    /// the frame is not I420 or its buffer does not hold what its size and stride promise.
    pub fn i420_planes(&self) -> Option<YuvRef<'_>> {
        if self.format != PixelFormat::I420 {
            return None;
        }
        let (w, h) = (self.width_px as usize, self.height_px as usize);
        let stride = self.stride_bytes as usize;
        if w == 0 || h == 0 || w % 2 != 0 || h % 2 != 0 || !stride.is_multiple_of(2) || stride < w {
            return None;
        }
        if self.data.len() != i420_frame_bytes(stride, h) {
            return None;
        }
        let (y, chroma) = self.data.split_at(stride * h);
        let (u, v) = chroma.split_at(chroma.len() / 2);
        let chroma_plane = |data| PlaneRef {
            width_px: stride / 2,
            height_px: h / 2,
            data,
        };
        Some(YuvRef {
            width_px: w,
            height_px: h,
            subsamp: turbojpeg::Subsamp::Sub2x2,
            y: PlaneRef {
                width_px: stride,
                height_px: h,
                data: y,
            },
            u: chroma_plane(u),
            v: chroma_plane(v),
        })
    }
}

/// Bytes in one I420 frame whose Y plane has `height_px` rows of `stride_bytes` (even).
pub fn i420_frame_bytes(stride_bytes: usize, height_px: usize) -> usize {
    stride_bytes * height_px + 2 * (stride_bytes / 2) * (height_px / 2)
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

/// A borrowed plane: `data` holds `height_px` rows of `width_px` bytes (`width_px` is the
/// row stride: it may be wider than the image, as in padded I420).
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

    fn i420(w: u32, h: u32, stride: u32, len: usize) -> RawFrame {
        RawFrame {
            format: PixelFormat::I420,
            width_px: w,
            height_px: h,
            stride_bytes: stride,
            data: (0..len).map(|i| (i % 251) as u8).collect(),
            ..RawFrame::empty()
        }
    }

    #[test]
    fn i420_planes_follow_the_stride_without_copying() {
        // 600 wide, rows padded to 640 bytes (as the Pi's ISP pads them).
        let frame = i420(600, 340, 640, 640 * 340 * 3 / 2);
        let planes = frame.i420_planes().unwrap();
        assert_eq!((planes.width_px, planes.height_px), (600, 340));
        assert_eq!((planes.y.width_px, planes.y.height_px), (640, 340));
        assert_eq!((planes.u.width_px, planes.u.height_px), (320, 170));
        assert_eq!(planes.chroma_size_px(), (300, 170));
        assert_eq!(planes.y.data.as_ptr(), frame.data.as_ptr());
        assert_eq!(planes.u.data[0], frame.data[640 * 340]);
        assert_eq!(planes.v.data[0], frame.data[640 * 340 + 320 * 170]);
        assert_eq!(planes.v.data.len(), 320 * 170);
    }

    #[test]
    fn i420_of_the_wrong_length_or_shape_has_no_planes() {
        assert!(i420(600, 340, 640, 640 * 340 * 3 / 2 - 1)
            .i420_planes()
            .is_none());
        assert!(i420(600, 340, 598, 598 * 340 * 3 / 2)
            .i420_planes()
            .is_none());
        assert!(i420(601, 340, 640, 640 * 340 * 3 / 2)
            .i420_planes()
            .is_none());
        let mut yuyv = i420(600, 340, 640, 640 * 340 * 3 / 2);
        yuyv.format = PixelFormat::Yuyv;
        assert!(yuyv.i420_planes().is_none());
    }
}
