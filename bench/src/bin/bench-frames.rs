//! Writes the benchmarks' input frames to a file, for the programs that are not Rust (the
//! tutorial's pipeline) and for campub's file source:
//!
//!   bench-frames yuyv|mjpeg WIDTHxHEIGHT COUNT OUT
//!
//! YUYV frames are written back to back (WIDTH * HEIGHT * 2 bytes each); MJPEG frames as
//! concatenated JPEGs, as `ffmpeg -f mjpeg` writes them.

use std::io::Write as _;
use std::process::ExitCode;

use cambench::{inputs, BenchError};

const USAGE: &str = "usage: bench-frames yuyv|mjpeg WIDTHxHEIGHT COUNT OUT";

fn run(args: &[String]) -> Result<(), BenchError> {
    let [format, size, count, out] = args else {
        return Err(BenchError::Other(USAGE.into()));
    };
    let bad = |what: &str| BenchError::Other(format!("bad {what}; {USAGE}"));
    let (w, h) = size.split_once('x').ok_or_else(|| bad("size"))?;
    let (w, h): (u32, u32) = (
        w.parse().map_err(|_| bad("width"))?,
        h.parse().map_err(|_| bad("height"))?,
    );
    let count: usize = count.parse().map_err(|_| bad("count"))?;
    let frames = match format.as_str() {
        "yuyv" => inputs::pattern_yuyv(w, h, count)?,
        "mjpeg" => inputs::pattern_mjpeg(w, h, count)?,
        _ => return Err(bad("format")),
    };
    let io = |source| BenchError::Io {
        what: format!("writing {out}"),
        source,
    };
    let mut file = std::io::BufWriter::new(std::fs::File::create(out).map_err(io)?);
    for frame in &frames {
        file.write_all(&frame.data).map_err(io)?;
    }
    file.flush().map_err(io)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench-frames: {e}");
            ExitCode::from(2)
        }
    }
}
