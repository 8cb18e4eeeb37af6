//! campub's pipeline as a library: capture -> scale -> encode -> publish, one module per stage.
//! The `campub` binary is a thin shell around it; the benchmarks (`bench/`) drive the stages
//! directly.
//!
//! ```
//! use campub::capture::{pattern::PatternSource, FrameSource, Next};
//! use campub::frame::RawFrame;
//! use campub::pipeline::FrameProcessor;
//!
//! let mut source = PatternSource::new(1280, 720, 1000.0)?;
//! let mut frame = RawFrame::empty();
//! while source.next_frame(&mut frame)? != Next::Frame {}
//! let mut processor = FrameProcessor::new(640, 80)?;
//! let out = processor.process(&frame)?;
//! assert_eq!((out.width_px, out.height_px), (640, 360));
//! assert!(out.jpeg.starts_with(&[0xFF, 0xD8]));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod announce;
pub mod app;
pub mod capture;
pub mod config;
pub mod decode;
pub mod demand;
pub mod encode;
pub mod frame;
pub mod http;
pub mod jpeg;
pub mod links;
pub mod listener;
pub mod orient;
pub mod pipeline;
pub mod publish;
pub mod scale;
pub mod security;
pub mod service;
pub mod shed;
pub mod stats;
