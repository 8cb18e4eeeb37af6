//! The 2x2 box filter's inner loop from YUYV (1280x720 -> 640x360, campub's commonest path) in
//! explicit SIMD: SSE2 on x86_64 and NEON on aarch64, both part of those targets' baseline, so
//! no detection at run time. It owns nothing; `yuyv` calls it and does what it leaves (the last
//! few pixels of a row, and every pixel on other targets) with the portable loop.
//!
//! Why by hand: a 1280x720 YUYV frame (1.8 MB) comes from memory, not cache, and with two rows
//! read side by side the hardware prefetcher left the loop waiting on it; so each block first
//! asks for the same place in the next row pair. And the portable loop vectorises only while
//! LLVM happens to inline its iterator into it, which unrelated changes undid twice (5x slower
//! each time). On the development machine (AMD EPYC), frames out of cache, same run:
//! `yuyv_to_planes/1280x720` 0.226 -> 0.133 ms CPU (medians of 6; docs/PERFORMANCE.md); in a
//! scratch loop, the SIMD alone gained ~15 % and only with the prefetch did it reach 0.09 ms.
#![allow(unsafe_code)] // loads and stores within fixed-size blocks, and prefetch hints

/// Macropixels (`Y0 U Y1 V`, 4 bytes) per block: 64 bytes of each input row. (Used only by
/// tests on targets without a SIMD version.)
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
pub const BLOCK_MACROPIXELS: usize = 16;
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(dead_code)
)]
const BLOCK_BYTES: usize = 4 * BLOCK_MACROPIXELS;

/// The 2x2 box over whole blocks of two YUYV rows: for each macropixel column `m`,
/// `y_row[m]` = rounded mean of the four luma samples, `chroma_pairs[m]` = U summed over both
/// rows in bits 0-15 and V in bits 16-31. `row_ahead` is the distance in bytes from `r0` to the
/// row pair that follows (prefetched; it may lie past the frame: a prefetch never faults).
/// Returns how many macropixels it did (a multiple of `BLOCK_MACROPIXELS`, 0 where there is no
/// SIMD version); the caller does the rest.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub fn luma_2x2_blocks(
    y_row: &mut [u8],
    chroma_pairs: &mut [u32],
    r0: &[u8],
    r1: &[u8],
    row_ahead: usize,
) -> usize {
    let (y_blocks, _) = y_row.as_chunks_mut::<BLOCK_MACROPIXELS>();
    let (pair_blocks, _) = chroma_pairs.as_chunks_mut::<BLOCK_MACROPIXELS>();
    let (a_blocks, _) = r0.as_chunks::<BLOCK_BYTES>();
    let (b_blocks, _) = r1.as_chunks::<BLOCK_BYTES>();
    let blocks = y_blocks
        .len()
        .min(pair_blocks.len())
        .min(a_blocks.len())
        .min(b_blocks.len());
    let rows = y_blocks
        .iter_mut()
        .zip(pair_blocks)
        .zip(a_blocks)
        .zip(b_blocks);
    for (((y, pairs), a), b) in rows {
        arch::prefetch(a.as_ptr().wrapping_add(row_ahead));
        arch::prefetch(b.as_ptr().wrapping_add(row_ahead));
        arch::box_2x2(y, pairs, a, b);
    }
    blocks * BLOCK_MACROPIXELS
}

/// No SIMD version here (armv7's baseline has no NEON): the caller does every macropixel.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub fn luma_2x2_blocks(_: &mut [u8], _: &mut [u32], _: &[u8], _: &[u8], _: usize) -> usize {
    0
}

#[cfg(target_arch = "x86_64")]
mod arch {
    use std::arch::x86_64::{
        __m128i, _mm_add_epi16, _mm_add_epi32, _mm_and_si128, _mm_loadu_si128, _mm_madd_epi16,
        _mm_packs_epi32, _mm_packus_epi16, _mm_prefetch, _mm_set1_epi16, _mm_set1_epi32,
        _mm_srli_epi16, _mm_srli_epi32, _mm_storeu_si128, _MM_HINT_T0,
    };

    use super::{BLOCK_BYTES, BLOCK_MACROPIXELS};

    /// Asks for the cache line at `at`; any address will do.
    #[inline(always)]
    pub fn prefetch(at: *const u8) {
        // SAFETY: a prefetch is a hint: it reads nothing into the program and never faults.
        unsafe { _mm_prefetch::<_MM_HINT_T0>(at.cast()) }
    }

    /// One block of `luma_2x2_blocks`, in SSE2.
    #[inline(always)]
    pub fn box_2x2(
        y: &mut [u8; BLOCK_MACROPIXELS],
        pairs: &mut [u32; BLOCK_MACROPIXELS],
        a: &[u8; BLOCK_BYTES],
        b: &[u8; BLOCK_BYTES],
    ) {
        // SAFETY: `a` and `b` are 64 bytes, read 16 at a time at offsets 0..48; `pairs` is
        // 16 u32 (64 bytes), written 16 bytes at a time at 0..48; `y` is 16 bytes, written
        // once. Unaligned loads and stores take any address.
        unsafe {
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

#[cfg(target_arch = "aarch64")]
mod arch {
    use std::arch::aarch64::{
        uint16x8x2_t, vaddl_high_u8, vaddl_u8, vaddq_u16, vcombine_u8, vget_low_u8, vld4q_u8,
        vrshrn_n_u16, vst1q_u8, vst2q_u16,
    };
    use std::arch::asm;

    use super::{BLOCK_BYTES, BLOCK_MACROPIXELS};

    /// Asks for the cache line at `at`; any address will do.
    #[inline(always)]
    pub fn prefetch(at: *const u8) {
        // SAFETY: `prfm` is a hint: it reads nothing into the program and never faults.
        unsafe {
            asm!("prfm pldl1keep, [{0}]", in(reg) at, options(nostack, preserves_flags, readonly));
        }
    }

    /// One block of `luma_2x2_blocks`, in NEON.
    #[inline(always)]
    pub fn box_2x2(
        y: &mut [u8; BLOCK_MACROPIXELS],
        pairs: &mut [u32; BLOCK_MACROPIXELS],
        a: &[u8; BLOCK_BYTES],
        b: &[u8; BLOCK_BYTES],
    ) {
        // SAFETY: `a` and `b` are 64 bytes, read whole by one de-interleaving load each;
        // `pairs` is 16 u32 (64 bytes), written by two interleaving 32-byte stores at 0 and
        // 32; `y` is 16 bytes, written once.
        unsafe {
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
