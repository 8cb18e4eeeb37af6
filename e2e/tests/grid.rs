//! camview's grid against four real campubs: one window, four tiles, each tile's picture
//! told apart by where the test pattern's corner marks are (each campub flips differently),
//! and the headless JSON line of each stream.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use testkit::*;

const LIMIT: Duration = Duration::from_secs(40);

/// The pattern's corner marks (campub's capture::pattern::CORNERS_YUV as RGB): top-left red,
/// top-right green, bottom-left blue, bottom-right white.
const MARKS: [(&str, [u8; 3]); 4] = [
    ("red", [255, 0, 0]),
    ("green", [0, 255, 0]),
    ("blue", [0, 0, 255]),
    ("white", [255, 255, 255]),
];

/// Each campub's flip options, and the marks its picture then shows at its top-left,
/// top-right, bottom-left and bottom-right.
const FLIPS: [(&[&str], [&str; 4]); 4] = [
    (&[], ["red", "green", "blue", "white"]),
    (&["--hflip"], ["green", "red", "white", "blue"]),
    (&["--vflip"], ["blue", "white", "red", "green"]),
    (&["--hflip", "--vflip"], ["white", "blue", "green", "red"]),
];

/// The mark nearest to the pixel, if one is near at all.
fn mark_at(png: &Png, x: u32, y: u32) -> &'static str {
    let p = png.at(x, y);
    MARKS
        .iter()
        .find(|(_, rgb)| near(p, *rgb, 70))
        .map_or("none", |(name, _)| name)
}

fn start_campubs() -> Vec<(CampubProcess, String)> {
    FLIPS
        .iter()
        .enumerate()
        .map(|(i, (flips, _))| {
            let port = free_port();
            let stream = format!("cam{}", i + 1);
            let mut args = vec!["--size", "1280x720", "--fps", "30", "--stream", &stream];
            args.extend_from_slice(flips);
            (CampubProcess::start(port, &args), endpoint(port))
        })
        .collect()
}

/// camview's window (960x540, four tiles) on `endpoints`: each tile shows its campub's
/// picture, in FLIPS order.
fn assert_four_tiles(endpoints: &[&str], what: &str) {
    let display = Display::open();
    let dir = temp_dir(what);
    let shot = dir.join("grid.png");
    let done = run(
        camview()
            .env("DISPLAY", &display.name)
            .env("SDL_AUDIODRIVER", "dummy")
            .env_remove("SDL_RENDER_DRIVER")
            .args(["--no-banner", "--width", "960", "--height", "540"])
            .args(["--frames", "20", "--duration", "20", "--screenshot"])
            .arg(&shot)
            .args(endpoints),
        LIMIT,
    );
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);

    // 960x540 in a 2x2 grid: 480x270 tiles, each exactly a 640x360 picture scaled by 3/4
    // (corner marks of 30 px become 22 px: sampled 6 px in from each corner).
    let png = Png::read(&shot);
    assert_eq!((png.width, png.height), (960, 540));
    for (tile, (_, expected)) in FLIPS.iter().enumerate() {
        let (x0, y0) = ((tile as u32 % 2) * 480, (tile as u32 / 2) * 270);
        let seen = [
            mark_at(&png, x0 + 6, y0 + 6),
            mark_at(&png, x0 + 473, y0 + 6),
            mark_at(&png, x0 + 6, y0 + 263),
            mark_at(&png, x0 + 473, y0 + 263),
        ];
        assert_eq!(
            &seen,
            expected,
            "{what}: tile {} (campub {:?})",
            tile + 1,
            FLIPS[tile].0
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn four_campubs_through_one_relay_fill_four_tiles_each_its_own_camera() {
    let _serial = one_at_a_time();
    let campubs = start_campubs();
    let relay_port = free_port();
    let mut relay = LoggedProcess::spawn(
        camrelay()
            .args(["--bind", &endpoint(relay_port), "--no-idle"])
            .args(campubs.iter().flat_map(|(_, e)| ["--from", e.as_str()])),
        "camrelay",
    );
    for i in 1..=4 {
        assert!(relay.wait_for_log(&format!("stream \"cam{i}\" appeared"), LIMIT));
    }
    // One endpoint, four streams: camview asks the relay which, one tile each (by name).
    assert_four_tiles(&[&endpoint(relay_port)], "e2e-grid-relay");
    assert!(relay.running(), "{:#?}", relay.log());
}

#[test]
fn four_campubs_in_one_camview_grid_each_tile_its_own_camera() {
    let _serial = one_at_a_time();
    let campubs = start_campubs();
    let endpoints: Vec<&str> = campubs.iter().map(|(_, e)| e.as_str()).collect();
    assert_four_tiles(&endpoints, "e2e-grid");

    // Headless: one JSON line per camera, in order, each with its endpoint and stream name.
    let done = run(
        camview()
            .args(["--headless", "--frames", "30", "--duration", "20"])
            .args(&endpoints),
        LIMIT,
    );
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let lines = done.json_lines();
    assert_eq!(lines.len(), 4, "{}", done.stdout);
    for (i, (line, endpoint)) in lines.iter().zip(&endpoints).enumerate() {
        assert_eq!(line["endpoint"], *endpoint, "{line}");
        assert_eq!(line["streams"].as_object().unwrap().len(), 1, "{line}");
        assert!(
            u64_at(line, &format!("/streams/cam{}", i + 1)) >= 30,
            "{line}"
        );
        assert_eq!(u64_at(line, "/bad_messages"), 0, "{line}");
        assert_eq!(
            (u64_at(line, "/width"), u64_at(line, "/height")),
            (640, 360)
        );
    }
    for (campub, _) in &mut campubs.into_iter().collect::<Vec<_>>() {
        assert!(campub.running(), "a campub died: {:?}", campub.log());
    }
}
