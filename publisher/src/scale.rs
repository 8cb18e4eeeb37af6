//! Scale: any planar YUV, or packed YUYV, to 4:2:0 planes at the output width; this file picks
//! the path for each frame. Whole-number ratios (1280 -> 640, 1920 -> 640, 4:2:2 -> 4:2:0
//! chroma) take a box filter (`boxfilter`) that reads YUYV straight into the output planes in one
//! pass; other ratios split YUYV into planes (`yuyv`) and resample each by area (`area`), with
//! filter taps kept between frames. Never RGB.

pub mod area;
mod boxfilter;
mod simd;
mod yuyv;

use turbojpeg::Subsamp;

use area::AreaResampler;
use boxfilter::{box_factors, box_plane, box_yuyv};
use yuyv::{split_yuyv, yuyv_to_420};

use crate::frame::{Plane, PlaneRef, RawFrame, YuvPlanes, YuvRef};
use crate::orient::{flip_in_place, orient_plane, Orientation, Orienter};

#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    #[error("frame of {width_px}x{height_px} has {got} bytes, expected {need}")]
    ShortFrame {
        width_px: u32,
        height_px: u32,
        got: usize,
        need: usize,
    },
}

pub struct Scaler {
    target_width_px: u32,
    /// Every other ratio.
    area: AreaResampler,
    /// YUYV split into 4:2:2 planes (ratios the box filter does not take).
    split: YuvPlanes,
    /// The output, 4:2:0 at the target size.
    out: YuvPlanes,
    /// The box filter's column sums over the input rows of one output row (two, for YUYV).
    sums_a: Vec<u16>,
    sums_b: Vec<u16>,
    /// The 2x2 box's per-macropixel chroma sums of two row pairs.
    chroma_pairs: (Vec<u32>, Vec<u32>),
    /// Whether whole-number ratios take the box filter (always, but for benchmarks).
    box_filter: bool,
    /// The output will be transposed (a quarter turn): scale so that it is the target width
    /// after that, i.e. to the target *height* now.
    transposed: bool,
    /// Mirror the output (left-right, top-bottom): done in place on the planes the scaler has
    /// just written (hot in cache), or in the copy it makes of planes it would pass through.
    flips: Flips,
}

/// `--hflip`/`--vflip` (and so `--rotate 180`) as the scaler does them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Flips {
    pub hflip: bool,
    pub vflip: bool,
}

impl Flips {
    fn any(self) -> bool {
        self.hflip || self.vflip
    }
}

impl Scaler {
    pub fn new(target_width_px: u32) -> Self {
        Self {
            target_width_px,
            area: AreaResampler::default(),
            split: YuvPlanes::default(),
            out: YuvPlanes::default(),
            sums_a: Vec::new(),
            sums_b: Vec::new(),
            chroma_pairs: (Vec::new(), Vec::new()),
            box_filter: true,
            transposed: false,
            flips: Flips::default(),
        }
    }

    /// A scaler that mirrors its output.
    pub fn flipped(mut self, flips: Flips) -> Self {
        self.flips = flips;
        self
    }

    /// A scaler whose output is transposed afterwards (`--rotate 90|270`): see
    /// [`Scaler::output_size`].
    pub fn transposed(mut self, transposed: bool) -> Self {
        self.transposed = transposed;
        self
    }

    /// A scaler that resamples every ratio by area (YUYV split into planes first), for
    /// benchmarks that compare it with the box filter. Built only for tests and for the `bench`
    /// feature (which `bench/` turns on), so that campub itself cannot take the slower path.
    #[cfg(any(test, feature = "bench"))]
    pub fn without_box_filter(mut self) -> Self {
        self.box_filter = false;
        self
    }

    /// Output size for a source of this size: the target width with the aspect ratio kept, or
    /// for a [`transposed`](Self::transposed) scaler the size whose transpose is that.
    pub fn output_size(&self, width_px: u32, height_px: u32) -> (u32, u32) {
        if self.transposed {
            let (w, h) = target_size(height_px, width_px, self.target_width_px);
            (h, w)
        } else {
            target_size(width_px, height_px, self.target_width_px)
        }
    }

