//! Drawing with SDL2, on a window or an offscreen surface alike: the picture as a YUV (or RGB)
//! texture, letterboxed; the banner and the no-signal notice over it; screenshots read back.
//! In a grid (several endpoints) each tile has its own textures and is drawn into its own
//! rectangle of the output the same way.

use camtext::TextRenderer;
use sdl2::pixels::{Color, PixelFormatEnum};
use sdl2::rect::Rect;
use sdl2::render::{BlendMode, Canvas, RenderTarget, Texture, TextureCreator};
use sdl2::video::Window;

use crate::decode::{Layout, Picture};
use crate::error::Error;
use crate::overlay::{BoxStyle, TextBox, BANNER_BOX_RGB, NOTICE_BOX_RGB, TEXT_RGB};

/// The banner box's distance from the top-left corner of the window.
pub const BANNER_MARGIN_PX: i32 = 10;
/// How dark the last picture gets while no frames arrive (alpha of a black veil).
const DIM_ALPHA: u8 = 150;

/// What to draw besides the picture.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scene<'a> {
    /// Banner lines; empty for no banner.
    pub banner: &'a [String],
    /// No-signal notice lines, centred; empty for none.
    pub notice: &'a [String],
    /// Dim the picture (frames have stopped).
    pub dim_picture: bool,
}

/// A screenshot: `rgb` holds `height_px` rows of `3 * width_px` bytes.
#[derive(Debug, Clone)]
pub struct RgbImage {
    pub width_px: u32,
    pub height_px: u32,
    pub rgb: Vec<u8>,
}

struct PictureTexture<'t> {
    texture: Texture<'t>,
    layout: Layout,
    texture_size: (u32, u32),
    /// The visible part of the texture (a YUV texture is padded to even dimensions).
    source: Rect,
}

/// A texture with its size in pixels.
type SizedTexture<'t> = (Texture<'t>, (u32, u32));

#[derive(Default)]
struct Overlay<'t> {
    pixels: TextBox,
    texture: Option<SizedTexture<'t>>,
}

/// One tile's textures: its picture and its text.
#[derive(Default)]
struct TileTextures<'t> {
    picture: Option<PictureTexture<'t>>,
    banner: Overlay<'t>,
    notice: Overlay<'t>,
}

/// An SDL renderer with the textures camview draws; `T` is a window or a surface.
pub struct Screen<'t, T: RenderTarget> {
    canvas: Canvas<T>,
    creator: &'t TextureCreator<T::Context>,
    /// One per tile; a single stream is tile 0 filling the output.
    tiles: Vec<TileTextures<'t>>,
    text: TextRenderer,
}

impl<'t, T: RenderTarget> Screen<'t, T> {
    pub fn new(canvas: Canvas<T>, creator: &'t TextureCreator<T::Context>) -> Result<Self, Error> {
        use_jpeg_yuv_range();
        Ok(Self {
            canvas,
            creator,
            tiles: Vec::new(),
            text: TextRenderer::new()?,
        })
    }

    /// Tile `tile`'s textures give way to `count` new tiles' (none yet), the tiles after it
    /// moving along: a grid's tile that turned out to be a relay becomes one tile per stream.
    pub fn replace_tile(&mut self, tile: usize, count: usize) {
        if tile < self.tiles.len() {
            self.tiles.remove(tile);
            let at = tile.min(self.tiles.len());
            self.tiles.splice(
                at..at,
                std::iter::repeat_with(TileTextures::default).take(count),
            );
        }
    }

    /// Uploads a decoded picture, replacing the texture only when the size or layout changes.
    pub fn upload(&mut self, picture: &Picture) -> Result<(), Error> {
        self.upload_tile(0, picture)
    }

