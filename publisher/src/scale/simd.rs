//! The 2x2 box filter's inner loop from YUYV (1280x720 -> 640x360, campub's commonest path) in
//! explicit SIMD: SSE2 on x86_64 and NEON on aarch64, both part of those targets' baseline, so
//! no detection at run time. It owns nothing; `scale` calls it and does what it leaves (the last
//! few pixels of a row, and every pixel on other targets) with the portable loop.
//!
//! Why by hand: a 1280x720 YUYV frame (1.8 MB) comes from memory, not cache, and with two rows
//! read side by side the hardware prefetcher left the loop waiting on it; so each block first
//! asks for the same place in the next row pair. And the portable loop vectorises only while
//! LLVM happens to inline its iterator into it, which unrelated changes undid twice (5x slower
//! each time). On the development machine (AMD EPYC), frames out of cache, same run:
//! `yuyv_to_planes/1280x720` 0.226 -> 0.133 ms CPU (medians of 6; docs/PERFORMANCE.md); in a
//! scratch loop, the SIMD alone gained ~15 % and only with the prefetch did it reach 0.09 ms.
#![allow(unsafe_code)] // loads, stores and prefetches at offsets checked against slice lengths

/// Macropixels (`Y0 U Y1 V`, 4 bytes) per block: 64 bytes of each input row.
pub const BLOCK_MACROPIXELS: usize = 16;

/// The 2x2 box over whole blocks of two YUYV rows: for each macropixel column `m`,
/// `y_row[m]` = rounded mean of the four luma samples, `chroma_pairs[m]` = U summed over both
/// rows in bits 0-15 and V in bits 16-31. `row_ahead` is the distance in bytes from `r0` to the
/// row pair that follows (prefetched; it may lie past the frame: a prefetch never faults).
/// Returns how many macropixels it did (a multiple of `BLOCK_MACROPIXELS`, 0 where there is no
/// SIMD version); the caller does the rest.
pub fn luma_2x2_blocks(
    y_row: &mut [u8],
    chroma_pairs: &mut [u32],
    r0: &[u8],
    r1: &[u8],
    row_ahead: usize,
) -> usize {
    let columns = y_row
        .len()
        .min(chroma_pairs.len())
        .min(r0.len() / 4)
        .min(r1.len() / 4);
    let blocks = columns / BLOCK_MACROPIXELS;
    let done = blocks * BLOCK_MACROPIXELS;
    let work = (
        &mut y_row[..done],
        &mut chroma_pairs[..done],
        &r0[..done * 4],
        &r1[..done * 4],
    );
    #[cfg(target_arch = "x86_64")]
    {
        sse2::luma_2x2(work.0, work.1, work.2, work.3, row_ahead);
        done
    }
    #[cfg(target_arch = "aarch64")]
    {
        neon::luma_2x2(work.0, work.1, work.2, work.3, row_ahead);
        done
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = (work, row_ahead);
        0
    }
}

