//! The built-in test pattern: moving colour bars, a bouncing box, and the frame number and the
//! wall-clock time drawn in, so that a frozen, repeated or late frame is visible downstream.
//! A square of its own colour marks each corner ([`CORNERS_YUV`]), so a mirrored or turned
//! picture shows which way it went.
//! It is generated as YUYV, the same as an uncompressed camera, so it exercises the same path.

use std::time::Instant;

use camtext::{CoverageMask, TextRenderer};

use super::{CaptureError, FrameSource, Next, Pacer};
use crate::frame::{PixelFormat, RawFrame};

/// 75 % colour bars (white, yellow, cyan, green, magenta, red, blue, black) as full-range YCbCr.
const BARS_YUV: [[u8; 3]; 8] = [
    [191, 128, 128],
    [170, 32, 139],
    [134, 160, 32],
    [113, 64, 43],
    [78, 191, 213],
    [57, 96, 223],
    [21, 223, 117],
    [0, 128, 128],
];

/// The corner marks, full-range YCbCr: red top-left, green top-right, blue bottom-left, white
/// bottom-right.
pub const CORNERS_YUV: [[u8; 3]; 4] = [
    [76, 85, 255],
    [150, 44, 21],
    [29, 255, 107],
    [255, 128, 128],
];

/// The side of a corner mark for a picture `height_px` tall (even, so YUYV pairs are whole).
pub fn corner_mark_px(height_px: usize) -> usize {
    (height_px / 12).max(8) & !1
}

pub struct PatternSource {
    width_px: u32,
    height_px: u32,
    fps: f64,
    pacer: Pacer,
    seq: u64,
    text: TextRenderer,
    mask: CoverageMask,
    line: String,
}

impl PatternSource {
    pub fn new(width_px: u32, height_px: u32, fps: f64) -> Result<Self, CaptureError> {
        if width_px < 16 || height_px < 16 || !width_px.is_multiple_of(2) {
            return Err(CaptureError::Unsupported(format!(
                "test pattern size {width_px}x{height_px}: width must be even and both at least 16"
            )));
        }
        let text = TextRenderer::new().map_err(|e| CaptureError::Unsupported(e.to_string()))?;
        Ok(Self {
            width_px,
            height_px,
            fps,
            pacer: Pacer::new(fps),
            seq: 0,
            text,
            mask: CoverageMask::default(),
            line: String::new(),
        })
    }

    fn draw(&mut self, frame: &mut RawFrame) {
        let (w, h) = (self.width_px as usize, self.height_px as usize);
        let stride = w * 2;
        frame.data.resize(stride * h, 0);
        let shift = (self.seq as usize * 4) % w;
        let bar_w = w.div_ceil(8);
        let ramp_top = h * 3 / 4;

        for (y, row) in frame.data.chunks_exact_mut(stride).enumerate() {
            for (pair, px) in row.chunks_exact_mut(4).enumerate() {
                let x = pair * 2;
                let (y0, y1, u, v) = if y < ramp_top {
                    let [yy, u, v] = BARS_YUV[((x + shift) % w) / bar_w % 8];
                    (yy, yy, u, v)
                } else {
                    // A luma ramp: banding or clipping in the pipeline shows up here.
                    let l0 = (x * 255 / (w - 1)) as u8;
                    let l1 = ((x + 1) * 255 / (w - 1)) as u8;
                    (l0, l1, 128, 128)
                };
                px.copy_from_slice(&[y0, u, y1, v]);
            }
        }

        // A box bouncing across the bars: smooth motion makes dropped frames easy to see.
        let box_px = (h / 6).max(8) & !1;
        let travel_x = (w - box_px).max(1);
        let travel_y = (ramp_top - box_px).max(1);
        let t = self.seq as usize * 6;
        let bx = bounce(t, travel_x) & !1;
        let by = bounce(t / 2, travel_y);
        for row in frame.data.chunks_exact_mut(stride).skip(by).take(box_px) {
            for px in row[bx * 2..(bx + box_px) * 2].chunks_exact_mut(4) {
                px.copy_from_slice(&[235, 128, 235, 128]);
            }
        }

        // The corner marks, over bars and box.
        let mark = corner_mark_px(h).min((w / 4) & !1);
        for (y, row) in frame.data.chunks_exact_mut(stride).enumerate() {
            let bottom = y >= h - mark;
            if y >= mark && !bottom {
                continue;
            }
            for (right, x0) in [(false, 0), (true, w - mark)] {
                let [yy, u, v] = CORNERS_YUV[usize::from(bottom) * 2 + usize::from(right)];
                for px in row[x0 * 2..(x0 + mark) * 2].chunks_exact_mut(4) {
                    px.copy_from_slice(&[yy, u, yy, v]);
                }
            }
        }

        let wall = camwire::unix_time_ns();
        let secs = wall / 1_000_000_000;
        let ms = (wall / 1_000_000) % 1000;
        let (hh, mm, ss) = ((secs / 3600) % 24, (secs / 60) % 60, secs % 60);
        self.line.clear();
        use std::fmt::Write as _;
        let _ = write!(
            self.line,
            "campub  #{:06}  {hh:02}:{mm:02}:{ss:02}.{ms:03} UTC",
            self.seq
        );
        let size_px = (h as f32 / 14.0).clamp(12.0, 48.0);
        self.text.render_line(&self.line, size_px, &mut self.mask);
        stamp_text(&mut frame.data, stride, (w, h), mark, &self.mask);
    }
}

