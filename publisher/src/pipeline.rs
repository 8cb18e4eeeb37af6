//! The pipeline: capture thread -> newest-frame hand-off -> scale/encode -> publish, the
//! processing loop that drives it, and a clean stop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use camthreads::{NewestFrame, TakeError};

use crate::capture::{self, CaptureCounters, CaptureError, FrameSource};
use crate::config::{Config, SourceKind};
use crate::decode::{DecodeError, MjpegDecoder};
use crate::demand::{self, Demand, Viewers};
use crate::encode::{EncodeError, JpegEncoder, Lossless, Passthrough};
use crate::frame::{PixelFormat, RawFrame};
use crate::http::{Feed, PipelineTotals};
use crate::orient::{Orientation, Orienter};
use crate::publish::{PublishError, Publisher};
use crate::scale::{Flips, ScaleError, Scaler};
use crate::stats::Stats;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Capture(#[from] CaptureError),
    #[error(transparent)]
    Publish(#[from] PublishError),
    #[error(transparent)]
    Security(#[from] crate::security::SecurityError),
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),
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
        SourceKind::Rpicam => {
            // The ISP flips (and so turns by 180) for free: rpicam-vid's --hflip/--vflip, ahead
            // of the user's own arguments, which may override them.
            let o = config.orientation;
            let mut args: Vec<String> = [(o.hflip, "--hflip"), (o.vflip, "--vflip")]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, arg)| (*arg).to_owned())
                .collect();
            args.extend(config.rpicam_args.iter().cloned());
            Box::new(capture::rpicam::RpicamSource::start(&config.camera, &args)?)
        }
    })
}

/// Everything between a raw frame and the JPEG that goes on the wire.
pub struct FrameProcessor {
    target_width_px: u32,
    decoder: MjpegDecoder,
    scaler: Scaler,
    encoder: JpegEncoder,
    passthrough: Passthrough,
    /// Rotation and flips campub applies itself (a camera's ISP may have done the flips).
    orientation: Orientation,
    orienter: Orienter,
    /// For camera JPEGs that are passed through: rotated or flipped losslessly.
    lossless: Option<Lossless>,
    /// The camera JPEG size that did not fit a lossless transform (logged once, then decoded).
    lossless_misfit: Option<(u32, u32)>,
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
            orientation: Orientation::default(),
            orienter: Orienter::default(),
            lossless: None,
            lossless_misfit: None,
        })
    }

    /// Rotates and flips every frame (after scaling, so the output is still the target width).
    /// Flips alone (and 180) are the scaler's, in place on the planes it has just written; a
    /// quarter turn is a transpose into planes of its own, with the flips in the same pass.
    pub fn with_orientation(mut self, orientation: Orientation) -> Result<Self, RunError> {
        self.orientation = orientation;
        let flips = if orientation.transpose {
            Flips::default()
        } else {
            Flips {
                hflip: orientation.hflip,
                vflip: orientation.vflip,
            }
        };
        self.scaler = self.scaler.transposed(orientation.transpose).flipped(flips);
        self.lossless = if orientation.is_identity() {
            None
        } else {
            Some(Lossless::new().map_err(|e| RunError::Setup(e.to_string()))?)
        };
        Ok(self)
    }

    pub fn process<'a>(&'a mut self, frame: &'a RawFrame) -> Result<Encoded<'a>, FrameError> {
        let orientation = self.orientation;
        let size = (frame.width_px, frame.height_px);
        let (oriented_w, oriented_h) = orientation.oriented_size(size.0, size.1);
        let planes = match frame.format {
            PixelFormat::Mjpeg
                if oriented_w == self.target_width_px && self.passes_through(frame)? =>
            {
                let jpeg = self.passthrough.prepare(&frame.data);
                let jpeg = match self.lossless.as_mut() {
                    Some(lossless) => lossless.apply(orientation, jpeg)?,
                    None => jpeg,
                };
                return Ok(Encoded {
                    jpeg,
                    width_px: oriented_w,
                    height_px: oriented_h,
                });
            }
            PixelFormat::Mjpeg => {
                let (scaled_w, _) = self.scaler.output_size(size.0, size.1);
                let decoded = self.decoder.decode_scaled(&frame.data, scaled_w as usize)?;
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
                if out_size == (frame.width_px, frame.height_px) && orientation.is_identity() {
                    // Already the output size: libjpeg-turbo reads the planes where they are,
                    // row padding and all (the scaler would copy them first).
                    planes
                } else {
                    self.scaler.scale(planes)?
                }
            }
        };
        let planes = if orientation.transpose {
            self.orienter.apply(orientation, planes)
        } else {
            // Identity, or flips the scaler has done.
            planes
        };
        let (width_px, height_px) = (planes.width_px as u32, planes.height_px as u32);
        let jpeg = self.encoder.encode(planes)?;
        Ok(Encoded {
            jpeg,
            width_px,
            height_px,
        })
    }

    /// Whether a camera JPEG that already has the output width goes out as it is (oriented
    /// losslessly, if asked): not when its size does not fit a lossless transform (logged once
    /// per size; it is decoded and turned instead).
    fn passes_through(&mut self, frame: &RawFrame) -> Result<bool, FrameError> {
        if self.lossless.is_none() {
            return Ok(true);
        }
        let size = (frame.width_px, frame.height_px);
        if self.lossless_misfit == Some(size) {
            return Ok(false);
        }
        if Lossless::check(self.orientation, &frame.data, size)? {
            return Ok(true);
        }
        log::info!(
            "camera JPEGs of {}x{} cannot be rotated or flipped losslessly (the size is not a \
             multiple of the JPEG block on an edge that moves): they are decoded, turned and \
             encoded again",
            size.0,
            size.1
        );
        self.lossless_misfit = Some(size);
        Ok(false)
    }
}

