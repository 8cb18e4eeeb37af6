//! Cameras that are other programs, through the real campub binary: `--source rpicam` with a
//! stand-in rpicam-vid (tests/stand-ins/rpicam-vid, padded I420 exactly as the real one on a
//! Pi 0-4) and `--source exec:` with Debian's ffmpeg. Frames are received on a real SUB socket,
//! decoded and checked by picture; the child's death, stall and short frame end campub with
//! exit 1 and its last words; SIGTERM leaves no process of the child's group running. And
//! --rotate/--hflip/--vflip on each path: the pattern's corner marks through the scaler,
//! rpicam-vid's ISP flips, camera JPEGs turned losslessly or decoded.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use camwire::Message;

const RED: [u8; 3] = [255, 0, 0];
const GREEN: [u8; 3] = [0, 255, 0];
const BLUE: [u8; 3] = [0, 0, 255];
const WHITE: [u8; 3] = [255, 255, 255];

fn stand_ins() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/stand-ins")
}

/// PATH with the stand-in rpicam-vid first.
fn path_with_stand_ins() -> String {
    format!(
        "{}:{}",
        stand_ins().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// campub on 127.0.0.1:PORT with `args`, its output collected.
fn start_campub(port: u16, args: &[&str], envs: &[(&str, &str)]) -> testkit::Running {
    let mut command = testkit::campub();
    command
        .args(["--bind", &testkit::endpoint(port), "--stats-interval", "0"])
        .args(args)
        .env("PATH", path_with_stand_ins())
        .env_remove("RUST_LOG");
    for (k, v) in envs {
        command.env(k, v);
    }
    testkit::spawn(&mut command)
}

/// The next native frame on PORT, decoded to RGB: (width, height, pixels).
fn receive_rgb(sub: &zmq::Socket) -> (usize, usize, Vec<u8>) {
    let msg = sub.recv_bytes(0).expect("no frame within 10 s");
    let Ok(Message::Native(frame)) = camwire::classify(&msg) else {
        panic!("not a native frame")
    };
    let image = turbojpeg::decompress(frame.jpeg, turbojpeg::PixelFormat::RGB).unwrap();
    assert_eq!(
        (
            frame.header.width_px as usize,
            frame.header.height_px as usize
        ),
        (image.width, image.height)
    );
    (image.width, image.height, image.pixels)
}

fn subscribe(port: u16) -> zmq::Socket {
    let sub = zmq::Context::new().socket(zmq::SUB).unwrap();
    sub.set_rcvtimeo(10_000).unwrap();
    sub.set_subscribe(b"").unwrap();
    sub.connect(&testkit::endpoint(port)).unwrap();
    sub
}

/// The colour at the middle of each quadrant: top-left, top-right, bottom-left, bottom-right.
fn quadrants((w, h, rgb): &(usize, usize, Vec<u8>)) -> [[u8; 3]; 4] {
    let at = |x: usize, y: usize| {
        let i = (y * w + x) * 3;
        [rgb[i], rgb[i + 1], rgb[i + 2]]
    };
    [
        at(w / 4, h / 4),
        at(3 * w / 4, h / 4),
        at(w / 4, 3 * h / 4),
        at(3 * w / 4, 3 * h / 4),
    ]
}

/// The colour `inset` pixels in from each corner: top-left, top-right, bottom-left,
/// bottom-right (where the pattern source has its corner marks).
fn corners((w, h, rgb): &(usize, usize, Vec<u8>), inset: usize) -> [[u8; 3]; 4] {
    let at = |x: usize, y: usize| {
        let i = (y * w + x) * 3;
        [rgb[i], rgb[i + 1], rgb[i + 2]]
    };
    let (r, b) = (w - 1 - inset, h - 1 - inset);
    [at(inset, inset), at(r, inset), at(inset, b), at(r, b)]
}

fn assert_picture(got: [[u8; 3]; 4], want: [[u8; 3]; 4]) {
    for (g, w) in got.iter().zip(&want) {
        assert!(
            g.iter().zip(w).all(|(a, b)| a.abs_diff(*b) <= 40),
            "quadrants {got:?}, expected {want:?}"
        );
    }
}

/// Every frame checked is a whole picture, not only the first: three in a row.
fn assert_frames(port: u16, size: (usize, usize), want: [[u8; 3]; 4]) {
    let sub = subscribe(port);
    for _ in 0..3 {
        let frame = receive_rgb(&sub);
        assert_eq!((frame.0, frame.1), size);
        assert_picture(quadrants(&frame), want);
    }
}

#[test]
fn rpicam_padded_rows_are_scaled_and_the_picture_is_right() {
    // 600 wide: rpicam-vid pads the rows to 640 bytes. Halved by the box filter.
    let port = testkit::free_port();
    let campub = start_campub(
        port,
        &[
            "--source", "rpicam", "--size", "600x340", "--fps", "10", "--width", "300",
        ],
        &[],
    );
    assert_frames(port, (300, 170), [RED, GREEN, BLUE, WHITE]);
    let done = campub.terminate(Duration::from_secs(10));
    assert_eq!(done.status.code(), Some(0), "{}", done.stderr);
    assert!(
        done.stderr.contains("padded to 640 bytes"),
        "{}",
        done.stderr
    );
    assert!(
        done.stderr.contains("rpicam-vid: [0:00:00.1] INFO"),
        "stderr is logged with the name: {}",
        done.stderr
    );
}

#[test]
fn rpicam_at_the_output_size_is_encoded_from_the_padded_planes() {
    let port = testkit::free_port();
    let campub = start_campub(
        port,
        &[
            "--source", "rpicam", "--size", "600x340", "--fps", "10", "--width", "600",
        ],
        &[],
    );
    assert_frames(port, (600, 340), [RED, GREEN, BLUE, WHITE]);
    campub.terminate(Duration::from_secs(10));
}

#[test]
fn rpicam_pass_through_arguments_reach_rpicam_vid() {
    let port = testkit::free_port();
    let campub = start_campub(
        port,
        &[
            "--source",
            "rpicam",
            "--size",
            "640x360",
            "--fps",
            "10",
            "--rpicam-arg",
            "--hflip",
            "--rpicam-arg",
            "--vflip",
        ],
        &[],
    );
    assert_frames(port, (640, 360), [WHITE, BLUE, GREEN, RED]);
    campub.terminate(Duration::from_secs(10));
}

#[test]
fn rpicam_refusing_an_argument_ends_campub_with_its_words() {
    let port = testkit::free_port();
    let done = start_campub(
        port,
        &[
            "--source",
            "rpicam",
            "--size",
            "640x360",
            "--rpicam-arg",
            "--bogus",
        ],
        &[],
    )
    .finish(Duration::from_secs(20));
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    assert!(done.stderr.contains("exit status 255"), "{}", done.stderr);
    assert!(
        done.stderr.contains("unrecognised option '--bogus'"),
        "{}",
        done.stderr
    );
}

/// campub's last log line (the error it exits with).
fn last_line(stderr: &str) -> &str {
    stderr.lines().last().unwrap_or("")
}

#[test]
fn rpicam_dying_ends_campub_with_exit_1_its_status_and_last_words() {
    let port = testkit::free_port();
    let done = start_campub(
        port,
        &["--source", "rpicam", "--size", "640x360", "--fps", "20"],
        &[("CAMPUB_TEST_RPICAM_MODE", "die:3")],
    )
    .finish(Duration::from_secs(20));
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    let error = last_line(&done.stderr);
    assert!(error.contains("exited (exit status 1)"), "{error}");
    assert!(error.contains("camera disconnected"), "{error}");
}

#[test]
fn rpicam_stalling_ends_campub_with_exit_1_stalled() {
    let port = testkit::free_port();
    let started = Instant::now();
    let done = start_campub(
        port,
        &[
            "--source",
            "rpicam",
            "--size",
            "640x360",
            "--fps",
            "20",
            "--stall-timeout-ms",
            "3000",
        ],
        &[("CAMPUB_TEST_RPICAM_MODE", "stall:3")],
    )
    .finish(Duration::from_secs(20));
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    let error = last_line(&done.stderr);
    assert!(error.contains("stalled"), "{error}");
    assert!(
        error.contains("Dequeue timer expired"),
        "last words: {error}"
    );
    assert!(started.elapsed() < Duration::from_secs(15));
}

#[test]
fn rpicam_short_frame_at_the_end_is_a_clear_error() {
    let port = testkit::free_port();
    let done = start_campub(
        port,
        &["--source", "rpicam", "--size", "600x340", "--fps", "20"],
        &[("CAMPUB_TEST_RPICAM_MODE", "short:2")],
    )
    .finish(Duration::from_secs(20));
    assert_eq!(done.status.code(), Some(1), "{}", done.stderr);
    let error = last_line(&done.stderr);
    // 640 * 340 * 3 / 2 = 326400 bytes a frame; half of it came.
    assert!(
        error.contains("163200 of the 326400 bytes") && error.contains("exit status 0"),
        "{error}"
    );
}

/// The processes whose process group is `group` and that are not zombies.
fn live_members(group: u32) -> Vec<u32> {
    let mut live = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // After the command's closing parenthesis: state, ppid, pgrp.
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map(|(_, rest)| rest.split_whitespace().collect())
            .unwrap_or_default();
        if fields.get(2) == Some(&group.to_string().as_str()) && fields.first() != Some(&"Z") {
            live.push(pid);
        }
    }
    live
}

/// The pid of campub's child, from /proc (its parent is campub).
fn child_of(parent: u32, limit: Duration) -> u32 {
    let deadline = Instant::now() + limit;
    loop {
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let ppid = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(1).map(str::to_owned));
            if ppid == Some(parent.to_string()) {
                return pid;
            }
        }
        assert!(Instant::now() < deadline, "campub started no child");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_to_campub_stops_the_child_and_its_helpers() {
    let port = testkit::free_port();
    let campub = start_campub(
        port,
        &["--source", "rpicam", "--size", "640x360", "--fps", "10"],
        &[],
    );
    let sub = subscribe(port);
    receive_rgb(&sub);
    let child = child_of(campub.pid(), Duration::from_secs(5));
    let group = live_members(child);
    assert!(group.len() >= 2, "rpicam-vid and its helper: {group:?}");
    let done = campub.terminate(Duration::from_secs(10));
    assert_eq!(done.status.code(), Some(0), "{}", done.stderr);
    // SIGKILL (if it came to that) is delivered asynchronously: allow the kernel a moment.
    let deadline = Instant::now() + Duration::from_secs(2);
    while !live_members(child).is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        live_members(child),
        Vec::<u32>::new(),
        "left running after campub stopped"
    );
}

