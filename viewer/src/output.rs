//! Where the viewer's loop puts each new picture and its text: the window, or (headless) the
//! offscreen surface that only a --screenshot needs.

use std::cell::OnceCell;

use sdl2::pixels::PixelFormatEnum;
use sdl2::render::{Canvas, TextureCreator};
use sdl2::surface::{Surface, SurfaceContext};
use sdl2::video::Window;
use sdl2::VideoSubsystem;

use crate::config::DEFAULT_WINDOW_SIZE_PX;
use crate::decode::Picture;
use crate::error::Error;
use crate::render::{Scene, Screen};
use crate::window;

/// What the loop's `step` draws on.
pub trait Output {
    /// Takes a new picture. The outer error ends the run; the inner one (SDL would not take
    /// this picture, say larger than the renderer's texture limit) only skips the frame.
    fn upload(&mut self, picture: &Picture) -> Result<Result<(), Error>, Error>;
    /// Shows the current picture with `scene` over it.
    fn show(&mut self, scene: &Scene<'_>) -> Result<(), Error>;
}

/// The window, sized to the first picture unless --window-size gave its size.
pub struct WindowOutput<'t> {
    pub screen: Screen<'t, Window>,
    video: &'t VideoSubsystem,
    sized_to_picture: bool,
}

impl<'t> WindowOutput<'t> {
    pub fn new(screen: Screen<'t, Window>, video: &'t VideoSubsystem, sized: bool) -> Self {
        Self {
            screen,
            video,
            sized_to_picture: sized,
        }
    }
}

impl Output for WindowOutput<'_> {
    fn upload(&mut self, picture: &Picture) -> Result<Result<(), Error>, Error> {
        if let Err(e) = self.screen.upload(picture) {
            return Ok(Err(e));
        }
        if !self.sized_to_picture {
            self.sized_to_picture = true;
            window::fit_to_picture(
                self.screen.window_mut(),
                self.video,
                picture.width_px,
                picture.height_px,
            );
        }
        Ok(Ok(()))
    }

    fn show(&mut self, scene: &Scene<'_>) -> Result<(), Error> {
        self.screen.draw(scene)?;
        self.screen.present();
        Ok(())
    }
}

/// Headless: nothing is shown; only a screenshot needs drawing, and it then goes to an
/// offscreen software renderer of the first picture's size (or --window-size).
pub struct Offscreen<'c> {
    wanted: bool,
    size_px: Option<(u32, u32)>,
    creator: &'c OnceCell<TextureCreator<SurfaceContext<'static>>>,
    screen: Option<Screen<'c, Surface<'static>>>,
}

impl<'c> Offscreen<'c> {
    /// `wanted`: a screenshot will be written (else pictures are not even uploaded).
    pub fn new(
        wanted: bool,
        size_px: Option<(u32, u32)>,
        creator: &'c OnceCell<TextureCreator<SurfaceContext<'static>>>,
    ) -> Self {
        Self {
            wanted,
            size_px,
            creator,
            screen: None,
        }
    }

    /// The surface to draw the screenshot on: the pictures' one, or an empty one when no
    /// picture came.
    pub fn into_screen(self) -> Result<Screen<'c, Surface<'static>>, Error> {
        match self.screen {
            Some(screen) => Ok(screen),
            None => offscreen(self.size_px.unwrap_or(DEFAULT_WINDOW_SIZE_PX), self.creator),
        }
    }
}

impl Output for Offscreen<'_> {
    fn upload(&mut self, picture: &Picture) -> Result<Result<(), Error>, Error> {
        if !self.wanted {
            return Ok(Ok(()));
        }
        let screen = match &mut self.screen {
            Some(screen) => screen,
            None => {
                let size = (
                    u32::try_from(picture.width_px).unwrap_or(1),
                    u32::try_from(picture.height_px).unwrap_or(1),
                );
                let size = self.size_px.unwrap_or(size);
                self.screen.insert(offscreen(size, self.creator)?)
            }
        };
        Ok(screen.upload(picture))
    }

    fn show(&mut self, _scene: &Scene<'_>) -> Result<(), Error> {
        Ok(())
    }
}

/// An offscreen software renderer of the given size, for headless screenshots.
pub fn offscreen<'c>(
    (width_px, height_px): (u32, u32),
    creator: &'c OnceCell<TextureCreator<SurfaceContext<'static>>>,
) -> Result<Screen<'c, Surface<'static>>, Error> {
    let surface = Surface::new(width_px, height_px, PixelFormatEnum::RGB888)
        .map_err(|e| Error::sdl("cannot create an offscreen surface", e))?;
    let canvas = Canvas::from_surface(surface)
        .map_err(|e| Error::sdl("cannot create a software renderer", e))?;
    let creator = creator.get_or_init(|| canvas.texture_creator());
    Screen::new(canvas, creator)
}
