//! camview's message handling as a library: what camview does with each received message
//! (format detection and JPEG decoding into reused buffers), its statistics, connection states
//! and errors. The `camview` binary is built on it; so are the fuzz targets in `fuzz/` and the
//! replay of their corpus in `tests/fuzz_corpus.rs`.
//!
//! ```
//! let mut decoder = camview::decode::Decoder::new().unwrap();
//! assert!(decoder.decode(b"not a frame").is_err());
//! assert!(decoder.picture().is_none());
//! ```

pub mod decode;
pub mod error;
pub mod monitor;
pub mod stats;

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
