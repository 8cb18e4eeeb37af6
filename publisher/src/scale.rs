//! Scale: any planar YUV, or packed YUYV, to 4:2:0 planes at the output width. Whole-number
//! ratios (1280 -> 640, 1920 -> 640, 4:2:2 -> 4:2:0 chroma) take a box filter that reads YUYV
//! straight into the output planes in one pass; other ratios split YUYV into planes and resample
//! each by area (`area`), with filter taps kept between frames. Never RGB.

pub mod area;
mod simd;

use turbojpeg::Subsamp;

use area::AreaResampler;

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
}

/// Largest whole-number ratio the box filter takes (its row sums are 16 bits wide).
const MAX_BOX_FACTOR: usize = 8;

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
        }
    }

    /// A scaler that resamples every ratio by area (YUYV split into planes first), for
    /// benchmarks that compare it with the box filter.
    pub fn without_box_filter(mut self) -> Self {
        self.box_filter = false;
        self
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
        let factors = box_factors((w, h), (tw, th)).filter(|_| self.box_filter);
        if factors == Some((1, 1)) {
            // Same size: luma as it is, chroma 4:2:2 -> 4:2:0, in one pass.
            self.out.reshape(tw, th, Subsamp::Sub2x2);
            yuyv_to_420(&frame.data, stride, &mut self.out);
            return Ok(self.out.as_ref());
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
            return Ok(self.out.as_ref());
        }
        self.split.reshape(w, h, Subsamp::Sub2x1);
        split_yuyv(&frame.data, stride, &mut self.split);
        let src = self.split.as_ref();
        rescale(&mut self.area, src, &mut self.out, tw, th);
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
        let (Some(luma), Some(chroma), true) = (luma, chroma, self.box_filter) else {
            rescale(&mut self.area, src, &mut self.out, tw, th);
            return Ok(self.out.as_ref());
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
        if luma == (1, 1) {
            // Luma already has the output size (a 4:2:2 JPEG decoded at the target width).
            let mut out = self.out.as_ref();
            out.y = src.y;
            return Ok(out);
        }
        box_plane(src.y, luma, &mut self.out.y, &mut self.sums_a);
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
    let mut rows = src.data.chunks(src.width_px);
    for out_row in dst.data.chunks_exact_mut(dst.width_px) {
        sums.fill(0);
        for row in rows.by_ref().take(ky) {
            add_row(sums, &row[..used_w]);
        }
        with_factor(kx, |k| {
            for (out, block) in out_row.iter_mut().zip(sums.chunks_exact(k)) {
                *out = mean.apply(block.iter().map(|&s| u32::from(s)).sum());
            }
        });
    }
}

/// Box filter from packed YUYV straight into 4:2:0 planes: luma from `kx` x `ky` blocks,
/// chroma from the `kx` U (or V) samples in each of the `2 * ky` rows under an output chroma
/// pixel. One pass over the frame: whole YUYV rows are summed as they are (a plain, vectorised
/// element-wise add), and the sums are sorted into Y, U and V only per output row.
fn box_yuyv(
    data: &[u8],
    stride: usize,
    (kx, ky): (usize, usize),
    out: &mut YuvPlanes,
    (sums_a, sums_b): (&mut Vec<u16>, &mut Vec<u16>),
    chroma_pairs: (&mut Vec<u32>, &mut Vec<u32>),
) {
    let used_bytes = out.width_px * kx * 2;
    let (mean_y, mean_c) = (Mean::of(kx * ky), Mean::of(kx * 2 * ky));
    sums_a.resize(used_bytes, 0);
    sums_b.resize(used_bytes, 0);
    let y_width = out.y.width_px;
    chroma_pairs.0.resize(y_width, 0);
    chroma_pairs.1.resize(y_width, 0);
    let y_pairs = out.y.data.chunks_exact_mut(2 * y_width);
    let u_rows = out.u.data.chunks_exact_mut(out.u.width_px);
    let v_rows = out.v.data.chunks_exact_mut(out.v.width_px);
    let mut rows = data.chunks(stride);
    for ((y_pair, u_row), v_row) in y_pairs.zip(u_rows).zip(v_rows) {
        let (y0, y1) = y_pair.split_at_mut(y_width);
        if (kx, ky) == (2, 2) {
            // The common case (1280 -> 640): straight from the four rows, no sum rows.
            let mut four = rows.by_ref().take(4).map(|row| &row[..used_bytes]);
            let (Some(r0), Some(r1), Some(r2), Some(r3)) =
                (four.next(), four.next(), four.next(), four.next())
            else {
                break; // the caller checked the frame's size: not reached
            };
            let (pairs_a, pairs_b) = (&mut *chroma_pairs.0, &mut *chroma_pairs.1);
            // The next row pair starts two rows on.
            luma_2x2(y0, pairs_a, r0, r1, 2 * stride);
            luma_2x2(y1, pairs_b, r2, r3, 2 * stride);
            chroma_2x4(u_row, v_row, pairs_a, pairs_b);
            continue;
        }
        // The two output luma rows under this chroma row: `ky` input rows each.
        for sums in [&mut *sums_a, &mut *sums_b] {
            sums.fill(0);
            for row in rows.by_ref().take(ky) {
                add_row(sums, &row[..used_bytes]);
            }
        }
        with_factor(kx, |k| {
            // Bytes alternate Y and chroma: luma sums at even offsets.
            for (y_row, sums) in [(&mut *y0, &*sums_a), (&mut *y1, &*sums_b)] {
                for (out, block) in y_row.iter_mut().zip(sums.chunks_exact(2 * k)) {
                    *out = mean_y.apply((0..k).map(|j| u32::from(block[2 * j])).sum());
                }
            }
            // Each macropixel is `Y U Y V`: U sums at 4m + 1, V sums at 4m + 3.
            let blocks = sums_a.chunks_exact(4 * k).zip(sums_b.chunks_exact(4 * k));
            for ((u, v), (a, b)) in u_row.iter_mut().zip(v_row.iter_mut()).zip(blocks) {
                let at = |i: usize| u32::from(a[i]) + u32::from(b[i]);
                *u = mean_c.apply((0..k).map(|m| at(4 * m + 1)).sum());
                *v = mean_c.apply((0..k).map(|m| at(4 * m + 3)).sum());
            }
        });
    }
}

/// The macropixels `Y0 U Y1 V` of a YUYV row as little-endian words: Y0 in bits 0-7, U in
/// 8-15, Y1 in 16-23, V in 24-31.
///
/// `LOOP` gives each hot loop its own copy of this iterator: when `luma_2x2` and `yuyv_to_420`
/// shared one, LLVM stopped inlining its element access into `luma_2x2`, whose loop then did
/// not vectorise and ran 5x slower (1280x720: 0.3 -> 1.5 ms).
fn macropixels<const LOOP: u8>(row: &[u8]) -> impl Iterator<Item = u32> + '_ {
    row.chunks_exact(4)
        .map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]))
}
const BOX_LOOP: u8 = 0;
const SAME_SIZE_LOOP: u8 = 1;

