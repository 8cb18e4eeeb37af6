//! Scale: any planar YUV, or packed YUYV, to 4:2:0 planes at the output width, with
//! `fast_image_resize` working on each plane. YUYV is split into planes, never converted to RGB.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
use turbojpeg::Subsamp;

use crate::frame::{target_size, Plane, PlaneRef, RawFrame, YuvPlanes, YuvRef};

#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    #[error("frame of {width_px}x{height_px} has {got} bytes, expected {need}")]
    ShortFrame {
        width_px: u32,
        height_px: u32,
        got: usize,
        need: usize,
    },
    #[error("resize failed: {0}")]
    Resize(String),
}

pub struct Scaler {
    target_width_px: u32,
    resizer: Resizer,
    options: ResizeOptions,
    /// YUYV split into 4:2:2 planes.
    split: YuvPlanes,
    /// The output, 4:2:0 at the target size.
    out: YuvPlanes,
}

impl Scaler {
    pub fn new(target_width_px: u32) -> Self {
        Self {
            target_width_px,
            resizer: Resizer::new(),
            // Bilinear widens its support when shrinking, so downscaling is properly filtered.
            options: ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)),
            split: YuvPlanes::default(),
            out: YuvPlanes::default(),
        }
    }

    /// Output size for a source of this size.
    pub fn output_size(&self, width_px: u32, height_px: u32) -> (u32, u32) {
        target_size(width_px, height_px, self.target_width_px)
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
        self.split.reshape(w, h, Subsamp::Sub2x1);
        split_yuyv(&frame.data, stride, &mut self.split);
        let (tw, th) = self.output_size(frame.width_px, frame.height_px);
        let (tw, th) = (tw as usize, th as usize);
        let src = self.split.as_ref();
        if (tw, th) != (w, h) {
            rescale(&mut self.resizer, &self.options, src, &mut self.out, tw, th)?;
            return Ok(self.out.as_ref());
        }
        // Same size: the split luma plane already is the output's; only chroma goes 4:2:2 -> 4:2:0.
        self.out.reshape(tw, th, Subsamp::Sub2x2);
        rescale_chroma(&mut self.resizer, &self.options, src, &mut self.out)?;
        let mut out = self.out.as_ref();
        out.y = self.split.y.as_ref();
        Ok(out)
    }

    /// Planar YUV (from the MJPEG decoder) -> 4:2:0 planes at the output width. Returns the
    /// input untouched when it already is exactly that.
    pub fn scale<'a>(&'a mut self, src: YuvRef<'a>) -> Result<YuvRef<'a>, ScaleError> {
        let (tw, th) = self.output_size(src.width_px as u32, src.height_px as u32);
        let (tw, th) = (tw as usize, th as usize);
        let padded = src.y.width_px != src.width_px || src.y.height_px != src.height_px;
        if src.subsamp == Subsamp::Sub2x2 && (src.width_px, src.height_px) == (tw, th) && !padded {
            return Ok(src);
        }
        rescale(&mut self.resizer, &self.options, src, &mut self.out, tw, th)?;
        Ok(self.out.as_ref())
    }
}

/// YUYV rows -> Y, U, V planes (4:2:2, chroma half width, full height).
fn split_yuyv(data: &[u8], stride: usize, planes: &mut YuvPlanes) {
    let w = planes.width_px;
    let rows = data.chunks(stride).take(planes.height_px);
    let y_rows = planes.y.data.chunks_exact_mut(planes.y.width_px);
    let u_rows = planes.u.data.chunks_exact_mut(planes.u.width_px);
    let v_rows = planes.v.data.chunks_exact_mut(planes.v.width_px);
    for (((src, y), u), v) in rows.zip(y_rows).zip(u_rows).zip(v_rows) {
        for (i, px) in src[..w * 2].chunks_exact(4).enumerate() {
            y[2 * i] = px[0];
            u[i] = px[1];
            y[2 * i + 1] = px[2];
            v[i] = px[3];
        }
    }
}

/// Resizes every plane of `src` into `out`, laid out as 4:2:0 at `tw` x `th`.
fn rescale(
    resizer: &mut Resizer,
    options: &ResizeOptions,
    src: YuvRef<'_>,
    out: &mut YuvPlanes,
    tw: usize,
    th: usize,
) -> Result<(), ScaleError> {
    out.reshape(tw, th, Subsamp::Sub2x2);
    resize_plane(
        resizer,
        options,
        src.y,
        (src.width_px, src.height_px),
        &mut out.y,
    )?;
    rescale_chroma(resizer, options, src, out)
}

/// Resizes the chroma planes of `src` into `out`, already laid out for the output.
fn rescale_chroma(
    resizer: &mut Resizer,
    options: &ResizeOptions,
    src: YuvRef<'_>,
    out: &mut YuvPlanes,
) -> Result<(), ScaleError> {
    let chroma = src.chroma_size_px();
    if chroma == (0, 0) {
        // Greyscale source: neutral chroma.
        out.u.data.fill(128);
        out.v.data.fill(128);
        return Ok(());
    }
    resize_plane(resizer, options, src.u, chroma, &mut out.u)?;
    resize_plane(resizer, options, src.v, chroma, &mut out.v)?;
    Ok(())
}

/// Resizes the visible `visible` part of `src` to fill `dst`; a plain copy when sizes match.
fn resize_plane(
    resizer: &mut Resizer,
    options: &ResizeOptions,
    src: PlaneRef<'_>,
    visible: (usize, usize),
    dst: &mut Plane,
) -> Result<(), ScaleError> {
    if (src.width_px, src.height_px) == (dst.width_px, dst.height_px)
        && visible == (src.width_px, src.height_px)
    {
        let len = dst.data.len();
        dst.data.copy_from_slice(&src.data[..len]);
        return Ok(());
    }
    let err = |e: &dyn std::fmt::Display| ScaleError::Resize(e.to_string());
    let to_u32 = |v: usize| u32::try_from(v).map_err(|e| err(&e));
    let src_image = ImageRef::new(
        to_u32(src.width_px)?,
        to_u32(src.height_px)?,
        src.data,
        PixelType::U8,
    )
    .map_err(|e| err(&e))?;
    let mut dst_image = Image::from_slice_u8(
        to_u32(dst.width_px)?,
        to_u32(dst.height_px)?,
        &mut dst.data,
        PixelType::U8,
    )
    .map_err(|e| err(&e))?;
    let options = options.crop(0.0, 0.0, visible.0 as f64, visible.1 as f64);
    resizer
        .resize(&src_image, &mut dst_image, &options)
        .map_err(|e| err(&e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::PixelFormat;

    fn yuyv_frame(w: u32, h: u32, y: u8, u: u8, v: u8) -> RawFrame {
        let mut frame = RawFrame::empty();
        frame.format = PixelFormat::Yuyv;
        frame.width_px = w;
        frame.height_px = h;
        frame.stride_bytes = w * 2;
        frame.data = [y, u, y, v].repeat((w * h / 2) as usize);
        frame
    }

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
}
