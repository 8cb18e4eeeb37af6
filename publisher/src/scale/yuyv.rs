//! The kernels that read packed YUYV (`Y0 U Y1 V` macropixels): the 2x2 box's rows (SIMD in
//! `simd`, the rest portable), same-size 4:2:2 -> 4:2:0, and the split into 4:2:2 planes.

use super::simd;
use crate::frame::YuvPlanes;

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
pub(super) fn luma_2x2(
    y_row: &mut [u8],
    chroma_pairs: &mut [u32],
    r0: &[u8],
    r1: &[u8],
    row_ahead: usize,
) {
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
pub(super) fn chroma_2x4(u_row: &mut [u8], v_row: &mut [u8], pairs_a: &[u32], pairs_b: &[u32]) {
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
pub(super) fn yuyv_to_420(data: &[u8], stride: usize, out: &mut YuvPlanes) {
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

/// YUYV rows -> Y, U, V planes (4:2:2, chroma half width, full height).
pub(super) fn split_yuyv(data: &[u8], stride: usize, planes: &mut YuvPlanes) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scale::test_frames::noisy_yuyv_frame;
    use crate::scale::Scaler;

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
}
