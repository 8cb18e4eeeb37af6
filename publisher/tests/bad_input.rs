//! Bad input on campub's command line, table-driven over the real binary: every row must end
//! with its exit code and one error line, never a panic or a backtrace. Also `campub keygen`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

const EXIT_RUNTIME: i32 = 1;
const EXIT_USAGE: i32 = 2;

/// campub as the tests run it (through CAMPUB_TEST_RUNNER when emulated).
fn campub() -> Command {
    let mut command = testkit::campub();
    command.env("RUST_BACKTRACE", "1").env_remove("RUST_LOG");
    command
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("campub-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(path: &Path, text: &[u8], mode: u32) -> String {
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    path.to_str().unwrap().to_owned()
}

/// Runs `command` to its end, or kills it and returns `None` after `limit`: bad input must
/// never leave campub running.
fn output_within(command: &mut Command, limit: Duration) -> Option<Output> {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => Some(out.unwrap()),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            None
        }
    }
}

fn keygen(stem: &Path) {
    let out = campub().arg("keygen").arg(stem).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn bad_input_is_one_line_and_a_nonzero_exit_never_a_panic() {
    let dir = temp_dir("bad-input");
    keygen(&dir.join("server"));
    let secret = dir.join("server.key_secret");
    let loose = dir.join("loose.key_secret");
    std::fs::copy(&secret, &loose).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o644)).unwrap();
    let loose = loose.to_str().unwrap().to_owned();
    let secret = secret.to_str().unwrap().to_owned();
    let public = dir.join("server.key").to_str().unwrap().to_owned();
    let garbage = write(&dir.join("garbage"), b"this is no key\n", 0o600);
    let short_key = write(
        &dir.join("short"),
        b"curve\n    secret-key = \"0123456789\"\n",
        0o600,
    );
    let binary = write(&dir.join("binary"), &[0xFF, 0x00, 0xFE, 0x80], 0o600);
    let regular = write(&dir.join("not-a-device"), b"plain file", 0o644);
    let bad_conf = write(
        &dir.join("bad.conf"),
        b"fps = 10\nthis line is wrong\n",
        0o644,
    );
    let dir_text = dir.to_str().unwrap().to_owned();
    let fifo = dir.join("fifo.key_secret");
    let status = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo (coreutils) must be installed");
    assert!(status.success(), "mkfifo {}", fifo.display());
    let fifo = fifo.to_str().unwrap().to_owned();
    // A secret key file whose public-key line is another pair's public key: campub would
    // announce a server key that no viewer can use.
    keygen(&dir.join("other"));
    let other_public = std::fs::read_to_string(dir.join("other.key")).unwrap();
    let other_public = testkit::keys::key_line(&other_public, "public-key");
    let own_public =
        testkit::keys::key_line(&std::fs::read_to_string(&secret).unwrap(), "public-key");
    let swapped = write(
        &dir.join("swapped.key_secret"),
        std::fs::read_to_string(&secret)
            .unwrap()
            .replace(&own_public, &other_public)
            .as_bytes(),
        0o600,
    );
    let missing = dir.join("missing").to_str().unwrap().to_owned();
    let nested = dir.join("no/such/dir/k").to_str().unwrap().to_owned();
    let existing_stem = dir.join("server").to_str().unwrap().to_owned();
    let missing_file_source = format!("file:{missing}");

    let pattern = ["--source", "pattern", "--bind", "tcp://127.0.0.1:0"];
    #[rustfmt::skip]
    let table: Vec<(Vec<&str>, i32, &str)> = vec![
        // endpoints
        (vec!["--source", "pattern", "--bind", "nonsense://x"], EXIT_USAGE, "--bind"),
        (vec!["--source", "pattern", "--bind", "tcp://127.0.0.1:99999"], EXIT_USAGE, "--bind"),
        (vec!["--source", "pattern", "--bind", "tcp://127.0.0.1"], EXIT_USAGE, "--bind"),
        (vec!["--source", "pattern", "--bind", ""], EXIT_USAGE, "--bind"),
        (vec!["--source", "pattern", "--bind", "tcp://no-such-host.invalid:5555"], EXIT_RUNTIME, "cannot bind"),
        (vec!["--source", "pattern", "--bind", "tcp://192.0.2.1:5555"], EXIT_RUNTIME, "cannot bind"),
        // sizes, rates, quality
        (vec!["--size", "0x0"], EXIT_USAGE, "--size"),
        (vec!["--size", "-640x480"], EXIT_USAGE, "--size"),
        (vec!["--size", "640x480x3"], EXIT_USAGE, "--size"),
        (vec!["--size", "99999999999x1"], EXIT_USAGE, "--size"),
        (vec!["--width", "7"], EXIT_USAGE, "--width"),
        (vec!["--width", "-1"], EXIT_USAGE, "--width"),
        (vec!["--fps", "0"], EXIT_USAGE, "--fps"),
        (vec!["--fps", "1e9"], EXIT_USAGE, "--fps"),
        (vec!["--quality", "0"], EXIT_USAGE, "--quality"),
        (vec!["--quality", "300"], EXIT_USAGE, "--quality"),
        (vec!["--quality", "high"], EXIT_USAGE, "--quality"),
        // log levels: "warning" is taken, a word campub does not know is refused
        (vec!["--log-level", "loud"], EXIT_USAGE, "off, error, warn, info, debug, trace"),
        (vec!["--log-level", "campub=loud"], EXIT_USAGE, "--log-level"),
        (vec!["--stall-timeout-ms", "1"], EXIT_USAGE, "--stall-timeout-ms"),
        (vec!["--stats-interval", "NaN"], EXIT_USAGE, "--stats-interval"),
        (vec!["--stream", ""], EXIT_USAGE, "--stream"),
        (vec!["--no-such-option"], EXIT_USAGE, "no-such-option"),
        // key files
        (vec!["--curve-secret-key", &missing], EXIT_USAGE, "No such file"),
        (vec!["--curve-secret-key", &loose], EXIT_USAGE, "chmod 600"),
        (vec!["--curve-secret-key", &public], EXIT_USAGE, "not a secret key file"),
        (vec!["--curve-secret-key", &garbage], EXIT_USAGE, "line 1"),
        (vec!["--curve-secret-key", &short_key], EXIT_USAGE, "40 characters"),
        (vec!["--curve-secret-key", &binary], EXIT_USAGE, "not text"),
        (vec!["--curve-secret-key", &dir_text], EXIT_USAGE, "not a regular file"),
        (vec!["--curve-secret-key", "/dev/zero"], EXIT_USAGE, "not a regular file"),
        (vec!["--curve-secret-key", &fifo], EXIT_USAGE, "not a regular file (a FIFO)"),
        (vec!["--curve-secret-key", &swapped], EXIT_USAGE, "not the public key of its secret key"),
        (vec!["--curve-secret-key", &secret, "--allow", &fifo], EXIT_USAGE, "a FIFO"),
        (vec!["--allow", &public], EXIT_USAGE, "needs --curve-secret-key"),
        (vec!["--curve-secret-key", &secret, "--allow", &missing], EXIT_USAGE, "--allow"),
        (vec!["--curve-secret-key", &secret, "--allow", &garbage], EXIT_USAGE, "line 1"),
        (vec!["--curve-secret-key", &secret, "--allow", &secret], EXIT_USAGE, "secret key"),
        (vec!["keygen"], EXIT_USAGE, "stem"),
        (vec!["keygen", &nested], EXIT_RUNTIME, "cannot write"),
        (vec!["keygen", &existing_stem], EXIT_RUNTIME, "already exists"),
        // devices and sources
        (vec!["--device", &missing], EXIT_RUNTIME, "cannot open"),
        (vec!["--device", "/dev/null"], EXIT_RUNTIME, "/dev/null"),
        (vec!["--device", &dir_text], EXIT_RUNTIME, &dir_text),
        (vec!["--device", &regular], EXIT_RUNTIME, "not-a-device"),
        (vec!["--source", &missing_file_source], EXIT_RUNTIME, "missing"),
        (vec!["--source", "file:/dev/null"], EXIT_RUNTIME, "/dev/null"),
        (vec!["--source", "rtsp://camera"], EXIT_USAGE, "--source"),
        (vec!["--list-controls", "--device", &missing], EXIT_RUNTIME, "cannot open"),
        (vec!["--list-controls", "--device", "/dev/null"], EXIT_RUNTIME, "/dev/null"),
        // camera controls: the form is checked before anything opens (whether the camera has the
        // control, at open: tests/vm/)
        (vec!["--control", "brightness"], EXIT_USAGE, "NAME=VALUE"),
        (vec!["--control", "=5"], EXIT_USAGE, "NAME=VALUE"),
        (vec!["--source", "pattern", "--control", "brightness=5"], EXIT_USAGE, "only with --source v4l2"),
        (vec!["--config", &missing], EXIT_USAGE, "--config"),
        (vec!["--config", &bad_conf], EXIT_USAGE, ":2:"),
    ];
    for (args, code, needle) in &table {
        // Rows that would otherwise start streaming get the pattern source and a free port.
        let mut command = campub();
        let streams = !args.iter().any(|a| {
            a.starts_with("--source")
                || *a == "--device"
                || *a == "keygen"
                || *a == "--config"
                || *a == "--bind"
        });
        if streams {
            command.args(pattern);
        }
        let out = output_within(command.args(args), Duration::from_secs(20))
            .unwrap_or_else(|| panic!("{args:?}: campub still running after 20 s"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(*code), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("backtrace"),
            "{args:?}: {stderr}"
        );
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| !l.contains(" INFO ") && !l.contains(" WARN "))
            .collect();
        assert_eq!(errors.len(), 1, "{args:?}: one error line, got {stderr}");
        assert!(
            errors[0].contains(needle),
            "{args:?}: {needle:?} not in {stderr}"
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn short_help_is_help_and_the_help_lists_the_exit_codes() {
    for flag in ["-h", "--help"] {
        let done = output_within(campub().arg(flag), Duration::from_secs(10)).unwrap();
        assert!(done.status.success(), "{flag}");
        let help = String::from_utf8_lossy(&done.stdout);
        for needle in ["--source", "Default: 640", "Error codes:", "  2 bad option"] {
            assert!(help.contains(needle), "{flag} lacks {needle:?}:\n{help}");
        }
    }
}

#[test]
fn keygen_writes_a_private_secret_file_and_a_readable_public_file() {
    let dir = temp_dir("keygen");
    let stem = dir.join("server");
    let out = campub().arg("keygen").arg(&stem).output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.join("server.key_secret")), 0o600);
    assert_eq!(mode(&dir.join("server.key")), 0o644);
    let public = std::fs::read_to_string(dir.join("server.key")).unwrap();
    let secret = std::fs::read_to_string(dir.join("server.key_secret")).unwrap();
    let public_key = testkit::keys::key_line(&public, "public-key");
    assert_eq!(public_key.len(), 40);
    assert_eq!(testkit::keys::key_line(&secret, "public-key"), public_key);
    assert_eq!(testkit::keys::key_line(&secret, "secret-key").len(), 40);
    assert!(!public.contains("secret-key"), "{public}");
    assert!(
        stdout.contains(&format!("public key: {public_key}")),
        "{stdout}"
    );
    assert!(
        !stdout.contains(&testkit::keys::key_line(&secret, "secret-key")),
        "never print the secret"
    );
    std::fs::remove_dir_all(dir).unwrap();
}