    /// Packed YUYV -> 4:2:0 planes at the output width.
    pub fn scale_yuyv(&mut self, frame: &RawFrame) -> Result<YuvRef<'_>, ScaleError> {
        let (w, h) = (frame.width_px as usize, frame.height_px as usize);
        let stride = frame.stride_bytes as usize;
        let need = stride * h.saturating_sub(1) + w * 2;
        if stride < w * 2 || frame.data.len() < need || w % 2 != 0 {
            return Err(ScaleError::ShortFrame {
                width_px: frame.width_px,
                height_px: frame.height_px,
                got: frame.data.len(),
                need,
            });
        }
        let (tw, th) = self.output_size(frame.width_px, frame.height_px);
        let (tw, th) = (tw as usize, th as usize);
        let factors = box_factors((w, h), (tw, th)).filter(|_| self.box_filter);
        if factors == Some((1, 1)) {
            // Same size: luma as it is, chroma 4:2:2 -> 4:2:0, in one pass.
            self.out.reshape(tw, th, Subsamp::Sub2x2);
            yuyv_to_420(&frame.data, stride, &mut self.out);
            return Ok(self.flipped_out());
        }
        if let Some(factors) = factors {
            self.out.reshape(tw, th, Subsamp::Sub2x2);
            box_yuyv(
                &frame.data,
                stride,
                factors,
                &mut self.out,
                (&mut self.sums_a, &mut self.sums_b),
                (&mut self.chroma_pairs.0, &mut self.chroma_pairs.1),
            );
            return Ok(self.flipped_out());
        }
        self.split.reshape(w, h, Subsamp::Sub2x1);
        split_yuyv(&frame.data, stride, &mut self.split);
        let src = self.split.as_ref();
        rescale(&mut self.area, src, &mut self.out, tw, th);
        Ok(self.flipped_out())
    }

    /// The output planes, mirrored in place as asked: a reversal of each plane (180), of each
    /// row (hflip) or of the row order (vflip), on planes just written and still in cache.
    fn flipped_out(&mut self) -> YuvRef<'_> {
        if self.flips.any() {
            let Flips { hflip, vflip } = self.flips;
            let out = &mut self.out;
            let (w, h) = (out.width_px, out.height_px);
            let chroma = (w.div_ceil(2), h.div_ceil(2));
            flip_in_place(&mut out.y, (w, h), hflip, vflip);
            flip_in_place(&mut out.u, chroma, hflip, vflip);
            flip_in_place(&mut out.v, chroma, hflip, vflip);
        }
        self.out.as_ref()
    }

    /// Planar YUV (from the MJPEG decoder) -> 4:2:0 planes at the output width. Returns the
    /// input untouched when it already is exactly that.
    pub fn scale<'a>(&'a mut self, src: YuvRef<'a>) -> Result<YuvRef<'a>, ScaleError> {
        let (tw, th) = self.output_size(src.width_px as u32, src.height_px as u32);
        let (tw, th) = (tw as usize, th as usize);
        let padded = src.y.width_px != src.width_px || src.y.height_px != src.height_px;
        if src.subsamp == Subsamp::Sub2x2 && (src.width_px, src.height_px) == (tw, th) {
            if self.flips.any() {
                // Mirrored into our planes: the copy a pass-through needs to be flipped.
                let Flips { hflip, vflip } = self.flips;
                let flips = Orientation {
                    hflip,
                    vflip,
                    transpose: false,
                };
                return Ok(Orienter::apply_into(&mut self.out, flips, src));
            }
            if !padded {
                return Ok(src);
            }
        }
        let luma = box_factors((src.width_px, src.height_px), (tw, th));
        let chroma = match src.chroma_size_px() {
            (0, 0) => Some((0, 0)),
            size => box_factors(size, (tw / 2, th / 2)),
        };
        let (Some(luma), Some(chroma), true) = (luma, chroma, self.box_filter) else {
            rescale(&mut self.area, src, &mut self.out, tw, th);
            return Ok(self.flipped_out());
        };
        self.out.reshape(tw, th, Subsamp::Sub2x2);
        if chroma == (0, 0) {
            // Greyscale source: neutral chroma.
            self.out.u.data.fill(128);
            self.out.v.data.fill(128);
        } else {
            box_plane(src.u, chroma, &mut self.out.u, &mut self.sums_a);
            box_plane(src.v, chroma, &mut self.out.v, &mut self.sums_a);
        }
        if luma == (1, 1) && !self.flips.any() {
            // Luma already has the output size (a 4:2:2 JPEG decoded at the target width).
            let mut out = self.out.as_ref();
            out.y = src.y;
            return Ok(out);
        }
        if luma == (1, 1) {
            // The luma plane is mirrored in the copy; then everything but it in place.
            let Flips { hflip, vflip } = self.flips;
            let o = Orientation {
                hflip,
                vflip,
                transpose: false,
            };
            orient_plane(src.y, (tw, th), o, &mut self.out.y.data, tw);
            let chroma = (tw / 2, th / 2);
            flip_in_place(&mut self.out.u, chroma, hflip, vflip);
            flip_in_place(&mut self.out.v, chroma, hflip, vflip);
            return Ok(self.out.as_ref());
        }
        box_plane(src.y, luma, &mut self.out.y, &mut self.sums_a);
        Ok(self.flipped_out())
    }
}

