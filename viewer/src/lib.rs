//! camview's pipeline as a library: receive -> decode -> render, driven by `app`. The `camview`
//! binary is a thin shell around it; the benchmarks (`bench/`) drive the stages directly.
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
pub mod config;
pub mod decode;
pub mod error;
pub mod overlay;
pub mod receive;
pub mod render;
pub mod snapshot;
pub mod stats;
