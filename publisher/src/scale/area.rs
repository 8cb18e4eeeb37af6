//! Area resampling of one 8-bit plane: each output pixel is the mean of the input area it
//! covers (OpenCV's INTER_AREA), for the ratios the box filter does not take (a 960x540 MJPEG
//! decode to 640x360, 4:2:2 chroma to 4:2:0 at 3:2...). Separable: rows first (whole rows
//! weighted and added, which vectorises), then columns (a few taps per output pixel). Each
//! axis's taps are computed once per size pair and kept, so a steady stream allocates nothing.

/// Each output pixel's weights add up to this; 8 bits keep every sum in 16 bits
/// (255 x 256 < 65536), so the row pass works on 16-bit lanes.
const ONE: u16 = 256;

/// The taps of one axis: output `i` is `sum(weights[i * taps + k] * input[starts[i] + k])`.
#[derive(Debug, Clone, PartialEq)]
struct AxisTaps {
    from: usize,
    to: usize,
    /// Taps per output pixel (the most any needs; shorter ones are padded with zero weights).
    taps: usize,
    starts: Vec<usize>,
    weights: Vec<u16>,
    /// At exactly 3:2 (960 -> 640, 480 -> 320) every pair of outputs reads the next three
    /// inputs with the same four weights: a loop without per-pixel starts.
    three_to_two: Option<[u16; 4]>,
}

impl AxisTaps {
    /// `from` input pixels onto `to` output pixels (both at least 1).
    fn new(from: usize, to: usize) -> Self {
        if to > from {
            return Self::enlarging(from, to);
        }
        let scale = from as f64 / to as f64;
        let covered = |i: usize| {
            let (a, b) = (i as f64 * scale, (i + 1) as f64 * scale);
            let first = a.floor() as usize;
            let last = (b.ceil() as usize).clamp(first + 1, from);
            (a, b, first, last)
        };
        let taps = (0..to)
            .map(|i| {
                let (_, _, first, last) = covered(i);
                last - first
            })
            .max()
            .unwrap_or(1)
            .min(from);
        let mut starts = Vec::with_capacity(to);
        let mut weights = vec![0u16; to * taps];
        for (i, w) in weights.chunks_exact_mut(taps).enumerate() {
            let (a, b, first, last) = covered(i);
            // Near the end, the window slides left so that it stays inside the input.
            let start = first.min(from - taps);
            starts.push(start);
            let mut total = 0u16;
            let mut heaviest = first - start;
            for j in first..last {
                let overlap = (b.min((j + 1) as f64) - a.max(j as f64)).max(0.0);
                let weight = (overlap / scale * f64::from(ONE)).round() as u16;
                w[j - start] = weight;
                total += weight;
                if weight > w[heaviest] {
                    heaviest = j - start;
                }
            }
            // Rounding may leave the sum off by a little: the heaviest tap takes the rest.
            w[heaviest] = (w[heaviest] + ONE).saturating_sub(total);
        }
        Self::with_pattern(from, to, taps, starts, weights)
    }

    /// Enlarging (a camera narrower than the output): linear interpolation between the two
    /// input pixels around each output pixel's centre, edges held.
    fn enlarging(from: usize, to: usize) -> Self {
        let taps = 2.min(from);
        let mut starts = Vec::with_capacity(to);
        let mut weights = vec![0u16; to * taps];
        let scale = from as f64 / to as f64;
        for (i, w) in weights.chunks_exact_mut(taps).enumerate() {
            let centre = ((i as f64 + 0.5) * scale - 0.5).clamp(0.0, (from - 1) as f64);
            let left = (centre.floor() as usize).min(from - taps);
            starts.push(left);
            if taps == 1 {
                w[0] = ONE;
                continue;
            }
            let right_share = ((centre - left as f64) * f64::from(ONE)).round() as u16;
            w[1] = right_share.min(ONE);
            w[0] = ONE - w[1];
        }
        Self::with_pattern(from, to, taps, starts, weights)
    }

    fn with_pattern(
        from: usize,
        to: usize,
        taps: usize,
        starts: Vec<usize>,
        weights: Vec<u16>,
    ) -> Self {
        let pair = |i: usize| weights.get(i * 2 * taps..(i + 1) * 2 * taps);
        let three_to_two = (from == to / 2 * 3 && to.is_multiple_of(2) && taps == 2)
            .then(|| pair(0))
            .flatten()
            .filter(|first| {
                (0..to / 2).all(|i| {
                    pair(i) == Some(*first)
                        && starts.get(2 * i..2 * i + 2) == Some(&[3 * i, 3 * i + 1][..])
                })
            })
            .and_then(|first| first.try_into().ok());
        Self {
            from,
            to,
            taps,
            starts,
            weights,
            three_to_two,
        }
    }
}

