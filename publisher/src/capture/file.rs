//! A file of concatenated JPEG frames (what `ffmpeg -f mjpeg` writes), looped and paced at the
//! requested rate: a camera stand-in that delivers MJPEG.

use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{CaptureError, FrameSource, Next, Pacer};
use crate::frame::{PixelFormat, RawFrame};
use crate::jpeg::split_concatenated;

pub struct FileSource {
    path: PathBuf,
    data: Vec<u8>,
    frames: Vec<FileFrame>,
    next_index: usize,
    seq: u64,
    fps: f64,
    pacer: Pacer,
}

struct FileFrame {
    range: Range<usize>,
    width_px: u32,
    height_px: u32,
}

impl FileSource {
    pub fn open(path: &Path, fps: f64) -> Result<Self, CaptureError> {
        let err = |reason: String| CaptureError::File {
            path: path.display().to_string(),
            reason,
        };
        let data = std::fs::read(path).map_err(|e| err(e.to_string()))?;
        let mut decompressor = turbojpeg::Decompressor::new().map_err(|e| err(e.to_string()))?;
        let mut frames = Vec::new();
        for range in split_concatenated(&data) {
            match decompressor.read_header(&data[range.clone()]) {
                Ok(h) => frames.push(FileFrame {
                    range,
                    width_px: u32::try_from(h.width).unwrap_or(u32::MAX),
                    height_px: u32::try_from(h.height).unwrap_or(u32::MAX),
                }),
                Err(e) => log::warn!(
                    "{}: skipping a frame at byte {}: {e}",
                    path.display(),
                    range.start
                ),
            }
        }
        if frames.is_empty() {
            return Err(err(
                "no JPEG frames found (expected concatenated JPEGs, as `ffmpeg -f mjpeg` writes)"
                    .into(),
            ));
        }
        Ok(Self {
            path: path.to_owned(),
            data,
            frames,
            next_index: 0,
            seq: 0,
            fps,
            pacer: Pacer::new(fps),
        })
    }
}

impl FrameSource for FileSource {
    fn next_frame(&mut self, frame: &mut RawFrame) -> Result<Next, CaptureError> {
        if !self.pacer.due() {
            return Ok(Next::Idle);
        }
        let source = &self.frames[self.next_index];
        self.next_index = (self.next_index + 1) % self.frames.len();
        frame.captured_at = Instant::now();
        frame.capture_unix_ns = camwire::unix_time_ns();
        frame.format = PixelFormat::Mjpeg;
        frame.width_px = source.width_px;
        frame.height_px = source.height_px;
        frame.stride_bytes = 0;
        frame.source_seq = self.seq;
        frame.data.clear();
        frame
            .data
            .extend_from_slice(&self.data[source.range.clone()]);
        self.seq += 1;
        Ok(Next::Frame)
    }

    fn describe(&self) -> String {
        format!(
            "file {} ({} JPEG frames, looped) at {} fps",
            self.path.display(),
            self.frames.len(),
            self.fps
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jpeg::tests::sample_jpeg;

    #[test]
    fn loops_over_the_frames_of_a_file() {
        let a = sample_jpeg(64, 32);
        let b = sample_jpeg(32, 16);
        let path =
            std::env::temp_dir().join(format!("campub-file-test-{}.mjpeg", std::process::id()));
        std::fs::write(&path, [a.clone(), b.clone()].concat()).unwrap();
        let mut source = FileSource::open(&path, 1000.0).unwrap();
        let mut frame = RawFrame::empty();
        let mut got = Vec::new();
        while got.len() < 3 {
            if source.next_frame(&mut frame).unwrap() == Next::Frame {
                got.push((frame.data.clone(), frame.width_px, frame.source_seq));
            }
        }
        std::fs::remove_file(&path).unwrap();
        assert_eq!(got[0], (a.clone(), 64, 0));
        assert_eq!(got[1], (b, 32, 1));
        assert_eq!(got[2], (a, 64, 2));
        assert_eq!(frame.format, PixelFormat::Mjpeg);
    }

    #[test]
    fn a_file_without_jpegs_is_a_clear_error() {
        let path = std::env::temp_dir().join(format!("campub-nojpeg-{}.bin", std::process::id()));
        std::fs::write(&path, b"not a jpeg at all").unwrap();
        let err = FileSource::open(&path, 30.0).err().unwrap().to_string();
        std::fs::remove_file(&path).unwrap();
        assert!(err.contains("no JPEG frames"), "{err}");
        let missing = FileSource::open(Path::new("/nonexistent/x.mjpeg"), 30.0)
            .err()
            .unwrap();
        assert!(missing.to_string().contains("/nonexistent/x.mjpeg"));
    }
}
