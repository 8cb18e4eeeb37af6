//! Replays the committed corpus of the `http_request` fuzz target (fuzz/corpus/http_request)
//! through the entry point the fuzzer calls, on stable Rust: every input as one connection to
//! campub's HTTP server, with its invariants checked.

#[test]
fn http_request_corpus_replays_with_its_invariants() {
    let inputs = testkit::fs::fuzz_corpus("http_request");
    let mut served = 0;
    for request in &inputs {
        let response = campub::http::fuzzing::request(request);
        served += usize::from(response.get(8..13) == Some(b" 200 ".as_slice()));
    }
    // A corpus that went missing would pass vacuously; one that never gets past the login
    // would not reach the endpoints.
    assert!(
        inputs.len() >= 50,
        "only {} inputs in fuzz/corpus/http_request",
        inputs.len()
    );
    assert!(
        served >= 5,
        "only {served} of {} inputs got a 200",
        inputs.len()
    );
}
