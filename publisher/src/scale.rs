//! Scale: any planar YUV, or packed YUYV, to 4:2:0 planes at the output width. Whole-number
//! ratios (1280 -> 640, 1920 -> 640, 4:2:2 -> 4:2:0 chroma) take a box filter that reads YUYV
//! straight into the output planes in one pass; other ratios split YUYV into planes and resize
//! each with `fast_image_resize`. Never RGB.

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

/// Largest whole-number ratio the box filter takes (its row sums are 16 bits wide).
const MAX_BOX_FACTOR: usize = 8;

pub struct Scaler {
    target_width_px: u32,
    resizer: Resizer,
    options: ResizeOptions,
    /// YUYV split into 4:2:2 planes (ratios the box filter does not take).
    split: YuvPlanes,
    /// The output, 4:2:0 at the target size.
    out: YuvPlanes,
    /// The box filter's column sums for one output row: luma, and U/V interleaved.
    sums_y: Vec<u16>,
    sums_c: Vec<u16>,
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
            sums_y: Vec::new(),
            sums_c: Vec::new(),
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
        let (tw, th) = self.output_size(frame.width_px, frame.height_px);
        let (tw, th) = (tw as usize, th as usize);
        if let Some(factors) = box_factors((w, h), (tw, th)) {
            self.out.reshape(tw, th, Subsamp::Sub2x2);
            box_yuyv(
                &frame.data,
                stride,
                factors,
                &mut self.out,
                (&mut self.sums_y, &mut self.sums_c),
            );
            return Ok(self.out.as_ref());
        }
        self.split.reshape(w, h, Subsamp::Sub2x1);
        split_yuyv(&frame.data, stride, &mut self.split);
        let src = self.split.as_ref();
        rescale(&mut self.resizer, &self.options, src, &mut self.out, tw, th)?;
        Ok(self.out.as_ref())
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
        let luma = box_factors((src.width_px, src.height_px), (tw, th));
        let chroma = match src.chroma_size_px() {
            (0, 0) => Some((0, 0)),
            size => box_factors(size, (tw / 2, th / 2)),
        };
        let (Some(luma), Some(chroma)) = (luma, chroma) else {
            rescale(&mut self.resizer, &self.options, src, &mut self.out, tw, th)?;
            return Ok(self.out.as_ref());
        };
        self.out.reshape(tw, th, Subsamp::Sub2x2);
        if chroma == (0, 0) {
            // Greyscale source: neutral chroma.
            self.out.u.data.fill(128);
            self.out.v.data.fill(128);
        } else {
            box_plane(src.u, chroma, &mut self.out.u, &mut self.sums_c);
            box_plane(src.v, chroma, &mut self.out.v, &mut self.sums_c);
        }
        if luma == (1, 1) {
            // Luma already has the output size (a 4:2:2 JPEG decoded at the target width).
            let mut out = self.out.as_ref();
            out.y = src.y;
            return Ok(out);
        }
        box_plane(src.y, luma, &mut self.out.y, &mut self.sums_y);
        Ok(self.out.as_ref())
    }
}

/// The whole-number ratios (`kx`, `ky`) that shrink `src` to exactly `dst`, when the box filter
/// takes them (4:2:0 output needs even sizes).
fn box_factors(src: (usize, usize), dst: (usize, usize)) -> Option<(usize, usize)> {
    let ((sw, sh), (dw, dh)) = (src, dst);
    if dw == 0 || dh == 0 || sw % dw != 0 || sh % dh != 0 {
        return None;
    }
    let (kx, ky) = (sw / dw, sh / dh);
    (kx <= MAX_BOX_FACTOR && ky <= MAX_BOX_FACTOR).then_some((kx, ky))
}

/// Divides a sum of `count` samples by `count`, rounded, with a multiply instead of a division.
#[derive(Debug, Clone, Copy)]
struct Mean {
    reciprocal: u32,
}

impl Mean {
    fn of(count: usize) -> Self {
        let count = count.max(1) as u32;
        Self {
            reciprocal: ((1 << 16) + count / 2) / count,
        }
    }

    fn apply(self, sum: u32) -> u8 {
        ((sum * self.reciprocal + (1 << 15)) >> 16).min(255) as u8
    }
}

/// Box filter: each output pixel is the mean of a `kx` x `ky` block of the (visible) input.
fn box_plane(src: PlaneRef<'_>, (kx, ky): (usize, usize), dst: &mut Plane, sums: &mut Vec<u16>) {
    let used_w = dst.width_px * kx;
    let mean = Mean::of(kx * ky);
    sums.resize(used_w, 0);
    for (oy, out_row) in dst.data.chunks_exact_mut(dst.width_px).enumerate() {
        sums.fill(0);
        for row in src.data.chunks(src.width_px).skip(oy * ky).take(ky) {
            for (sum, &px) in sums.iter_mut().zip(&row[..used_w]) {
                *sum += u16::from(px);
            }
        }
        for (out, block) in out_row.iter_mut().zip(sums.chunks_exact(kx)) {
            *out = mean.apply(block.iter().map(|&s| u32::from(s)).sum());
        }
    }
}

