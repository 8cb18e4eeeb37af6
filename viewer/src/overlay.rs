//! Text boxes drawn over the picture (the banner, the no-signal notice): lines rendered with
//! camtext's built-in font onto a filled box, as RGBA pixels ready for a texture.

use camtext::{CoverageMask, TextRenderer};

/// The tutorial's banner box colour (`background_RGB=(10,20,222)`), with white text.
pub const BANNER_BOX_RGB: [u8; 3] = [10, 20, 222];
pub const NOTICE_BOX_RGB: [u8; 3] = [32, 32, 32];
pub const TEXT_RGB: [u8; 3] = [255, 255, 255];

/// How a box looks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxStyle {
    pub background_rgb: [u8; 3],
    pub text_rgb: [u8; 3],
    /// Font size of the first line; later lines are [`BoxStyle::later_lines_scale`] of it.
    pub size_px: f32,
    pub later_lines_scale: f32,
}

impl BoxStyle {
    fn padding_px(&self) -> usize {
        (self.size_px * 0.5).round() as usize
    }

    fn line_gap_px(&self) -> usize {
        (self.size_px * 0.25).round() as usize
    }

    fn line_size_px(&self, index: usize) -> f32 {
        if index == 0 {
            self.size_px
        } else {
            self.size_px * self.later_lines_scale
        }
    }
}

/// A rendered box: `rgba[(y * width_px + x) * 4..][..4]`, fully opaque.
#[derive(Debug, Default, Clone)]
pub struct TextBox {
    pub width_px: usize,
    pub height_px: usize,
    pub rgba: Vec<u8>,
    lines: Vec<String>,
    style: Option<BoxStyle>,
    masks: Vec<CoverageMask>,
}

impl TextBox {
    /// Renders `lines` in `style`, unless that is exactly what the box already shows.
    /// Returns whether the pixels changed.
    pub fn set(&mut self, text: &mut TextRenderer, lines: &[String], style: BoxStyle) -> bool {
        if self.style == Some(style) && self.lines == lines {
            return false;
        }
        self.lines.clear();
        self.lines.extend(lines.iter().cloned());
        self.style = Some(style);
        self.render(text);
        true
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    fn render(&mut self, text: &mut TextRenderer) {
        let Some(style) = self.style else { return };
        if self.lines.is_empty() {
            self.width_px = 0;
            self.height_px = 0;
            self.rgba.clear();
            return;
        }
        self.masks
            .resize_with(self.lines.len(), CoverageMask::default);
        for (i, (line, mask)) in self.lines.iter().zip(&mut self.masks).enumerate() {
            text.render_line(line, style.line_size_px(i), mask);
        }
        let masks = &self.masks[..self.lines.len()];
        let pad = style.padding_px();
        let gap = style.line_gap_px();
        self.width_px = masks.iter().map(|m| m.width_px).max().unwrap_or(0) + 2 * pad;
        self.height_px =
            masks.iter().map(|m| m.height_px).sum::<usize>() + gap * (masks.len() - 1) + 2 * pad;

        self.rgba.clear();
        self.rgba.resize(self.width_px * self.height_px * 4, 255);
        for pixel in self.rgba.chunks_exact_mut(4) {
            pixel[..3].copy_from_slice(&style.background_rgb);
        }
        let mut top = pad;
        for mask in masks {
            for y in 0..mask.height_px {
                let row = &mask.coverage[y * mask.width_px..(y + 1) * mask.width_px];
                for (x, &coverage) in row.iter().enumerate() {
                    if coverage == 0 {
                        continue;
                    }
                    let at = ((top + y) * self.width_px + pad + x) * 4;
                    for c in 0..3 {
                        self.rgba[at + c] =
                            blend(style.background_rgb[c], style.text_rgb[c], coverage);
                    }
                }
            }
            top += mask.height_px + gap;
        }
    }
}

/// `under` covered by `over` to the extent `coverage` (0..=255).
fn blend(under: u8, over: u8, coverage: u8) -> u8 {
    let (u, o, a) = (u32::from(under), u32::from(over), u32::from(coverage));
    ((u * (255 - a) + o * a + 127) / 255) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    const STYLE: BoxStyle = BoxStyle {
        background_rgb: BANNER_BOX_RGB,
        text_rgb: TEXT_RGB,
        size_px: 20.0,
        later_lines_scale: 0.8,
    };

    fn pixel(b: &TextBox, x: usize, y: usize) -> [u8; 4] {
        let at = (y * b.width_px + x) * 4;
        [b.rgba[at], b.rgba[at + 1], b.rgba[at + 2], b.rgba[at + 3]]
    }

    #[test]
    fn box_has_the_background_colour_and_white_text() {
        let mut text = TextRenderer::new().unwrap();
        let mut banner = TextBox::default();
        assert!(banner.set(
            &mut text,
            &["FPS: 30".into(), "latency 12 ms".into()],
            STYLE
        ));
        assert_eq!(banner.rgba.len(), banner.width_px * banner.height_px * 4);
        assert_eq!(pixel(&banner, 0, 0), [10, 20, 222, 255]);
        let white = (0..banner.height_px)
            .flat_map(|y| (0..banner.width_px).map(move |x| (x, y)))
            .filter(|&(x, y)| pixel(&banner, x, y)[..3] == [255, 255, 255])
            .count();
        assert!(white > 50, "{white} white pixels");
    }

    #[test]
    fn unchanged_text_is_not_rendered_again() {
        let mut text = TextRenderer::new().unwrap();
        let mut banner = TextBox::default();
        let lines = vec!["a".to_string(), "b".to_string()];
        assert!(banner.set(&mut text, &lines, STYLE));
        assert!(!banner.set(&mut text, &lines, STYLE));
        assert!(banner.set(
            &mut text,
            &lines,
            BoxStyle {
                size_px: 30.0,
                ..STYLE
            }
        ));
        assert!(banner.set(&mut text, &[], STYLE));
        assert!(banner.is_empty() && banner.width_px == 0);
    }

    #[test]
    fn second_line_is_smaller_and_box_grows_with_text() {
        let mut text = TextRenderer::new().unwrap();
        let mut one = TextBox::default();
        let mut two = TextBox::default();
        one.set(&mut text, &["FPS: 30".into()], STYLE);
        two.set(&mut text, &["FPS: 30".into(), "FPS: 30".into()], STYLE);
        assert_eq!(
            one.width_px, two.width_px,
            "a smaller second line does not widen the box"
        );
        assert!(two.height_px > one.height_px + 10);
    }

    #[test]
    fn blend_is_exact_at_the_ends() {
        assert_eq!(blend(10, 255, 0), 10);
        assert_eq!(blend(10, 255, 255), 255);
        assert_eq!(blend(0, 254, 128), 127);
    }
}
