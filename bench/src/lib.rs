//! Benchmark support for campub and camview (see docs/PERFORMANCE.md): a CPU-time measurement
//! for criterion, the inputs every benchmark shares (campub's test pattern as YUYV, and as
//! camera-style MJPEG), and a subscriber in a separate process so that publishing really sends.
//!
//! ```
//! let frames = cambench::inputs::pattern_yuyv(320, 240, 2)?;
//! assert_eq!(frames[0].data.len(), 320 * 240 * 2);
//! let jpeg = cambench::inputs::mjpeg_of(&frames[0], cambench::inputs::CAMERA_QUALITY)?;
//! assert!(jpeg.starts_with(&[0xFF, 0xD8]));
//! # Ok::<(), cambench::BenchError>(())
//! ```

pub mod cpu;
pub mod inputs;
pub mod procs;
pub mod subscriber;

/// Why benchmark inputs or helpers could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("campub: {0}")]
    Campub(String),
    #[error("libjpeg-turbo: {0}")]
    Jpeg(#[from] turbojpeg::Error),
    #[error("ZeroMQ: {0}")]
    Zmq(#[from] zmq::Error),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{0}")]
    Other(String),
}
