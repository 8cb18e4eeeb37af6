//! `--source rpicam`: the Raspberry Pi Camera Module through `rpicam-vid` (or `libcamera-vid`,
//! its name before Raspberry Pi OS bookworm), which drives libcamera and the Pi's ISP and writes
//! raw I420 frames to its stdout. Plain V4L2 cannot use these cameras: their sensors deliver raw
//! Bayer, which only the ISP, driven by libcamera, turns into pictures.
//!
//! The frame layout, from rpicam-apps and what it calls:
//! - `--codec yuv420` selects the "null" encoder (encoder/encoder.cpp, `Encoder::Create`), whose
//!   output thread hands each buffer on unchanged (encoder/null_encoder.cpp,
//!   `NullEncoder::outputThread`); `RPiCamEncoder::EncodeBuffer` (core/rpicam_encoder.hpp)
//!   passes the whole mapped buffer, `span.size()` bytes, and `FileOutput::outputBuffer`
//!   (output/file_output.cpp) fwrites all of it. So the padding is kept: every frame is the
//!   whole libcamera buffer, `frameSize` bytes (core/rpicam_app.cpp, `setupCapture`, maps
//!   exactly `config.frameSize`).
//! - That buffer is single-plane YUV420: Y, then U, then V, back to back; the Y rows are
//!   `stride` bytes, the chroma rows `stride / 2`, the chroma planes `height / 2` rows; no rows
//!   of padding (libcamera pipeline/rpi/pisp/pisp.cpp finds U at `height * stride` and V
//!   `height * stride / 4` after it; the ISP drivers size the buffer as
//!   `stride * height * 3 / 2`: bcm2835-isp `get_sizeimage`, pisp_be
//!   `pispbe_set_plane_params`).
//! - The stride is not chosen by rpicam-vid (`setupCapture` sets `config.stride = 0`) but by
//!   libcamera and the ISP driver: on the Pi 0-4 (VideoCore ISP, bcm2835-isp-fmts.h) Y rows are
//!   aligned to 64 bytes; on the Pi 5 (PiSP, pisp.cpp `computeOptimalStride`) the chroma rows
//!   are aligned to 64 bytes and the Y rows are twice that. [`stride_for`] computes both;
//!   which one applies follows the SoC in /proc/device-tree/compatible (`brcm,bcm2712`: Pi 5).
//!   Widths that are a multiple of 128 (640, 1280, 1920) have no padding on either.
//! - `--codec yuv420` asks for the JPEG colour space (rpicam_vid.cpp,
//!   `get_colourspace_flags`: full-range BT.601), which is what JPEG encodes: no conversion.
//! - `--flush`: FileOutput fflushes after each frame; without it, stdio would hold the tail of
//!   each frame until the next one arrives.

use std::path::{Path, PathBuf};

use super::child::{ChildFrames, ChildProcess, StreamFormat};
use super::v4l2::CameraRequest;
use super::{CaptureError, FrameSource, Next};
use crate::frame::RawFrame;

/// The programs tried, in order, on PATH.
pub const PROGRAMS: [&str; 2] = ["rpicam-vid", "libcamera-vid"];

/// Which ISP lays out the frames (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isp {
    /// Pi 0-4: the VideoCore ISP (bcm2835-isp).
    VideoCore,
    /// Pi 5: PiSP.
    Pisp,
}

impl Isp {
    /// From the device tree's `compatible` list (NUL-separated strings).
    pub fn from_compatible(compatible: &[u8]) -> Self {
        let is_2712 = compatible
            .split(|&b| b == 0)
            .any(|entry| entry == b"brcm,bcm2712");
        if is_2712 {
            Isp::Pisp
        } else {
            Isp::VideoCore
        }
    }

    /// This machine's, from /proc/device-tree/compatible (VideoCore when it cannot be read:
    /// not a Pi, or a test).
    pub fn detect() -> Self {
        std::fs::read("/proc/device-tree/compatible")
            .map(|c| Self::from_compatible(&c))
            .unwrap_or(Isp::VideoCore)
    }
}

/// The Y row stride in bytes of rpicam-vid's I420 frames `width_px` wide.
pub fn stride_for(width_px: u32, isp: Isp) -> u32 {
    let align = |n: u32, to: u32| n.div_ceil(to) * to;
    match isp {
        Isp::VideoCore => align(width_px, 64),
        Isp::Pisp => 2 * align(width_px.div_ceil(2), 64),
    }
}

