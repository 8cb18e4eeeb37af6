//! camview's window: starting SDL, opening the window, fullscreen, fitting it to the picture,
//! and the renderer it draws with: SDL's choice, except where OpenGL would run on the CPU (no GPU
//! render node, or a software rasterizer behind OpenGL): there SDL's own software renderer, which
//! costs less CPU and memory. `SDL_RENDER_DRIVER` in the environment wins.

use sdl2::render::Canvas;
use sdl2::video::{FullscreenType, Window};
use sdl2::{EventPump, Sdl, VideoSubsystem};

use crate::error::Error;

/// A window sized to the first frame takes at most this share of the usable desktop.
const MAX_AUTO_WINDOW_SHARE: f64 = 0.9;

/// SDL started, with camview's window and its renderer.
pub struct OpenWindow {
    /// Kept for as long as the window: SDL shuts down when the last handle goes.
    _sdl: Sdl,
    pub video: VideoSubsystem,
    pub events: EventPump,
    pub canvas: Canvas<Window>,
}

/// Starts SDL and opens camview's window (resizable, centred, high-DPI aware) of `size_px`,
/// with the renderer of [`window_canvas`]. An error when there is no display to open it on.
pub fn open(title: &str, (width_px, height_px): (u32, u32)) -> Result<OpenWindow, Error> {
    // camview handles SIGINT/SIGTERM itself (signal-hook); SDL must not take them over.
    sdl2::hint::set("SDL_NO_SIGNAL_HANDLERS", "1");
    sdl2::hint::set("SDL_RENDER_SCALE_QUALITY", "linear");
    prefer_software_rendering_without_gpu();
    let sdl = sdl2::init().map_err(|e| Error::sdl("cannot initialise", e))?;
    let video = sdl
        .video()
        .map_err(|e| Error::sdl("no video (is DISPLAY set?)", e))?;
    let driver = video.current_video_driver();
    if matches!(driver, "offscreen" | "dummy") && std::env::var_os("SDL_VIDEODRIVER").is_none() {
        // SDL falls back to an invisible window when there is no display at all.
        return Err(Error::Sdl(format!(
            "no display to open a window on (SDL fell back to its {driver} driver): set \
             DISPLAY, or use --headless"
        )));
    }
    let window = video
        .window(title, width_px, height_px)
        .resizable()
        .position_centered()
        .allow_highdpi()
        .build()
        .map_err(|e| Error::sdl("cannot open a window", e))?;
    let canvas = window_canvas(&video, window)?;
    log::debug!(
        "SDL video driver {}, renderer {}",
        video.current_video_driver(),
        canvas.info().name
    );
    let events = sdl
        .event_pump()
        .map_err(|e| Error::sdl("no event pump", e))?;
    Ok(OpenWindow {
        _sdl: sdl,
        video,
        events,
        canvas,
    })
}

/// Between a desktop-sized fullscreen window and the window as it was (the `f` key).
pub fn toggle_fullscreen(window: &mut Window) {
    let next = match window.fullscreen_state() {
        FullscreenType::Off => FullscreenType::Desktop,
        _ => FullscreenType::Off,
    };
    if let Err(e) = window.set_fullscreen(next) {
        log::warn!("cannot change fullscreen: {e}");
    }
}

/// Sizes the window to the picture, scaled down to fit the desktop if needed.
pub fn fit_to_picture(
    window: &mut Window,
    video: &VideoSubsystem,
    width_px: usize,
    height_px: usize,
) {
    if window.fullscreen_state() != FullscreenType::Off || width_px == 0 || height_px == 0 {
        return;
    }
    let (mut w, mut h) = (width_px as f64, height_px as f64);
    let bounds = window
        .display_index()
        .and_then(|d| video.display_usable_bounds(d));
    if let Ok(bounds) = bounds {
        let scale = f64::min(
            1.0,
            f64::min(
                f64::from(bounds.width()) * MAX_AUTO_WINDOW_SHARE / w,
                f64::from(bounds.height()) * MAX_AUTO_WINDOW_SHARE / h,
            ),
        );
        w *= scale;
        h *= scale;
    }
    if let Err(e) = window.set_size(w.round().max(1.0) as u32, h.round().max(1.0) as u32) {
        log::warn!("cannot resize the window: {e}");
    }
}