    /// [`Screen::upload`] for tile `tile`.
    pub fn upload_tile(&mut self, tile: usize, picture: &Picture) -> Result<(), Error> {
        let slot = self.tile_mut(tile);
        let (format, texture_size) = match picture.layout {
            Layout::Yuv420 => {
                let (w, h) = picture.padded_size();
                (PixelFormatEnum::IYUV, (to_u32(w)?, to_u32(h)?))
            }
            Layout::Rgb24 => (
                PixelFormatEnum::RGB24,
                (to_u32(picture.width_px)?, to_u32(picture.height_px)?),
            ),
        };
        let source = Rect::new(0, 0, to_u32(picture.width_px)?, to_u32(picture.height_px)?);
        let reusable = slot
            .picture
            .as_ref()
            .is_some_and(|p| p.layout == picture.layout && p.texture_size == texture_size);
        if !reusable {
            slot.picture = None;
            let texture = self
                .creator
                .create_texture_streaming(format, texture_size.0, texture_size.1)
                .map_err(|e| Error::sdl("create the picture texture", e))?;
            let slot = self.tile_mut(tile);
            slot.picture = Some(PictureTexture {
                texture,
                layout: picture.layout,
                texture_size,
                source,
            });
        }
        let Some(target) = self.tile_mut(tile).picture.as_mut() else {
            return Ok(());
        };
        target.source = source;

        match picture.planes() {
            Some(planes) => target
                .texture
                .update_yuv(
                    None,
                    planes.y,
                    planes.y_pitch,
                    planes.u,
                    planes.uv_pitch,
                    planes.v,
                    planes.uv_pitch,
                )
                .map_err(|e| Error::sdl("upload the YUV picture", e)),
            None => target
                .texture
                .update(None, &picture.data, 3 * picture.width_px)
                .map_err(|e| Error::sdl("upload the RGB picture", e)),
        }
    }

