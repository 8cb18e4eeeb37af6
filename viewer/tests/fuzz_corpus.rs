//! Replays the committed fuzz corpus of the `viewer_message` target
//! (fuzz/corpus/viewer_message) through the same entry point the fuzzer calls, on stable Rust,
//! with one decoder across all inputs as in camview and the fuzzer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use camview::decode::Decoder;

#[test]
fn viewer_corpus_replays_without_a_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/viewer_message");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .collect();
    paths.sort();
    let mut decoder = Decoder::new().unwrap();
    let mut decoded = 0;
    for path in &paths {
        let bytes = std::fs::read(path).unwrap();
        camview::fuzzing::handle_message(&mut decoder, &bytes);
        decoded += usize::from(decoder.decode(&bytes).is_ok());
    }
    // A corpus that went missing would make this test pass vacuously; one with no decodable
    // picture would not reach the decoder's deeper paths.
    assert!(
        paths.len() >= 50,
        "only {} inputs in {}",
        paths.len(),
        dir.display()
    );
    assert!(
        decoded >= 5,
        "only {decoded} of {} inputs decode",
        paths.len()
    );
}
