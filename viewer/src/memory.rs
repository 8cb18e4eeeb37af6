//! camview's memory bound: how much heap it may use for its limits, and the one measurement
//! that tells whether it does (glibc's allocator statistics).
//!
//! Why a watchdog: libzmq hands a multipart message to its reader only when the last part has
//! arrived (multipart messages are atomic), and ZMQ_MAXMSGSIZE limits each part, not the whole.
//! So a publisher sending 1000 parts of 1 MiB made camview's libzmq hold 1 GB before camview
//! could see the first part, and no socket option bounds that. camview therefore watches its
//! heap from the receiving thread, and when it passes the bound computed here it drops and
//! makes again its connections, which frees what libzmq holds (see `receive`).

use std::sync::atomic::{AtomicUsize, Ordering};

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
    let max_pixels = max_pixels.min(MAX_PICTURE_DIMENSION_PX * MAX_PICTURE_DIMENSION_PX);
    BYTES_PER_BUDGET_PIXEL
        .saturating_mul(max_pixels)
        .saturating_add(OWN_MESSAGES.saturating_mul(camwire::MAX_MESSAGE_BYTES))
        .saturating_add(heap_bound_per_connection_bytes())
}

/// The heap a connection that shows nothing may need: libzmq's messages on it (a relay
/// grid's watch on the relay's directory is one).
pub fn heap_bound_per_connection_bytes() -> usize {
    MESSAGES_PER_CONNECTION.saturating_mul(camwire::MAX_MESSAGE_BYTES)
}

/// What the parts of a process hold a share of the heap bound for: the bound is the base plus
/// the shares of everything running now, so it follows a grid that grows (a relay's stream
/// that appears later gets a tile, and the bound grows by one tile). The heap is one for the
/// whole process and so is this.
pub struct HeapBudget {
    shares: AtomicUsize,
}

/// camview's one budget (every receiver of the process takes its share here).
pub static BUDGET: HeapBudget = HeapBudget::new();

impl HeapBudget {
    pub const fn new() -> Self {
        Self {
            shares: AtomicUsize::new(0),
        }
    }

    /// The bound now: the base and every share held.
    pub fn bound_bytes(&self) -> usize {
        BASE_BYTES.saturating_add(self.shares.load(Ordering::Relaxed))
    }

    /// Holds `bytes` of the bound until the share is dropped.
    pub fn share(&self, bytes: usize) -> HeapShare<'_> {
        // Saturating: the sum of shares cannot pass usize::MAX (the bound would be
        // meaningless there anyway), and the share remembers what it really added.
        let mut added = bytes;
        let _ = self
            .shares
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |held| {
                added = bytes.min(usize::MAX - held);
                Some(held + added)
            });
        HeapShare {
            budget: self,
            bytes: added,
        }
    }
}

impl Default for HeapBudget {
    fn default() -> Self {
        Self::new()
    }
}

/// A part of the heap bound held by a running receiver; given back when dropped.
pub struct HeapShare<'a> {
    budget: &'a HeapBudget,
    bytes: usize,
}

impl Drop for HeapShare<'_> {
    fn drop(&mut self) {
        self.budget.shares.fetch_sub(self.bytes, Ordering::Relaxed);
    }
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
    fn the_bound_follows_the_shares_held_now() {
        let budget = HeapBudget::new();
        assert_eq!(budget.bound_bytes(), 64 * MIB);
        let tile = heap_bound_per_tile_bytes(1 << 20);
        let first = budget.share(tile);
        assert_eq!(budget.bound_bytes(), heap_bound_bytes(1 << 20, 1));
        {
            let _second = budget.share(tile);
            let _watch = budget.share(heap_bound_per_connection_bytes());
            assert_eq!(
                budget.bound_bytes(),
                heap_bound_bytes(1 << 20, 2) + 6 * 16 * MIB
            );
        }
        assert_eq!(budget.bound_bytes(), heap_bound_bytes(1 << 20, 1));
        drop(first);
        assert_eq!(budget.bound_bytes(), 64 * MIB);
        // Shares past usize::MAX saturate, and each gives back what it added.
        let huge = budget.share(usize::MAX);
        let more = budget.share(tile);
        assert_eq!(budget.bound_bytes(), usize::MAX);
        drop(huge);
        assert_eq!(budget.bound_bytes(), 64 * MIB);
        drop(more);
        assert_eq!(budget.bound_bytes(), 64 * MIB);
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