/// Whether this machine has a GPU that OpenGL could use: a DRM render node (Linux).
pub fn gpu_device_present() -> bool {
    if !cfg!(target_os = "linux") {
        return true;
    }
    std::fs::read_dir("/dev/dri").is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_string_lossy().starts_with("renderD"))
    })
}

/// Without a GPU, OpenGL is Mesa's llvmpipe: loading it alone costs ~90 MB, and it draws a
/// 640x360 picture with more CPU than SDL's software renderer presenting through the window
/// system's own framebuffer (docs/PERFORMANCE.md). Call before SDL's video starts; environment
/// variables of the same names still win.
pub fn prefer_software_rendering_without_gpu() {
    if !gpu_device_present() {
        log::debug!("no GPU render node (/dev/dri/renderD*): software rendering");
        sdl2::hint::set("SDL_RENDER_DRIVER", "software");
        sdl2::hint::set("SDL_FRAMEBUFFER_ACCELERATION", "0");
    }
}

/// The renderer camview draws `window` with: SDL's choice, unless that turns out to be OpenGL
/// on a software rasterizer (a GPU render node without a GPU driver behind it), which is then
/// replaced by SDL's own software renderer. `SDL_RENDER_DRIVER` in the environment is obeyed.
pub fn window_canvas(
    video: &sdl2::VideoSubsystem,
    window: sdl2::video::Window,
) -> Result<Canvas<sdl2::video::Window>, Error> {
    let canvas = window
        .into_canvas()
        .build()
        .map_err(|e| Error::sdl("cannot create a renderer", e))?;
    if std::env::var_os("SDL_RENDER_DRIVER").is_some() {
        return Ok(canvas);
    }
    let Some(rasterizer) = software_gl(video, &canvas) else {
        return Ok(canvas);
    };
    // OpenGL on the CPU (Mesa's llvmpipe under Xvfb, a VM, no GPU driver) costs more CPU and
    // ~80 MB more memory than SDL's own software renderer for the same picture.
    log::info!(
        "OpenGL here is {rasterizer}, a software rasterizer: drawing with SDL's software renderer"
    );
    sdl2::hint::set("SDL_FRAMEBUFFER_ACCELERATION", "0");
    canvas
        .into_window()
        .into_canvas()
        .software()
        .build()
        .map_err(|e| Error::sdl("cannot create a software renderer", e))
}

/// When `canvas` draws with OpenGL and that OpenGL is a software rasterizer, its name
/// (`GL_RENDERER`, say "llvmpipe (LLVM 19.1.7, 256 bits)").
pub fn software_gl(
    video: &sdl2::VideoSubsystem,
    canvas: &Canvas<sdl2::video::Window>,
) -> Option<String> {
    if !canvas.info().name.starts_with("opengl") {
        return None;
    }
    let name = gl_renderer_name(video)?;
    let lower = name.to_ascii_lowercase();
    [
        "llvmpipe",
        "softpipe",
        "swrast",
        "software rasterizer",
        "swiftshader",
    ]
    .iter()
    .any(|software| lower.contains(software))
    .then_some(name)
}

/// `glGetString(GL_RENDERER)` of the current OpenGL context (the renderer's, just created).
#[allow(unsafe_code)]
fn gl_renderer_name(video: &sdl2::VideoSubsystem) -> Option<String> {
    const GL_RENDERER: u32 = 0x1F01;
    let get_string = video.gl_get_proc_address("glGetString");
    if get_string.is_null() {
        return None;
    }
    // SAFETY: SDL returned the address of OpenGL's `glGetString`, whose C signature is
    // `const GLubyte *glGetString(GLenum)`; the renderer's context is current on this thread.
    // The result is a NUL-terminated static string owned by the driver (or null), copied here.
    unsafe {
        let get_string: extern "system" fn(u32) -> *const std::ffi::c_char =
            std::mem::transmute(get_string);
        let name = get_string(GL_RENDERER);
        (!name.is_null()).then(|| {
            std::ffi::CStr::from_ptr(name)
                .to_string_lossy()
                .into_owned()
        })
    }
}
