//! Broken links between the real campub and the real camview, each in a network namespace this
//! test makes (`ip netns add`, a veth pair between them): a total outage (an nftables rule in
//! the viewer's namespace drops everything, as when the wifi is pulled) and heavy random loss
//! both ways (an nftables `numgen` rule: this kernel has no netem). docs/WIFI.md has the
//! figures; `outage_of_five_minutes` (ignored by default, run with `--ignored`) is the long one.
//!
//! Needs root, `ip` (iproute2) and `nft` (nftables), which `scripts/setup-debian.sh --test`
//! installs and CI has: without them the tests fail, they never skip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::{Duration, Instant};

use testkit::netns::run_ok;
use testkit::*;

/// The publisher's side of the veth pair, and where campub binds.
const PUB_ADDR: &str = "10.231.0.1";
const VIEW_ADDR: &str = "10.231.0.2";
/// camview's interval reports: fine enough to time a recovery.
const REPORT_EVERY_S: f64 = 0.2;
/// The oldest frame camview may show while 30 % of the packets are lost both ways: far above
/// what one frame's trip through the lossy link takes (worst seen 6.3 s), far below what any
/// backlog reaches (docs/WIFI.md).
const AGE_BOUND_AT_LOSS_MS: f64 = 10_000.0;
/// The median of the report intervals' oldest frame at 30 % loss (seen: 69 ms typically, 992 ms
/// in the worst run).
const MEDIAN_AGE_BOUND_AT_LOSS_MS: f64 = 2_000.0;
/// Frames must be back this soon after the link is (the bound).
const RECOVERY_LIMIT: Duration = Duration::from_secs(2);

/// Fails loudly when the test cannot do what it must: root, `ip`, `nft`.
fn require_prerequisites() {
    testkit::netns::require_root();
    for (program, package) in [("ip", "iproute2"), ("nft", "nftables")] {
        let found = Command::new(program).arg("-V").output().is_ok();
        assert!(
            found,
            "`{program}` is missing: install {package} (scripts/setup-debian.sh --test)"
        );
    }
}

/// Two network namespaces joined by a veth pair; removed on drop.
struct Link {
    publisher: String,
    viewer: String,
}

impl Link {
    fn new(name: &str) -> Self {
        require_prerequisites();
        let id = std::process::id() % 100_000;
        let link = Self {
            publisher: format!("cp-{name}-{id}"),
            viewer: format!("cv-{name}-{id}"),
        };
        for ns in [&link.publisher, &link.viewer] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
            run_ok("ip", &["netns", "add", ns]);
            run_ok("ip", &["-n", ns, "link", "set", "lo", "up"]);
        }
        // The veth is made inside the publisher's namespace, its peer moved to the viewer's:
        // no name ever appears in the namespace this test runs in.
        run_ok(
            "ip",
            &[
                "-n",
                &link.publisher,
                "link",
                "add",
                "veth0",
                "type",
                "veth",
                "peer",
                "name",
                "veth1",
                "netns",
                &link.viewer,
            ],
        );
        for (ns, dev, addr) in [
            (&link.publisher, "veth0", PUB_ADDR),
            (&link.viewer, "veth1", VIEW_ADDR),
        ] {
            run_ok(
                "ip",
                &["-n", ns, "addr", "add", &format!("{addr}/24"), "dev", dev],
            );
            run_ok("ip", &["-n", ns, "link", "set", dev, "up"]);
        }
        link
    }

    /// A command run inside `ns`.
    fn command_in(ns: &str, program: &std::path::Path) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", ns]).arg(program);
        command
    }

    /// nftables in the viewer's namespace: `rule` applied to everything in and out, in a table
    /// of its own.
    fn filter(&self, table: &str, rule: &str) {
        let script = format!(
            "table inet {table} {{\n\
             chain in {{ type filter hook input priority 0; {rule}; }}\n\
             chain out {{ type filter hook output priority 0; {rule}; }}\n\
             }}\n"
        );
        let path = std::env::temp_dir().join(format!("{table}-{}.nft", std::process::id()));
        std::fs::write(&path, script).unwrap();
        run_ok(
            "ip",
            &[
                "netns",
                "exec",
                &self.viewer,
                "nft",
                "-f",
                path.to_str().unwrap(),
            ],
        );
        std::fs::remove_file(path).unwrap();
    }

    fn unfilter(&self, table: &str) {
        run_ok(
            "ip",
            &[
                "netns",
                "exec",
                &self.viewer,
                "nft",
                "delete",
                "table",
                "inet",
                table,
            ],
        );
    }

    /// Drops every packet, both ways: the link is gone.
    fn cut(&self) {
        self.filter("outage", "drop");
    }

    fn restore(&self) {
        self.unfilter("outage");
    }

    fn campub(&self) -> Running {
        spawn(
            Self::command_in(&self.publisher, &testkit::bin::path("campub")).args([
                "--source",
                "pattern",
                "--size",
                "640x360",
                "--width",
                "640",
                "--fps",
                "30",
                "--stats-interval",
                "0",
                "--bind",
                &format!("tcp://{PUB_ADDR}:5555"),
            ]),
        )
    }

    fn camview(&self, duration_s: u64) -> Running {
        let binary = testkit::bin::path("camview");
        spawn(Self::command_in(&self.viewer, &binary).args([
            "--headless",
            "--duration",
            &duration_s.to_string(),
            "--report-every",
            &REPORT_EVERY_S.to_string(),
            &format!("tcp://{PUB_ADDR}:5555"),
        ]))
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        for ns in [&self.publisher, &self.viewer] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// One `--report-every` line: its end (seconds since camview started), frames, worst age.
#[derive(Debug)]
struct Interval {
    t_s: f64,
    frames: u64,
    max_age_ms: f64,
}

fn intervals(done: &Finished) -> Vec<Interval> {
    done.stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|v| v.get("t_s").is_some())
        .map(|v| Interval {
            t_s: f64_at(&v, "/t_s"),
            frames: u64_at(&v, "/frames_shown"),
            max_age_ms: v["latency_ms"]["max"].as_f64().unwrap_or(0.0),
        })
        .collect()
}

