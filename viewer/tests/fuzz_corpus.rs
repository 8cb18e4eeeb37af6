//! Replays the committed fuzz corpus of the `viewer_message` target
//! (fuzz/corpus/viewer_message) through the same entry point the fuzzer calls, on stable Rust,
//! with one decoder across all inputs as in camview and the fuzzer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use camview::decode::Decoder;

#[test]
fn viewer_corpus_replays_without_a_panic() {
    let inputs = testkit::fs::fuzz_corpus("viewer_message");
    let mut decoder = Decoder::new().unwrap();
    let mut decoded = 0;
    for bytes in &inputs {
        camview::fuzzing::handle_message(&mut decoder, bytes);
        decoded += usize::from(decoder.decode(bytes).is_ok());
    }
    // A corpus that went missing would make this test pass vacuously; one with no decodable
    // picture would not reach the decoder's deeper paths.
    assert!(
        inputs.len() >= 50,
        "only {} inputs in fuzz/corpus/viewer_message",
        inputs.len()
    );
    assert!(
        decoded >= 5,
        "only {decoded} of {} inputs decode",
        inputs.len()
    );
}
