//! camview's memory bound: how much heap it may use for its limits, and the one measurement
//! that tells whether it does (glibc's allocator statistics).
//!
//! Why a watchdog: libzmq hands a multipart message to its reader only when the last part has
//! arrived (multipart messages are atomic), and ZMQ_MAXMSGSIZE limits each part, not the whole.
//! So a publisher sending 1000 parts of 1 MiB made camview's libzmq hold 1 GB before camview
//! could see the first part, and no socket option bounds that. camview therefore watches its
//! heap from the receiving thread, and when it passes the bound computed here it drops and
//! makes again its connections, which frees what libzmq holds (see `receive`).

use crate::decode::MAX_PICTURE_DIMENSION_PX;

const MIB: usize = 1024 * 1024;

/// Heap for everything that does not grow with the limits: SDL, the font, the banner, libzmq's
/// threads, the allocator's own slack.
const BASE_BYTES: usize = 64 * MIB;
/// Heap per pixel of the pixel budget: four pictures (each of the two decoders that take turns
/// holds its last picture and the one it decodes into; 3 bytes each in RGB, the worst layout),
/// libjpeg-turbo's coefficient buffer for a progressive JPEG (6 bytes for 4:4:4), the texture
/// (3), and 1 of slack.
const BYTES_PER_BUDGET_PIXEL: usize = 22;
/// Messages of up to camwire::MAX_MESSAGE_BYTES that libzmq may hold per connection: its queue
/// (RCVHWM, 4), the one it is reading and the one CURVE is decrypting.
const MESSAGES_PER_CONNECTION: usize = 6;
/// Messages camview itself may hold: the one being screened, the newest waiting, two spare
/// buffers and the one being decoded.
const OWN_MESSAGES: usize = 5;

/// The most heap camview needs for `max_pixels` and `tiles` endpoints, in bytes: the base,
/// plus [`heap_bound_per_tile_bytes`] for each endpoint (one endpoint is one stream; several
/// are a grid, each tile with its own connection, decoders and messages).
pub fn heap_bound_bytes(max_pixels: usize, tiles: usize) -> usize {
    BASE_BYTES.saturating_add(heap_bound_per_tile_bytes(max_pixels).saturating_mul(tiles.max(1)))
}

/// The heap one stream (one grid tile) may need for `max_pixels`: its decoders' pictures and
/// texture, libzmq's messages on its connection and its own messages.
pub fn heap_bound_per_tile_bytes(max_pixels: usize) -> usize {
    let messages = OWN_MESSAGES + MESSAGES_PER_CONNECTION;
    let max_pixels = max_pixels.min(MAX_PICTURE_DIMENSION_PX * MAX_PICTURE_DIMENSION_PX);
    BYTES_PER_BUDGET_PIXEL
        .saturating_mul(max_pixels)
        .saturating_add(messages.saturating_mul(camwire::MAX_MESSAGE_BYTES))
}

/// Bytes of heap in use now (allocated, in arenas or mapped), or `None` where that cannot be
/// measured (not glibc): camview then runs without the watchdog.
pub fn heap_in_use_bytes() -> Option<usize> {
    mallinfo_in_use()
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn mallinfo_in_use() -> Option<usize> {
    // SAFETY: mallinfo2 (glibc 2.33+) takes no arguments, touches no memory of ours and
    // returns a plain struct by value; it takes the allocator's locks itself.
    let info = unsafe { libc::mallinfo2() };
    Some(info.uordblks.saturating_add(info.hblkhd))
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn mallinfo_in_use() -> Option<usize> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_grows_with_the_budget_and_the_tiles() {
        let default = heap_bound_bytes(crate::decode::DEFAULT_MAX_PIXELS, 1);
        assert_eq!(default, 64 * MIB + 22 * 4096 * 4096 + 11 * 16 * MIB);
        assert_eq!(default / MIB, 592);
        assert!(heap_bound_bytes(1 << 20, 1) < default);
        // Each further tile has its own decoders, texture and messages.
        assert_eq!(
            heap_bound_bytes(1 << 20, 2) - heap_bound_bytes(1 << 20, 1),
            22 * (1 << 20) + 11 * 16 * MIB
        );
        assert_eq!(
            heap_bound_bytes(1 << 20, 4),
            64 * MIB + 4 * heap_bound_per_tile_bytes(1 << 20)
        );
        assert_eq!(
            heap_bound_bytes(usize::MAX, 1),
            heap_bound_bytes(8192 * 8192, 1)
        );
    }

    #[test]
    fn the_heap_is_measured() {
        let block = vec![1u8; 64 * MIB];
        let during = heap_in_use_bytes().unwrap();
        // Other tests allocate and free meanwhile; this block alone is in use for certain.
        assert!(during >= 64 * MIB, "{during}");
        drop(block);
    }
}
