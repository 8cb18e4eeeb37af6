//! Finding campub on the LAN (mDNS/DNS-SD, issue #21): the real campub announces in one network
//! namespace this test makes, the real camview browses in another, joined by a veth pair (which
//! carries multicast): `camview --discover` lists each publisher with its TXT fields, a
//! publisher stopped with SIGTERM says goodbye and is gone, `camview` with no endpoint finds one
//! and shows its frames, and a loopback bind or --no-announce announces nothing.
//!
//! Needs root and `ip` (iproute2), which `scripts/setup-debian.sh --test` installs and CI has:
//! without them the tests fail, they never skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use testkit::netns::run_ok;
use testkit::*;

const PUB_ADDR: &str = "10.232.0.1";
const VIEW_ADDR: &str = "10.232.0.2";
const LIMIT: Duration = Duration::from_secs(30);
/// Browses until the publishers answer: each round listens this long.
const ROUND_S: &str = "2";
const ROUNDS: usize = 10;

fn require_prerequisites() {
    testkit::netns::require_root();
    assert!(
        Command::new("ip").arg("-V").output().is_ok(),
        "`ip` is missing: install iproute2 (scripts/setup-debian.sh --test)"
    );
}

/// Two network namespaces joined by a veth pair; removed on drop.
struct Lan {
    publisher: String,
    viewer: String,
}

impl Lan {
    fn new(name: &str) -> Self {
        require_prerequisites();
        let id = std::process::id() % 100_000;
        let lan = Self {
            publisher: format!("dp-{name}-{id}"),
            viewer: format!("dv-{name}-{id}"),
        };
        for ns in [&lan.publisher, &lan.viewer] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            run_ok("ip", &["netns", "add", ns]);
            run_ok("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        run_ok(
            "ip",
            &[
                "-n",
                &lan.publisher,
                "link",
                "add",
                "veth0",
                "type",
                "veth",
                "peer",
                "name",
                "veth1",
                "netns",
                &lan.viewer,
            ],
        );
        for (ns, dev, addr) in [
            (&lan.publisher, "veth0", PUB_ADDR),
            (&lan.viewer, "veth1", VIEW_ADDR),
        ] {
            run_ok(
                "ip",
                &["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev],
            );
            run_ok("ip", &["-n", ns, "link", "set", dev, "up"]);
        }
        lan
    }

    fn command_in(ns: &str, program: &str) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", ns])
            .arg(testkit::bin::path(program));
        command
    }

    fn campub(&self, args: &[&str]) -> Running {
        spawn(
            Self::command_in(&self.publisher, "campub")
                .args([
                    "--source",
                    "pattern",
                    "--fps",
                    "10",
                    "--stats-interval",
                    "0",
                ])
                .args(args),
        )
    }

    /// `camview --discover` in `ns`: its exit and its lines by instance name.
    fn discover_in(&self, ns: &str) -> (Finished, BTreeMap<String, Vec<String>>) {
        let done = run(
            Self::command_in(ns, "camview").args(["--discover", "--discover-seconds", ROUND_S]),
            LIMIT,
        );
        let lines = done
            .stdout
            .lines()
            .map(|line| {
                let fields: Vec<String> = line.split('\t').map(str::to_owned).collect();
                (fields[0].clone(), fields)
            })
            .collect();
        (done, lines)
    }

    /// Browses from the viewer's side until `wanted` publishers answer (bounded rounds).
    fn discover_until(&self, wanted: usize) -> BTreeMap<String, Vec<String>> {
        self.discover_until_in(&self.viewer, wanted)
    }