/// Two 8-bit samples per word, in bits 0-7 and 16-23.
const EVEN_BYTES: u32 = 0x00FF_00FF;

/// One luma row of a 2x2 box from two YUYV rows: each macropixel column (two pixels, two rows)
/// yields one output pixel. Also leaves each macropixel's U and V summed over the two rows in
/// `chroma_pairs` (U in the low half-word, V in the high), for `chroma_2x4`. Whole blocks in
/// explicit SIMD where the target has it (`simd`, which also prefetches the row pair
/// `row_ahead` bytes further on), the rest in `luma_2x2_portable`.
fn luma_2x2(y_row: &mut [u8], chroma_pairs: &mut [u32], r0: &[u8], r1: &[u8], row_ahead: usize) {
    let done = simd::luma_2x2_blocks(y_row, chroma_pairs, r0, r1, row_ahead);
    let (r0, r1) = (&r0[done * 4..], &r1[done * 4..]);
    luma_2x2_portable(&mut y_row[done..], &mut chroma_pairs[done..], r0, r1);
}

/// `luma_2x2` in plain Rust: word-wide adds on contiguous loads, which vectorise when LLVM
/// inlines the iterator (see `macropixels`).
fn luma_2x2_portable(y_row: &mut [u8], chroma_pairs: &mut [u32], r0: &[u8], r1: &[u8]) {
    let columns = macropixels::<BOX_LOOP>(r0).zip(macropixels::<BOX_LOOP>(r1));
    for ((out, pair), (a, b)) in y_row.iter_mut().zip(chroma_pairs.iter_mut()).zip(columns) {
        let luma = (a & EVEN_BYTES) + (b & EVEN_BYTES);
        *out = (((luma & 0xFFFF) + (luma >> 16) + 2) >> 2) as u8;
        *pair = ((a >> 8) & EVEN_BYTES) + ((b >> 8) & EVEN_BYTES);
    }
}