/// Area resampler with its taps and its intermediate plane, kept between frames.
#[derive(Debug, Default)]
pub struct AreaResampler {
    /// Taps by (from, to), for both axes of every plane seen (a handful).
    axes: Vec<AxisTaps>,
    /// The row pass's output: `to_h` rows of the visible width.
    rows_done: Vec<u8>,
    /// One row's 16-bit sums.
    sums: Vec<u16>,
}

impl AreaResampler {
    fn axis(&mut self, from: usize, to: usize) -> usize {
        match self.axes.iter().position(|a| a.from == from && a.to == to) {
            Some(i) => i,
            None => {
                self.axes.push(AxisTaps::new(from, to));
                self.axes.len() - 1
            }
        }
    }

    /// Resamples the top-left `visible` (width, height) of `src` (rows of `src_stride` bytes)
    /// into `dst`, `dst_w` x `dst_h` (rows of `dst_w` bytes). Sizes are at least 1 and the
    /// slices hold them (the caller's planes are laid out that way).
    pub fn resample(
        &mut self,
        src: &[u8],
        src_stride: usize,
        (vis_w, vis_h): (usize, usize),
        dst: &mut [u8],
        (dst_w, dst_h): (usize, usize),
    ) {
        if vis_w == 0 || vis_h == 0 || dst_w == 0 || dst_h == 0 {
            return; // nothing to read or nothing to fill
        }
        let across = self.axis(vis_w, dst_w);
        let down = self.axis(vis_h, dst_h);
        self.rows_done.resize(vis_w * dst_h, 0);
        self.sums.resize(vis_w, 0);
        let down = &self.axes[down];
        // Rows: each output row the weighted sum of a few whole input rows.
        for (out_row, (&start, weights)) in self
            .rows_done
            .chunks_exact_mut(vis_w)
            .zip(down.starts.iter().zip(down.weights.chunks_exact(down.taps)))
        {
            self.sums.fill(ONE / 2);
            for (k, &weight) in weights.iter().enumerate() {
                if weight == 0 {
                    continue;
                }
                let at = (start + k) * src_stride;
                add_weighted(&mut self.sums, &src[at..at + vis_w], weight);
            }
            for (out, &sum) in out_row.iter_mut().zip(&self.sums) {
                *out = (sum >> 8) as u8;
            }
        }
        // Columns: each output pixel the weighted sum of a few neighbours in its row.
        let across = &self.axes[across];
        let rows = self.rows_done.chunks_exact(vis_w);
        for (out_row, row) in dst.chunks_exact_mut(dst_w).zip(rows) {
            if let Some(weights) = across.three_to_two {
                columns_three_to_two(out_row, row, weights);
                continue;
            }
            match across.taps {
                1 => columns::<1>(out_row, row, across),
                2 => columns::<2>(out_row, row, across),
                3 => columns::<3>(out_row, row, across),
                4 => columns::<4>(out_row, row, across),
                _ => columns_any(out_row, row, across),
            }
        }
    }
}

/// `sums[i] += weight * row[i]`, on 16-bit lanes.
fn add_weighted(sums: &mut [u16], row: &[u8], weight: u16) {
    for (sum, &px) in sums.iter_mut().zip(row) {
        *sum += weight * u16::from(px);
    }
}

/// One output row from one input row, `TAPS` taps per pixel (a constant, so the loop unrolls).
fn columns<const TAPS: usize>(out_row: &mut [u8], row: &[u8], taps: &AxisTaps) {
    let weights = taps.weights.chunks_exact(TAPS);
    for ((out, &start), w) in out_row.iter_mut().zip(&taps.starts).zip(weights) {
        let Some(px) = row.get(start..start + TAPS) else {
            continue; // taps lie inside the row by construction
        };
        let mut sum = ONE / 2;
        for k in 0..TAPS {
            sum += w[k] * u16::from(px[k]);
        }
        *out = (sum >> 8) as u8;
    }
}

/// `columns` at exactly 3:2: each pair of outputs from the next three inputs.
fn columns_three_to_two(out_row: &mut [u8], row: &[u8], w: [u16; 4]) {
    for (out, px) in out_row.chunks_exact_mut(2).zip(row.chunks_exact(3)) {
        let (a, b, c) = (u16::from(px[0]), u16::from(px[1]), u16::from(px[2]));
        out[0] = ((w[0] * a + w[1] * b + ONE / 2) >> 8) as u8;
        out[1] = ((w[2] * b + w[3] * c + ONE / 2) >> 8) as u8;
    }
}