fn have_ffmpeg() -> bool {
    let found = Command::new("ffmpeg").arg("-version").output().is_ok();
    // Installed by scripts/setup-debian.sh --test; a missing one fails the test, loudly.
    assert!(
        found,
        "ffmpeg is not installed (scripts/setup-debian.sh --test installs it)"
    );
    found
}

/// An ffmpeg command line drawing a red box top-left on blue (an asymmetric picture).
fn ffmpeg(size: &str, output: &str) -> String {
    format!(
        "exec ffmpeg -hide_banner -loglevel error -re -f lavfi \
         -i color=c=blue:s={size}:r=10,drawbox=x=0:y=0:w=iw/2:h=ih/2:color=red:t=fill {output}"
    )
}

#[test]
fn exec_ffmpeg_mjpeg_is_received_at_its_size() {
    have_ffmpeg();
    let port = testkit::free_port();
    // testsrc's size, passed through untouched (same width as the output).
    let command = "exec:exec ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc=size=320x240:rate=10 -f mjpeg -q:v 3 -";
    let campub = start_campub(port, &["--source", command, "--width", "320"], &[]);
    let sub = subscribe(port);
    let frame = receive_rgb(&sub);
    assert_eq!((frame.0, frame.1), (320, 240));
    let done = campub.terminate(Duration::from_secs(10));
    assert_eq!(done.status.code(), Some(0), "{}", done.stderr);
    assert!(done.stderr.contains("writes JPEGs"), "{}", done.stderr);

    // And by picture, scaled 640 -> 320.
    let port = testkit::free_port();
    let command = format!("exec:{}", ffmpeg("640x480", "-f mjpeg -q:v 2 -"));
    let campub = start_campub(port, &["--source", &command, "--width", "320"], &[]);
    assert_frames(port, (320, 240), [RED, BLUE, BLUE, BLUE]);
    campub.terminate(Duration::from_secs(10));
}

