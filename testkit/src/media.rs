//! Test pictures and messages: JPEGs made with libjpeg-turbo, native messages as campub sends
//! them, and a ZeroMQ PUB socket on loopback that sends whatever a test generates.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use camwire::{encode_native, FrameHeader, StreamName};
use turbojpeg::{Image, PixelFormat, Subsamp};

use crate::net::endpoint;

/// A JPEG (quality 90, 4:2:0) of `width` x `height` pixels, `rgb(x, y)` each.
pub fn jpeg(width: usize, height: usize, rgb: impl Fn(usize, usize) -> [u8; 3]) -> Vec<u8> {
    let pixels: Vec<u8> = (0..height)
        .flat_map(|y| (0..width).map(move |x| (x, y)))
        .flat_map(|(x, y)| rgb(x, y))
        .collect();
    compress_rgb(&pixels, width, height, 90, Subsamp::Sub2x2)
}

/// `len` bytes of repeatable noise (xorshift64): pictures that compress badly.
pub fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// `jpeg` with the size in its SOF0 marker rewritten, the data left for the original size: a
/// JPEG that lies about its size.
pub fn with_sof_size(jpeg: &[u8], width: u16, height: u16) -> Vec<u8> {
    let mut out = jpeg.to_vec();
    let sof = out.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
    out[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    out[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    out
}

/// A JPEG of packed RGB `pixels` (`3 * width` bytes a row) at `quality` and `subsamp`: the one
/// place the tests compress pictures.
pub fn compress_rgb(
    pixels: &[u8],
    width: usize,
    height: usize,
    quality: i32,
    subsamp: Subsamp,
) -> Vec<u8> {
    let image = Image {
        pixels,
        width,
        pitch: 3 * width,
        height,
        format: PixelFormat::RGB,
    };
    turbojpeg::compress(image, quality, subsamp)
        .unwrap()
        .to_vec()
}

pub fn solid_jpeg(width: usize, height: usize, rgb: [u8; 3]) -> Vec<u8> {
    jpeg(width, height, |_, _| rgb)
}

/// A native message as campub sends it, captured now.
pub fn native(stream: &str, seq: u64, width: u16, height: u16, jpeg: &[u8]) -> Vec<u8> {
    native_at(stream, seq, camwire::unix_time_ns(), width, height, jpeg)
}

pub fn native_at(
    stream: &str,
    seq: u64,
    capture_unix_ns: u64,
    width: u16,
    height: u16,
    jpeg: &[u8],
) -> Vec<u8> {
    let header = FrameHeader {
        seq,
        capture_unix_ns,
        width_px: width,
        height_px: height,
    };
    let mut msg = Vec::new();
    encode_native(&StreamName::new(stream).unwrap(), &header, jpeg, &mut msg);
    msg
}

/// One ZeroMQ message to send: a single frame, or several parts (to test multipart refusal).
pub enum Outgoing {
    Single(Vec<u8>),
    Multipart(Vec<Vec<u8>>),
}

/// A ZeroMQ PUB socket on 127.0.0.1 sending batches from a generator on its own thread.
pub struct Publisher {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<u64>>,
}

impl Publisher {
    /// Binds now (so the port is taken when this returns), then every `interval` sends the batch
    /// `batch(tick)` returns, until stopped or dropped.
    pub fn start(
        port: u16,
        interval: Duration,
        mut batch: impl FnMut(u64) -> Vec<Outgoing> + Send + 'static,
    ) -> Self {
        let context = zmq::Context::new();
        let socket = context.socket(zmq::PUB).unwrap();
        socket.set_linger(0).unwrap();
        socket.bind(&endpoint(port)).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut sent = 0u64;
                let mut tick = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for out in batch(tick) {
                        match out {
                            Outgoing::Single(msg) => socket.send(msg, 0).unwrap(),
                            Outgoing::Multipart(parts) => socket.send_multipart(parts, 0).unwrap(),
                        }
                        sent += 1;
                    }
                    tick += 1;
                    std::thread::sleep(interval);
                }
                drop(socket);
                drop(context);
                sent
            })
        };
        Self {
            stop,
            thread: Some(thread),
        }
    }

    /// Stops sending, closes the socket and returns how many messages were sent.
    pub fn stop(mut self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap()
    }
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
