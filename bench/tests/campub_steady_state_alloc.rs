//! campub allocates nothing per frame once running: every buffer is reused. Counted with dhat's
//! allocator (every Rust allocation, in every thread); C libraries' own mallocs (libjpeg-turbo,
//! libzmq) are not seen here and are covered in docs/PERFORMANCE.md.
//! One test per file: dhat's counts are process-wide.
#![allow(clippy::unwrap_used)] // test helpers

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use argh::FromArgs as _;
use cambench::inputs::{self, OUTPUT_QUALITY, OUTPUT_WIDTH_PX};
use campub::config::{Args, Config};
use campub::frame::RawFrame;
use campub::pipeline::{self, FrameProcessor};
use campub::publish::{Publisher, WireMode};
use camwire::StreamName;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn allocations() -> u64 {
    dhat::HeapStats::get().total_blocks
}

/// Allocations made by processing and publishing `frames` round after round, after one round
/// of warming up.
fn steady_state_allocations(frames: &[RawFrame], publisher: &mut Publisher) -> u64 {
    let mut processor = FrameProcessor::new(OUTPUT_WIDTH_PX, OUTPUT_QUALITY).unwrap();
    let mut run = |processor: &mut FrameProcessor| {
        for frame in frames {
            let out = processor.process(frame).unwrap();
            publisher
                .publish(out.jpeg, out.width_px, out.height_px, frame.capture_unix_ns)
                .unwrap();
        }
    };
    run(&mut processor);
    let before = allocations();
    for _ in 0..3 {
        run(&mut processor);
    }
    allocations() - before
}

#[test]
fn no_allocation_per_frame_in_the_steady_state() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let context = zmq::Context::new();
    let stream = StreamName::new("alloc").unwrap();
    let mut publisher = Publisher::bind(
        &context,
        "tcp://127.0.0.1:0",
        WireMode::Native,
        stream,
        None,
    )
    .unwrap();

    // Every path through the processor: YUYV resized or not (box filter at whole ratios, split
    // and area-resampled at 800x600), MJPEG decoded (and area-resampled from 960x540 at
    // 1920x1080), MJPEG passed through with and without Huffman tables.
    let mut cases: Vec<(String, Vec<RawFrame>)> = Vec::new();
    for (w, h) in [(640, 480), (800, 600), (1280, 720), (1920, 1080)] {
        cases.push((
            format!("YUYV {w}x{h}"),
            inputs::pattern_yuyv(w, h, 4).unwrap(),
        ));
    }
    // I420 as rpicam-vid writes it: halved by the box filter, padded rows resampled by area
    // (600 -> 640), and at the output size encoded straight from the planes.
    for (w, h, stride) in [(1280, 720, 1280), (600, 340, 640), (640, 360, 640)] {
        cases.push((
            format!("I420 {w}x{h} stride {stride}"),
            inputs::pattern_i420(w, h, stride, 4).unwrap(),
        ));
    }
    for (w, h) in [(1280, 720), (1920, 1080), (640, 480)] {
        cases.push((
            format!("MJPEG {w}x{h}"),
            inputs::pattern_mjpeg(w, h, 4).unwrap(),
        ));
    }
    let mut stripped = inputs::pattern_mjpeg(640, 480, 4).unwrap();
    for frame in &mut stripped {
        frame.data = campub::jpeg::strip_huffman_tables(&frame.data);
    }
    cases.push(("MJPEG 640x480 without Huffman tables".into(), stripped));
    for (name, frames) in &cases {
        let count = steady_state_allocations(frames, &mut publisher);
        assert_eq!(count, 0, "{name}: {count} allocations in 12 frames");
    }

    // The whole pipeline with its threads: pattern source -> capture thread -> hand-off ->
    // processing -> publish, with a subscriber connected (so the link watch samples a
    // connection), counted between published frames 120 and 240 (the watch samples every
    // 200 ms: the first sample, which looks the connection up, falls before frame 120).
    let subscriber = context.socket(zmq::SUB).unwrap();
    subscriber.set_subscribe(b"").unwrap();
    subscriber.connect(&publisher.endpoint()).unwrap();
    let argv = [
        "--source",
        "pattern",
        "--size",
        "1280x720",
        "--fps",
        "240",
        "--stats-interval",
        "0",
    ];
    let args = Args::from_args(&["campub"], &argv).unwrap();
    let config = Config::from_args(&args).unwrap();
    let source = pipeline::open_source(&config).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mut counted_from = None;
    let mut counted = None;
    let stop_after = Arc::clone(&stop);
    let mut on_frame = |event: pipeline::FrameEvent| match event {
        pipeline::FrameEvent::Published(120) => counted_from = Some(allocations()),
        pipeline::FrameEvent::Published(240) => {
            counted = counted_from.map(|from| allocations() - from);
            stop_after.store(true, Ordering::Relaxed);
        }
        _ => {}
    };
    pipeline::run(&config, source, &mut publisher, &stop, &mut on_frame, None).unwrap();
    assert_eq!(
        counted,
        Some(0),
        "allocations between frames 120 and 240 of a running pipeline"
    );
    // The subscriber was connected: it holds the newest frame.
    let mut newest = zmq::Message::new();
    subscriber.recv(&mut newest, zmq::DONTWAIT).unwrap();
    assert!(newest.len() > 1000, "the subscriber got frames");
}
