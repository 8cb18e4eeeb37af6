//! Hosts made of Linux network namespaces (`ip netns`), joined by veth pairs, for tests that
//! need real links between programs: a slow link is the kernel's tbf on one end of a veth, an
//! unreachable host is an nftables rule in its namespace. Needs root and iproute2 (and nftables
//! for [`Host::refuse_incoming`]); a test that lacks them fails, it never skips.
//!
//! ```no_run
//! use testkit::netns::{Host, link};
//!
//! let pi = Host::new("pi");
//! let relay = Host::new("relay");
//! let (_, (relay_addr, _)) = link(&pi, &relay, 1);
//! pi.refuse_incoming(); // behind NAT: it can dial out, nobody can dial in
//! let relay_end = format!("tcp://{relay_addr}:5556");
//! let running = testkit::spawn(pi.command("campub").args(["--connect", relay_end.as_str()]));
//! ```

use std::process::{Command, Output};

/// Runs a command that must succeed; its stderr in the failure.
pub fn run_ok(program: &str, args: &[&str]) -> Output {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (scripts/setup-debian.sh --test): {e}"));
    assert!(
        out.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Fails loudly when namespaces cannot be made: not root, or `ip` missing.
pub fn require_root_and_ip() {
    require_root();
    assert!(
        Command::new("ip").arg("-V").output().is_ok(),
        "`ip` is missing: install iproute2 (scripts/setup-debian.sh --test)"
    );
}

/// Fails loudly when the test does not run as root (namespaces, nftables and tc need it).
pub fn require_root() {
    let uid = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().next().map(str::to_owned))
        .unwrap();
    assert_eq!(
        uid, "0",
        "this test makes network namespaces and must run as root (CI does)"
    );
}

/// One namespace: a host with its own loopback and whatever links are made to it. Removed
/// (with its links) when dropped.
pub struct Host {
    pub name: String,
    /// veth devices made in it so far (named v0, v1, ...).
    links: std::cell::Cell<u32>,
}

impl Host {
    /// A fresh namespace `NAME-PID` (an old one of that name is removed first).
    pub fn new(name: &str) -> Self {
        require_root_and_ip();
        let name = format!("{name}-{}", std::process::id() % 100_000);
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        run_ok("ip", &["netns", "add", &name]);
        run_ok("ip", &["-n", &name, "link", "set", "lo", "up"]);
        Self {
            name,
            links: std::cell::Cell::new(0),
        }
    }

    /// A workspace program (`testkit::bin::path`) run in this namespace.
    pub fn command(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command
            .args(["netns", "exec", &self.name])
            .arg(crate::bin::path(program));
        command.env("RUST_BACKTRACE", "1");
        command
    }

    /// Any program (not a workspace binary) run in this namespace.
    pub fn command_any(&self, program: &str) -> Command {
        let mut command = Command::new("ip");
        command.args(["netns", "exec", &self.name, program]);
        command
    }

    /// Any program run in this namespace, to its end; it must succeed.
    pub fn run_ok(&self, program: &str, args: &[&str]) -> Output {
        let mut all = vec!["netns", "exec", &self.name, program];
        all.extend_from_slice(args);
        run_ok("ip", &all)
    }

    /// Shapes what leaves `dev` in this namespace to `rate_bps` with the kernel's tbf (a queue
    /// of `latency_ms`; what waits longer is dropped, as at a real bottleneck).
    pub fn shape(&self, dev: &str, rate_bps: u64, latency_ms: u64) {
        self.run_ok(
            "tc",
            &[
                "qdisc",
                "replace",
                "dev",
                dev,
                "root",
                "tbf",
                "rate",
                &format!("{rate_bps}bit"),
                "burst",
                "16kb",
                "latency",
                &format!("{latency_ms}ms"),
            ],
        );
    }

    /// Behind NAT, as far as reaching it goes: connections it opens work, connections to it
    /// are dropped (an nftables rule on new incoming connections, all ports).
    pub fn refuse_incoming(&self) {
        let rules = "table inet natted {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    iifname \"lo\" accept\n    ct state established,related accept\n    ct state new drop\n  }\n}\n";
        let path = std::env::temp_dir().join(format!("{}.nft", self.name));
        std::fs::write(&path, rules).unwrap();
        self.run_ok("nft", &["-f", path.to_str().unwrap()]);
        let _ = std::fs::remove_file(path);
    }

    /// Bytes sent and received on `dev` so far (/sys/class/net in the namespace).
    pub fn bytes(&self, dev: &str) -> (u64, u64) {
        let read = |what: &str| -> u64 {
            let out = self.run_ok("cat", &[&format!("/sys/class/net/{dev}/statistics/{what}")]);
            String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
        };
        (read("tx_bytes"), read("rx_bytes"))
    }

    fn next_dev(&self) -> String {
        let n = self.links.get();
        self.links.set(n + 1);
        format!("v{n}")
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

/// A veth pair between two hosts on subnet 10.231.`subnet`.0/24: `a` gets .1, `b` .2.
/// Returns ((a's address, a's device), (b's address, b's device)).
pub fn link(a: &Host, b: &Host, subnet: u8) -> ((String, String), (String, String)) {
    let (dev_a, dev_b) = (a.next_dev(), b.next_dev());
    // Made in `a` with a temporary peer name, then moved into `b` and renamed there.
    let peer = format!("p{}-{subnet}", std::process::id() % 100_000);
    run_ok(
        "ip",
        &[
            "-n", &a.name, "link", "add", &dev_a, "type", "veth", "peer", "name", &peer, "netns",
            &b.name,
        ],
    );
    run_ok("ip", &["-n", &b.name, "link", "set", &peer, "name", &dev_b]);
    let addr_a = format!("10.231.{subnet}.1");
    let addr_b = format!("10.231.{subnet}.2");
    for (host, dev, addr) in [(a, &dev_a, &addr_a), (b, &dev_b, &addr_b)] {
        run_ok(
            "ip",
            &[
                "-n",
                &host.name,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                dev,
            ],
        );
        run_ok("ip", &["-n", &host.name, "link", "set", dev, "up"]);
    }
    ((addr_a, dev_a), (addr_b, dev_b))
}