fn bounce(t: usize, range: usize) -> usize {
    let period = 2 * range;
    let p = t % period;
    if p < range {
        p
    } else {
        period - p
    }
}

/// Draws white text on a black box into the YUYV image, bottom-left between the corner marks
/// (`mark_px` wide; the viewer's banner sits top-left), clipped to fit between them.
fn stamp_text(
    data: &mut [u8],
    stride: usize,
    (w, h): (usize, usize),
    mark_px: usize,
    mask: &CoverageMask,
) {
    let left_px = mark_px + 8;
    const BOTTOM_PX: usize = 8;
    const PAD_PX: usize = 6;
    let box_w = mask.width_px + 2 * PAD_PX;
    let box_h = mask.height_px + 2 * PAD_PX;
    let top = h.saturating_sub(box_h + BOTTOM_PX);
    for (by, row) in data
        .chunks_exact_mut(stride)
        .skip(top)
        .take(box_h.min(h))
        .enumerate()
    {
        // Clipped before the bottom-right mark too.
        for bx in 0..box_w.min(w.saturating_sub(left_px + mark_px)) {
            let (tx, ty) = (bx.wrapping_sub(PAD_PX), by.wrapping_sub(PAD_PX));
            let cover = if tx < mask.width_px && ty < mask.height_px {
                mask.coverage[ty * mask.width_px + tx]
            } else {
                0
            };
            let x = left_px + bx;
            row[x * 2] = cover; // luma: black box, white ink
            row[x * 2 + 1] = 128; // chroma: neutral
        }
    }
}

impl FrameSource for PatternSource {
    fn next_frame(&mut self, frame: &mut RawFrame) -> Result<Next, CaptureError> {
        if !self.pacer.due() {
            return Ok(Next::Idle);
        }
        frame.format = PixelFormat::Yuyv;
        frame.width_px = self.width_px;
        frame.height_px = self.height_px;
        frame.stride_bytes = self.width_px * 2;
        frame.source_seq = self.seq;
        self.draw(frame);
        // Stamped once drawn: like a camera, the frame counts as captured when it is complete.
        frame.captured_at = Instant::now();
        frame.capture_unix_ns = camwire::unix_time_ns();
        self.seq += 1;
        Ok(Next::Frame)
    }

    fn describe(&self) -> String {
        format!(
            "test pattern {}x{} YUYV at {} fps",
            self.width_px, self.height_px, self.fps
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next(source: &mut PatternSource) -> RawFrame {
        let mut frame = RawFrame::empty();
        while source.next_frame(&mut frame).unwrap() != Next::Frame {}
        frame
    }

    #[test]
    fn frames_have_the_requested_shape_and_change_every_frame() {
        let mut source = PatternSource::new(320, 240, 1000.0).unwrap();
        let a = next(&mut source);
        let b = next(&mut source);
        assert_eq!((a.width_px, a.height_px, a.stride_bytes), (320, 240, 640));
        assert_eq!(a.data.len(), 640 * 240);
        assert_eq!(a.format, PixelFormat::Yuyv);
        assert_eq!(b.source_seq, a.source_seq + 1);
        assert_ne!(a.data, b.data, "consecutive frames must differ");
    }

    #[test]
    fn the_text_box_has_white_ink_on_black() {
        let mut source = PatternSource::new(640, 480, 1000.0).unwrap();
        let frame = next(&mut source);
        let luma_in_box: Vec<u8> = (425..465)
            .flat_map(|y| (12..300).map(move |x| (y, x)))
            .map(|(y, x)| frame.data[y * 1280 + x * 2])
            .collect();
        assert!(luma_in_box.iter().any(|&l| l <= 20), "black box");
        assert!(luma_in_box.iter().any(|&l| l >= 240), "white glyphs");
    }

    #[test]
    fn each_corner_has_its_mark() {
        for (w, h) in [(640, 480), (1280, 720), (320, 240)] {
            let frame = next(&mut PatternSource::new(w, h, 1000.0).unwrap());
            let (w, h) = (w as usize, h as usize);
            let mark = corner_mark_px(h);
            let luma = |x: usize, y: usize| frame.data[y * w * 2 + x * 2];
            let m = mark / 2;
            let spots = [
                (0, 0, 0),
                (w - 1, 0, 1),
                (0, h - 1, 2),
                (w - 1, h - 1, 3),
                // Inside the bottom marks, where the text box would be without its clipping.
                (m, h - m, 2),
                (w - m, h - m, 3),
            ];
            for (x, y, i) in spots {
                assert_eq!(luma(x, y), CORNERS_YUV[i][0], "{w}x{h} mark {i} at {x},{y}");
            }
            assert_ne!(
                luma(mark, mark),
                CORNERS_YUV[0][0],
                "the mark ends at its side"
            );
        }
    }

    #[test]
    fn odd_width_is_refused() {
        assert!(PatternSource::new(641, 480, 30.0).is_err());
    }
}
