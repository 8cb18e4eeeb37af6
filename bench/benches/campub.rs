//! campub's stages, one at a time and together, on the test pattern (see docs/PERFORMANCE.md).
//! Every number is CPU time of the whole process per frame ([`cambench::cpu::CpuTime`]).
#![allow(clippy::expect_used)] // broken inputs should stop a benchmark loudly

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use cambench::cpu::CpuTime;
use cambench::inputs::{self, OUTPUT_QUALITY, OUTPUT_WIDTH_PX};
use cambench::subscriber::{self, Subscriber};
use campub::capture::layout::Layout;
use campub::capture::pattern::PatternSource;
use campub::capture::{FrameSource, Next};
use campub::decode::MjpegDecoder;
use campub::encode::{JpegEncoder, Lossless, Passthrough};
use campub::frame::{RawFrame, YuvPlanes};
use campub::orient::{Orientation, Rotation};
use campub::pipeline::FrameProcessor;
use campub::publish::{Publisher, WireMode};
use campub::scale::Scaler;
use camthreads::NewestFrame;
use camwire::StreamName;
use criterion::{BenchmarkId, Criterion};

type Crit = Criterion<CpuTime>;

/// Distinct frames each benchmark cycles through (the pattern moves, so the JPEGs differ).
const FRAMES: usize = 8;
const YUYV_SIZES: [(u32, u32); 3] = [(640, 480), (1280, 720), (1920, 1080)];
const MJPEG_SIZES: [(u32, u32); 2] = [(1280, 720), (1920, 1080)];
/// MJPEG already at the output width: sent as it is.
const PASSTHROUGH_SIZE: (u32, u32) = (640, 480);

fn label((w, h): (u32, u32)) -> String {
    format!("{w}x{h}")
}

/// Cycles through `items`, one per call.
fn cycle<'a, T>(items: &'a [T]) -> impl FnMut() -> &'a T + 'a {
    let mut i = 0;
    move || {
        i = (i + 1) % items.len();
        &items[i]
    }
}

/// Drawing one test-pattern frame: campub's CPU in the end-to-end runs includes it, a camera's
/// would not.
fn capture(c: &mut Crit) {
    let mut source = PatternSource::new(1280, 720, 1e6).expect("pattern");
    let mut frame = RawFrame::empty();
    let mut group = c.benchmark_group("capture");
    group.bench_function("pattern_1280x720", |b| {
        b.iter(|| while source.next_frame(&mut frame).expect("pattern") != Next::Frame {})
    });
    // What V4L2 capture does with each YUYV frame (a copy out of the driver's buffer), over
    // as many frames as the scaling benches cycle through: the cost of just reading a 1280x720
    // YUYV frame from memory once, the floor under any scaling of it.
    let frames = inputs::pattern_yuyv(1280, 720, FRAMES).expect("pattern");
    let mut next = cycle(&frames);
    let mut copy = vec![0u8; frames[0].data.len()];
    group.bench_function("copy_yuyv_1280x720", |b| {
        b.iter(|| {
            copy.copy_from_slice(&next().data);
            black_box(copy[0]);
        })
    });
    group.finish();
}

/// The capture thread's hand-off: in one thread, and to a consumer waiting in another.
fn handoff(c: &mut Crit) {
    let mut group = c.benchmark_group("handoff");
    let slot = NewestFrame::<RawFrame>::new();
    let mut frame = Some(
        inputs::pattern_yuyv(1280, 720, 1)
            .expect("pattern")
            .remove(0),
    );
    group.bench_function("same_thread", |b| {
        b.iter(|| {
            let put = frame.take().expect("a frame to put");
            let spare = slot.put(put);
            let taken = slot.take(Duration::ZERO).expect("the frame just put");
            slot.recycle(taken);
            frame = spare.or_else(|| slot.spare());
        })
    });

    // A round trip: this thread puts, the other (waiting in take) takes and puts it back.
    let there = Arc::new(NewestFrame::<RawFrame>::new());
    let back = Arc::new(NewestFrame::<RawFrame>::new());
    let echo = {
        let (there, back) = (Arc::clone(&there), Arc::clone(&back));
        std::thread::spawn(move || {
            while let Ok(frame) = there.take(Duration::from_secs(60)) {
                back.put(frame);
            }
        })
    };
    let mut frame = Some(RawFrame::empty());
    group.bench_function("to_waiting_thread_and_back", |b| {
        b.iter(|| {
            there.put(frame.take().expect("a frame to put"));
            frame = Some(back.take(Duration::from_secs(10)).expect("echo"));
        })
    });
    group.finish();
    there.close();
    echo.join().expect("echo thread");
}