    /// Browses from namespace `ns` until `wanted` publishers answer (bounded rounds: one round
    /// can miss an answer on a loaded machine).
    fn discover_until_in(&self, ns: &str, wanted: usize) -> BTreeMap<String, Vec<String>> {
        let mut last = BTreeMap::new();
        for _ in 0..ROUNDS {
            let (_, found) = self.discover_in(ns);
            if found.len() == wanted {
                return found;
            }
            last = found;
        }
        panic!("wanted {wanted} publishers, last browse found {last:?}");
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for ns in [&self.publisher, &self.viewer] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// The instance name campub gives itself: its host name's first label, '-', the stream.
fn instance(stream: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let label: String = host
        .trim()
        .split('.')
        .next()
        .unwrap()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("{label}-{stream}")
}

#[test]
fn two_publishers_are_found_with_their_txt_fields_and_one_stopped_is_gone() {
    let _serial = one_at_a_time();
    let lan = Lan::new("two");
    let dir = temp_dir("discovery-two");
    let server_key = keygen("campub", &dir.join("server"));
    let secret = dir.join("server.key_secret");
    let door = lan.campub(&[
        "--stream",
        "door",
        "--bind",
        "tcp://*:5555",
        "--curve-secret-key",
        secret.to_str().unwrap(),
    ]);
    let yard = lan.campub(&[
        "--stream",
        "yard",
        "--wire",
        "base64",
        "--bind",
        &format!("tcp://{PUB_ADDR}:5556"),
    ]);

    let found = lan.discover_until(2);
    assert_eq!(
        found[&instance("door")][1..],
        [
            format!("tcp://{PUB_ADDR}:5555"),
            "stream=door".into(),
            "wire=native".into(),
            "curve=on".into(),
            format!("key={server_key}"),
        ]
    );
    assert_eq!(
        found[&instance("yard")][1..],
        [
            format!("tcp://{PUB_ADDR}:5556"),
            "stream=yard".into(),
            "wire=base64".into(),
            "curve=off".into(),
            "key=-".into(),
        ]
    );

    let yard = yard.terminate(LIMIT);
    assert!(yard.status.success(), "{}", yard.stderr);
    assert!(
        yard.stderr.contains("mDNS goodbye sent"),
        "campub said no goodbye:\n{}",
        yard.stderr
    );
    // The goodbye removes it at once: the very next browse sees only door.
    let (_, after) = lan.discover_in(&lan.viewer);
    assert_eq!(
        after.keys().cloned().collect::<Vec<_>>(),
        [instance("door")],
        "after yard's goodbye"
    );
    drop(door);
}

#[test]
fn camview_with_no_endpoint_finds_a_publisher_and_shows_its_frames() {
    let _serial = one_at_a_time();
    let lan = Lan::new("view");
    let dir = temp_dir("discovery-view");
    let server_key = keygen("campub", &dir.join("server"));
    let secret = dir.join("server.key_secret");
    let _campub = lan.campub(&[
        "--stream",
        "porch",
        "--bind",
        "tcp://*:5557",
        "--curve-secret-key",
        secret.to_str().unwrap(),
    ]);
    let done = run(
        Lan::command_in(&lan.viewer, "camview").args([
            "--headless",
            "--frames",
            "5",
            "--duration",
            "25",
            "--discover-seconds",
            "1",
        ]),
        LIMIT,
    );
    assert!(done.status.success(), "{}", done.stderr);
    let summary = done.summary();
    assert!(u64_at(&summary, "/frames_shown") >= 5, "{summary}");
    assert_eq!(
        summary["endpoints"],
        serde_json::json!([format!("tcp://{PUB_ADDR}:5557")])
    );
    assert_eq!(summary["stream"], "porch");
    // CURVE worked with the announced key, and camview said it trusted it on first use.
    assert!(
        done.stderr.contains("trusting the key it announced") && done.stderr.contains(&server_key),
        "{}",
        done.stderr
    );
}

#[test]
fn camview_with_no_endpoint_shows_every_open_publisher_found_in_the_grid() {
    let _serial = one_at_a_time();
    let lan = Lan::new("grid");
    let _door = lan.campub(&["--stream", "door", "--bind", "tcp://*:5557"]);
    let _yard = lan.campub(&["--stream", "yard", "--bind", "tcp://*:5558"]);
    let done = run(
        Lan::command_in(&lan.viewer, "camview").args([
            "--headless",
            "--frames",
            "5",
            "--duration",
            "25",
            "--discover-seconds",
            "2",
        ]),
        LIMIT,
    );
    assert!(done.status.success(), "{}", done.stderr);
    // One JSON line per tile, in the order found (by name).
    let lines: Vec<serde_json::Value> = done
        .stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut streams: Vec<&str> = lines.iter().filter_map(|l| l["stream"].as_str()).collect();
    streams.sort_unstable();
    assert_eq!(streams, ["door", "yard"], "{}", done.stdout);
    for line in &lines {
        assert!(u64_at(line, "/frames_shown") >= 5, "{line}");
    }
}

#[test]
fn camview_with_no_endpoint_keeps_looking_until_a_publisher_appears() {
    let _serial = one_at_a_time();
    let lan = Lan::new("wait");
    let viewer = spawn(Lan::command_in(&lan.viewer, "camview").args([
        "--headless",
        "--frames",
        "3",
        "--duration",
        "25",
        "--discover-seconds",
        "1",
    ]));
    // Three empty rounds first: camview must still be looking, not connected elsewhere.
    std::thread::sleep(Duration::from_secs(3));
    let _campub = lan.campub(&["--stream", "late", "--bind", "tcp://*:5558"]);
    let done = viewer.finish(LIMIT);
    assert!(done.status.success(), "{}", done.stderr);
    assert!(
        done.stderr.contains("still looking"),
        "camview did not say it was looking:\n{}",
        done.stderr
    );
    let summary = done.summary();
    assert_eq!(
        summary["endpoints"],
        serde_json::json!([format!("tcp://{PUB_ADDR}:5558")])
    );
    assert!(u64_at(&summary, "/frames_shown") >= 3, "{summary}");
}

#[test]
fn loopback_binds_and_no_announce_announce_nothing() {
    let _serial = one_at_a_time();
    let lan = Lan::new("quiet");
    let loopback = lan.campub(&["--stream", "lo", "--bind", "tcp://127.0.0.1:5559"]);
    let silent = lan.campub(&[
        "--stream",
        "hush",
        "--bind",
        "tcp://*:5560",
        "--no-announce",
    ]);
    // A wildcard publisher that does announce: proof that the browse works at all.
    let _loud = lan.campub(&["--stream", "loud", "--bind", "tcp://*:5561"]);
    let found = lan.discover_until(1);
    assert!(found.contains_key(&instance("loud")), "{found:?}");
    // From the publisher's own namespace too (loopback included): still only "loud".
    let local = lan.discover_until_in(&lan.publisher, 1);
    assert_eq!(
        local.keys().cloned().collect::<Vec<_>>(),
        [instance("loud")]
    );

    let loopback = loopback.terminate(LIMIT);
    assert!(
        loopback
            .stderr
            .contains("not announced on the LAN (mDNS): tcp://127.0.0.1:5559 is loopback only"),
        "{}",
        loopback.stderr
    );
    let silent = silent.terminate(LIMIT);
    assert!(
        silent
            .stderr
            .contains("not announced on the LAN (mDNS): --no-announce"),
        "{}",
        silent.stderr
    );
}

#[test]
fn discover_with_nothing_announced_exits_3_and_says_so() {
    let _serial = one_at_a_time();
    let lan = Lan::new("none");
    let (done, found) = lan.discover_in(&lan.viewer);
    assert_eq!(done.status.code(), Some(3), "{}", done.stderr);
    assert!(found.is_empty());
    assert!(
        done.stderr.contains("no campub answered"),
        "{}",
        done.stderr
    );
}

#[test]
fn a_bad_option_with_no_endpoint_is_refused_before_any_browse() {
    let _serial = one_at_a_time();
    let lan = Lan::new("bad");
    for args in [
        &["--stream", "no spaces"][..],
        &["--discover", "--discover-seconds", "0"][..],
    ] {
        let done = run(Lan::command_in(&lan.viewer, "camview").args(args), LIMIT);
        assert_eq!(done.status.code(), Some(2), "{args:?}: {}", done.stderr);
        assert!(done.stderr.contains("bad "), "{args:?}: {}", done.stderr);
        assert!(
            !done.stderr.contains("still looking"),
            "{args:?}: {}",
            done.stderr
        );
    }
}
