//! NV12's chroma deinterleave (`U V U V ...` -> a U row and a V row) in explicit SIMD: SSE2 on
//! x86_64, NEON on aarch64, both those targets' baseline, so no detection at run time. The
//! portable loop in `layout` does the rest of a row, and every pixel on other targets.
//!
//! Why by hand: the portable loop, even over fixed-size arrays, took 0.19 ms for a 1280x720
//! frame's chroma on the development machine (x86_64: LLVM did not find the SSE2 form), three
//! times the plain copy of a YUYV frame with a third more data
//! (`cargo bench -p cambench --bench campub -- v4l2_copy`, docs/CAMERAS.md).
#![allow(unsafe_code)] // loads and stores within fixed-size blocks

/// Pairs per block: 32 bytes of interleaved chroma in, 16 bytes to each plane.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub const BLOCK_PAIRS: usize = 16;

/// Splits whole blocks of `pairs` into `first` (even bytes) and `second` (odd bytes); returns
/// how many pairs it did (a multiple of [`BLOCK_PAIRS`]; 0 where there is no SIMD version).
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub fn split_pairs_blocks(pairs: &[u8], first: &mut [u8], second: &mut [u8]) -> usize {
    let (in_blocks, _) = pairs.as_chunks::<{ 2 * BLOCK_PAIRS }>();
    let (a_blocks, _) = first.as_chunks_mut::<BLOCK_PAIRS>();
    let (b_blocks, _) = second.as_chunks_mut::<BLOCK_PAIRS>();
    let blocks = in_blocks.len().min(a_blocks.len()).min(b_blocks.len());
    for ((p, a), b) in in_blocks.iter().zip(a_blocks).zip(b_blocks) {
        arch::split_block(p, a, b);
    }
    blocks * BLOCK_PAIRS
}

/// No SIMD version on this target: the caller does every pair.
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
pub fn split_pairs_blocks(_: &[u8], _: &mut [u8], _: &mut [u8]) -> usize {
    0
}

#[cfg(target_arch = "x86_64")]
mod arch {
    use std::arch::x86_64::{
        __m128i, _mm_and_si128, _mm_loadu_si128, _mm_packus_epi16, _mm_set1_epi16, _mm_srli_epi16,
        _mm_storeu_si128,
    };

    use super::BLOCK_PAIRS;

    /// Even bytes: mask each 16-bit lane to its low byte and pack; odd bytes: shift the high
    /// byte down and pack (unsigned saturation never triggers: every lane is 0-255).
    #[inline(always)]
    pub fn split_block(
        pairs: &[u8; 2 * BLOCK_PAIRS],
        first: &mut [u8; BLOCK_PAIRS],
        second: &mut [u8; BLOCK_PAIRS],
    ) {
        // SAFETY: SSE2 is part of the x86_64 baseline; the unaligned loads read the 32 bytes
        // of `pairs` and the stores write the 16 bytes of each output array, all in bounds by
        // their types.
        unsafe {
            let lo = _mm_loadu_si128(pairs.as_ptr().cast::<__m128i>());
            let hi = _mm_loadu_si128(pairs.as_ptr().add(16).cast::<__m128i>());
            let mask = _mm_set1_epi16(0x00FF);
            let even = _mm_packus_epi16(_mm_and_si128(lo, mask), _mm_and_si128(hi, mask));
            let odd = _mm_packus_epi16(_mm_srli_epi16::<8>(lo), _mm_srli_epi16::<8>(hi));
            _mm_storeu_si128(first.as_mut_ptr().cast::<__m128i>(), even);
            _mm_storeu_si128(second.as_mut_ptr().cast::<__m128i>(), odd);
        }
    }
}

#[cfg(target_arch = "aarch64")]
mod arch {
    use std::arch::aarch64::{vld2q_u8, vst1q_u8};

    use super::BLOCK_PAIRS;

    /// NEON's structure load splits even and odd bytes by itself.
    #[inline(always)]
    pub fn split_block(
        pairs: &[u8; 2 * BLOCK_PAIRS],
        first: &mut [u8; BLOCK_PAIRS],
        second: &mut [u8; BLOCK_PAIRS],
    ) {
        // SAFETY: NEON is part of the aarch64 baseline; vld2q_u8 reads the 32 bytes of `pairs`
        // and each store writes the 16 bytes of one output array, in bounds by their types.
        unsafe {
            let split = vld2q_u8(pairs.as_ptr());
            vst1q_u8(first.as_mut_ptr(), split.0);
            vst1q_u8(second.as_mut_ptr(), split.1);
        }
    }
}
