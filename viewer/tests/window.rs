//! What camview draws, checked pixel by pixel in --screenshot PNGs: a real window under Xvfb
//! (started here when DISPLAY is unset; a missing Xvfb fails), and the headless offscreen path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use testkit::*;

const LIMIT: Duration = Duration::from_secs(30);
const RED: [u8; 3] = [220, 30, 30];
const GREEN: [u8; 3] = [30, 200, 60];
/// The tutorial's banner box colour.
const BANNER_BLUE: [u8; 3] = [10, 20, 222];

/// 640x360, left half red, right half green.
fn halves_jpeg() -> Vec<u8> {
    jpeg(640, 360, |x, _| if x < 320 { RED } else { GREEN })
}

fn is_white(p: [u8; 3]) -> bool {
    p.iter().all(|&c| c > 200)
}

/// Picture, letterbox, banner box and banner text in an 800x600 output showing a 640x360
/// frame: the picture is scaled to 800x450 at y = 75.
fn check_letterboxed_halves(png: &Png) {
    assert_eq!((png.width, png.height), (800, 600));
    // Letterbox bars, away from the banner.
    assert_near(png, 700, 30, [0, 0, 0], 0);
    assert_near(png, 400, 590, [0, 0, 0], 0);
    // The picture: red left, green right (JPEG and YUV round trips stay within a few levels).
    for (x, y) in [(50, 500), (300, 300), (200, 450)] {
        assert_near(png, x, y, RED, 24);
    }
    for (x, y) in [(450, 100), (600, 300), (780, 500)] {
        assert_near(png, x, y, GREEN, 24);
    }
    // The banner: the tutorial's blue box at the top-left, with white text in it.
    assert_near(png, 12, 12, BANNER_BLUE, 2);
    let blue = png.count(10, 10, 250, 70, |p| near(p, BANNER_BLUE, 2));
    let white = png.count(10, 10, 250, 70, is_white);
    assert!(blue > 3000, "banner box: {blue} blue pixels");
    assert!(white > 100, "banner text: {white} white pixels");
    let blue_elsewhere = png.count(0, 0, 800, 600, |p| near(p, BANNER_BLUE, 2))
        - png.count(0, 0, 500, 150, |p| near(p, BANNER_BLUE, 2));
    assert_eq!(blue_elsewhere, 0, "the banner stays at the top-left");
}

#[test]
fn window_under_xvfb_shows_picture_and_banner() {
    let display = Display::open();
    let port = free_port();
    let picture = halves_jpeg();
    let publisher = Publisher::start(port, Duration::from_millis(30), move |seq| {
        vec![Outgoing::Single(native("xvfb", seq, 640, 360, &picture))]
    });
    let dir = temp_dir("window");
    let shot = dir.join("window.png");
    let done = run(
        camview()
            .env("DISPLAY", &display.name)
            .env("SDL_AUDIODRIVER", "dummy")
            .env_remove("SDL_RENDER_DRIVER")
            .args([
                "--log-level",
                "debug",
                "--width",
                "800",
                "--height",
                "600",
                "--frames",
                "15",
                "--duration",
                "20",
                "--screenshot",
                shot.to_str().unwrap(),
                &endpoint(port),
            ]),
        LIMIT,
    );
    publisher.stop();
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    // Xvfb has no GPU: OpenGL there is a software rasterizer (llvmpipe), so camview draws with
    // SDL's own software renderer (a sixth of the memory; docs/PERFORMANCE.md).
    assert!(
        done.stderr.contains("renderer software"),
        "camview should draw with SDL's software renderer under Xvfb:\n{}",
        done.stderr
    );
    check_letterboxed_halves(&Png::read(&shot));
    // Kept for a human to look at: CAMVIEW_KEEP_SCREENSHOT=1 leaves it in the temp dir.
    if std::env::var_os("CAMVIEW_KEEP_SCREENSHOT").is_none() {
        std::fs::remove_dir_all(dir).unwrap();
    } else {
        eprintln!("screenshot kept at {}", shot.display());
    }
}

#[test]
fn headless_screenshot_matches_the_window() {
    let port = free_port();
    let picture = halves_jpeg();
    let publisher = Publisher::start(port, Duration::from_millis(10), move |seq| {
        vec![Outgoing::Single(native(
            "offscreen",
            seq,
            640,
            360,
            &picture,
        ))]
    });
    let dir = temp_dir("headless-shot");
    let shot = dir.join("headless.png");
    let done = run(
        camview().args([
            "--headless",
            "--width",
            "800",
            "--height",
            "600",
            "--frames",
            "10",
            "--duration",
            "20",
            "--screenshot",
            shot.to_str().unwrap(),
            &endpoint(port),
        ]),
        LIMIT,
    );
    publisher.stop();
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    assert_eq!(done.summary()["screenshot"], shot.to_str().unwrap());
    check_letterboxed_halves(&Png::read(&shot));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn stalled_stream_dims_the_picture_and_says_so() {
    let port = free_port();
    let picture = halves_jpeg();
    // One second of frames (a late subscriber still gets some), then silence.
    let publisher = Publisher::start(port, Duration::from_millis(20), move |seq| {
        if seq < 50 {
            vec![Outgoing::Single(native("stall", seq, 640, 360, &picture))]
        } else {
            Vec::new()
        }
    });
    let dir = temp_dir("stall");
    let shot = dir.join("stall.png");
    let done = run(
        camview().args([
            "--headless",
            "--duration",
            "3.5",
            "--stale-after-ms",
            "500",
            "--screenshot",
            shot.to_str().unwrap(),
            &endpoint(port),
        ]),
        LIMIT,
    );
    publisher.stop();
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let png = Png::read(&shot);
    assert_eq!(
        (png.width, png.height),
        (640, 360),
        "sized like the first frame"
    );
    // Dimmed: the red half is much darker than sent, but still reddish.
    let [r, g, b] = png.at(40, 330);
    assert!(
        r < 140 && r > 40 && g < 40 && b < 40,
        "dimmed red is {r},{g},{b}"
    );
    // The notice box sits in the middle with white text.
    let notice_grey = png.count(120, 130, 520, 230, |p| near(p, [32, 32, 32], 1));
    let white = png.count(120, 130, 520, 230, is_white);
    assert!(
        notice_grey > 2000 && white > 100,
        "notice: {notice_grey} grey, {white} white"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn waiting_screen_is_drawn_when_nothing_arrives() {
    let port = free_port();
    let dir = temp_dir("waiting");
    let shot = dir.join("waiting.png");
    let done = run(
        camview().args([
            "--headless",
            "--duration",
            "0.5",
            "--screenshot",
            shot.to_str().unwrap(),
            &endpoint(port),
        ]),
        LIMIT,
    );
    assert_eq!(done.status.code(), Some(3), "{}", done.stderr);
    let png = Png::read(&shot);
    assert_eq!((png.width, png.height), (960, 540));
    assert_near(&png, 900, 500, [0, 0, 0], 0);
    let white = png.count(0, 200, 960, 340, is_white);
    assert!(white > 200, "the waiting notice has text: {white}");
    assert_near(&png, 12, 12, BANNER_BLUE, 2);
    std::fs::remove_dir_all(dir).unwrap();
}
