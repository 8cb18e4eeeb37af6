//! The pipeline: capture thread -> newest-frame hand-off -> scale/encode -> publish, the
//! processing loop that drives it, and a clean stop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use camthreads::{NewestFrame, TakeError};

use crate::capture::{self, CaptureCounters, CaptureError, FrameSource};
use crate::config::{Config, SourceKind};
use crate::decode::{DecodeError, MjpegDecoder};
use crate::encode::{EncodeError, JpegEncoder, Passthrough};
use crate::frame::{PixelFormat, RawFrame};
use crate::publish::{PublishError, Publisher};
use crate::scale::{ScaleError, Scaler};
use crate::stats::Stats;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    Security(#[from] crate::security::SecurityError),
    #[error("cannot set up the encoder: {0}")]
    Setup(String),
    #[error("cannot start the capture thread: {0}")]
    Thread(std::io::Error),
    #[error("the capture thread panicked (a bug: please report it with the log)")]
    CapturePanicked,
    #[error("cannot handle signal {signal}: {source}")]
    Signal { signal: i32, source: std::io::Error },
}

impl RunError {
    /// A configuration error that shows only once the camera is open (a `--control` it does not
    /// have or a value it does not take): campub exits 2 on it, as on a bad option, so a service
    /// manager does not retry it.
    pub fn is_configuration(&self) -> bool {
        matches!(self, Self::Capture(CaptureError::Control { .. }))
    }
}

/// Why one frame could not be published; the pipeline logs it and goes on with the next.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Scale(#[from] ScaleError),
    #[error(transparent)]
    Encode(#[from] EncodeError),
    #[error("I420 frame of {width_px}x{height_px} (stride {stride_bytes}) has {got} bytes, expected {need}")]
    BadI420 {
        width_px: u32,
        height_px: u32,
        stride_bytes: u32,
        got: usize,
        need: usize,
    },
}

/// Opens the configured source (in the caller's thread, so errors show before anything runs).
pub fn open_source(config: &Config) -> Result<Box<dyn FrameSource>, CaptureError> {
    Ok(match &config.source {
        SourceKind::V4l2 => Box::new(capture::v4l2::V4l2Source::open(&config.camera)?),
        SourceKind::Pattern => Box::new(capture::pattern::PatternSource::new(
            config.camera.width_px,
            config.camera.height_px,
            f64::from(config.camera.fps),
        )?),
        SourceKind::File(path) => Box::new(capture::file::FileSource::open(
            path,
            f64::from(config.camera.fps),
        )?),
        SourceKind::Exec(command) => Box::new(capture::exec::ExecSource::start(
            command,
            config.exec_format,
            config.camera.width_px,
            config.camera.height_px,
        )?),
        SourceKind::Rpicam => Box::new(capture::rpicam::RpicamSource::start(
            &config.camera,
            &config.rpicam_args,
        )?),
    })
}

/// Everything between a raw frame and the JPEG that goes on the wire.
pub struct FrameProcessor {
    target_width_px: u32,
    decoder: MjpegDecoder,
    scaler: Scaler,
    encoder: JpegEncoder,
    passthrough: Passthrough,
}

/// A JPEG ready to publish, borrowed from the processor or the frame.
pub struct Encoded<'a> {
    pub jpeg: &'a [u8],
    pub width_px: u32,
    pub height_px: u32,
}

impl FrameProcessor {
    pub fn new(target_width_px: u32, quality: u8) -> Result<Self, RunError> {
        Ok(Self {
            target_width_px,
            decoder: MjpegDecoder::new().map_err(|e| RunError::Setup(e.to_string()))?,
            scaler: Scaler::new(target_width_px),
            encoder: JpegEncoder::new(quality).map_err(|e| RunError::Setup(e.to_string()))?,
            passthrough: Passthrough::default(),
        })
    }