#[cfg(target_arch = "x86_64")]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi16, _mm_add_epi32, _mm_and_si128, _mm_loadu_si128, _mm_madd_epi16,
        _mm_packs_epi32, _mm_packus_epi16, _mm_prefetch, _mm_set1_epi16, _mm_set1_epi32,
        _mm_srli_epi16, _mm_srli_epi32, _mm_storeu_si128, _MM_HINT_T0,
    };

    use super::BLOCK_MACROPIXELS;

    /// All slices hold whole blocks: `y` and `pairs` `n` entries, `r0` and `r1` `4 n` bytes.
    pub fn luma_2x2(y: &mut [u8], pairs: &mut [u32], r0: &[u8], r1: &[u8], row_ahead: usize) {
        let blocks = y
            .chunks_exact_mut(BLOCK_MACROPIXELS)
            .zip(pairs.chunks_exact_mut(BLOCK_MACROPIXELS))
            .zip(r0.chunks_exact(4 * BLOCK_MACROPIXELS))
            .zip(r1.chunks_exact(4 * BLOCK_MACROPIXELS));
        for (((y, pairs), a), b) in blocks {
            // SAFETY: `a` and `b` are 64 bytes, read 16 at a time at offsets 0..48; `pairs` is
            // 16 u32 (64 bytes), written 16 bytes at a time at 0..48; `y` is 16 bytes, written
            // once. Unaligned loads and stores take any address; the prefetch reads nothing.
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(a.as_ptr().wrapping_add(row_ahead).cast());
                _mm_prefetch::<_MM_HINT_T0>(b.as_ptr().wrapping_add(row_ahead).cast());
                let low_bytes = _mm_set1_epi16(0x00FF);
                let ones = _mm_set1_epi16(1);
                let two = _mm_set1_epi32(2);
                let mut luma = [_mm_set1_epi32(0); 4];
                for (j, luma) in luma.iter_mut().enumerate() {
                    let a = _mm_loadu_si128(a.as_ptr().add(16 * j).cast::<__m128i>());
                    let b = _mm_loadu_si128(b.as_ptr().add(16 * j).cast::<__m128i>());
                    // 16-bit lanes `Y U` and `Y V`: luma in the low bytes, chroma in the high.
                    let y_sums =
                        _mm_add_epi16(_mm_and_si128(a, low_bytes), _mm_and_si128(b, low_bytes));
                    let uv_sums = _mm_add_epi16(_mm_srli_epi16::<8>(a), _mm_srli_epi16::<8>(b));
                    // U, V, U, V... as 16-bit lanes is the pairs' layout (U low, V high).
                    _mm_storeu_si128(pairs.as_mut_ptr().add(4 * j).cast::<__m128i>(), uv_sums);
                    // Adjacent lanes added: the four samples of each macropixel column.
                    let sums = _mm_madd_epi16(y_sums, ones);
                    *luma = _mm_srli_epi32::<2>(_mm_add_epi32(sums, two));
                }
                let words_low = _mm_packs_epi32(luma[0], luma[1]);
                let words_high = _mm_packs_epi32(luma[2], luma[3]);
                let bytes = _mm_packus_epi16(words_low, words_high);
                _mm_storeu_si128(y.as_mut_ptr().cast::<__m128i>(), bytes);
            }
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod neon {
    use std::arch::aarch64::{
        uint16x8x2_t, vaddl_high_u8, vaddl_u8, vaddq_u16, vcombine_u8, vget_low_u8, vld4q_u8,
        vrshrn_n_u16, vst1q_u8, vst2q_u16,
    };
    use std::arch::asm;

    use super::BLOCK_MACROPIXELS;

    /// All slices hold whole blocks: `y` and `pairs` `n` entries, `r0` and `r1` `4 n` bytes.
    pub fn luma_2x2(y: &mut [u8], pairs: &mut [u32], r0: &[u8], r1: &[u8], row_ahead: usize) {
        let blocks = y
            .chunks_exact_mut(BLOCK_MACROPIXELS)
            .zip(pairs.chunks_exact_mut(BLOCK_MACROPIXELS))
            .zip(r0.chunks_exact(4 * BLOCK_MACROPIXELS))
            .zip(r1.chunks_exact(4 * BLOCK_MACROPIXELS));
        for (((y, pairs), a), b) in blocks {
            // SAFETY: `a` and `b` are 64 bytes, read whole by one de-interleaving load each;
            // `pairs` is 16 u32 (64 bytes), written by two interleaving 32-byte stores at 0 and
            // 32; `y` is 16 bytes, written once. `prfm` is a hint: it reads nothing, never faults.
            unsafe {
                for row in [a, b] {
                    let ahead = row.as_ptr().wrapping_add(row_ahead);
                    asm!("prfm pldl1keep, [{0}]", in(reg) ahead, options(nostack, preserves_flags, readonly));
                }
                // Y0 of each macropixel in .0, U in .1, Y1 in .2, V in .3.
                let a = vld4q_u8(a.as_ptr());
                let b = vld4q_u8(b.as_ptr());
                let (a_low, b_low) = (
                    vaddl_u8(vget_low_u8(a.0), vget_low_u8(a.2)),
                    vaddl_u8(vget_low_u8(b.0), vget_low_u8(b.2)),
                );
                let (a_high, b_high) = (vaddl_high_u8(a.0, a.2), vaddl_high_u8(b.0, b.2));
                // (sum + 2) >> 2, narrowed to bytes.
                let luma_low = vrshrn_n_u16::<2>(vaddq_u16(a_low, b_low));
                let luma_high = vrshrn_n_u16::<2>(vaddq_u16(a_high, b_high));
                vst1q_u8(y.as_mut_ptr(), vcombine_u8(luma_low, luma_high));
                let u = (
                    vaddl_u8(vget_low_u8(a.1), vget_low_u8(b.1)),
                    vaddl_high_u8(a.1, b.1),
                );
                let v = (
                    vaddl_u8(vget_low_u8(a.3), vget_low_u8(b.3)),
                    vaddl_high_u8(a.3, b.3),
                );
                // Interleaved U, V, U, V... 16-bit: the pairs' layout (U low, V high).
                let out = pairs.as_mut_ptr().cast::<u16>();
                vst2q_u16(out, uint16x8x2_t(u.0, v.0));
                vst2q_u16(out.add(16), uint16x8x2_t(u.1, v.1));
            }
        }
    }
}
