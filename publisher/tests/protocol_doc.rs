//! The pyzmq reader printed in docs/PROTOCOL.md, run against a real campub: the document must
//! be enough to read the stream. Needs python3 with pyzmq (scripts/test.sh installs it).
#![allow(clippy::unwrap_used, clippy::expect_used)] // a test may stop at the first surprise

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

fn python_example() -> String {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/PROTOCOL.md"))
        .unwrap();
    let start = doc
        .find("```python\n")
        .expect("a python block in PROTOCOL.md")
        + "```python\n".len();
    let len = doc[start..].find("```").unwrap();
    doc[start..start + len].to_owned()
}

#[test]
fn the_documented_python_reader_reads_campub() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let endpoint = format!("tcp://127.0.0.1:{port}");
    let mut campub = testkit::campub()
        .args([
            "--source",
            "pattern",
            "--size",
            "1280x720",
            "--fps",
            "30",
            "--stats-interval",
            "0",
        ])
        .args(["--bind", &endpoint])
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let script = python_example()
        .replace("tcp://127.0.0.1:5555", &endpoint)
        .replace("while True:", "for _ in range(5):");
    assert!(
        script.contains(&endpoint) && script.contains("range(5)"),
        "the example changed shape"
    );
    let mut python = Command::new("python3")
        .args(["-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("python3 is needed for this test (scripts/test.sh installs it with pyzmq)");
    let stdout = python.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let lines: Vec<String> = BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect();
        let _ = tx.send(lines);
    });
    let lines = rx.recv_timeout(Duration::from_secs(30));
    let _ = python.kill();
    let status = python.wait().unwrap();
    let _ = campub.kill();
    let _ = campub.wait();

    let lines = lines.expect("the python reader did not finish within 30 s");
    assert!(status.success(), "python reader failed: {lines:?}");
    assert_eq!(lines.len(), 5, "{lines:?}");
    for line in &lines {
        assert!(
            line.starts_with("cam #") && line.contains(" 640x360 "),
            "{line}"
        );
        assert!(line.ends_with(" ms old"), "{line}");
    }
}