/// Output size for a source of `width_px` x `height_px` scaled to `target_width_px` wide:
/// aspect ratio kept, height rounded to an even number (4:2:0 chroma needs it), at least 2.
fn target_size(width_px: u32, height_px: u32, target_width_px: u32) -> (u32, u32) {
    if width_px == target_width_px {
        return (width_px, height_px + (height_px & 1));
    }
    let exact = f64::from(height_px) * f64::from(target_width_px) / f64::from(width_px.max(1));
    let even = ((exact / 2.0).round() as u32 * 2).max(2);
    (target_width_px, even)
}

/// Resizes every plane of `src` into `out`, laid out as 4:2:0 at `tw` x `th`.
fn rescale(area: &mut AreaResampler, src: YuvRef<'_>, out: &mut YuvPlanes, tw: usize, th: usize) {
    out.reshape(tw, th, Subsamp::Sub2x2);
    resize_plane(area, src.y, (src.width_px, src.height_px), &mut out.y);
    let chroma = src.chroma_size_px();
    if chroma == (0, 0) {
        // Greyscale source: neutral chroma.
        out.u.data.fill(128);
        out.v.data.fill(128);
        return;
    }
    resize_plane(area, src.u, chroma, &mut out.u);
    resize_plane(area, src.v, chroma, &mut out.v);
}

/// Resizes the visible `visible` part of `src` to fill `dst`; a plain copy when sizes match.
fn resize_plane(
    area: &mut AreaResampler,
    src: PlaneRef<'_>,
    visible: (usize, usize),
    dst: &mut Plane,
) {
    if (src.width_px, src.height_px) == (dst.width_px, dst.height_px)
        && visible == (src.width_px, src.height_px)
    {
        let len = dst.data.len();
        dst.data.copy_from_slice(&src.data[..len]);
        return;
    }
    area.resample(
        src.data,
        src.width_px,
        visible,
        &mut dst.data,
        (dst.width_px, dst.height_px),
    );
}

/// Test frames shared by the tests of `scale` and of its kernels.
#[cfg(test)]
mod test_frames {
    use crate::frame::{PixelFormat, RawFrame};

    /// A YUYV frame of one colour.
    pub(super) fn yuyv_frame(w: u32, h: u32, y: u8, u: u8, v: u8) -> RawFrame {
        let mut frame = RawFrame::empty();
        frame.format = PixelFormat::Yuyv;
        frame.width_px = w;
        frame.height_px = h;
        frame.stride_bytes = w * 2;
        frame.data = [y, u, y, v].repeat((w * h / 2) as usize);
        frame
    }