/// Cuts the link for `outage` once frames flow, restores it, and returns how long after the
/// restore the first frame was shown (to the end of its report interval: an upper bound).
fn recovery_after(name: &str, outage: Duration) -> Option<Duration> {
    let link = Link::new(name);
    let _campub = link.campub();
    let before_s = 6.0;
    let after_s = 10.0;
    let run_s = (before_s + outage.as_secs_f64() + after_s).ceil() as u64;
    let viewer = link.camview(run_s);
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs_f64(before_s));
    link.cut();
    std::thread::sleep(outage);
    link.restore();
    let restored_s = started.elapsed().as_secs_f64();
    let done = viewer.finish(Duration::from_secs(run_s + 30));
    let reports = intervals(&done);
    assert!(
        reports.iter().any(|r| r.t_s < before_s && r.frames > 0),
        "{name}: no frames before the outage: {}",
        done.stderr
    );
    let back = reports
        .iter()
        .find(|r| r.t_s > restored_s && r.frames > 0)
        .map(|r| Duration::from_secs_f64(r.t_s - restored_s));
    eprintln!(
        "{name}: {:.0} s outage, frames back {back:?} after the link",
        outage.as_secs_f64()
    );
    back
}

#[test]
fn frames_come_back_within_two_seconds_of_the_link() {
    let _serial = one_at_a_time();
    // Before: 3.7 s after a 20-s outage, 26.6 s after a 45-s one (the viewer's connection
    // attempts made during the outage waited out TCP's SYN back-off).
    let outage = Duration::from_secs(30);
    let back = recovery_after("out30", outage);
    let back = back.expect("no frame after the link came back");
    assert!(
        back <= RECOVERY_LIMIT,
        "frames came back {back:?} after a {outage:?} outage"
    );
}

#[test]
#[ignore = "takes 5.5 minutes: run once for docs/WIFI.md with --ignored"]
fn outage_of_five_minutes() {
    let _serial = one_at_a_time();
    for seconds in [5, 45, 120, 300] {
        let outage = Duration::from_secs(seconds);
        let back = recovery_after(&format!("o{seconds}"), outage)
            .expect("no frame after the link came back");
        assert!(
            back <= RECOVERY_LIMIT,
            "frames came back {back:?} after a {outage:?} outage"
        );
    }
}

#[test]
fn heavy_loss_keeps_the_age_of_shown_frames_bounded() {
    let _serial = one_at_a_time();
    let link = Link::new("loss");
    let _campub = link.campub();
    let run_s = 40;
    let viewer = link.camview(run_s);
    std::thread::sleep(Duration::from_secs(5));
    let loss_from_s = 5.0;
    link.filter("loss", "numgen random mod 100 < 30 drop");
    let done = viewer.finish(Duration::from_secs(run_s + 30));
    let reports = intervals(&done);
    let lossy: Vec<&Interval> = reports
        .iter()
        .filter(|r| r.t_s > loss_from_s + 1.0)
        .collect();
    let frames: u64 = lossy.iter().map(|r| r.frames).sum();
    let worst_ms = lossy.iter().map(|r| r.max_age_ms).fold(0.0, f64::max);
    let longest_gap = lossy
        .split(|r| r.frames > 0)
        .map(|gap| gap.len() as f64 * REPORT_EVERY_S)
        .fold(0.0, f64::max);
    let mut ages: Vec<f64> = lossy
        .iter()
        .filter(|r| r.frames > 0)
        .map(|r| r.max_age_ms)
        .collect();
    ages.sort_by(f64::total_cmp);
    let median_ms = ages.get(ages.len() / 2).copied().unwrap_or(f64::NAN);
    eprintln!(
        "30 % loss both ways: {frames} frames in {:.0} s, oldest shown {worst_ms:.0} ms (median \
         of the intervals' oldest {median_ms:.0} ms), longest gap without frames {longest_gap:.1} s",
        lossy.len() as f64 * REPORT_EVERY_S
    );
    assert!(frames > 0, "no frames at 30 % loss: {}", done.stderr);
    // No backlog: campub keeps only the newest frame and 8 KiB of unsent data per subscriber,
    // so a frame's age is its own trip through the lossy link (plus at most the tail of the
    // frame before it). That trip has no hard bound: TCP_USER_TIMEOUT (2 s) bounds how long one
    // segment may stay unacknowledged, not a frame of 20-30 segments, each of which may be
    // retransmitted with back-off. What would show a backlog: the tutorial's sockets queue up to
    // 1000 frames, and at this loss the link carries about one frame in thirty, so the age
    // would grow by almost a second every second, past the bound within the 33 s. Seen here: worst 1.7-6.3 s, the intervals'
    // median 69-992 ms (docs/WIFI.md).
    assert!(
        median_ms <= MEDIAN_AGE_BOUND_AT_LOSS_MS,
        "the median interval's oldest frame was {median_ms:.0} ms old at 30 % loss (bound \
         {MEDIAN_AGE_BOUND_AT_LOSS_MS} ms)"
    );
    assert!(
        worst_ms <= AGE_BOUND_AT_LOSS_MS,
        "a frame {worst_ms:.0} ms old was shown at 30 % loss (bound {AGE_BOUND_AT_LOSS_MS} ms)"
    );
}
