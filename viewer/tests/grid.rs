//! camview's grid (several endpoints, one tile each) against real test publishers: the tiles in
//! a window under Xvfb told apart by colour, keys sent with xdotool, the headless JSON per
//! stream, a silent endpoint's tile, and a tile fed the tutorial's base64 frames.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

use base64::Engine as _;
use testkit::*;

const LIMIT: Duration = Duration::from_secs(40);
/// One colour per tile, none near the banner's blue or the notice's grey.
const COLOURS: [[u8; 3]; 4] = [[220, 30, 30], [30, 200, 60], [230, 220, 40], [200, 40, 200]];
const BANNER_BLUE: [u8; 3] = [10, 20, 222];
const NOTICE_GREY: [u8; 3] = [32, 32, 32];

/// A publisher on a free port sending a solid 320x180 picture of `rgb` every 30 ms.
fn solid_publisher(stream: &str, rgb: [u8; 3]) -> (Publisher, String) {
    let port = free_port();
    let picture = solid_jpeg(320, 180, rgb);
    let stream = stream.to_owned();
    let publisher = Publisher::start(port, Duration::from_millis(30), move |seq| {
        vec![Outgoing::Single(native(&stream, seq, 320, 180, &picture))]
    });
    (publisher, endpoint(port))
}

/// camview under Xvfb, as the window tests run it.
fn windowed(display: &Display) -> Command {
    let mut command = camview();
    command
        .env("DISPLAY", &display.name)
        .env("SDL_AUDIODRIVER", "dummy")
        .env_remove("SDL_RENDER_DRIVER");
    command
}

/// Waits for camview's window to be visible, focuses it and presses `key` (xdotool's name).
fn press(display: &Display, key: &str) {
    let status = Command::new("timeout")
        .args([
            "15",
            "xdotool",
            "search",
            "--sync",
            "--onlyvisible",
            "--name",
            "^camview",
        ])
        .args(["windowfocus", "--sync", "%1", "key", key])
        .env("DISPLAY", &display.name)
        .status()
        .unwrap_or_else(|e| panic!("cannot run xdotool (scripts/setup-debian.sh --test): {e}"));
    assert!(status.success(), "xdotool key {key}: {status}");
}

/// camview with its stdout read line by line as it comes (`--report-every` lines), so a test
/// can wait for what camview has shown instead of guessing a time; stderr goes to the test's.
struct Reports {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<serde_json::Value>,
    seen: Vec<serde_json::Value>,
}

impl Reports {
    fn spawn(command: &mut Command) -> Self {
        use std::io::BufRead as _;
        let mut child = command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let json = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
                if tx.send(json).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits until every endpoint in `endpoints` has had a report with frames shown.
    fn wait_for_frames(&mut self, endpoints: &[&str]) {
        let deadline = std::time::Instant::now() + LIMIT;
        loop {
            let shown = |e: &&str| {
                self.seen
                    .iter()
                    .any(|r| r["endpoint"] == *e && u64_at(r, "/frames_shown") > 0)
            };
            if endpoints.iter().all(shown) {
                return;
            }
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(e) => panic!("no frames from all of {endpoints:?} ({e}): {:?}", self.seen),
            }
        }
    }

    /// Waits for camview to end; its exit status and every line it printed.
    fn finish(mut self) -> (std::process::ExitStatus, Vec<serde_json::Value>) {
        let status = self.child.wait().unwrap();
        self.seen.extend(self.lines.iter());
        (status, self.seen)
    }
}

/// How many pixels of `rect` (x0, y0, x1, y1) are within 30 of `rgb`.
fn count_near(png: &Png, (x0, y0, x1, y1): (u32, u32, u32, u32), rgb: [u8; 3]) -> usize {
    png.count(x0, y0, x1, y1, |p| near(p, rgb, 30))
}

/// An 800x600 window in a 2x2 grid: tile i spans (x0, y0, x1, y1).
const TILES_800X600: [(u32, u32, u32, u32); 4] = [
    (0, 0, 400, 300),
    (400, 0, 800, 300),
    (0, 300, 400, 600),
    (400, 300, 800, 600),
];