/// One chroma row of a 2x2 box from YUYV (4:2:2 -> 4:2:0: two macropixels wide, four rows
/// high), from the two rows' pairs left by `luma_2x2` (each half-word at most 4 x 510: no
/// carry between U and V).
fn chroma_2x4(u_row: &mut [u8], v_row: &mut [u8], pairs_a: &[u32], pairs_b: &[u32]) {
    let blocks = pairs_a.chunks_exact(2).zip(pairs_b.chunks_exact(2));
    for ((u, v), (a, b)) in u_row.iter_mut().zip(v_row.iter_mut()).zip(blocks) {
        let sum = a[0] + a[1] + b[0] + b[1];
        *u = (((sum & 0xFFFF) + 4) >> 3) as u8;
        *v = (((sum >> 16) + 4) >> 3) as u8;
    }
}

/// YUYV at the output size -> 4:2:0 planes: luma copied out of the macropixels, each chroma
/// sample the rounded mean of the two rows' samples above each other. Row pairs at a time,
/// word-wide like `luma_2x2`.
fn yuyv_to_420(data: &[u8], stride: usize, out: &mut YuvPlanes) {
    let row_bytes = out.width_px * 2;
    let y_width = out.y.width_px;
    let y_pairs = out.y.data.chunks_exact_mut(2 * y_width);
    let u_rows = out.u.data.chunks_exact_mut(out.u.width_px);
    let v_rows = out.v.data.chunks_exact_mut(out.v.width_px);
    let mut rows = data.chunks(stride).map(|row| &row[..row_bytes]);
    for ((y_pair, u_row), v_row) in y_pairs.zip(u_rows).zip(v_rows) {
        let (Some(r0), Some(r1)) = (rows.next(), rows.next()) else {
            break; // the caller checked the frame's size: not reached
        };
        let (y0, y1) = y_pair.split_at_mut(y_width);
        luma_of(y0, r0);
        luma_of(y1, r1);
        let columns = macropixels::<SAME_SIZE_LOOP>(r0).zip(macropixels::<SAME_SIZE_LOOP>(r1));
        for ((u, v), (a, b)) in u_row.iter_mut().zip(v_row.iter_mut()).zip(columns) {
            let sum = ((a >> 8) & EVEN_BYTES) + ((b >> 8) & EVEN_BYTES) + 0x0001_0001;
            *u = ((sum & 0xFFFF) >> 1) as u8;
            *v = (sum >> 17) as u8;
        }
    }
}

/// The luma samples of a YUYV row.
fn luma_of(y_row: &mut [u8], row: &[u8]) {
    for (pair, m) in y_row
        .chunks_exact_mut(2)
        .zip(macropixels::<SAME_SIZE_LOOP>(row))
    {
        let luma = m & EVEN_BYTES;
        pair.copy_from_slice(&((luma | (luma >> 8)) as u16).to_le_bytes());
    }
}

/// `sums[i] += row[i]`: widening adds the compiler turns into vector instructions.
fn add_row(sums: &mut [u16], row: &[u8]) {
    for (sum, &px) in sums.iter_mut().zip(row) {
        *sum += u16::from(px);
    }
}

