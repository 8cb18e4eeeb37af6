//! Text as a coverage mask, with a font built into the binary: the clock on campub's test
//! pattern and camview's banner both come from here.
//!
//! ```
//! let mut text = camtext::TextRenderer::new().unwrap();
//! let mut mask = camtext::CoverageMask::default();
//! text.render_line("FPS: 30", 20.0, &mut mask);
//! assert!(mask.width_px > 0 && mask.height_px > 0);
//! assert!(mask.coverage.iter().any(|&c| c > 200), "some pixels are fully inked");
//! ```

use std::collections::HashMap;

/// DejaVu Sans Mono Bold, subset to ASCII (see `fonts/LICENSE-DejaVu.txt`): about 17 KB.
static FONT_TTF: &[u8] = include_bytes!("../fonts/DejaVuSansMono-Bold-ascii.ttf");

/// One line of rendered text: `coverage[y * width_px + x]` is 0 (background) to 255 (ink).
#[derive(Debug, Default, Clone)]
pub struct CoverageMask {
    pub width_px: usize,
    pub height_px: usize,
    pub coverage: Vec<u8>,
}

/// Why the built-in font could not be loaded (it is compiled in, so this means a broken build).
#[derive(Debug, thiserror::Error)]
#[error("built-in font failed to load: {0}")]
pub struct FontError(String);

/// Rasterises lines of text; glyphs are cached, so the steady state allocates nothing.
pub struct TextRenderer {
    font: fontdue::Font,
    glyphs: HashMap<(char, u32), (fontdue::Metrics, Vec<u8>)>,
}

/// More distinct (character, size) pairs than this and the cache starts over.
const MAX_CACHED_GLYPHS: usize = 1024;

impl TextRenderer {
    pub fn new() -> Result<Self, FontError> {
        let font = fontdue::Font::from_bytes(FONT_TTF, fontdue::FontSettings::default())
            .map_err(|e| FontError(e.to_string()))?;
        Ok(Self {
            font,
            glyphs: HashMap::new(),
        })
    }

    /// Renders `text` on one line at `size_px` into `mask`, reusing its buffer.
    pub fn render_line(&mut self, text: &str, size_px: f32, mask: &mut CoverageMask) {
        let (ascent, descent) = match self.font.horizontal_line_metrics(size_px) {
            Some(m) => (m.ascent, m.descent),
            None => (size_px * 0.8, -size_px * 0.2),
        };
        let baseline = ascent.ceil() as i32;
        let height = (ascent - descent).ceil().max(1.0) as usize;
        let width: f32 = text
            .chars()
            .map(|c| self.glyph(c, size_px).0.advance_width)
            .sum();
        mask.width_px = width.ceil().max(1.0) as usize;
        mask.height_px = height;
        mask.coverage.clear();
        mask.coverage.resize(mask.width_px * mask.height_px, 0);

        let mut pen_x = 0.0f32;
        for c in text.chars() {
            let (metrics, bitmap) = self.glyph(c, size_px);
            let left = pen_x.round() as i32 + metrics.xmin;
            let top = baseline - (metrics.height as i32 + metrics.ymin);
            for gy in 0..metrics.height {
                let y = top + gy as i32;
                if y < 0 || y as usize >= mask.height_px {
                    continue;
                }
                for gx in 0..metrics.width {
                    let x = left + gx as i32;
                    if x < 0 || x as usize >= mask.width_px {
                        continue;
                    }
                    let dst = &mut mask.coverage[y as usize * mask.width_px + x as usize];
                    *dst = (*dst).max(bitmap[gy * metrics.width + gx]);
                }
            }
            pen_x += metrics.advance_width;
        }
    }

    fn glyph(&mut self, c: char, size_px: f32) -> &(fontdue::Metrics, Vec<u8>) {
        let key = (c, size_px.to_bits());
        if !self.glyphs.contains_key(&key) && self.glyphs.len() >= MAX_CACHED_GLYPHS {
            self.glyphs.clear();
        }
        let font = &self.font;
        self.glyphs
            .entry(key)
            .or_insert_with(|| font.rasterize(c, size_px))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inked_columns(mask: &CoverageMask) -> Vec<bool> {
        (0..mask.width_px)
            .map(|x| (0..mask.height_px).any(|y| mask.coverage[y * mask.width_px + x] > 128))
            .collect()
    }

    #[test]
    fn wider_text_makes_a_wider_mask() {
        let mut text = TextRenderer::new().unwrap();
        let mut short = CoverageMask::default();
        let mut long = CoverageMask::default();
        text.render_line("12", 24.0, &mut short);
        text.render_line("12:34:56", 24.0, &mut long);
        assert!(long.width_px > short.width_px * 3);
        assert_eq!(long.height_px, short.height_px);
        assert_eq!(short.coverage.len(), short.width_px * short.height_px);
    }

    #[test]
    fn glyphs_are_separate_shapes_not_boxes() {
        let mut text = TextRenderer::new().unwrap();
        let mut mask = CoverageMask::default();
        text.render_line("1 1", 32.0, &mut mask);
        let cols = inked_columns(&mask);
        let runs = cols.windows(2).filter(|w| !w[0] && w[1]).count() + usize::from(cols[0]);
        assert_eq!(runs, 2, "two separate inked glyphs: {cols:?}");
        let inked = mask.coverage.iter().filter(|&&c| c > 128).count();
        assert!(inked < mask.coverage.len() / 3, "mostly background");
    }

    #[test]
    fn space_renders_nothing_and_reuses_the_buffer() {
        let mut text = TextRenderer::new().unwrap();
        let mut mask = CoverageMask::default();
        text.render_line("WWWWWWWW", 30.0, &mut mask);
        let cap = mask.coverage.capacity();
        text.render_line("   ", 30.0, &mut mask);
        assert!(mask.coverage.iter().all(|&c| c == 0));
        assert_eq!(mask.coverage.capacity(), cap);
    }
}