/// YUYV (and I420) -> 4:2:0 planes at 640 wide.
fn yuyv_to_planes(c: &mut Crit) {
    let mut group = c.benchmark_group("yuyv_to_planes");
    for size in YUYV_SIZES {
        let frames = inputs::pattern_yuyv(size.0, size.1, FRAMES).expect("pattern");
        // The box filter, and the general resizer it replaced for whole-number ratios.
        for (name, scaler) in [
            (label(size), Scaler::new(OUTPUT_WIDTH_PX)),
            (
                format!("{}_general_resizer", label(size)),
                Scaler::new(OUTPUT_WIDTH_PX).without_box_filter(),
            ),
        ] {
            let mut scaler = scaler;
            let mut next = cycle(&frames);
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    let planes = scaler.scale_yuyv(next()).expect("scale");
                    black_box(planes.y.data[0]);
                })
            });
        }
    }
    group.finish();
    // The same picture as rpicam-vid's I420: its planes scaled where they lie.
    let mut group = c.benchmark_group("i420_to_planes");
    let frames = inputs::pattern_i420(1280, 720, 1280, FRAMES).expect("pattern");
    let mut scaler = Scaler::new(OUTPUT_WIDTH_PX);
    let mut next = cycle(&frames);
    group.bench_function(BenchmarkId::from_parameter(label((1280, 720))), |b| {
        b.iter(|| {
            let planes = next().i420_planes().expect("I420 planes");
            let planes = scaler.scale(planes).expect("scale");
            black_box(planes.y.data[0]);
        })
    });
    group.finish();
}

/// Camera MJPEG -> DCT-scaled decode -> 4:2:0 planes at 640 wide.
fn mjpeg_to_planes(c: &mut Crit) {
    let mut group = c.benchmark_group("mjpeg_to_planes");
    for size in MJPEG_SIZES {
        let frames = inputs::pattern_mjpeg(size.0, size.1, FRAMES).expect("pattern");
        let mut decoder = MjpegDecoder::new().expect("decoder");
        for (name, scaler) in [
            (label(size), Scaler::new(OUTPUT_WIDTH_PX)),
            (
                format!("{}_general_resizer", label(size)),
                Scaler::new(OUTPUT_WIDTH_PX).without_box_filter(),
            ),
        ] {
            let mut scaler = scaler;
            let mut next = cycle(&frames);
            group.bench_function(BenchmarkId::from_parameter(name), |b| {
                b.iter(|| {
                    let decoded = decoder
                        .decode_scaled(&next().data, OUTPUT_WIDTH_PX as usize)
                        .expect("decode");
                    let planes = scaler.scale(decoded).expect("scale");
                    black_box(planes.y.data[0]);
                })
            });
        }
    }
    group.finish();
}

/// One 8-bit plane resampled to 640x360 at the ratios MJPEG decoding leaves (960x540 from a
/// 1920x1080 frame decoded at 1/2; 720x405 at 3/8): campub's area resampler, and beside it
/// fast_image_resize's convolution (bilinear, as campub used before), which recomputes its
/// filter coefficients on every call.
fn resample_plane(c: &mut Crit) {
    use fast_image_resize::images::{Image, ImageRef};
    use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};
    let mut group = c.benchmark_group("resample_plane");
    let (tw, th) = (640usize, 360usize);
    for (w, h) in [(960usize, 540usize), (720, 405)] {
        let src: Vec<u8> = (0..w * h)
            .map(|i| ((i * 7 + i / w * 3) % 251) as u8)
            .collect();
        let mut dst = vec![0u8; tw * th];
        let mut area = campub::scale::area::AreaResampler::default();
        group.bench_function(format!("area_{w}x{h}"), |b| {
            b.iter(|| {
                area.resample(&src, w, (w, h), &mut dst, (tw, th));
                black_box(dst[0]);
            })
        });
        let mut resizer = Resizer::new();
        let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
        let src_image =
            ImageRef::new(w as u32, h as u32, &src, PixelType::U8).expect("source image");
        let mut dst_image =
            Image::from_slice_u8(tw as u32, th as u32, &mut dst, PixelType::U8).expect("image");
        group.bench_function(format!("fast_image_resize_{w}x{h}"), |b| {
            b.iter(|| {
                resizer
                    .resize(&src_image, &mut dst_image, &options)
                    .expect("resize");
                black_box(dst_image.buffer()[0]);
            })
        });
    }
    group.finish();
}

