//! camview allocates nothing per frame once running: receive thread, hand-off, decode, texture
//! upload and drawing (banner unchanged) reuse every buffer, and so does the stats keeping.
//! Counted with dhat's allocator (every Rust allocation, in every thread); SDL's and the C
//! libraries' own mallocs are not seen here. One test per file: dhat's counts are process-wide.
#![allow(clippy::unwrap_used)] // test code

use std::time::{Duration, Instant};

use cambench::inputs;
use campub::publish::{Publisher, WireMode};
use camview::decode::Decoder;
use camview::receive::{ReceiveConfig, Receiver};
use camview::render::{Scene, Screen};
use camview::stats::{Latency, ShownStats};
use camwire::StreamName;
use sdl2::pixels::PixelFormatEnum;
use sdl2::render::Canvas;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

const WARM_UP_FRAMES: usize = 30;
const COUNTED_FRAMES: usize = 60;

#[test]
fn no_allocation_per_frame_in_the_steady_state() {
    let frames = inputs::pattern_yuyv(1280, 720, 8).unwrap();
    let messages = inputs::native_messages(&frames).unwrap();
    let jpegs: Vec<&[u8]> = messages
        .iter()
        .map(|m| match camwire::classify(m).unwrap() {
            camwire::Message::Native(f) => f.jpeg,
            other => panic!("{other:?}"),
        })
        .collect();

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
    let receiver = Receiver::start(&ReceiveConfig {
        endpoints: vec![publisher.endpoint()],
        subscription: Vec::new(),
        curve: None,
        limits: Default::default(),
        heap_share_bytes: None,
    })
    .unwrap();
    let surface = sdl2::surface::Surface::new(640, 360, PixelFormatEnum::RGB888).unwrap();
    let canvas = Canvas::from_surface(surface).unwrap();
    let creator = canvas.texture_creator();
    let mut screen = Screen::new(canvas, &creator).unwrap();
    let mut decoder = Decoder::new().unwrap();
    let mut shown = ShownStats::default();
    let banner = vec!["FPS: 30  640x360  alloc".to_string()];

    let _profiler = dhat::Profiler::builder().testing().build();
    let mut counted_from = None;
    let mut frame = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while frame < WARM_UP_FRAMES + COUNTED_FRAMES {
        assert!(Instant::now() < deadline, "only {frame} frames arrived");
        if frame == WARM_UP_FRAMES && counted_from.is_none() {
            counted_from = Some(dhat::HeapStats::get().total_blocks);
        }
        publisher
            .publish(
                jpegs[frame % jpegs.len()],
                640,
                360,
                camwire::unix_time_ns(),
            )
            .unwrap();
        // Lock step; a message published before the subscription took hold is simply lost.
        let Ok(msg) = receiver.take(Duration::from_millis(50)) else {
            continue;
        };
        decoder.decode(&msg).unwrap();
        receiver.recycle(msg);
        screen.upload(decoder.picture().unwrap()).unwrap();
        screen
            .draw(&Scene {
                banner: &banner,
                notice: &[],
                dim_picture: false,
            })
            .unwrap();
        let info = decoder.info().unwrap();
        let latency = info
            .capture_unix_ns
            .map(|ns| Latency::between(ns, camwire::unix_time_ns()));
        shown.record(Instant::now(), info.source, Some(&info.stream), latency);
        frame += 1;
    }
    let count = dhat::HeapStats::get().total_blocks - counted_from.unwrap();
    assert_eq!(count, 0, "{count} allocations in {COUNTED_FRAMES} frames");
    assert_eq!(shown.frames, (WARM_UP_FRAMES + COUNTED_FRAMES) as u64);
}