/// Calls `f(k)` with `k == factor`, as a constant for the common factors, so that each gets
/// loops compiled for its block size.
#[inline(always)]
fn with_factor(factor: usize, mut f: impl FnMut(usize)) {
    match factor {
        1 => f(1),
        2 => f(2),
        3 => f(3),
        4 => f(4),
        k => f(k),
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
        let pixels = src[..w * 2].chunks_exact(4).zip(y.chunks_exact_mut(2));
        for ((px, y), (u, v)) in pixels.zip(u.iter_mut().zip(v.iter_mut())) {
            y[0] = px[0];
            *u = px[1];
            y[1] = px[2];
            *v = px[3];
        }
    }
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

    /// A YUYV frame of pseudo-random bytes with `stride`-byte rows (padding included).
    fn noisy_yuyv_frame(w: usize, h: usize, stride: usize, seed: u32) -> RawFrame {
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
        let luma = [
            [10, 20, 30, 40],
            [50, 60, 70, 80],
            [1, 2, 3, 4],
            [5, 6, 7, 9],
        ];
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
    fn two_to_one_from_yuyv_is_the_rounded_block_mean() {
        // Pseudo-random content, odd row stride: the fast 2x2 path against the definition, at
        // widths of whole SIMD blocks (32 macropixels a row) and with a remainder (44).
        for (w, h) in [(64, 32), (88, 32)] {
            check_two_to_one_against_the_definition(w, h, w * 2 + 6);
        }
    }

    fn check_two_to_one_against_the_definition(w: usize, h: usize, stride: usize) {
        let frame = noisy_yuyv_frame(w, h, stride, 12345);
        let mut scaler = Scaler::new(w as u32 / 2);
        let out = scaler.scale_yuyv(&frame).unwrap();
        let (ow, oh) = (w / 2, h / 2);
        let at = |x: usize, y: usize, byte: usize| u32::from(frame.data[y * stride + x * 2 + byte]);
        let mean = |sum: u32, n: u32| ((sum + n / 2) / n) as u8;
        for oy in 0..oh {
            for ox in 0..ow {
                let sum: u32 = [(0, 0), (1, 0), (0, 1), (1, 1)]
                    .iter()
                    .map(|(dx, dy)| at(2 * ox + dx, 2 * oy + dy, 0))
                    .sum();
                assert_eq!(out.y.data[oy * ow + ox], mean(sum, 4), "Y at {ox},{oy}");
            }
        }
        for oy in 0..oh / 2 {
            for ox in 0..ow / 2 {
                // The U (V) samples of macropixels 2ox and 2ox+1 in rows 4oy..4oy+4.
                let chroma = |byte: usize| -> u32 {
                    (0..4)
                        .flat_map(|dy| (0..2).map(move |m| (4 * ox + 2 * m, 4 * oy + dy)))
                        .map(|(x, y)| at(x, y, byte))
                        .sum()
                };
                assert_eq!(
                    out.u.data[oy * ow / 2 + ox],
                    mean(chroma(1), 8),
                    "U at {ox},{oy}"
                );
                assert_eq!(
                    out.v.data[oy * ow / 2 + ox],
                    mean(chroma(3), 8),
                    "V at {ox},{oy}"
                );
            }
        }
    }

    #[test]
    fn simd_2x2_blocks_match_the_portable_loop() {
        // Every length from empty to three blocks and a remainder, unaligned rows: whatever
        // the target's SIMD version does, the output is the portable loop's.
        let frame = noisy_yuyv_frame(2 * 70, 2, 2 * 70 * 2 + 1, 777);
        let stride = frame.stride_bytes as usize;
        for columns in 0..=3 * simd::BLOCK_MACROPIXELS + 5 {
            let r0 = &frame.data[1..1 + 4 * columns];
            let r1 = &frame.data[stride..stride + 4 * columns];
            let (mut y, mut pairs) = (vec![0u8; columns], vec![0u32; columns]);
            let (mut y_portable, mut pairs_portable) = (vec![1u8; columns], vec![1u32; columns]);
            luma_2x2(&mut y, &mut pairs, r0, r1, 2 * stride);
            luma_2x2_portable(&mut y_portable, &mut pairs_portable, r0, r1);
            assert_eq!(y, y_portable, "luma, {columns} macropixels");
            assert_eq!(pairs, pairs_portable, "chroma pairs, {columns} macropixels");
        }
    }

    #[test]
    fn same_size_yuyv_is_luma_as_it_is_and_chroma_row_pairs_averaged() {
        // Pseudo-random content, padded rows: against the definition.
        let (w, h, stride) = (48, 6, 48 * 2 + 10);
        let frame = noisy_yuyv_frame(w, h, stride, 777);
        let mut scaler = Scaler::new(w as u32);
        let out = scaler.scale_yuyv(&frame).unwrap();
        assert_eq!((out.width_px, out.height_px), (w, h));
        let at = |x: usize, y: usize, byte: usize| u16::from(frame.data[y * stride + x * 2 + byte]);
        for y in 0..h {
            for x in 0..w {
                assert_eq!(
                    u16::from(out.y.data[y * w + x]),
                    at(x, y, 0),
                    "Y at {x},{y}"
                );
            }
        }
        for cy in 0..h / 2 {
            for cx in 0..w / 2 {
                let mean =
                    |byte| (at(2 * cx, 2 * cy, byte) + at(2 * cx, 2 * cy + 1, byte)).div_ceil(2);
                assert_eq!(
                    u16::from(out.u.data[cy * w / 2 + cx]),
                    mean(1),
                    "U at {cx},{cy}"
                );
                assert_eq!(
                    u16::from(out.v.data[cy * w / 2 + cx]),
                    mean(3),
                    "V at {cx},{cy}"
                );
            }
        }
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
        rescale(&mut general.area, src, &mut general.out, 640, 360);
        assert_eq!(boxed.len(), general.out.y.data.len());
        // At a whole ratio the area resampler is a box filter too (8-bit weights, two
        // roundings: within one level).
        for (i, (&b, &g)) in boxed.iter().zip(&general.out.y.data).enumerate() {
            assert!(b.abs_diff(g) <= 1, "pixel {i}: box {b}, area {g}");
        }
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
}
