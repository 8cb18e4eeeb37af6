//! How camview draws its window: SDL's choice of renderer, except where OpenGL would run on the
//! CPU (no GPU render node, or a software rasterizer behind OpenGL): there SDL's own software
//! renderer, which costs less CPU and memory. `SDL_RENDER_DRIVER` in the environment wins.

use sdl2::render::Canvas;

use crate::error::Error;

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