    pub fn process<'a>(&'a mut self, frame: &'a RawFrame) -> Result<Encoded<'a>, FrameError> {
        let planes = match frame.format {
            PixelFormat::Mjpeg if frame.width_px == self.target_width_px => {
                return Ok(Encoded {
                    jpeg: self.passthrough.prepare(&frame.data),
                    width_px: frame.width_px,
                    height_px: frame.height_px,
                });
            }
            PixelFormat::Mjpeg => {
                let decoded = self
                    .decoder
                    .decode_scaled(&frame.data, self.target_width_px as usize)?;
                self.scaler.scale(decoded)?
            }
            PixelFormat::Yuyv => self.scaler.scale_yuyv(frame)?,
            PixelFormat::I420 => {
                let planes = frame.i420_planes().ok_or(FrameError::BadI420 {
                    width_px: frame.width_px,
                    height_px: frame.height_px,
                    stride_bytes: frame.stride_bytes,
                    got: frame.data.len(),
                    need: crate::frame::i420_frame_bytes(
                        frame.stride_bytes as usize,
                        frame.height_px as usize,
                    ),
                })?;
                let out_size = self.scaler.output_size(frame.width_px, frame.height_px);
                if out_size == (frame.width_px, frame.height_px) {
                    // Already the output size: libjpeg-turbo reads the planes where they are,
                    // row padding and all (the scaler would copy them first).
                    planes
                } else {
                    self.scaler.scale(planes)?
                }
            }
        };
        let (width_px, height_px) = (planes.width_px as u32, planes.height_px as u32);
        let jpeg = self.encoder.encode(planes)?;
        Ok(Encoded {
            jpeg,
            width_px,
            height_px,
        })
    }
}

/// Called once per published frame (after the first one too), e.g. to tell systemd.
pub type OnPublished<'a> = &'a mut dyn FnMut(u64);

/// Runs until `stop` is set (returns Ok) or the source fails (returns its error).
pub fn run(
    config: &Config,
    source: Box<dyn FrameSource>,
    publisher: &mut Publisher,
    stop: &Arc<AtomicBool>,
    on_published: OnPublished<'_>,
) -> Result<(), RunError> {
    let mut processor = FrameProcessor::new(config.width_px, config.quality)?;
    let handoff = Arc::new(NewestFrame::<RawFrame>::new());
    let counters = Arc::new(CaptureCounters::default());
    let capture_thread = capture::spawn(
        source,
        Arc::clone(&handoff),
        Arc::clone(stop),
        Arc::clone(&counters),
        config.stall_timeout,
    )
    .map_err(RunError::Thread)?;

    let mut stats = Stats::new(config.stats_interval);
    let mut published: u64 = 0;
    let mut loop_result = Ok(());
    while !stop.load(Ordering::Relaxed) {
        match handoff.take(Duration::from_millis(100)) {
            Ok(frame) => {
                let sent = process_and_publish(&mut processor, publisher, &frame, &mut stats);
                handoff.recycle(frame);
                match sent {
                    Ok(true) => {
                        published += 1;
                        on_published(published);
                    }
                    Ok(false) => {}
                    Err(e) => {
                        loop_result = Err(RunError::Publish(e));
                        break;
                    }
                }
            }
            Err(TakeError::Timeout) => {}
            Err(TakeError::Closed) => break,
        }
        stats.maybe_log(&counters, handoff.replaced(), || {
            publisher.take_link_summary()
        });
    }

    // Stop capture whichever way we got here, and report its error first: it is the cause.
    stop.store(true, Ordering::Relaxed);
    match capture_thread.join() {
        Ok(Err(e)) => return Err(RunError::Capture(e)),
        Ok(Ok(())) => {}
        Err(_) => return Err(RunError::CapturePanicked),
    }
    loop_result
}