#[test]
fn exec_ffmpeg_raw_i420_is_received_by_picture() {
    have_ffmpeg();
    let port = testkit::free_port();
    // Full range, as JPEG is: no conversion in campub.
    let command = format!(
        "exec:{}",
        ffmpeg(
            "640x480",
            "-vf scale=out_range=full -pix_fmt yuv420p -f rawvideo -"
        )
    );
    let campub = start_campub(
        port,
        &["--source", &command, "--size", "640x480", "--width", "320"],
        &[],
    );
    assert_frames(port, (320, 240), [RED, BLUE, BLUE, BLUE]);
    let done = campub.terminate(Duration::from_secs(10));
    assert!(done.stderr.contains("writes raw I420"), "{}", done.stderr);
}

#[test]
fn exec_testsrc_raw_i420_flows_at_its_size() {
    have_ffmpeg();
    let port = testkit::free_port();
    let command = "exec:exec ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc=size=640x360:rate=10 -pix_fmt yuv420p -f rawvideo -";
    let campub = start_campub(
        port,
        &[
            "--source",
            command,
            "--size",
            "640x360",
            "--exec-format",
            "i420",
        ],
        &[],
    );
    let sub = subscribe(port);
    for _ in 0..3 {
        let (w, h, rgb) = receive_rgb(&sub);
        assert_eq!((w, h), (640, 360));
        // testsrc is colourful: a flat or garbled frame would not have this many colours.
        let distinct: std::collections::HashSet<[u8; 3]> = rgb
            .chunks_exact(3)
            .map(|p| [p[0] & 0xE0, p[1] & 0xE0, p[2] & 0xE0])
            .collect();
        assert!(distinct.len() >= 8, "{} colours", distinct.len());
    }
    campub.terminate(Duration::from_secs(10));
}