    fn tile_mut(&mut self, tile: usize) -> &mut TileTextures<'t> {
        if self.tiles.len() <= tile {
            self.tiles.resize_with(tile + 1, TileTextures::default);
        }
        &mut self.tiles[tile]
    }

    /// The output's size in pixels.
    pub fn output_size_px(&self) -> Result<(u32, u32), Error> {
        self.canvas
            .output_size()
            .map_err(|e| Error::sdl("query the output size", e))
    }

    /// Draws the current picture (if any) and `scene` into the back buffer.
    pub fn draw(&mut self, scene: &Scene<'_>) -> Result<(), Error> {
        let (out_w, out_h) = self.output_size_px()?;
        self.draw_tiles(&[(0, Rect::new(0, 0, out_w, out_h), *scene)])
    }

    /// Clears the back buffer and draws each `(tile, area, scene)`: the tile's picture
    /// letterboxed in its area, its text over it.
    pub fn draw_tiles(&mut self, tiles: &[(usize, Rect, Scene<'_>)]) -> Result<(), Error> {
        self.canvas.set_clip_rect(None);
        self.canvas.set_blend_mode(BlendMode::None);
        self.canvas.set_draw_color(Color::RGB(0, 0, 0));
        self.canvas.clear();
        // Side by side, each tile's text is clipped to its tile; one tile draws as it always did.
        let clip = tiles.len() > 1;
        for (tile, area, scene) in tiles {
            // A tile without a picture yet still has its text to draw (waiting, no signal).
            self.tile_mut(*tile);
            if clip {
                self.canvas.set_clip_rect(Some(*area));
            }
            let drawn = self.draw_tile(*tile, *area, scene);
            if clip {
                self.canvas.set_clip_rect(None);
            }
            drawn?;
        }
        Ok(())
    }

    fn draw_tile(&mut self, tile: usize, area: Rect, scene: &Scene<'_>) -> Result<(), Error> {
        let (out_w, out_h) = (area.width(), area.height());
        let (left, top) = (area.x(), area.y());
        let Some(slot) = self.tiles.get_mut(tile) else {
            return Ok(());
        };
        if let Some(picture) = &slot.picture {
            let mut dst = letterbox(
                picture.source.width(),
                picture.source.height(),
                out_w,
                out_h,
            );
            dst.offset(left, top);
            self.canvas
                .copy(&picture.texture, picture.source, dst)
                .map_err(|e| Error::sdl("draw the picture", e))?;
            if scene.dim_picture {
                self.canvas.set_blend_mode(BlendMode::Blend);
                self.canvas.set_draw_color(Color::RGBA(0, 0, 0, DIM_ALPHA));
                self.canvas
                    .fill_rect(dst)
                    .map_err(|e| Error::sdl("dim the picture", e))?;
            }
        }

        let banner_style = BoxStyle {
            background_rgb: BANNER_BOX_RGB,
            text_rgb: TEXT_RGB,
            size_px: (out_h as f32 / 27.0).clamp(14.0, 40.0).round(),
            later_lines_scale: 0.8,
        };
        let notice_style = BoxStyle {
            background_rgb: NOTICE_BOX_RGB,
            text_rgb: TEXT_RGB,
            size_px: (out_h as f32 / 18.0).clamp(16.0, 48.0).round(),
            later_lines_scale: 0.6,
        };
        if let Some((texture, (w, h))) = refresh(
            &mut slot.notice,
            &mut self.text,
            self.creator,
            scene.notice,
            notice_style,
        )? {
            let (w, h) = (*w, *h);
            let x = (i64::from(out_w) - i64::from(w)) / 2;
            let y = (i64::from(out_h) - i64::from(h)) / 2;
            let dst = Rect::new(left + x as i32, top + y as i32, w, h);
            self.canvas
                .copy(texture, None, dst)
                .map_err(|e| Error::sdl("draw the notice", e))?;
        }
        if let Some((texture, (w, h))) = refresh(
            &mut slot.banner,
            &mut self.text,
            self.creator,
            scene.banner,
            banner_style,
        )? {
            let dst = Rect::new(left + BANNER_MARGIN_PX, top + BANNER_MARGIN_PX, *w, *h);
            self.canvas
                .copy(texture, None, dst)
                .map_err(|e| Error::sdl("draw the banner", e))?;
        }
        Ok(())
    }

    /// Reads back what [`Screen::draw`] drew; call it before [`Screen::present`].
    pub fn read_rgb(&self) -> Result<RgbImage, Error> {
        let (width_px, height_px) = self
            .canvas
            .output_size()
            .map_err(|e| Error::sdl("query the output size", e))?;
        let rgb = self
            .canvas
            .read_pixels(None, PixelFormatEnum::RGB24)
            .map_err(|e| Error::sdl("read the rendered pixels", e))?;
        Ok(RgbImage {
            width_px,
            height_px,
            rgb,
        })
    }

    pub fn present(&mut self) {
        self.canvas.present();
    }
}

impl Screen<'_, Window> {
    pub fn window_mut(&mut self) -> &mut Window {
        self.canvas.window_mut()
    }
}

/// Brings an overlay's texture up to date with `lines`; `None` when there is nothing to show.
fn refresh<'o, 't, C>(
    overlay: &'o mut Overlay<'t>,
    text: &mut TextRenderer,
    creator: &'t TextureCreator<C>,
    lines: &[String],
    style: BoxStyle,
) -> Result<Option<&'o SizedTexture<'t>>, Error> {
    let changed = overlay.pixels.set(text, lines, style);
    if overlay.pixels.is_empty() {
        overlay.texture = None;
        return Ok(None);
    }
    if changed || overlay.texture.is_none() {
        let size = (
            to_u32(overlay.pixels.width_px)?,
            to_u32(overlay.pixels.height_px)?,
        );
        if overlay.texture.as_ref().map(|(_, s)| *s) != Some(size) {
            overlay.texture = None;
            let mut texture = creator
                .create_texture_streaming(PixelFormatEnum::RGBA32, size.0, size.1)
                .map_err(|e| Error::sdl("create a text texture", e))?;
            texture.set_blend_mode(BlendMode::Blend);
            overlay.texture = Some((texture, size));
        }
        if let Some((texture, _)) = overlay.texture.as_mut() {
            texture
                .update(None, &overlay.pixels.rgba, 4 * overlay.pixels.width_px)
                .map_err(|e| Error::sdl("upload text", e))?;
        }
    }
    Ok(overlay.texture.as_ref())
}