/// Box filter from packed YUYV straight into 4:2:0 planes: luma from `kx` x `ky` blocks,
/// chroma from the `kx` U (or V) samples of `2 * ky` rows under each output chroma pixel.
/// One pass over the frame; the YUYV bytes alternate luma and chroma, so the sums are
/// two plain element-wise additions per row (which the compiler vectorises).
fn box_yuyv(
    data: &[u8],
    stride: usize,
    (kx, ky): (usize, usize),
    out: &mut YuvPlanes,
    (sums_y, sums_c): (&mut Vec<u16>, &mut Vec<u16>),
) {
    let used_w = out.width_px * kx;
    let (mean_y, mean_c) = (Mean::of(kx * ky), Mean::of(kx * 2 * ky));
    sums_y.resize(used_w, 0);
    sums_c.resize(used_w, 0);
    let y_rows = out.y.data.chunks_exact_mut(out.y.width_px);
    let u_rows = out.u.data.chunks_exact_mut(out.u.width_px);
    let v_rows = out.v.data.chunks_exact_mut(out.v.width_px);
    let mut y_rows = y_rows.enumerate();
    for (u_row, v_row) in u_rows.zip(v_rows) {
        sums_c.fill(0);
        for (oy, y_row) in y_rows.by_ref().take(2) {
            sums_y.fill(0);
            for row in data.chunks(stride).skip(oy * ky).take(ky) {
                let pairs = row[..used_w * 2].chunks_exact(2);
                for ((sum_y, sum_c), px) in sums_y.iter_mut().zip(sums_c.iter_mut()).zip(pairs) {
                    *sum_y += u16::from(px[0]);
                    *sum_c += u16::from(px[1]);
                }
            }
            for (out, block) in y_row.iter_mut().zip(sums_y.chunks_exact(kx)) {
                *out = mean_y.apply(block.iter().map(|&s| u32::from(s)).sum());
            }
        }
        // sums_c alternates U and V sums; one output chroma pixel covers `kx` of each.
        let blocks = sums_c.chunks_exact(2 * kx);
        for ((u, v), block) in u_row.iter_mut().zip(v_row.iter_mut()).zip(blocks) {
            let (mut su, mut sv) = (0u32, 0u32);
            for uv in block.chunks_exact(2) {
                su += u32::from(uv[0]);
                sv += u32::from(uv[1]);
            }
            *u = mean_c.apply(su);
            *v = mean_c.apply(sv);
        }
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
    fn whole_number_ratios_average_blocks_from_yuyv() {
        // 4x4 YUYV -> 2x2: each luma pixel the mean of a 2x2 block, the one chroma pixel the
        // mean of the 2 U (V) samples in each of the 4 rows.
        let mut frame = yuyv_frame(4, 4, 0, 0, 0);
        let luma = [[10, 20, 30, 40], [50, 60, 70, 80], [1, 2, 3, 4], [5, 6, 7, 9]];
        for (y, row) in frame.data.chunks_exact_mut(8).enumerate() {
            for x in 0..4 {
                row[x * 2] = luma[y][x];
            }
            row[1] = 100 + y as u8; // U of pixels 0-1
            row[5] = 110 + y as u8; // U of pixels 2-3
            row[3] = 200;
            row[7] = 40;
        }
        let mut scaler = Scaler::new(2);
        let out = scaler.scale_yuyv(&frame).unwrap();
        assert_eq!((out.width_px, out.height_px), (2, 2));
        assert_eq!(out.y.data, &[35, 55, 4, 6]);
        // U: (100+101+102+103 + 110+111+112+113) / 8 = 106.5, rounded up.
        assert_eq!((out.u.data, out.v.data), (&[107][..], &[120][..]));
    }

    #[test]
    fn three_to_one_matches_the_general_resizer() {
        let mut frame = yuyv_frame(1920, 1080, 0, 0, 0);
        for (i, b) in frame.data.iter_mut().enumerate() {
            *b = ((i * 7 / 5) % 256) as u8;
        }
        let boxed = Scaler::new(640).scale_yuyv(&frame).unwrap().y.data.to_vec();
        let mut general = Scaler::new(640);
        general.split.reshape(1920, 1080, Subsamp::Sub2x1);
        split_yuyv(&frame.data, 3840, &mut general.split);
        let src = general.split.as_ref();
        rescale(&mut general.resizer, &general.options, src, &mut general.out, 640, 360).unwrap();
        let mean = |p: &[u8]| p.iter().map(|&v| f64::from(v)).sum::<f64>() / p.len() as f64;
        assert_eq!(boxed.len(), general.out.y.data.len());
        assert!((mean(&boxed) - mean(&general.out.y.data)).abs() < 1.0);
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
        assert_eq!((out.subsamp, out.u.width_px, out.u.height_px), (Subsamp::Sub2x2, 320, 180));
        assert_eq!(out.y.data.as_ptr(), planes.y.data.as_ptr(), "luma is not copied");
        assert!(out.u.data.iter().all(|&u| u == 105), "two chroma rows averaged");
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
}