/// The first of [`PROGRAMS`] found on PATH.
pub fn find_program() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    PROGRAMS.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|candidate| is_executable(candidate))
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// rpicam-vid's arguments for `camera`, then the user's `extra` (which may override any).
pub fn arguments(camera: &CameraRequest, extra: &[String]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--codec", "yuv420", "-t", "0", "-n", "--flush", "-o", "-", "--width",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.push(camera.width_px.to_string());
    args.push("--height".into());
    args.push(camera.height_px.to_string());
    args.push("--framerate".into());
    args.push(camera.fps.to_string());
    args.extend(extra.iter().cloned());
    args
}

pub struct RpicamSource {
    program: PathBuf,
    frames: ChildFrames,
    size: (u32, u32),
    stride_bytes: u32,
    fps: u32,
}

impl RpicamSource {
    pub fn start(camera: &CameraRequest, extra: &[String]) -> Result<Self, CaptureError> {
        let (w, h) = (camera.width_px, camera.height_px);
        if !w.is_multiple_of(2) || !h.is_multiple_of(2) {
            return Err(CaptureError::Unsupported(format!(
                "rpicam: --size {w}x{h}: the camera's I420 frames need an even width and height"
            )));
        }
        let program = find_program().ok_or_else(|| {
            CaptureError::Unsupported(
                "rpicam: neither rpicam-vid nor libcamera-vid is on PATH (Raspberry Pi OS: \
                 sudo apt install rpicam-apps-lite)"
                    .into(),
            )
        })?;
        let isp = Isp::detect();
        let stride_bytes = stride_for(w, isp);
        let name = program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "rpicam-vid".into());
        let process =
            ChildProcess::spawn(&name, &program.to_string_lossy(), &arguments(camera, extra))?;
        if stride_bytes != w {
            log::info!(
                "{name}: {w} px rows come padded to {stride_bytes} bytes ({isp:?} ISP); \
                 a width that is a multiple of 128 needs no padding"
            );
        }
        Ok(Self {
            program,
            frames: ChildFrames::new(
                process,
                StreamFormat::I420 {
                    width_px: w,
                    height_px: h,
                    stride_bytes,
                },
            ),
            size: (w, h),
            stride_bytes,
            fps: camera.fps,
        })
    }
}

impl FrameSource for RpicamSource {
    fn next_frame(&mut self, frame: &mut RawFrame) -> Result<Next, CaptureError> {
        self.frames.next_frame(frame)
    }

    fn describe(&self) -> String {
        format!(
            "{} (pid {}) I420 {}x{} (stride {}) at {} fps",
            self.program.display(),
            self.frames.process().pid(),
            self.size.0,
            self.size.1,
            self.stride_bytes,
            self.fps
        )
    }

    fn last_words(&self) -> Option<String> {
        Some(self.frames.process().last_words())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strides_follow_each_isp() {
        for isp in [Isp::VideoCore, Isp::Pisp] {
            assert_eq!(stride_for(1280, isp), 1280);
            assert_eq!(stride_for(1920, isp), 1920);
            assert_eq!(stride_for(640, isp), 640);
        }
        // rpicam-apps issue 188: 780 wide came out as 832 on a Pi 4.
        assert_eq!(stride_for(780, Isp::VideoCore), 832);
        assert_eq!(stride_for(600, Isp::VideoCore), 640);
        assert_eq!(stride_for(4056, Isp::VideoCore), 4096);
        assert_eq!(stride_for(600, Isp::Pisp), 640);
        assert_eq!(stride_for(2028, Isp::Pisp), 2048);
        assert_eq!(stride_for(1332, Isp::VideoCore), 1344);
        assert_eq!(stride_for(1332, Isp::Pisp), 1408);
    }

    #[test]
    fn the_pi_5_is_told_by_its_soc() {
        assert_eq!(
            Isp::from_compatible(b"raspberrypi,5-model-b\0brcm,bcm2712\0"),
            Isp::Pisp
        );
        assert_eq!(
            Isp::from_compatible(b"raspberrypi,4-model-b\0brcm,bcm2711\0"),
            Isp::VideoCore
        );
    }

    #[test]
    fn arguments_ask_for_raw_frames_forever_and_pass_the_users_last() {
        let camera = CameraRequest {
            device: "/dev/video0".into(),
            format: super::super::v4l2::FormatChoice::Auto,
            width_px: 1280,
            height_px: 720,
            fps: 30,
            controls: vec![],
        };
        let args = arguments(&camera, &["--hflip".into()]);
        assert_eq!(
            args.join(" "),
            "--codec yuv420 -t 0 -n --flush -o - --width 1280 --height 720 --framerate 30 --hflip"
        );
    }
}
