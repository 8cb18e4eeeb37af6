//! Replays the committed corpus of the `http_request` fuzz target (fuzz/corpus/http_request)
//! through the entry point the fuzzer calls, on stable Rust: every input as one connection to
//! campub's HTTP server, with its invariants checked.

#![allow(clippy::unwrap_used)]
use std::path::Path;

#[test]
fn http_request_corpus_replays_with_its_invariants() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/http_request");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    let mut served = 0;
    for path in &paths {
        let request = std::fs::read(path).unwrap();
        let response = campub::http::fuzzing::request(&request);
        served += usize::from(response.get(8..13) == Some(b" 200 ".as_slice()));
    }
    // A corpus that went missing would pass vacuously; one that never gets past the login
    // would not reach the endpoints.
    assert!(
        paths.len() >= 50,
        "only {} inputs in {}",
        paths.len(),
        dir.display()
    );
    assert!(
        served >= 5,
        "only {served} of {} inputs got a 200",
        paths.len()
    );
}
