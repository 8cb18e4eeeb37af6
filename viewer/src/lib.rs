//! camview's pipeline as a library: receive -> decode -> render, driven by `app`, with its
//! statistics, connection states and errors. The `camview` binary is a thin shell around it; the
//! benchmarks (`bench/`) drive the stages directly, and the fuzz targets in `fuzz/` (and the
//! replay of their corpus in `tests/fuzz_corpus.rs`) drive its message handling.
//!
//! ```
//! let jpeg = turbojpeg::compress(
//!     turbojpeg::Image::mandelbrot(64, 48, turbojpeg::PixelFormat::RGB).as_deref(),
//!     80,
//!     turbojpeg::Subsamp::Sub2x2,
//! )?;
//! let mut decoder = camview::decode::Decoder::new()?;
//! decoder.decode(&jpeg).map_err(|e| e.to_string())?;
//! let picture = decoder.picture().ok_or("no picture")?;
//! assert_eq!((picture.width_px, picture.height_px), (64, 48));
//! assert!(picture.planes().is_some(), "4:2:0 decodes straight to YUV planes");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod app;
pub mod banner;
pub mod config;
pub mod decode;
pub mod decode_thread;
pub mod discover;
pub mod error;
pub mod grid;
pub mod link;
pub mod memory;
pub mod monitor;
pub mod output;
pub mod overlay;
pub mod receive;
pub mod record;
pub mod render;
pub mod security;
pub mod snapshot;
pub mod stats;
pub mod window;

/// Entry points shared by the fuzz targets and the corpus replay test.
#[doc(hidden)]
pub mod fuzzing {
    use crate::decode::{Decoder, Layout, MAX_PICTURE_DIMENSION_PX};

    /// One received message through what camview does with it: the receiver's wire checks,
    /// then decoding on a decoder that lives across messages, as in camview. Panics only if
    /// an invariant breaks (which is what a fuzzer looks for).
    pub fn handle_message(decoder: &mut Decoder, msg: &[u8]) {
        let plausible = camwire::classify(msg).is_ok();
        let before = decoder.picture().map(|p| p.data.clone());
        match decoder.decode(msg) {
            Ok(()) => {
                assert!(plausible, "decoded a message the receiver would refuse");
                let Some(picture) = decoder.picture() else {
                    panic!("decode succeeded without a picture");
                };
                assert!(picture.width_px >= 1 && picture.width_px <= MAX_PICTURE_DIMENSION_PX);
                assert!(picture.height_px >= 1 && picture.height_px <= MAX_PICTURE_DIMENSION_PX);
                match picture.layout {
                    Layout::Yuv420 => assert!(picture.planes().is_some()),
                    Layout::Rgb24 => {
                        assert_eq!(picture.data.len(), 3 * picture.width_px * picture.height_px)
                    }
                }
            }
            Err(e) => {
                assert!(!e.reason().is_empty() && !e.to_string().is_empty());
                assert_eq!(
                    decoder.picture().map(|p| p.data.clone()),
                    before,
                    "a refused message changed the picture"
                );
            }
        }
    }
}