/// The 640x360 4:2:0 planes campub encodes for a 1280x720 source.
fn output_planes() -> Vec<YuvPlanes> {
    let frames = inputs::pattern_yuyv(1280, 720, FRAMES).expect("pattern");
    let mut scaler = Scaler::new(OUTPUT_WIDTH_PX);
    frames
        .iter()
        .map(|frame| {
            let planes = scaler.scale_yuyv(frame).expect("scale");
            let mut owned = YuvPlanes::default();
            owned.reshape(planes.width_px, planes.height_px, planes.subsamp);
            let len = owned.y.data.len();
            owned.y.data.copy_from_slice(&planes.y.data[..len]);
            let len = owned.u.data.len();
            owned.u.data.copy_from_slice(&planes.u.data[..len]);
            let len = owned.v.data.len();
            owned.v.data.copy_from_slice(&planes.v.data[..len]);
            owned
        })
        .collect()
}

/// campub's encoder, and beside it the floor: libjpeg-turbo alone on the same planes.
fn encode(c: &mut Crit) {
    let planes = output_planes();
    let mut group = c.benchmark_group("encode");
    let mut encoder = JpegEncoder::new(OUTPUT_QUALITY).expect("encoder");
    let mut next = cycle(&planes);
    group.bench_function("campub_640x360", |b| {
        b.iter(|| black_box(encoder.encode(next().as_ref()).expect("encode").len()))
    });

    let mut compressor = turbojpeg::Compressor::new().expect("compressor");
    compressor
        .set_quality(i32::from(OUTPUT_QUALITY))
        .expect("quality");
    let mut out =
        vec![0; turbojpeg::compressed_buf_len(640, 360, turbojpeg::Subsamp::Sub2x2).expect("size")];
    let mut next = cycle(&planes);
    group.bench_function("floor_libjpeg_turbo_640x360", |b| {
        b.iter(|| {
            let p = next();
            let image = turbojpeg::YuvPlanesImage {
                y_plane: &p.y.data[..],
                u_plane: &p.u.data[..],
                v_plane: &p.v.data[..],
                width: p.width_px,
                height: p.height_px,
                y_stride: p.y.width_px,
                u_stride: p.u.width_px,
                v_stride: p.v.width_px,
                subsamp: p.subsamp,
            };
            black_box(
                compressor
                    .compress_yuv_planes_to_slice(&image, &mut out)
                    .expect("encode"),
            )
        })
    });
    group.finish();
}

/// MJPEG at the output width: sent untouched, or with the standard Huffman tables added.
fn passthrough(c: &mut Crit) {
    let frames =
        inputs::pattern_mjpeg(PASSTHROUGH_SIZE.0, PASSTHROUGH_SIZE.1, FRAMES).expect("pattern");
    let stripped: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| campub::jpeg::strip_huffman_tables(&f.data))
        .collect();
    let mut group = c.benchmark_group("passthrough");
    let mut pass = Passthrough::default();
    let mut next = cycle(&frames);
    group.bench_function(label(PASSTHROUGH_SIZE), |b| {
        b.iter(|| black_box(pass.prepare(&next().data).len()))
    });
    let mut next = cycle(&stripped);
    group.bench_function(
        format!("{}_without_huffman_tables", label(PASSTHROUGH_SIZE)),
        |b| b.iter(|| black_box(pass.prepare(next()).len())),
    );
    group.finish();
}

/// Pause between paced iterations: long enough for the subscriber to take each message.
const PACE: Duration = Duration::from_micros(200);

