//! What a window showed: a private Xvfb display, and PNG screenshots checked pixel by pixel.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A decoded PNG screenshot.
pub struct Png {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl Png {
    pub fn read(path: &Path) -> Self {
        let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut reader = png::Decoder::new(std::io::BufReader::new(file))
            .read_info()
            .unwrap();
        let mut rgb = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut rgb).unwrap();
        assert_eq!(
            (info.color_type, info.bit_depth),
            (png::ColorType::Rgb, png::BitDepth::Eight)
        );
        rgb.truncate(info.buffer_size());
        Self {
            width: info.width,
            height: info.height,
            rgb,
        }
    }

    pub fn at(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * self.width + x) * 3) as usize;
        [self.rgb[i], self.rgb[i + 1], self.rgb[i + 2]]
    }

    /// Pixels in the rectangle for which `test` holds.
    pub fn count(
        &self,
        x0: u32,
        y0: u32,
        x1: u32,
        y1: u32,
        test: impl Fn([u8; 3]) -> bool,
    ) -> usize {
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .filter(|&(x, y)| test(self.at(x, y)))
            .count()
    }
}

pub fn near(actual: [u8; 3], expected: [u8; 3], tolerance: i32) -> bool {
    actual
        .iter()
        .zip(expected)
        .all(|(&a, e)| (i32::from(a) - i32::from(e)).abs() <= tolerance)
}

#[track_caller]
pub fn assert_near(png: &Png, x: u32, y: u32, expected: [u8; 3], tolerance: i32) {
    let actual = png.at(x, y);
    assert!(
        near(actual, expected, tolerance),
        "pixel ({x},{y}) is {actual:?}, expected {expected:?} +- {tolerance}"
    );
}

/// An X display for windowed tests: $DISPLAY if set, else a private Xvfb (which must exist:
/// a missing Xvfb fails the test rather than skipping it).
pub struct Display {
    pub name: String,
    xvfb: Option<Child>,
}

static NEXT_DISPLAY: AtomicU32 = AtomicU32::new(0);

impl Display {
    pub fn open() -> Self {
        if let Ok(name) = std::env::var("DISPLAY") {
            if !name.is_empty() {
                return Self { name, xvfb: None };
            }
        }
        let base = 200 + (std::process::id() % 400) * 8;
        for _ in 0..40 {
            let number = base + NEXT_DISPLAY.fetch_add(1, Ordering::Relaxed);
            let socket = PathBuf::from(format!("/tmp/.X11-unix/X{number}"));
            if socket.exists() || Path::new(&format!("/tmp/.X{number}-lock")).exists() {
                continue;
            }
            let child = Command::new("Xvfb")
                .arg(format!(":{number}"))
                .args(["-screen", "0", "1280x1024x24", "-nolisten", "tcp"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let mut child = match child {
                Ok(child) => child,
                Err(e) => panic!("cannot start Xvfb (install the xvfb package): {e}"),
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && !socket.exists() {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            if socket.exists() {
                return Self {
                    name: format!(":{number}"),
                    xvfb: Some(child),
                };
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("could not start Xvfb on any display number");
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        if let Some(mut xvfb) = self.xvfb.take() {
            let _ = xvfb.kill();
            let _ = xvfb.wait();
        }
    }
}