/// As `columns`, for any number of taps (ratios beyond 3:1).
fn columns_any(out_row: &mut [u8], row: &[u8], taps: &AxisTaps) {
    let weights = taps.weights.chunks_exact(taps.taps);
    for ((out, &start), w) in out_row.iter_mut().zip(&taps.starts).zip(weights) {
        let px = &row[start..start + taps.taps];
        let sum = w
            .iter()
            .zip(px)
            .fold(ONE / 2, |sum, (&w, &p)| sum + w * u16::from(p));
        *out = (sum >> 8) as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_cover_each_output_area_and_add_up_to_one() {
        for (from, to) in [
            (960, 640),
            (720, 640),
            (480, 320),
            (540, 180),
            (405, 360),
            (7, 3),
        ] {
            let axis = AxisTaps::new(from, to);
            for (i, w) in axis.weights.chunks_exact(axis.taps).enumerate() {
                assert_eq!(w.iter().sum::<u16>(), ONE, "{from}->{to}: output {i}");
                assert!(axis.starts[i] + axis.taps <= from, "{from}->{to}: {i}");
            }
        }
        // 3:2: outputs cover [0, 1.5) and [1.5, 3): weights 2/3 + 1/3, 1/3 + 2/3.
        let axis = AxisTaps::new(3, 2);
        assert_eq!((axis.taps, &axis.starts[..]), (2, &[0, 1][..]));
        assert_eq!(axis.weights, [171, 85, 85, 171]);
        assert_eq!(axis.three_to_two, Some([171, 85, 85, 171]));
        assert_eq!(
            AxisTaps::new(960, 640).three_to_two,
            Some([171, 85, 85, 171])
        );
        assert_eq!(AxisTaps::new(720, 640).three_to_two, None);
    }

    #[test]
    fn enlarging_interpolates_between_neighbours() {
        // 2 -> 4: centres at 0.25, 0.75 (of 2 pixels): -0.25 (held at pixel 0), 0.25, 0.75,
        // 1.25 (held at pixel 1).
        let axis = AxisTaps::new(2, 4);
        assert_eq!(axis.taps, 2);
        assert_eq!(axis.starts, [0, 0, 0, 0]);
        assert_eq!(axis.weights, [256, 0, 192, 64, 64, 192, 0, 256]);
        let mut dst = [0u8; 4];
        AreaResampler::default().resample(&[0, 200], 2, (2, 1), &mut dst, (4, 1));
        assert_eq!(dst, [0, 50, 150, 200]);
        // A single input pixel is repeated.
        assert_eq!(AxisTaps::new(1, 3).weights, [256, 256, 256]);
    }

    #[test]
    fn a_plane_is_the_mean_of_the_areas() {
        // 6x3 -> 4x2 (3:2 across, 3:2 down), visible part of a wider plane.
        let stride = 8;
        let mut src = vec![255u8; stride * 3];
        let values = [
            [0, 30, 60, 90, 120, 150],
            [10, 40, 70, 100, 130, 160],
            [20, 50, 80, 110, 140, 170],
        ];
        for (y, row) in values.iter().enumerate() {
            src[y * stride..y * stride + 6].copy_from_slice(row);
        }
        let mut dst = [0u8; 8];
        AreaResampler::default().resample(&src, stride, (6, 3), &mut dst, (4, 2));
        // Output (0,0) covers x in [0,1.5), y in [0,1.5): weights 2/3, 1/3 on each axis.
        let exact = |x: usize, y: usize| -> f64 {
            let w = [[2.0, 1.0, 0.0], [0.0, 1.0, 2.0]];
            let (wx, wy) = (w[x % 2], w[y % 2]);
            let x0 = 3 * (x / 2);
            let mut sum = 0.0;
            for (dy, wy) in wy.iter().enumerate() {
                for (dx, wx) in wx.iter().enumerate() {
                    sum += wy * wx * f64::from(values[dy][x0 + dx]);
                }
            }
            sum / 9.0
        };
        for y in 0..2 {
            for x in 0..4 {
                let got = f64::from(dst[y * 4 + x]);
                assert!(
                    (got - exact(x, y)).abs() <= 1.0,
                    "({x},{y}): {got} vs {}",
                    exact(x, y)
                );
            }
        }
    }

    #[test]
    fn a_flat_plane_stays_flat_at_any_ratio() {
        for &(from, to) in &[
            ((960, 540), (640, 360)),
            ((720, 405), (640, 360)),
            ((13, 7), (5, 3)),
        ] {
            let src = vec![77u8; from.0 * from.1];
            let mut dst = vec![0u8; to.0 * to.1];
            AreaResampler::default().resample(&src, from.0, from, &mut dst, to);
            assert!(dst.iter().all(|&p| p == 77), "{from:?} -> {to:?}");
        }
    }
}