/// Runs `f` once per iteration with a [`PACE`] pause after it, counting all of the process's
/// CPU (libzmq's I/O thread sending in the pause included). Unpaced, a PUB socket fed faster
/// than its subscriber reads drops messages at its high-water mark, and sending looks free.
/// The pause's own CPU is measured by the `pacing_alone` benchmarks; reports subtract it.
fn paced(b: &mut criterion::Bencher<'_, CpuTime>, mut f: impl FnMut()) {
    b.iter_custom(|iters| {
        let start = cambench::cpu::process_cpu_ns();
        for _ in 0..iters {
            f();
            std::thread::sleep(PACE);
        }
        Duration::from_nanos(cambench::cpu::process_cpu_ns() - start)
    })
}

/// Criterion counts CPU time, so a paced iteration looks short: keep the sample counts such
/// that the wall time (iterations x PACE) stays a few seconds.
fn paced_group(group: &mut criterion::BenchmarkGroup<'_, CpuTime>) {
    group
        .sample_size(10)
        .warm_up_time(Duration::from_millis(20))
        .measurement_time(Duration::from_millis(100));
}

/// A PUB socket on loopback with a subscriber process attached.
fn publisher(context: &zmq::Context) -> (Publisher, Subscriber) {
    let stream = StreamName::new("bench").expect("stream name");
    let mut publisher =
        Publisher::bind(context, "tcp://127.0.0.1:0", WireMode::Native, stream, None)
            .expect("bind");
    let mut sub = Subscriber::spawn(&publisher.endpoint()).expect("subscriber");
    sub.wait_ready(|| {
        publisher
            .publish(&[0xFF, 0xD8, 0xFF, 0xD9], 2, 2, 0)
            .expect("publish");
    })
    .expect("subscriber ready");
    (publisher, sub)
}

/// Publishing one encoded 640x360 frame to a subscriber over loopback TCP.
fn publish(c: &mut Crit) {
    let frames = inputs::pattern_yuyv(1280, 720, FRAMES).expect("pattern");
    let messages = inputs::native_messages(&frames).expect("messages");
    let jpegs: Vec<&[u8]> = messages
        .iter()
        .map(|m| match camwire::classify(m) {
            Ok(camwire::Message::Native(f)) => f.jpeg,
            other => panic!("not a native message: {other:?}"),
        })
        .collect();
    let context = zmq::Context::new();
    let (mut publisher, _sub) = publisher(&context);
    let mut group = c.benchmark_group("publish");
    paced_group(&mut group);
    let mut next = cycle(&jpegs);
    group.bench_function("native_640x360", |b| {
        paced(b, || {
            black_box(publisher.publish(next(), 640, 360, 1).expect("publish"));
        })
    });
    group.bench_function("pacing_alone", |b| paced(b, || {}));
    group.finish();
}

/// Everything campub does per frame after capture: scale, encode, publish to a subscriber.
fn pipeline(c: &mut Crit) {
    let context = zmq::Context::new();
    let (mut publisher, _sub) = publisher(&context);
    let mut processor = FrameProcessor::new(OUTPUT_WIDTH_PX, OUTPUT_QUALITY).expect("processor");
    let mut inputs: Vec<(String, Vec<RawFrame>)> = Vec::new();
    for size in YUYV_SIZES {
        inputs.push((
            format!("yuyv_{}", label(size)),
            inputs::pattern_yuyv(size.0, size.1, FRAMES).expect("pattern"),
        ));
    }
    // rpicam-vid's raw frames: 1280 wide needs no row padding on any Pi.
    inputs.push((
        "i420_1280x720".into(),
        inputs::pattern_i420(1280, 720, 1280, FRAMES).expect("pattern"),
    ));
    for size in MJPEG_SIZES {
        inputs.push((
            format!("mjpeg_{}", label(size)),
            inputs::pattern_mjpeg(size.0, size.1, FRAMES).expect("pattern"),
        ));
    }
    inputs.push((
        format!("mjpeg_{}_passthrough", label(PASSTHROUGH_SIZE)),
        inputs::pattern_mjpeg(PASSTHROUGH_SIZE.0, PASSTHROUGH_SIZE.1, FRAMES).expect("pattern"),
    ));
    // Passthrough is too quick for the subscriber to keep up unpaced; see `paced`.
    let (paced_inputs, unpaced_inputs): (Vec<_>, Vec<_>) = inputs
        .iter()
        .partition(|(name, _)| name.ends_with("passthrough"));
    let mut one = |frame: &RawFrame| {
        let out = processor.process(frame).expect("process");
        black_box(
            publisher
                .publish(out.jpeg, out.width_px, out.height_px, frame.capture_unix_ns)
                .expect("publish"),
        );
    };
    let mut group = c.benchmark_group("pipeline");
    for (name, frames) in unpaced_inputs {
        let mut next = cycle(frames);
        group.bench_function(name.as_str(), |b| b.iter(|| one(next())));
    }
    group.finish();
    let mut group = c.benchmark_group("pipeline");
    paced_group(&mut group);
    for (name, frames) in paced_inputs {
        let mut next = cycle(frames);
        group.bench_function(name.as_str(), |b| paced(b, || one(next())));
    }
    group.bench_function("pacing_alone", |b| paced(b, || {}));
    group.finish();
}