/// One frame through scale/encode and onto the wire. Ok(false): the frame was unusable
/// (logged, counted) and the pipeline goes on; Err: the socket failed.
fn process_and_publish(
    processor: &mut FrameProcessor,
    publisher: &mut Publisher,
    frame: &RawFrame,
    stats: &mut Stats,
) -> Result<bool, PublishError> {
    let started = Instant::now();
    let out = match processor.process(frame) {
        Ok(out) => out,
        Err(e) => {
            let failures = stats.frame_failed();
            // A camera sending garbage should not flood the journal.
            if failures <= 5 || failures.is_power_of_two() {
                log::warn!("skipping a frame ({failures} so far): {e}");
            }
            return Ok(false);
        }
    };
    let sent = publisher.publish(out.jpeg, out.width_px, out.height_px, frame.capture_unix_ns)?;
    let Some(bytes) = sent else {
        let failures = stats.frame_failed();
        if failures <= 5 || failures.is_power_of_two() {
            log::warn!(
                "skipping a frame ({failures} so far): its {} byte JPEG makes a message over \
                 the {} byte limit of docs/PROTOCOL.md (lower --quality or the size)",
                out.jpeg.len(),
                camwire::MAX_MESSAGE_BYTES
            );
        }
        return Ok(false);
    };
    stats.frame_published(bytes, started.elapsed(), frame.captured_at.elapsed());
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_control_is_a_configuration_error_a_lost_camera_is_not() {
        let control = RunError::Capture(CaptureError::Control {
            device: "/dev/video0".into(),
            request: "brightness=300".into(),
            reason: "300 is out of range".into(),
        });
        assert!(control.is_configuration());
        assert_eq!(
            control.to_string(),
            "/dev/video0: --control brightness=300: 300 is out of range"
        );
        let lost = RunError::Capture(CaptureError::Lost {
            device: "/dev/video0".into(),
            source: std::io::Error::from_raw_os_error(19),
        });
        assert!(!lost.is_configuration());
        assert!(!RunError::CapturePanicked.is_configuration());
    }

    /// An I420 frame: luma 200 on the left half, 50 on the right; neutral chroma; rows padded
    /// with junk luma 0.
    fn i420(w: usize, h: usize, stride: usize) -> RawFrame {
        let mut data = vec![0u8; crate::frame::i420_frame_bytes(stride, h)];
        for row in data[..stride * h].chunks_exact_mut(stride) {
            row[..w / 2].fill(200);
            row[w / 2..w].fill(50);
        }
        data[stride * h..].fill(128);
        RawFrame {
            format: PixelFormat::I420,
            width_px: w as u32,
            height_px: h as u32,
            stride_bytes: stride as u32,
            data,
            ..RawFrame::empty()
        }
    }

    fn luma_at(jpeg: &[u8], x: usize, y: usize) -> u8 {
        let gray = turbojpeg::decompress(jpeg, turbojpeg::PixelFormat::GRAY).unwrap();
        gray.pixels[y * gray.pitch + x]
    }

    #[test]
    fn i420_at_the_output_size_is_encoded_from_its_padded_planes() {
        let mut processor = FrameProcessor::new(600, 90).unwrap();
        let frame = i420(600, 340, 640);
        let out = processor.process(&frame).unwrap();
        assert_eq!((out.width_px, out.height_px), (600, 340));
        let jpeg = out.jpeg.to_vec();
        assert!(luma_at(&jpeg, 100, 300).abs_diff(200) <= 3);
        assert!(
            luma_at(&jpeg, 590, 10).abs_diff(50) <= 3,
            "no padding shows"
        );
    }

    #[test]
    fn i420_is_scaled_to_the_output_width() {
        let mut processor = FrameProcessor::new(320, 90).unwrap();
        let frame = i420(640, 360, 704);
        let out = processor.process(&frame).unwrap();
        assert_eq!((out.width_px, out.height_px), (320, 180));
        let jpeg = out.jpeg.to_vec();
        assert!(luma_at(&jpeg, 40, 90).abs_diff(200) <= 3);
        assert!(luma_at(&jpeg, 300, 90).abs_diff(50) <= 3);
    }

    #[test]
    fn an_i420_frame_of_the_wrong_length_is_skipped_not_a_panic() {
        let mut processor = FrameProcessor::new(320, 90).unwrap();
        let mut frame = i420(640, 360, 640);
        frame.data.pop();
        let err = processor.process(&frame).err().unwrap().to_string();
        assert!(err.contains("345599 bytes, expected 345600"), "{err}");
    }
}
