//! camview --record against real publishers, checked by ffprobe and ffmpeg (Debian's, which
//! scripts/setup-debian.sh --test installs): codec, frame count, duration against the time
//! recorded, every frame decoding, the JPEG bytes as sent, split files, one file per stream in
//! a grid (two streams of one name through two relays included), a full disk, and SIGTERM
//! while recording.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use testkit::*;

const LIMIT: Duration = Duration::from_secs(60);

/// ffprobe's view of a file: (codec, width, height, frames in the file, duration in s). The
/// frames are the packets the demuxer reads (each a whole JPEG); that each decodes is
/// [`decodes_cleanly`]'s check.
fn probe(path: &Path) -> (String, u64, u64, u64, f64) {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_packets", "-of", "json"])
        .args([
            "-show_entries",
            "stream=codec_name,width,height,nb_read_packets:format=duration",
        ])
        .arg(path)
        .output()
        .expect("ffprobe (scripts/setup-debian.sh --test installs ffmpeg)");
    assert!(
        out.status.success(),
        "ffprobe {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stream = &json["streams"][0];
    (
        stream["codec_name"].as_str().unwrap_or("").to_owned(),
        u64_at(stream, "/width"),
        u64_at(stream, "/height"),
        stream["nb_read_packets"].as_str().unwrap().parse().unwrap(),
        json["format"]["duration"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap(),
    )
}

/// `ffmpeg -v error -i FILE ... -f null -`: every frame decodes without a message.
fn decodes_cleanly(path: &Path) {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        // Every frame through at the file's own time base (ms): by default ffmpeg counts
        // time in 1/30 s here, and two frames captured 5 ms apart (a loaded publisher
        // catching up) then share a timestamp, which its null muxer reports as an error.
        .args([
            "-enc_time_base",
            "-1",
            "-fps_mode",
            "passthrough",
            "-f",
            "null",
            "-",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "ffmpeg decoding {}: {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn record_summary(done: &Finished) -> serde_json::Value {
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    done.summary()
}

/// `camview --headless ARGS --record FILE` on two endpoints: its two tiles' JSON lines.
fn record_two_tiles(args: &[&str], file: &Path, endpoints: [String; 2]) -> Vec<serde_json::Value> {
    let done = run(
        camview()
            .arg("--headless")
            .args(args)
            .arg("--record")
            .arg(file)
            .args(endpoints),
        LIMIT,
    );
    assert!(done.status.success(), "{}\n{}", done.stdout, done.stderr);
    let lines = done.json_lines();
    assert_eq!(lines.len(), 2, "{}", done.stdout);
    lines
}

#[test]
fn a_recording_plays_at_the_right_speed_and_every_frame_decodes() {
    let _serial = one_at_a_time();
    let dir = temp_dir("record-plain");
    let port = free_port();
    let _cam = CampubProcess::start(port, &["--fps", "30"]);
    let file = dir.join("garden.mkv");
    let done = run(
        camview()
            .args(["--headless", "--duration", "6", "--record"])
            .arg(&file)
            .arg(endpoint(port)),
        LIMIT,
    );
    let s = record_summary(&done);
    let recorded = u64_at(&s, "/record/frames");
    assert_eq!(recorded, u64_at(&s, "/frames_shown"), "{s}");
    assert_eq!(u64_at(&s, "/record/dropped"), 0, "{s}");
    assert_eq!(s["record"]["files"][0], file.to_str().unwrap(), "{s}");
    let (codec, width, height, frames, duration) = probe(&file);
    assert_eq!((codec.as_str(), width, height), ("mjpeg", 640, 360));
    assert_eq!(frames, recorded);
    // The time the recording spans, as camview measured it: first to last frame shown.
    let wall_s = (recorded - 1) as f64 / f64_at(&s, "/fps");
    eprintln!("recorded {recorded} frames over {wall_s:.3} s; ffprobe: {duration} s");
    assert!(
        (duration - wall_s).abs() <= wall_s * 0.05,
        "duration {duration} s against {wall_s:.3} s recorded"
    );
    decodes_cleanly(&file);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_recorded_jpegs_are_the_bytes_the_publisher_sent() {
    let _serial = one_at_a_time();
    let dir = temp_dir("record-bytes");
    let port = free_port();
    // A distinct JPEG per sequence number, to find each recorded frame among them.
    let jpeg_of =
        |seq: u64| solid_jpeg(96, 64, [(seq * 7 % 256) as u8, (seq * 13 % 256) as u8, 90]);
    let publisher = Publisher::start(port, Duration::from_millis(40), move |tick| {
        vec![Outgoing::Single(native(
            "cam",
            tick,
            96,
            64,
            &jpeg_of(tick),
        ))]
    });
    let file = dir.join("bytes.mkv");
    let done = run(
        camview()
            .args(["--headless", "--duration", "3", "--record"])
            .arg(&file)
            .arg(endpoint(port)),
        LIMIT,
    );
    publisher.stop();
    let s = record_summary(&done);
    let frames_dir = dir.join("frames");
    std::fs::create_dir(&frames_dir).unwrap();
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&file)
        .args(["-c", "copy", "-f", "image2"])
        .arg(frames_dir.join("f%05d.jpg"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut extracted: Vec<_> = std::fs::read_dir(&frames_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    extracted.sort();
    assert_eq!(extracted.len() as u64, u64_at(&s, "/record/frames"), "{s}");
    let sent: Vec<Vec<u8>> = (0..200).map(jpeg_of).collect();
    for path in &extracted {
        let bytes = std::fs::read(path).unwrap();
        assert!(
            sent.contains(&bytes),
            "{} is not one of the JPEGs sent",
            path.display()
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn split_recordings_and_a_grid_make_one_valid_file_each() {
    let _serial = one_at_a_time();
    let dir = temp_dir("record-split");
    let (a, b) = (free_port(), free_port());
    let _cam_a = CampubProcess::start(a, &["--fps", "30", "--stream", "a"]);
    let _cam_b = CampubProcess::start(b, &["--fps", "30", "--stream", "b"]);
    let file = dir.join("yard.mkv");
    let lines = record_two_tiles(
        &["--duration", "5", "--record-split", "2s"],
        &file,
        [endpoint(a), endpoint(b)],
    );
    for (tile, line) in lines.iter().enumerate() {
        let files: Vec<&str> = line["record"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap())
            .collect();
        // About 5 s in parts of 2 s: three files, FILE-TILE-000n.mkv.
        assert!(files.len() >= 2, "{line}");
        let mut total = 0;
        for (n, path) in files.iter().enumerate() {
            let expected = dir.join(format!("yard-{}-{:04}.mkv", tile + 1, n + 1));
            assert_eq!(Path::new(path), expected);
            let (codec, _, _, frames, duration) = probe(Path::new(path));
            assert_eq!(codec, "mjpeg");
            assert!(
                frames > 0 && duration <= 2.1,
                "{path}: {frames} frames, {duration} s"
            );
            decodes_cleanly(Path::new(path));
            total += frames;
        }
        assert_eq!(total, u64_at(line, "/record/frames"), "{line}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn two_relays_carrying_streams_of_one_name_record_two_files() {
    let _serial = one_at_a_time();
    let dir = temp_dir("record-same-name");
    let ports: Vec<u16> = (0..4).map(|_| free_port()).collect();
    let [cam_1, cam_2, relay_1, relay_2] = ports[..] else {
        unreachable!()
    };
    // Two cameras called "door" (two sites), each behind a relay of its own.
    let _cams: Vec<CampubProcess> = [cam_1, cam_2]
        .into_iter()
        .map(|port| CampubProcess::start(port, &["--fps", "30", "--stream", "door"]))
        .collect();
    let relays: Vec<LoggedProcess> = [(relay_1, cam_1), (relay_2, cam_2)]
        .into_iter()
        .map(|(port, cam)| {
            let relay = LoggedProcess::spawn(
                camrelay()
                    .args(["--bind", &endpoint(port), "--no-idle"])
                    .args(["--from", &endpoint(cam)]),
                "camrelay",
            );
            assert!(
                relay.wait_for_log("stream \"door\" appeared", LIMIT),
                "{:#?}",
                relay.log()
            );
            relay
        })
        .collect();
    let file = dir.join("site.mkv");
    let lines = record_two_tiles(
        &["--frames", "60", "--duration", "20"],
        &file,
        [endpoint(relay_1), endpoint(relay_2)],
    );
    // The tile whose relay's directory came first takes the stream's name, the other adds its
    // tile number to it.
    let mut paths = Vec::new();
    for (tile, line) in lines.iter().enumerate() {
        let files = line["record"]["files"].as_array().unwrap();
        assert_eq!(files.len(), 1, "{line}");
        let path = Path::new(files[0].as_str().unwrap());
        let numbered = dir.join(format!("site-door-{}.mkv", tile + 1));
        assert!(
            path == dir.join("site-door.mkv") || path == numbered,
            "{line}"
        );
        paths.push(path.to_owned());
        let (codec, _, _, frames, _) = probe(path);
        assert_eq!(codec, "mjpeg");
        assert!(frames >= 60, "{}: {frames} frames", path.display());
        assert_eq!(frames, u64_at(line, "/record/frames"), "{line}");
        decodes_cleanly(path);
    }
    assert_ne!(paths[0], paths[1]);
    // The whole-relay tiles' files (frames of every stream mixed) were removed.
    let mut left: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    left.sort();
    paths.sort();
    assert_eq!(left, paths);
    drop(relays);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_full_disk_stops_the_recording_not_the_viewer_and_sigterm_finishes_the_file() {
    let _serial = one_at_a_time();
    let port = free_port();
    let _cam = CampubProcess::start(port, &["--fps", "30"]);
    // /dev/full: every write fails with ENOSPC, as on a full disk.
    let done = run(
        camview()
            .args(["--headless", "--duration", "4", "--record", "/dev/full"])
            .arg(endpoint(port)),
        LIMIT,
    );
    let s = record_summary(&done);
    let error = s["record"]["error"].as_str().unwrap_or("");
    assert!(error.contains("No space left on device"), "{s}");
    assert!(done.stderr.contains("recording stopped"), "{}", done.stderr);
    // The viewer went on: about 4 s of frames shown.
    assert!(u64_at(&s, "/frames_shown") > 60, "{s}");

    // SIGTERM while recording: the file is finished and plays.
    let dir = temp_dir("record-term");
    let file = dir.join("term.mkv");
    let running = spawn(
        camview()
            .args(["--headless", "--record"])
            .arg(&file)
            .arg(endpoint(port)),
    );
    std::thread::sleep(Duration::from_secs(3));
    let done = running.terminate(LIMIT);
    let s = record_summary(&done);
    let (codec, _, _, frames, duration) = probe(&file);
    assert_eq!(codec, "mjpeg");
    assert_eq!(frames, u64_at(&s, "/record/frames"), "{s}");
    assert!(duration > 1.0, "{duration}");
    decodes_cleanly(&file);
    std::fs::remove_dir_all(dir).unwrap();
}