/// A frame of `layout` as the driver's buffer holds it, from the pattern's YUYV or I420 frame.
fn as_driver_buffer(layout: Layout, yuyv: &RawFrame, i420: &RawFrame) -> Vec<u8> {
    let (w, h) = (i420.width_px as usize, i420.height_px as usize);
    let (y, chroma) = i420.data.split_at(w * h);
    let (u, v) = chroma.split_at(chroma.len() / 2);
    match layout {
        Layout::Uyvy => yuyv
            .data
            .chunks_exact(2)
            .flat_map(|p| [p[1], p[0]])
            .collect(),
        Layout::Nv12 => {
            let pairs = u.iter().zip(v).flat_map(|(&u, &v)| [u, v]);
            y.iter().copied().chain(pairs).collect()
        }
        Layout::Yu12 => i420.data.clone(),
        _ => yuyv.data.clone(),
    }
}

/// The V4L2 formats besides YUYV: the copy out of the driver's buffer (which converts them),
/// against YUYV's plain copy, and then the whole frame (copy, scale, encode) against YUYV's.
fn formats(c: &mut Crit) {
    let (w, h) = (1280, 720);
    let yuyv = inputs::pattern_yuyv(w, h, FRAMES).expect("pattern");
    let i420 = inputs::pattern_i420(w, h, w, FRAMES).expect("pattern");
    let mut group = c.benchmark_group("v4l2_copy_1280x720");
    let mut frames = Vec::new();
    for layout in [Layout::Yuyv, Layout::Uyvy, Layout::Nv12, Layout::Yu12] {
        let buffers: Vec<Vec<u8>> = yuyv
            .iter()
            .zip(&i420)
            .map(|(a, b)| as_driver_buffer(layout, a, b))
            .collect();
        let stride = if layout.pixel_format() == campub::frame::PixelFormat::Yuyv {
            w * 2
        } else {
            w
        };
        let mut frame = RawFrame::empty();
        {
            let mut next = cycle(&buffers);
            group.bench_function(layout.name(), |b| {
                b.iter(|| {
                    layout.copy_frame(next(), h, stride, &mut frame.data);
                    black_box(frame.data[0]);
                })
            });
        }
        frame.format = layout.pixel_format();
        (frame.width_px, frame.height_px, frame.stride_bytes) = (w, h, stride);
        frames.push((layout, frame, buffers));
    }
    group.finish();
    let mut group = c.benchmark_group("v4l2_frame_1280x720");
    for (layout, mut frame, buffers) in frames {
        let mut processor =
            FrameProcessor::new(OUTPUT_WIDTH_PX, OUTPUT_QUALITY).expect("processor");
        let mut next = cycle(&buffers);
        group.bench_function(layout.name(), |b| {
            b.iter(|| {
                layout.copy_frame(next(), h, frame.stride_bytes, &mut frame.data);
                black_box(processor.process(&frame).expect("process").jpeg.len());
            })
        });
    }
    group.finish();
}

