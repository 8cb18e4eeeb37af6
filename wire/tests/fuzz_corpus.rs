//! Replays the committed fuzz corpus of the `wire_message` target (fuzz/corpus/wire_message)
//! through the same entry point the fuzzer calls, on stable Rust: every input the fuzzer found
//! interesting stays covered by the normal test run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

#[test]
fn wire_corpus_replays_without_a_panic() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/wire_message");
    let mut inputs = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        camwire::fuzzing::check_message(&bytes);
        inputs += 1;
    }
    // A corpus that went missing would make this test pass vacuously.
    assert!(inputs >= 50, "only {inputs} inputs in {}", dir.display());
}
