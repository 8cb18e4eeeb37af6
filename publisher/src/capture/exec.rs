//! `--source exec:CMD`: any program that writes frames to its stdout is a camera. CMD runs
//! through `sh -c` (so pipes and quotes work) and writes either concatenated JPEGs or raw I420
//! frames of `--size`, tightly packed (row stride = width):
//!
//! ```text
//! ffmpeg -rtsp_transport tcp -i rtsp://cam/stream -f mjpeg -q:v 3 -      # an RTSP camera
//! ffmpeg -f x11grab -i :0 -vf scale=1280:720 -pix_fmt yuv420p -f rawvideo -   # a screen
//! gst-launch-1.0 -q v4l2src ! video/x-raw,format=I420,width=1280,height=720 ! fdsink
//! ```
//!
//! The format is `--exec-format`: `auto` (the default) looks at the first two bytes, `FF D8`
//! being the start of every JPEG and practically never the first luma samples of a picture;
//! `mjpeg` or `i420` say it outright. The child's lifecycle (logging, stopping, its exit ending
//! campub) is `child`'s.

use super::child::{ChildFrames, ChildProcess, StreamFormat};
use super::{CaptureError, FrameSource, Next};
use crate::frame::RawFrame;

/// What `--exec-format` says the command writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExecFormat {
    /// JPEGs if the output starts with FF D8, else I420.
    #[default]
    Auto,
    Mjpeg,
    I420,
}

impl std::str::FromStr for ExecFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "mjpeg" => Ok(Self::Mjpeg),
            "i420" => Ok(Self::I420),
            _ => Err(format!("--exec-format {s:?}: expected auto, mjpeg or i420")),
        }
    }
}

pub struct ExecSource {
    command: String,
    frames: ChildFrames,
    format: ExecFormat,
    size: (u32, u32),
}

impl ExecSource {
    /// Starts `sh -c COMMAND`. Raw frames are `width_px` x `height_px` (both even).
    pub fn start(
        command: &str,
        format: ExecFormat,
        width_px: u32,
        height_px: u32,
    ) -> Result<Self, CaptureError> {
        if format != ExecFormat::Mjpeg
            && (!width_px.is_multiple_of(2) || !height_px.is_multiple_of(2))
        {
            return Err(CaptureError::Unsupported(format!(
                "exec: raw I420 frames of {width_px}x{height_px}: --size must be even both ways"
            )));
        }
        let (w, h) = (width_px, height_px);
        let stream = match format {
            ExecFormat::Auto => StreamFormat::Auto {
                width_px: w,
                height_px: h,
                stride_bytes: w,
            },
            ExecFormat::Mjpeg => StreamFormat::Mjpeg,
            ExecFormat::I420 => StreamFormat::I420 {
                width_px: w,
                height_px: h,
                stride_bytes: w,
            },
        };
        let process = ChildProcess::spawn("exec", "sh", &["-c".into(), command.into()])?;
        Ok(Self {
            command: command.to_owned(),
            frames: ChildFrames::new(process, stream),
            format,
            size: (w, h),
        })
    }
}

impl FrameSource for ExecSource {
    fn next_frame(&mut self, frame: &mut RawFrame) -> Result<Next, CaptureError> {
        self.frames.next_frame(frame)
    }

    fn describe(&self) -> String {
        let what = match self.format {
            ExecFormat::Mjpeg => "JPEGs".to_owned(),
            ExecFormat::I420 => format!("I420 {}x{}", self.size.0, self.size.1),
            ExecFormat::Auto => format!("JPEGs or I420 {}x{}", self.size.0, self.size.1),
        };
        format!(
            "exec: sh -c {:?} (pid {}, {what} on its stdout)",
            self.command,
            self.frames.process().pid()
        )
    }

    fn last_words(&self) -> Option<String> {
        Some(self.frames.process().last_words())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::PixelFormat;
    use crate::jpeg::tests::sample_jpeg;

    fn frames(source: &mut ExecSource, count: usize) -> Result<Vec<RawFrame>, CaptureError> {
        let mut out = Vec::new();
        let started = std::time::Instant::now();
        while out.len() < count {
            assert!(started.elapsed().as_secs() < 20, "no frames");
            let mut frame = RawFrame::empty();
            if source.next_frame(&mut frame)? == Next::Frame {
                out.push(frame);
            }
        }
        Ok(out)
    }

    fn temp_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let path = std::env::temp_dir().join(format!("campub-exec-{name}-{}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn concatenated_jpegs_split_whatever_the_chunks() {
        let (a, b) = (sample_jpeg(64, 32), sample_jpeg(32, 16));
        let path = temp_file("two.mjpeg", &[a.clone(), b.clone(), a.clone()].concat());
        // dd with a small block size: JPEGs arrive split across reads.
        let cmd = format!("dd if={} bs=100 status=none; sleep 5", path.display());
        let mut source = ExecSource::start(&cmd, ExecFormat::Auto, 64, 32).unwrap();
        let got = frames(&mut source, 3).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(got[0].data, a);
        assert_eq!((got[1].data.clone(), got[1].width_px), (b, 32));
        assert_eq!(got[2].format, PixelFormat::Mjpeg);
        assert_eq!(got[2].source_seq, 2);
    }

    #[test]
    fn raw_i420_frames_are_cut_at_the_frame_size() {
        let (w, h) = (8usize, 4usize);
        let frame_bytes = w * h * 3 / 2;
        let data: Vec<u8> = (0..frame_bytes * 2).map(|i| (i % 200 + 1) as u8).collect();
        let path = temp_file("two.yuv", &data);
        let cmd = format!("cat {}; sleep 5", path.display());
        let mut source = ExecSource::start(&cmd, ExecFormat::Auto, 8, 4).unwrap();
        let got = frames(&mut source, 2).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(got[1].data, &data[frame_bytes..]);
        assert_eq!(got[0].format, PixelFormat::I420);
        assert_eq!((got[0].width_px, got[0].stride_bytes), (8, 8));
        assert!(got[0].i420_planes().is_some());
    }

    #[test]
    fn a_short_last_frame_is_a_clear_error_with_the_exit_status() {
        let cmd = "head -c 70 /dev/zero; echo 'camera unplugged' >&2; exit 4";
        let mut source = ExecSource::start(cmd, ExecFormat::I420, 8, 4).unwrap();
        let err = frames(&mut source, 2).err().unwrap().to_string();
        assert!(err.contains("22 of the 48 bytes"), "{err}");
        assert!(err.contains("exit status 4"), "{err}");
        assert!(err.contains("camera unplugged"), "{err}");
    }

    #[test]
    fn a_jpeg_stream_without_an_end_stops_at_the_limit() {
        let mut source = ExecSource::start(
            "printf '\\377\\330'; cat /dev/zero",
            ExecFormat::Mjpeg,
            8,
            4,
        )
        .unwrap();
        source.frames.max_jpeg_bytes = 1 << 20;
        let err = frames(&mut source, 1).err().unwrap().to_string();
        assert!(err.contains("no complete JPEG"), "{err}");
    }

    #[test]
    fn output_that_is_not_jpeg_is_refused_in_mjpeg_mode() {
        let mut source = ExecSource::start("echo hello; sleep 5", ExecFormat::Mjpeg, 8, 4).unwrap();
        let err = frames(&mut source, 1).err().unwrap().to_string();
        assert!(err.contains("68 65 6C"), "{err}");
    }

    #[test]
    fn exec_format_parses() {
        assert_eq!("i420".parse::<ExecFormat>(), Ok(ExecFormat::I420));
        assert!("h264".parse::<ExecFormat>().is_err());
    }
}