/// --rotate and the flips: scale + orient + encode against scale + encode (the orientation's
/// whole cost per frame), and for camera JPEGs at the output width the lossless transform
/// against passing them through and against decoding and encoding them.
fn orientation(c: &mut Crit) {
    let frames = inputs::pattern_yuyv(1280, 720, FRAMES).expect("pattern");
    let mut group = c.benchmark_group("orient_yuyv_1280x720");
    for (name, rotation, hflip, vflip) in [
        ("none", Rotation::R0, false, false),
        ("hflip", Rotation::R0, true, false),
        ("vflip", Rotation::R0, false, true),
        ("rotate_180", Rotation::R180, false, false),
        ("rotate_90", Rotation::R90, false, false),
    ] {
        let mut processor = FrameProcessor::new(OUTPUT_WIDTH_PX, OUTPUT_QUALITY)
            .expect("processor")
            .with_orientation(Orientation::new(rotation, hflip, vflip))
            .expect("orientation");
        let mut next = cycle(&frames);
        group.bench_function(name, |b| {
            b.iter(|| black_box(processor.process(next()).expect("process").jpeg.len()))
        });
    }
    group.finish();

    // The flips alone, in place on 640x360 planes as the scaler leaves them, against copying
    // those planes once (what a separate pass would at least cost).
    let mut planes = output_planes().remove(0);
    let mut group = c.benchmark_group("orient_planes_640x360");
    let mut copy = planes.clone();
    group.bench_function("copy", |b| {
        b.iter(|| {
            copy.y.data.copy_from_slice(&planes.y.data);
            copy.u.data.copy_from_slice(&planes.u.data);
            copy.v.data.copy_from_slice(&planes.v.data);
            black_box(copy.y.data[0]);
        })
    });
    for (name, hflip, vflip) in [
        ("hflip_in_place", true, false),
        ("vflip_in_place", false, true),
        ("rotate_180_in_place", true, true),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let (w, h) = (planes.width_px, planes.height_px);
                campub::orient::flip_in_place(&mut planes.y, (w, h), hflip, vflip);
                let chroma = (w / 2, h / 2);
                campub::orient::flip_in_place(&mut planes.u, chroma, hflip, vflip);
                campub::orient::flip_in_place(&mut planes.v, chroma, hflip, vflip);
                black_box(planes.y.data[0]);
            })
        });
    }
    group.finish();

    let jpegs =
        inputs::pattern_mjpeg(PASSTHROUGH_SIZE.0, PASSTHROUGH_SIZE.1, FRAMES).expect("pattern");
    let mut group = c.benchmark_group("orient_mjpeg_640x480");
    let mut pass = Passthrough::default();
    let mut next = cycle(&jpegs);
    group.bench_function("passthrough", |b| {
        b.iter(|| black_box(pass.prepare(&next().data).len()))
    });
    let rot180 = Orientation::new(Rotation::R180, false, false);
    let mut lossless = Lossless::new().expect("transformer");
    let mut next = cycle(&jpegs);
    group.bench_function("rotate_180_lossless", |b| {
        b.iter(|| {
            black_box(
                lossless
                    .apply(rot180, &next().data)
                    .expect("transform")
                    .len(),
            )
        })
    });
    let mut decoder = MjpegDecoder::new().expect("decoder");
    let mut orienter = campub::orient::Orienter::default();
    let mut scaler = Scaler::new(OUTPUT_WIDTH_PX);
    let mut encoder = JpegEncoder::new(OUTPUT_QUALITY).expect("encoder");
    let mut next = cycle(&jpegs);
    group.bench_function("rotate_180_decoded", |b| {
        b.iter(|| {
            let planes = decoder
                .decode_scaled(&next().data, OUTPUT_WIDTH_PX as usize)
                .expect("decode");
            let planes = scaler.scale(planes).expect("scale");
            let planes = orienter.apply(rot180, planes);
            black_box(encoder.encode(planes).expect("encode").len())
        })
    });
    group.finish();
}

fn main() {
    subscriber::serve_if_asked();
    let mut c = Criterion::default()
        .with_measurement(CpuTime)
        .configure_from_args();
    capture(&mut c);
    handoff(&mut c);
    yuyv_to_planes(&mut c);
    mjpeg_to_planes(&mut c);
    resample_plane(&mut c);
    encode(&mut c);
    passthrough(&mut c);
    publish(&mut c);
    pipeline(&mut c);
    formats(&mut c);
    orientation(&mut c);
    c.final_summary();
}
