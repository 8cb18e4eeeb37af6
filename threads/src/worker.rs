//! A named thread that runs until told to stop: the shape of every helper thread in both
//! programs (campub's ZAP handler, camview's receiver and socket monitor).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

/// A running thread and its stop flag. Dropping it sets the flag and joins the thread, so a
/// stage's thread never outlives the stage; a panic in the thread is logged (with the thread's
/// name) when it is joined, never propagated into the dropping thread.
///
/// The body must look at the flag at least every few hundred milliseconds (each user's
/// poll interval says how often), or dropping the worker waits that long.
pub struct Worker {
    name: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Worker {
    /// Starts `body` on a thread named `name`; `body` returns when the flag it is given is set.
    pub fn spawn(
        name: &str,
        body: impl FnOnce(&AtomicBool) + Send + 'static,
    ) -> std::io::Result<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name(name.to_owned())
                .spawn(move || body(&stop))?
        };
        Ok(Self {
            name: name.to_owned(),
            stop,
            thread: Some(thread),
        })
    }

    /// Whether the thread has returned (by itself, or because it was told to stop).
    pub fn is_finished(&self) -> bool {
        self.thread.as_ref().is_none_or(JoinHandle::is_finished)
    }

    /// Tells the thread to stop, without waiting for it.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.request_stop();
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                log::error!(
                    "the {} thread panicked (a bug: please report it)",
                    self.name
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn dropping_stops_and_joins_the_thread() {
        let ran = Arc::new(AtomicBool::new(false));
        let worker = {
            let ran = Arc::clone(&ran);
            Worker::spawn("test-worker", move |stop| {
                assert_eq!(std::thread::current().name(), Some("test-worker"));
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                ran.store(true, Ordering::Relaxed);
            })
            .unwrap()
        };
        assert!(!worker.is_finished());
        drop(worker);
        assert!(
            ran.load(Ordering::Relaxed),
            "the body ran to its end before drop returned"
        );
    }

    #[test]
    fn a_panic_in_the_thread_does_not_reach_the_dropper() {
        let worker = Worker::spawn("panicking", |_| panic!("on purpose")).unwrap();
        while !worker.is_finished() {
            std::thread::sleep(Duration::from_millis(1));
        }
        drop(worker); // logs, does not panic
    }
}
