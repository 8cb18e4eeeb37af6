//! The box filter for whole-number ratios: each output pixel the mean of a `kx` x `ky` block,
//! from one plane or from packed YUYV straight into 4:2:0 planes (the 2x2 case with the YUYV
//! kernels of `yuyv`), with row sums the compiler vectorises.

use super::yuyv::{chroma_2x4, luma_2x2};
use crate::frame::{Plane, PlaneRef, YuvPlanes};

/// Largest whole-number ratio the box filter takes (its row sums are 16 bits wide).
const MAX_BOX_FACTOR: usize = 8;

/// The whole-number ratios (`kx`, `ky`) that shrink `src` to exactly `dst`, when the box filter
/// takes them (4:2:0 output needs even sizes).
pub(super) fn box_factors(src: (usize, usize), dst: (usize, usize)) -> Option<(usize, usize)> {
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
pub(super) fn box_plane(
    src: PlaneRef<'_>,
    (kx, ky): (usize, usize),
    dst: &mut Plane,
    sums: &mut Vec<u16>,
) {
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
pub(super) fn box_yuyv(
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

#[cfg(test)]
mod tests {
    use turbojpeg::Subsamp;

    use crate::scale::test_frames::{noisy_yuyv_frame, yuyv_frame};
    use crate::scale::yuyv::split_yuyv;
    use crate::scale::{rescale, Scaler};

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
}
