//! Bad input on camview's command line, table-driven over the real binary: each row must exit 1
//! with one `camview: error:` line, never a panic or a backtrace, and never wait for a network.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt as _;
use std::time::Duration;

use testkit::*;

#[test]
fn bad_input_is_one_line_and_exit_1_never_a_panic() {
    let dir = temp_dir("bad-input");
    keygen("campub", &dir.join("server"));
    keygen("camview", &dir.join("viewer"));
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let loose = path("loose.key_secret");
    std::fs::copy(path("viewer.key_secret"), &loose).unwrap();
    std::fs::set_permissions(&loose, std::fs::Permissions::from_mode(0o640)).unwrap();
    let two_keys = path("two.key");
    let server = std::fs::read_to_string(path("server.key")).unwrap();
    let viewer = std::fs::read_to_string(path("viewer.key")).unwrap();
    std::fs::write(&two_keys, format!("{server}{viewer}")).unwrap();
    let garbage = path("garbage");
    std::fs::write(&garbage, "hello\n").unwrap();
    let (server_key, viewer_secret) = (path("server.key"), path("viewer.key_secret"));
    let missing = path("missing");
    let nested = path("no/such/dir/k");
    let existing_stem = path("viewer");
    let not_z85 = format!("z85:{}", "~".repeat(40));
    // A missing file whose name is 40 characters of Z85 (as `missing` is when the process id
    // has 4 digits) was once taken for an inline key, and camview waited forever.
    let forty = format!("{}/{}", dir.display(), "k".repeat(40));
    let forty = forty[forty.len() - 40..].to_owned(); // an absolute path when TMPDIR is short
    let fifo = path("fifo.key");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo (coreutils) must be installed");
    assert!(status.success(), "mkfifo {fifo}");
    let fifo_secret = path("fifo.key_secret");
    let status = std::process::Command::new("mkfifo")
        .arg(&fifo_secret)
        .status()
        .unwrap();
    assert!(status.success(), "mkfifo {fifo_secret}");
    // A secret key file whose public-key line is another key's.
    let swapped = path("swapped.key_secret");
    let viewer_public = testkit::keys::key_line(&viewer, "public-key");
    let server_public = testkit::keys::key_line(&server, "public-key");
    std::fs::write(
        &swapped,
        std::fs::read_to_string(path("viewer.key_secret"))
            .unwrap()
            .replace(&viewer_public, &server_public),
    )
    .unwrap();
    std::fs::set_permissions(&swapped, std::fs::Permissions::from_mode(0o600)).unwrap();

    #[rustfmt::skip]
    let table: Vec<(Vec<&str>, &str)> = vec![
        // endpoints
        (vec!["tcp://host"], "bad endpoint"),
        (vec!["tcp://:5555"], "bad endpoint"),
        (vec!["tcp://host:0"], "bad endpoint"),
        (vec!["tcp://host:99999"], "bad endpoint"),
        (vec!["http://host:80"], "bad endpoint"),
        (vec!["ipc://"], "bad endpoint"),
        (vec![""], "bad endpoint"),
        (vec!["tcp://a b:1"], "bad endpoint"),
        // sizes and counts
        (vec!["--width", "640"], "--width/--height"),
        (vec!["--width", "0", "--height", "10"], "--width"),
        (vec!["--width", "99999", "--height", "10"], "--width"),
        (vec!["--width", "-5", "--height", "10"], "--width"),
        (vec!["--width", "abc", "--height", "10"], "--width"),
        (vec!["--frames", "0"], "--frames"),
        (vec!["--frames", "-1"], "--frames"),
        (vec!["--duration", "-1"], "--duration"),
        (vec!["--duration", "NaN"], "--duration"),
        (vec!["--duration", "soon"], "--duration"),
        (vec!["--stale-after-ms", "0"], "--stale-after-ms"),
        (vec!["--stream", "no spaces"], "--stream"),
        (vec!["--log-level", "loud"], "--log-level"),
        (vec!["--no-such-option"], "no-such-option"),
        // keys
        (vec!["--server-key", "not-a-key"], "--server-key"),
        (vec!["--server-key", &not_z85], "Z85"),
        (vec!["--server-key", &missing], "--server-key"),
        (vec!["--server-key", &forty], "no such file"),
        (vec!["--server-key", &server_public], "no such file (to give the key itself, write z85:KEY)"),
        (vec!["--server-key", &fifo], "not a regular file (a FIFO)"),
        (vec!["--server-key", &server_key, "--key", &fifo_secret], "not a regular file (a FIFO)"),
        (vec!["--server-key", &server_key, "--key", &swapped], "not the public key of its secret key"),
        (vec!["--server-key", &garbage], "line 1"),
        (vec!["--server-key", &two_keys], "more than one"),
        (vec!["--server-key", &viewer_secret], "holds a secret key"),
        (vec!["--server-key", &server_key, "--key", &loose], "chmod 600"),
        (vec!["--server-key", &server_key, "--key", &missing], "--key"),
        (vec!["--server-key", &server_key, "--key", &server_key], "not a secret key file"),
        (vec!["--server-key", &server_key, "--key", "/dev/zero"], "not a regular file"),
        (vec!["--key", &viewer_secret], "needs --server-key"),
        (vec!["--keygen", &nested], "cannot write"),
        (vec!["--keygen", &existing_stem], "already exists"),
    ];
    for (args, needle) in &table {
        let done = run(
            camview()
                .args(["--headless", "--duration", "30"])
                .args(args),
            Duration::from_secs(10),
        );
        let stderr = &done.stderr;
        // Exit codes: 2 for a bad option or key file, 1 for a key pair that cannot be written.
        let want = if args[0] == "--keygen" { 1 } else { 2 };
        assert_eq!(done.status.code(), Some(want), "{args:?}: {stderr}");
        assert!(!stderr.contains("backtrace"), "{args:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: one line, got {stderr}");
        assert!(
            lines[0].starts_with("camview: error: "),
            "{args:?}: {stderr}"
        );
        assert!(
            lines[0].contains(needle),
            "{args:?}: {needle:?} not in {stderr}"
        );
        assert!(
            done.stdout.is_empty(),
            "{args:?}: no summary: {}",
            done.stdout
        );
    }
    std::fs::remove_dir_all(dir).unwrap();
}