/// The largest rectangle with the picture's aspect ratio that fits the output, centred.
pub fn letterbox(picture_w: u32, picture_h: u32, out_w: u32, out_h: u32) -> Rect {
    if picture_w == 0 || picture_h == 0 || out_w == 0 || out_h == 0 {
        return Rect::new(0, 0, out_w.max(1), out_h.max(1));
    }
    let scale = f64::min(
        f64::from(out_w) / f64::from(picture_w),
        f64::from(out_h) / f64::from(picture_h),
    );
    let w = ((f64::from(picture_w) * scale).round() as u32).clamp(1, out_w);
    let h = ((f64::from(picture_h) * scale).round() as u32).clamp(1, out_h);
    Rect::new(((out_w - w) / 2) as i32, ((out_h - h) / 2) as i32, w, h)
}

fn to_u32(n: usize) -> Result<u32, Error> {
    u32::try_from(n).map_err(|_| Error::Sdl(format!("size {n} is too large for SDL")))
}

/// Tells SDL that YUV textures hold JPEG's full-range BT.601 YCbCr (its default is limited
/// range), so decoded planes upload as they are: no per-frame pass over the pixels. The safe
/// sdl2 API has no call for this setting.
#[allow(unsafe_code)]
fn use_jpeg_yuv_range() {
    // SAFETY: sets a global conversion mode read when SDL converts YUV; takes an enum by value
    // and touches no memory of ours. Valid before or after SDL_Init.
    unsafe {
        sdl2::sys::SDL_SetYUVConversionMode(
            sdl2::sys::SDL_YUV_CONVERSION_MODE::SDL_YUV_CONVERSION_JPEG,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_keeps_aspect_and_centres() {
        assert_eq!(letterbox(640, 360, 640, 360), Rect::new(0, 0, 640, 360));
        assert_eq!(
            letterbox(640, 360, 800, 600),
            Rect::new(0, 75, 800, 450),
            "bars top and bottom"
        );
        assert_eq!(
            letterbox(640, 480, 1920, 1080),
            Rect::new(240, 0, 1440, 1080),
            "bars left and right"
        );
        assert_eq!(letterbox(640, 360, 320, 180), Rect::new(0, 0, 320, 180));
        assert_eq!(letterbox(0, 0, 100, 50), Rect::new(0, 0, 100, 50));
    }

    /// Two tiles side by side: each picture letterboxed in its own half, each tile's notice
    /// clipped to its half, nothing drawn where no tile is.
    #[test]
    fn draws_tiles_side_by_side_each_in_its_own_area() {
        let decoded = |rgb: [u8; 3]| {
            let pixels: Vec<u8> = rgb.repeat(64 * 36);
            let image = turbojpeg::Image {
                pixels: &pixels[..],
                width: 64,
                pitch: 3 * 64,
                height: 36,
                format: turbojpeg::PixelFormat::RGB,
            };
            let jpeg = turbojpeg::compress(image, 90, turbojpeg::Subsamp::Sub2x2).unwrap();
            let mut decoder = crate::decode::Decoder::new().unwrap();
            decoder.decode(&jpeg).unwrap();
            decoder
        };
        let (red, green) = (decoded([230, 40, 30]), decoded([30, 200, 60]));
        let surface = sdl2::surface::Surface::new(640, 180, PixelFormatEnum::RGB888).unwrap();
        let canvas = Canvas::from_surface(surface).unwrap();
        let creator = canvas.texture_creator();
        let mut screen = Screen::new(canvas, &creator).unwrap();
        screen.upload_tile(0, red.picture().unwrap()).unwrap();
        screen.upload_tile(1, green.picture().unwrap()).unwrap();
        let notice = vec!["a notice far too wide to fit in a tile of 320 pixels".to_string()];
        let quiet = Scene::default();
        let loud = Scene {
            notice: &notice,
            ..Scene::default()
        };
        screen
            .draw_tiles(&[
                (0, Rect::new(0, 0, 320, 180), quiet),
                (1, Rect::new(320, 0, 320, 180), loud),
            ])
            .unwrap();
        let image = screen.read_rgb().unwrap();
        let px = |x: u32, y: u32| {
            let at = ((y * image.width_px + x) * 3) as usize;
            [image.rgb[at], image.rgb[at + 1], image.rgb[at + 2]]
        };
        let close = |[r, g, b]: [u8; 3], [er, eg, eb]: [u8; 3]| {
            (i32::from(r) - i32::from(er)).abs() < 12
                && (i32::from(g) - i32::from(eg)).abs() < 12
                && (i32::from(b) - i32::from(eb)).abs() < 12
        };
        // 64x36 in 320x180 fills each tile exactly.
        assert!(close(px(5, 5), [230, 40, 30]) && close(px(314, 174), [230, 40, 30]));
        assert!(close(px(326, 5), [30, 200, 60]) && close(px(634, 174), [30, 200, 60]));
        // The notice of tile 1 spills into neither tile 0 nor past its own edge.
        let grey_in_tile_0 = (0..320)
            .flat_map(|x| (0..180).map(move |y| (x, y)))
            .filter(|&(x, y)| px(x, y) == NOTICE_BOX_RGB)
            .count();
        let grey_in_tile_1 = (320..640)
            .flat_map(|x| (0..180).map(move |y| (x, y)))
            .filter(|&(x, y)| px(x, y) == NOTICE_BOX_RGB)
            .count();
        assert_eq!(grey_in_tile_0, 0);
        assert!(grey_in_tile_1 > 1000, "{grey_in_tile_1}");
    }

    /// The whole drawing path on a software surface: picture colours survive YUV upload and
    /// the full-range YUV setting, letterbox bars stay black, the banner box is the tutorial's blue.
    #[test]
    fn draws_picture_letterbox_and_banner_on_a_surface() {
        let pixels: Vec<u8> = [230, 40, 30].repeat(64 * 36);
        let image = turbojpeg::Image {
            pixels: &pixels[..],
            width: 64,
            pitch: 3 * 64,
            height: 36,
            format: turbojpeg::PixelFormat::RGB,
        };
        let jpeg = turbojpeg::compress(image, 90, turbojpeg::Subsamp::Sub2x2).unwrap();
        let mut decoder = crate::decode::Decoder::new().unwrap();
        decoder.decode(&jpeg).unwrap();

        let surface = sdl2::surface::Surface::new(320, 240, PixelFormatEnum::RGB888).unwrap();
        let canvas = Canvas::from_surface(surface).unwrap();
        let creator = canvas.texture_creator();
        let mut screen = Screen::new(canvas, &creator).unwrap();
        screen.upload(decoder.picture().unwrap()).unwrap();
        let banner = vec!["FPS: 30".to_string()];
        screen
            .draw(&Scene {
                banner: &banner,
                notice: &[],
                dim_picture: false,
            })
            .unwrap();
        let image = screen.read_rgb().unwrap();
        let px = |x: u32, y: u32| {
            let at = ((y * image.width_px + x) * 3) as usize;
            [image.rgb[at], image.rgb[at + 1], image.rgb[at + 2]]
        };
        assert_eq!((image.width_px, image.height_px), (320, 240));
        assert_eq!(
            px(160, 5),
            [0, 0, 0],
            "letterbox bar (picture is 320x180 at y=30)"
        );
        let [r, g, b] = px(250, 150);
        assert!(
            (i32::from(r) - 230).abs() < 12
                && (i32::from(g) - 40).abs() < 12
                && (i32::from(b) - 30).abs() < 12,
            "{r},{g},{b}"
        );
        assert_eq!(px(11, 11), BANNER_BOX_RGB);
    }
}
