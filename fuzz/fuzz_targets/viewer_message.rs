//! Any bytes through camview's handling of a received message (wire checks, then JPEG decode),
//! on one decoder kept across inputs as camview keeps it across messages.
#![no_main]

use std::cell::RefCell;

use camview::decode::Decoder;

thread_local! {
    static DECODER: RefCell<Option<Decoder>> = const { RefCell::new(None) };
}

libfuzzer_sys::fuzz_target!(|msg: &[u8]| {
    DECODER.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(Decoder::new().expect("a libjpeg-turbo decompressor"));
        }
        if let Some(decoder) = slot.as_mut() {
            camview::fuzzing::handle_message(decoder, msg);
        }
    });
});