#[test]
fn four_publishers_make_four_tiles_each_with_its_own_picture_and_banner() {
    let display = Display::open();
    let publishers: Vec<_> = COLOURS
        .iter()
        .enumerate()
        .map(|(i, &rgb)| solid_publisher(&format!("cam{}", i + 1), rgb))
        .collect();
    let dir = temp_dir("grid-window");
    let shot = dir.join("grid.png");
    let mut command = windowed(&display);
    command.args([
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
    ]);
    command.args(publishers.iter().map(|(_, e)| e));
    let done = run(&mut command, LIMIT);
    let endpoints: Vec<String> = publishers.into_iter().map(|(_, e)| e).collect();
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    assert!(
        done.stdout.is_empty(),
        "a window prints no JSON: {}",
        done.stdout
    );
    // Each tile ends with its own summary line in the log, numbered like its banner.
    for (i, endpoint) in endpoints.iter().enumerate() {
        let prefix = format!("{}: {endpoint}: shown ", i + 1);
        assert!(
            done.stderr.contains(&prefix),
            "{prefix:?} in\n{}",
            done.stderr
        );
    }

    let png = Png::read(&shot);
    assert_eq!(
        (png.width, png.height),
        (800, 600),
        "the grid keeps the window's size"
    );
    for (tile, (&area, &rgb)) in TILES_800X600.iter().zip(&COLOURS).enumerate() {
        let (x0, y0, x1, y1) = area;
        // 320x180 letterboxed in 400x300: 400x225 at y0 + 37; sample below the banner.
        let own = count_near(&png, (x0 + 20, y0 + 120, x1 - 20, y0 + 250), rgb);
        assert!(
            own > 40_000,
            "tile {} shows its colour on {own} pixels",
            tile + 1
        );
        for (other, &rgb2) in COLOURS.iter().enumerate().filter(|&(o, _)| o != tile) {
            let foreign = count_near(&png, area, rgb2);
            assert_eq!(
                foreign,
                0,
                "tile {} shows tile {}'s colour",
                tile + 1,
                other + 1
            );
        }
        // Letterbox bars above and below the picture.
        assert_near(&png, x0 + 200, y0 + 2, [0, 0, 0], 0);
        assert_near(&png, x0 + 200, y1 - 2, [0, 0, 0], 0);
        // Its own banner at its own top-left, with text.
        let blue = png.count(x0 + 10, y0 + 10, x0 + 200, y0 + 60, |p| {
            near(p, BANNER_BLUE, 2)
        });
        let white = png.count(x0 + 10, y0 + 10, x0 + 200, y0 + 60, |p| {
            p.iter().all(|&c| c > 200)
        });
        assert!(
            blue > 1500 && white > 80,
            "tile {} banner: {blue} blue, {white} white",
            tile + 1
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn keys_maximise_a_tile_and_go_back_to_the_grid() {
    let display = Display::open();
    let (_red, red) = solid_publisher("red", COLOURS[0]);
    let (_green, green) = solid_publisher("green", COLOURS[1]);
    let dir = temp_dir("grid-keys");
    let (width, height) = ("800", "300");
    let whole = (0, 60, 800, 290);

    // 2 maximises the second tile: the whole window is green, no red anywhere. Before it,
    // s saves each tile's frame into the current directory.
    let shot = dir.join("maximised.png");
    let saves = dir.join("saves");
    std::fs::create_dir(&saves).unwrap();
    let mut running = Reports::spawn(windowed(&display).current_dir(&saves).args([
        "--no-banner",
        "--width",
        width,
        "--height",
        height,
        "--duration",
        "6",
        "--report-every",
        "0.2",
        "--screenshot",
        shot.to_str().unwrap(),
        &red,
        &green,
    ]));
    running.wait_for_frames(&[&red, &green]);
    press(&display, "s");
    press(&display, "2");
    let (status, _) = running.finish();
    assert!(status.success(), "{status}");
    let png = Png::read(&shot);
    assert_eq!(
        count_near(&png, whole, COLOURS[0]),
        0,
        "red tile still shown"
    );
    // 320x180 in 800x300: 533x300, centred.
    assert!(count_near(&png, whole, COLOURS[1]) > 100_000);
    let mut saved: Vec<String> = std::fs::read_dir(&saves)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    saved.sort();
    assert_eq!(saved.len(), 2, "one JPEG per tile: {saved:?}");
    assert!(
        saved[0].starts_with("camview-green-") && saved[1].starts_with("camview-red-"),
        "{saved:?}"
    );

    // --maximise 1 starts maximised; Backspace goes back to the grid (2x1: red left, green right).
    let shot = dir.join("grid.png");
    let running = spawn(windowed(&display).args([
        "--no-banner",
        "--maximise",
        "1",
        "--width",
        width,
        "--height",
        height,
        "--duration",
        "5",
        "--screenshot",
        shot.to_str().unwrap(),
        &red,
        &green,
    ]));
    press(&display, "BackSpace");
    let done = running.finish(LIMIT);
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let png = Png::read(&shot);
    assert!(count_near(&png, (0, 0, 400, 300), COLOURS[0]) > 50_000);
    assert!(count_near(&png, (400, 0, 800, 300), COLOURS[1]) > 50_000);
    assert_eq!(count_near(&png, (0, 0, 400, 300), COLOURS[1]), 0);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn maximising_a_tile_that_does_not_exist_is_a_usage_error() {
    let done = run(
        camview().args([
            "--headless",
            "--maximise",
            "3",
            "127.0.0.1:1",
            "127.0.0.1:2",
        ]),
        LIMIT,
    );
    assert_eq!(done.status.code(), Some(2), "{}", done.stderr);
    assert!(
        done.stderr.contains("--maximise") && done.stderr.contains("give 1 to 2"),
        "{}",
        done.stderr
    );
}

#[test]
fn headless_grid_prints_one_line_per_stream_and_exit_3_names_the_silent_one() {
    let (_a, a) = solid_publisher("alpha", COLOURS[0]);
    let (_b, b) = solid_publisher("beta", COLOURS[1]);
    // Nothing listens on this port: its tile never shows a frame.
    let silent = endpoint(free_port());
    let done = run(
        camview().args([
            "--headless",
            "--frames",
            "10",
            "--duration",
            "4",
            "--report-every",
            "1",
            &a,
            &b,
            &silent,
        ]),
        LIMIT,
    );
    assert_eq!(
        done.status.code(),
        Some(3),
        "{}\n{}",
        done.stdout,
        done.stderr
    );
    assert!(
        done.stderr
            .contains(&format!("no frame arrived from {silent}")),
        "{}",
        done.stderr
    );
    let lines: Vec<serde_json::Value> = done
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let (summaries, reports): (Vec<_>, Vec<_>) = lines
        .iter()
        .partition(|l| l.get("messages_received").is_some());
    let endpoints: Vec<_> = summaries
        .iter()
        .map(|s| s["endpoint"].as_str().unwrap())
        .collect();
    assert_eq!(
        endpoints,
        [a.as_str(), b.as_str(), silent.as_str()],
        "in order"
    );
    for (summary, stream) in summaries.iter().zip(["alpha", "beta"]) {
        assert!(u64_at(summary, "/frames_shown") >= 10, "{summary}");
        assert_eq!(summary["stream"], stream, "{summary}");
        assert_eq!(summary["endpoints"][0], summary["endpoint"]);
    }
    assert_eq!(u64_at(summaries[2], "/frames_shown"), 0);
    // The silent tile kept the run going to --duration; the others went on meanwhile.
    assert!(f64_at(summaries[0], "/elapsed_s") >= 3.9);
    assert!(
        u64_at(summaries[0], "/frames_shown") > 60,
        "{}",
        summaries[0]
    );
    // --report-every: a line per stream per interval, each with its endpoint.
    for endpoint in [&a, &b, &silent] {
        let own: Vec<_> = reports
            .iter()
            .filter(|r| r["endpoint"] == endpoint.as_str())
            .collect();
        assert!(own.len() >= 3, "{endpoint}: {} reports", own.len());
        let frames: u64 = own.iter().map(|r| u64_at(r, "/frames_shown")).sum();
        assert_eq!(
            frames == 0,
            endpoint == &silent,
            "{endpoint}: {frames} frames in reports"
        );
    }
}

#[test]
fn a_single_stream_keeps_its_summary_without_an_endpoint_field() {
    let (_a, a) = solid_publisher("only", COLOURS[0]);
    let done = run(
        camview().args(["--headless", "--frames", "5", "--duration", "10", &a]),
        LIMIT,
    );
    assert!(done.status.success(), "{}", done.stderr);
    assert_eq!(done.stdout.lines().count(), 1);
    let s = done.summary();
    assert!(s.get("endpoint").is_none(), "{s}");
    assert_eq!(s["endpoints"][0], a.as_str());
}

#[test]
fn a_killed_publisher_leaves_its_tile_without_signal_while_the_other_goes_on() {
    let display = Display::open();
    let (_live, live) = solid_publisher("live", COLOURS[0]);
    let (doomed, doomed_endpoint) = solid_publisher("doomed", COLOURS[1]);
    let dir = temp_dir("grid-stall");
    let shot = dir.join("stall.png");
    let mut running = Reports::spawn(windowed(&display).args([
        "--width",
        "800",
        "--height",
        "300",
        "--duration",
        "8",
        "--stale-after-ms",
        "500",
        "--report-every",
        "0.5",
        "--screenshot",
        shot.to_str().unwrap(),
        &live,
        &doomed_endpoint,
    ]));
    // Once both tiles have shown pictures, the second publisher's socket goes away.
    running.wait_for_frames(&[&live, &doomed_endpoint]);
    assert!(doomed.stop() > 0);
    let (status, reports) = running.finish();
    assert!(status.success(), "{status}");

    let last = |endpoint: &str| {
        reports
            .iter()
            .rev()
            .find(|r| r["endpoint"] == endpoint)
            .cloned()
            .unwrap()
    };
    assert!(
        u64_at(&last(&live), "/frames_shown") >= 8,
        "live tile: {}",
        last(&live)
    );
    assert_eq!(u64_at(&last(&doomed_endpoint), "/frames_shown"), 0);
    let doomed_total: u64 = reports
        .iter()
        .filter(|r| r["endpoint"] == doomed_endpoint.as_str())
        .map(|r| u64_at(r, "/frames_shown"))
        .sum();
    assert!(doomed_total > 0, "the doomed tile showed frames before");

    let png = Png::read(&shot);
    // Left tile: full red, no notice. Right tile: dimmed green under the grey notice box.
    assert!(count_near(&png, (0, 80, 400, 250), COLOURS[0]) > 40_000);
    assert_eq!(png.count(0, 0, 400, 300, |p| near(p, NOTICE_GREY, 1)), 0);
    assert_eq!(
        count_near(&png, (400, 0, 800, 300), COLOURS[1]),
        0,
        "not dimmed"
    );
    let dimmed = png.count(400, 80, 800, 250, |[r, g, b]| {
        g > 50 && g < 120 && r < 40 && b < 40
    });
    let grey = png.count(400, 0, 800, 300, |p| near(p, NOTICE_GREY, 1));
    assert!(
        dimmed > 5_000 && grey > 1_000,
        "right tile: {dimmed} dimmed green, {grey} notice grey"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_tile_fed_the_tutorials_base64_frames_works_beside_a_native_one() {
    let port = free_port();
    let text = base64::engine::general_purpose::STANDARD
        .encode(solid_jpeg(320, 180, COLOURS[2]))
        .into_bytes();
    let _tutorial = Publisher::start(port, Duration::from_millis(30), move |_| {
        vec![Outgoing::Single(text.clone())]
    });
    let (_native, native_endpoint) = solid_publisher("native", COLOURS[3]);
    let dir = temp_dir("grid-base64");
    let shot = dir.join("base64.png");
    let done = run(
        camview().args([
            "--headless",
            "--frames",
            "10",
            "--duration",
            "15",
            "--width",
            "800",
            "--height",
            "300",
            "--no-banner",
            "--screenshot",
            shot.to_str().unwrap(),
            &endpoint(port),
            &native_endpoint,
        ]),
        LIMIT,
    );
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let lines: Vec<serde_json::Value> = done
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert!(
        u64_at(&lines[0], "/source_format/base64") >= 10,
        "{}",
        lines[0]
    );
    assert_eq!(u64_at(&lines[0], "/bad_messages"), 0);
    assert!(
        u64_at(&lines[1], "/source_format/native") >= 10,
        "{}",
        lines[1]
    );
    // The headless screenshot draws the grid too: tutorial tile left, native tile right.
    let png = Png::read(&shot);
    assert_eq!((png.width, png.height), (800, 300));
    assert!(count_near(&png, (0, 0, 400, 300), COLOURS[2]) > 50_000);
    assert!(count_near(&png, (400, 0, 800, 300), COLOURS[3]) > 50_000);
    std::fs::remove_dir_all(dir).unwrap();
}