    /// A YUYV frame of pseudo-random bytes with `stride`-byte rows (padding included).
    pub(super) fn noisy_yuyv_frame(w: usize, h: usize, stride: usize, seed: u32) -> RawFrame {
        let mut state = seed;
        let data: Vec<u8> = (0..stride * h)
            .map(|_| {
                state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (state >> 16) as u8
            })
            .collect();
        RawFrame {
            width_px: w as u32,
            height_px: h as u32,
            stride_bytes: stride as u32,
            data,
            ..yuyv_frame(2, 2, 0, 0, 0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::test_frames::yuyv_frame;
    use super::*;

    #[test]
    fn yuyv_720p_becomes_640x360_420_with_colour_kept() {
        let frame = yuyv_frame(1280, 720, 100, 60, 200);
        let mut scaler = Scaler::new(640);
        let out = scaler.scale_yuyv(&frame).unwrap();
        assert_eq!(
            (out.width_px, out.height_px, out.subsamp),
            (640, 360, Subsamp::Sub2x2)
        );
        assert_eq!((out.u.width_px, out.u.height_px), (320, 180));
        assert!(out.y.data.iter().all(|&p| p == 100));
        assert!(out.u.data.iter().all(|&p| p == 60));
        assert!(out.v.data.iter().all(|&p| p == 200));
    }

    #[test]
    fn same_width_keeps_luma_untouched() {
        let mut frame = yuyv_frame(640, 480, 0, 128, 128);
        for (i, px) in frame.data.chunks_exact_mut(2).enumerate() {
            px[0] = (i % 251) as u8;
        }
        let mut scaler = Scaler::new(640);
        let out = scaler.scale_yuyv(&frame).unwrap();
        assert_eq!((out.width_px, out.height_px), (640, 480));
        let luma: Vec<u8> = frame.data.iter().step_by(2).copied().collect();
        assert_eq!(
            out.y.data,
            &luma[..],
            "no resize when the source already has the width"
        );
    }

    #[test]
    fn decoded_422_at_the_target_size_keeps_its_luma_plane() {
        let mut planes = YuvPlanes::default();
        planes.reshape(640, 360, Subsamp::Sub2x1);
        planes.y.data.fill(70);
        for (i, row) in planes.u.data.chunks_exact_mut(320).enumerate() {
            row.fill(if i % 2 == 0 { 100 } else { 110 });
        }
        planes.v.data.fill(30);
        let mut scaler = Scaler::new(640);
        let out = scaler.scale(planes.as_ref()).unwrap();
        assert_eq!(
            (out.subsamp, out.u.width_px, out.u.height_px),
            (Subsamp::Sub2x2, 320, 180)
        );
        assert_eq!(
            out.y.data.as_ptr(),
            planes.y.data.as_ptr(),
            "luma is not copied"
        );
        assert!(
            out.u.data.iter().all(|&u| u == 105),
            "two chroma rows averaged"
        );
        assert!(out.v.data.iter().all(|&v| v == 30));
    }

    #[test]
    fn short_frame_is_an_error() {
        let mut frame = yuyv_frame(640, 480, 0, 0, 0);
        frame.data.truncate(1000);
        assert!(matches!(
            Scaler::new(640).scale_yuyv(&frame),
            Err(ScaleError::ShortFrame { .. })
        ));
    }

    #[test]
    fn planes_already_at_target_pass_through() {
        let mut planes = YuvPlanes::default();
        planes.reshape(640, 360, Subsamp::Sub2x2);
        let mut scaler = Scaler::new(640);
        let src = planes.as_ref();
        let out = scaler.scale(src).unwrap();
        assert_eq!(out.y.data.as_ptr(), planes.y.data.as_ptr());
    }

    #[test]
    fn padded_422_planes_are_cropped_and_resized() {
        let mut planes = YuvPlanes::default();
        planes.reshape(641, 361, Subsamp::Sub2x1);
        planes.y.data.fill(50);
        planes.u.data.fill(90);
        planes.v.data.fill(160);
        let mut scaler = Scaler::new(320);
        let out = scaler.scale(planes.as_ref()).unwrap();
        assert_eq!((out.width_px, out.height_px), (320, 180));
        assert!(out.y.data.iter().all(|&p| p == 50));
        assert!(out.u.data.iter().all(|&p| p == 90));
    }

    #[test]
    fn target_size_keeps_aspect_and_even_height() {
        assert_eq!(target_size(1280, 720, 640), (640, 360));
        assert_eq!(target_size(1920, 1080, 640), (640, 360));
        assert_eq!(target_size(640, 480, 640), (640, 480));
        assert_eq!(target_size(800, 600, 640), (640, 480));
        assert_eq!(target_size(1000, 333, 640), (640, 214));
        assert_eq!(target_size(320, 180, 640), (640, 360));
        assert_eq!(target_size(641, 1, 640), (640, 2));
    }
}