/// What became of a captured frame, e.g. to tell systemd the pipeline is alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameEvent {
    /// Encoded and sent: the number published so far (1 for the first).
    Published(u64),
    /// Captured while nobody watches: not encoded (docs/PERFORMANCE.md, "Nobody watching").
    Idle,
}

/// Called for each published frame and each frame skipped while idle.
pub type OnFrame<'a> = &'a mut dyn FnMut(FrameEvent);

/// Runs until `stop` is set (returns Ok) or the source fails (returns its error).
pub fn run(
    config: &Config,
    source: Box<dyn FrameSource>,
    publisher: &mut Publisher,
    stop: &Arc<AtomicBool>,
    on_frame: OnFrame<'_>,
    http: Option<&Feed>,
) -> Result<(), RunError> {
    let orientation = match config.source {
        // rpicam-vid's ISP does the flips (open_source); campub only a quarter turn's transpose.
        SourceKind::Rpicam => config.orientation.without_flips(),
        _ => config.orientation,
    };
    let mut processor =
        FrameProcessor::new(config.width_px, config.quality)?.with_orientation(orientation)?;
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
    let mut demand = Demand::new(config.idle);
    let mut published: u64 = 0;
    let mut loop_result = Ok(());
    while !stop.load(Ordering::Relaxed) {
        match handoff.take(Duration::from_millis(100)) {
            Ok(frame) => {
                let sent = if watched(&mut demand, publisher, http, published) {
                    process_and_publish(&mut processor, publisher, &frame, &mut stats, http)
                } else {
                    stats.frame_idle();
                    on_frame(FrameEvent::Idle);
                    Ok(false)
                };
                handoff.recycle(frame);
                match sent {
                    Ok(true) => {
                        published += 1;
                        on_frame(FrameEvent::Published(published));
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
        if let Some(feed) = http {
            feed.maybe_sample(|| PipelineTotals {
                captured: counters.captured.load(Ordering::Relaxed),
                dropped_encoder_busy: handoff.replaced(),
                dropped_source: counters.source_dropped.load(Ordering::Relaxed),
                zmq_subscribers: publisher.subscribers_now(),
                idle: demand.is_idle(),
            });
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

/// Whether anyone watches the frame at hand; logs when that changes.
fn watched(
    demand: &mut Demand,
    publisher: &mut Publisher,
    http: Option<&Feed>,
    published: u64,
) -> bool {
    if demand.is_idle() {
        // Sampled at every frame while idle: a new subscriber gets the next frame.
        publisher.refresh_links();
    }
    let viewers = Viewers {
        zmq: publisher.subscribers_now(),
        http: http.map_or(0, Feed::watchers),
    };
    if let Some(change) = demand.update(viewers, published, Instant::now()) {
        log::info!("{}", demand::describe(change, viewers));
    }
    !demand.is_idle()
}

/// One frame through scale/encode and onto the wire. Ok(false): the frame was unusable
/// (logged, counted) and the pipeline goes on; Err: the socket failed.
fn process_and_publish(
    processor: &mut FrameProcessor,
    publisher: &mut Publisher,
    frame: &RawFrame,
    stats: &mut Stats,
    http: Option<&Feed>,
) -> Result<bool, PublishError> {
    let started = Instant::now();
    let out = match processor.process(frame) {
        Ok(out) => out,
        Err(e) => {
            http.inspect(|feed| feed.frame_failed());
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
        http.inspect(|feed| feed.frame_failed());
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
    let latency = frame.captured_at.elapsed();
    stats.frame_published(bytes, started.elapsed(), latency);
    if let Some(feed) = http {
        // The same JPEG as the ZeroMQ message: one encode serves every HTTP client.
        feed.frame(
            out.jpeg,
            out.width_px,
            out.height_px,
            frame.capture_unix_ns,
            latency,
        );
    }
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

    /// Full-range YCbCr of one pixel of a JPEG, decoded to RGB then converted back (to compare
    /// with the pattern's corner marks), averaged over a 5x5 patch around (x, y).
    fn colour_at(rgb: &turbojpeg::Image<Vec<u8>>, (x, y): (usize, usize)) -> [i32; 3] {
        let mut sum = [0i32; 3];
        for dy in 0..5 {
            for dx in 0..5 {
                let i = (y + dy - 2) * rgb.pitch + (x + dx - 2) * 3;
                for (c, total) in sum.iter_mut().enumerate() {
                    *total += i32::from(rgb.pixels[i + c]);
                }
            }
        }
        sum.map(|v| v / 25)
    }

    /// Which corner mark (index into CORNERS_YUV) each corner of `jpeg` shows: top-left,
    /// top-right, bottom-left, bottom-right.
    fn corners(jpeg: &[u8], mark_px: usize) -> [usize; 4] {
        let rgb = turbojpeg::decompress(jpeg, turbojpeg::PixelFormat::RGB).unwrap();
        let (w, h) = (rgb.width, rgb.height);
        let c = mark_px / 2;
        let want: Vec<[i32; 3]> = capture::pattern::CORNERS_YUV
            .iter()
            .map(|&[y, u, v]| {
                let (y, u, v) = (f64::from(y), f64::from(u) - 128.0, f64::from(v) - 128.0);
                [
                    y + 1.402 * v,
                    y - 0.344_136 * u - 0.714_136 * v,
                    y + 1.772 * u,
                ]
                .map(|c| c.round().clamp(0.0, 255.0) as i32)
            })
            .collect();
        [
            (c, c),
            (w - 1 - c, c),
            (c, h - 1 - c),
            (w - 1 - c, h - 1 - c),
        ]
        .map(|at| {
            let got = colour_at(&rgb, at);
            let distance =
                |m: &[i32; 3]| -> i32 { m.iter().zip(&got).map(|(a, b)| (a - b).abs()).sum() };
            let (best, d) = want
                .iter()
                .enumerate()
                .map(|(i, m)| (i, distance(m)))
                .min_by_key(|&(_, d)| d)
                .unwrap();
            assert!(d < 60, "corner at {at:?} is {got:?}, no mark is near it");
            best
        })
    }

    /// The corner marks where `o` puts them: the mark that ends up in each output corner.
    fn expected_corners(o: Orientation) -> [usize; 4] {
        let (w, h) = (2, 2);
        let mut out = [0; 4];
        for (mark, at) in [(0, 0), (1, 0), (0, 1), (1, 1)].into_iter().enumerate() {
            let (ow, _) = o.oriented_size(w, h);
            let (x, y) = o.map(at, (w, h));
            out[y * ow + x] = mark;
        }
        out
    }

    /// A processor to 640 wide at quality 90 that turns as `o` says.
    fn oriented(o: Orientation) -> FrameProcessor {
        FrameProcessor::new(640, 90)
            .unwrap()
            .with_orientation(o)
            .unwrap()
    }

    fn every_orientation() -> Vec<(Rotation, bool, bool)> {
        let mut all = Vec::new();
        for r in [Rotation::R0, Rotation::R90, Rotation::R180, Rotation::R270] {
            for (h, v) in [(false, false), (true, false), (false, true), (true, true)] {
                all.push((r, h, v));
            }
        }
        all
    }

    fn pattern_frame(w: u32, h: u32) -> RawFrame {
        let mut source = capture::pattern::PatternSource::new(w, h, 1000.0).unwrap();
        let mut frame = RawFrame::empty();
        while source.next_frame(&mut frame).unwrap() != capture::Next::Frame {}
        frame
    }

    use crate::orient::Rotation;

    #[test]
    fn the_pattern_turned_and_flipped_through_the_scaler_puts_each_corner_mark_where_asked() {
        // 1280x720 YUYV -> 640 wide: the box filter, then the orienter.
        let frame = pattern_frame(1280, 720);
        let mark = capture::pattern::corner_mark_px(720) / 2;
        for (r, hf, vf) in every_orientation() {
            let o = Orientation::new(r, hf, vf);
            let mut processor = oriented(o);
            let out = processor.process(&frame).unwrap();
            let size = (out.width_px, out.height_px);
            let jpeg = out.jpeg.to_vec();
            let want_size = if o.transpose { (640, 1138) } else { (640, 360) };
            assert_eq!(size, want_size, "{r:?} h{hf} v{vf}");
            let header = turbojpeg::read_header(&jpeg).unwrap();
            assert_eq!((header.width as u32, header.height as u32), size);
            assert_eq!(
                corners(&jpeg, mark),
                expected_corners(o),
                "{r:?} h{hf} v{vf}"
            );
        }
    }

    /// The pattern's frame encoded as a camera would send it: a JPEG of its own size.
    fn camera_jpeg(w: u32, h: u32, subsamp: turbojpeg::Subsamp) -> RawFrame {
        let frame = pattern_frame(w, h);
        let mut scaler = Scaler::new(w);
        let planes = scaler.scale_yuyv(&frame).unwrap();
        let mut encoder = JpegEncoder::new(95).unwrap();
        let yuv_jpeg = encoder.encode(planes).unwrap();
        let rgb = turbojpeg::decompress(yuv_jpeg, turbojpeg::PixelFormat::RGB).unwrap();
        let rgb = rgb.pixels;
        let jpeg = testkit::media::compress_rgb(&rgb, w as usize, h as usize, 95, subsamp);
        RawFrame {
            format: PixelFormat::Mjpeg,
            width_px: w,
            height_px: h,
            data: jpeg,
            ..RawFrame::empty()
        }
    }

    #[test]
    fn camera_jpegs_at_the_output_size_are_turned_losslessly_when_their_blocks_allow() {
        use turbojpeg::Subsamp;
        // 640x480 4:2:2 (16x8 blocks) fits every transform; 640x360 4:2:0 (16x16) leaves a
        // partial row of blocks at the bottom: a vertical flip of it is decoded instead.
        // 640x364 4:2:2 (8-row blocks, half a row left): decoded 4:2:2, its luma plane already
        // the output size (the scaler's mirrored copy of it).
        for (h, subsamp) in [
            (480, Subsamp::Sub2x1),
            (360, Subsamp::Sub2x2),
            (364, Subsamp::Sub2x1),
        ] {
            let frame = camera_jpeg(640, h, subsamp);
            let mark = capture::pattern::corner_mark_px(h as usize);
            for (r, hf, vf) in every_orientation() {
                let o = Orientation::new(r, hf, vf);
                if o.transpose {
                    continue; // not 640 wide once turned: scaled, covered below.
                }
                let mut processor = FrameProcessor::new(640, 90)
                    .unwrap()
                    .with_orientation(o)
                    .unwrap();
                let out = processor.process(&frame).unwrap();
                assert_eq!((out.width_px, out.height_px), (640, h));
                let jpeg = out.jpeg.to_vec();
                let lossless = Lossless::fits(o, 640, h as usize, subsamp);
                assert_eq!(
                    lossless,
                    h == 480 || !o.vflip,
                    "{r:?} h{hf} v{vf} {subsamp:?}"
                );
                assert_eq!(
                    processor.lossless_misfit.is_some(),
                    !lossless,
                    "{r:?} h{hf} v{vf}: decoded only when the transform does not fit"
                );
                if lossless && !o.is_identity() {
                    // Lossless: the same coefficients, so the same size to within the markers.
                    assert!(
                        jpeg.len().abs_diff(frame.data.len()) < 1024,
                        "{r:?} h{hf} v{vf}"
                    );
                }
                assert_eq!(
                    corners(&jpeg, mark),
                    expected_corners(o),
                    "{r:?} h{hf} v{vf} {subsamp:?}"
                );
            }
        }
    }

    #[test]
    fn camera_jpegs_turned_a_quarter_are_decoded_scaled_and_turned() {
        // 480x640 4:2:2 turned 90 degrees is 640x480: lossless, no scaling.
        let frame = camera_jpeg(480, 640, turbojpeg::Subsamp::Sub2x1);
        let o = Orientation::new(Rotation::R90, false, false);
        let mut processor = oriented(o);
        let out = processor.process(&frame).unwrap();
        assert_eq!((out.width_px, out.height_px), (640, 480));
        let jpeg = out.jpeg.to_vec();
        assert!(processor.lossless_misfit.is_none());
        assert_eq!(
            corners(&jpeg, capture::pattern::corner_mark_px(640)),
            expected_corners(o)
        );
        // 1280x720 turned 270: decoded, scaled to 1138x640, transposed to 640x1138.
        let frame = camera_jpeg(1280, 720, turbojpeg::Subsamp::Sub2x1);
        let o = Orientation::new(Rotation::R270, false, false);
        let mut processor = oriented(o);
        let out = processor.process(&frame).unwrap();
        assert_eq!((out.width_px, out.height_px), (640, 1138));
        let jpeg = out.jpeg.to_vec();
        assert_eq!(
            corners(&jpeg, capture::pattern::corner_mark_px(720) / 2),
            expected_corners(o)
        );
    }

    #[test]
    fn flipped_i420_at_the_output_size_is_mirrored_from_its_padded_planes() {
        let frame = i420(640, 360, 704);
        let o = Orientation::new(Rotation::R0, true, false);
        let mut processor = oriented(o);
        let out = processor.process(&frame).unwrap();
        assert_eq!((out.width_px, out.height_px), (640, 360));
        let jpeg = out.jpeg.to_vec();
        // The left half (200) went right, the right half (50) left; no padding shows.
        assert!(luma_at(&jpeg, 10, 180).abs_diff(50) <= 3);
        assert!(luma_at(&jpeg, 630, 180).abs_diff(200) <= 3);
    }

    #[test]
    fn rotated_i420_at_the_output_size_reads_its_padded_planes() {
        // 360x640 I420 with padded rows, turned 90: 640x360, no scaling, no padding shows.
        let frame = i420(360, 640, 384);
        let o = Orientation::new(Rotation::R90, false, false);
        let mut processor = oriented(o);
        let out = processor.process(&frame).unwrap();
        assert_eq!((out.width_px, out.height_px), (640, 360));
        let jpeg = out.jpeg.to_vec();
        // The left half (200) went to the top, the right half (50) to the bottom.
        assert!(luma_at(&jpeg, 320, 40).abs_diff(200) <= 3);
        assert!(luma_at(&jpeg, 320, 320).abs_diff(50) <= 3);
    }
}