#[test]
fn the_pattern_turned_a_quarter_is_portrait_with_its_corner_marks_turned() {
    // Marks red, green / blue, white; turned clockwise: blue, red / white, green.
    for (args, size, want) in [
        (
            &["--rotate", "90"][..],
            (640, 1138),
            [BLUE, RED, WHITE, GREEN],
        ),
        (
            &["--rotate", "270"][..],
            (640, 1138),
            [GREEN, WHITE, RED, BLUE],
        ),
        (
            &["--rotate", "180"][..],
            (640, 360),
            [WHITE, BLUE, GREEN, RED],
        ),
        (&["--hflip"][..], (640, 360), [GREEN, RED, WHITE, BLUE]),
        (
            &["--vflip", "--rotate", "90"][..],
            (640, 1138),
            [RED, BLUE, GREEN, WHITE],
        ),
    ] {
        let port = testkit::free_port();
        let mut all = vec!["--source", "pattern", "--size", "1280x720", "--fps", "10"];
        all.extend_from_slice(args);
        let campub = start_campub(port, &all, &[]);
        let sub = subscribe(port);
        let frame = receive_rgb(&sub);
        assert_eq!((frame.0, frame.1), size, "{args:?}");
        // Marks are 60 px at 720 rows, 30-53 px here.
        let got = corners(&frame, 12);
        for (g, w) in got.iter().zip(&want) {
            assert!(
                g.iter().zip(w).all(|(a, b)| a.abs_diff(*b) <= 40),
                "{args:?}: corners {got:?}, expected {want:?}"
            );
        }
        let done = campub.terminate(Duration::from_secs(10));
        assert_eq!(done.status.code(), Some(0), "{}", done.stderr);
    }
}

#[test]
fn a_rotation_that_is_not_a_quarter_is_a_usage_error() {
    let done = testkit::run(
        testkit::campub().args(["--source", "pattern", "--rotate", "45"]),
        Duration::from_secs(10),
    );
    assert_eq!(done.status.code(), Some(2), "{}", done.stderr);
    assert!(done.stderr.contains("0, 90, 180 or 270"), "{}", done.stderr);
}

#[test]
fn rpicam_flips_are_done_by_the_isp_and_a_quarter_turn_by_campub() {
    let port = testkit::free_port();
    let campub = start_campub(
        port,
        &[
            "--source", "rpicam", "--size", "640x360", "--fps", "10", "--hflip", "--vflip",
        ],
        &[],
    );
    assert_frames(port, (640, 360), [WHITE, BLUE, GREEN, RED]);
    let done = campub.terminate(Duration::from_secs(10));
    assert!(
        done.stderr.contains("--hflip --vflip"),
        "the flips are rpicam-vid's: {}",
        done.stderr
    );

    // Quadrants red, green / blue, white turned clockwise: blue, red / white, green.
    let port = testkit::free_port();
    let campub = start_campub(
        port,
        &[
            "--source", "rpicam", "--size", "640x360", "--fps", "10", "--rotate", "90",
        ],
        &[],
    );
    assert_frames(port, (640, 1138), [BLUE, RED, WHITE, GREEN]);
    let done = campub.terminate(Duration::from_secs(10));
    assert!(
        done.stderr.contains("--framerate 10 --vflip\n"),
        "a clockwise quarter turn is a vertical flip (the ISP's) then a transpose (campub's): {}",
        done.stderr
    );
}

#[test]
fn camera_jpegs_at_the_output_width_are_flipped_losslessly_or_else_decoded() {
    have_ffmpeg();
    // ffmpeg's MJPEG is 4:2:0 (16x16 blocks): 640x480 flips losslessly.
    let port = testkit::free_port();
    let command = format!("exec:{}", ffmpeg("640x480", "-f mjpeg -q:v 2 -"));
    let campub = start_campub(port, &["--source", &command, "--hflip"], &[]);
    assert_frames(port, (640, 480), [BLUE, RED, BLUE, BLUE]);
    let done = campub.terminate(Duration::from_secs(10));
    assert!(!done.stderr.contains("losslessly"), "{}", done.stderr);

    // 360 rows are 22.5 blocks: a vertical flip cannot move the partial row to the top.
    let port = testkit::free_port();
    let command = format!("exec:{}", ffmpeg("640x360", "-f mjpeg -q:v 2 -"));
    let campub = start_campub(port, &["--source", &command, "--vflip"], &[]);
    assert_frames(port, (640, 360), [BLUE, BLUE, RED, BLUE]);
    let done = campub.terminate(Duration::from_secs(10));
    assert!(
        done.stderr
            .contains("cannot be rotated or flipped losslessly"),
        "{}",
        done.stderr
    );
}
