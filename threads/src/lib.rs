//! camthreads: how the stages of campub's and camview's pipelines run side by side.
//!
//! - [`NewestFrame`]: the hand-off between two stages where only the newest item matters (a
//!   one-slot mailbox that never blocks its producer and hands buffers back);
//! - [`Worker`]: a named thread with a stop flag, stopped and joined when dropped, whose panic
//!   is logged instead of lost.
//!
//! ```
//! use std::sync::atomic::Ordering;
//! use std::sync::Arc;
//! use std::time::Duration;
//! use camthreads::{NewestFrame, Worker};
//!
//! let handoff = Arc::new(NewestFrame::new());
//! let producer = {
//!     let handoff = Arc::clone(&handoff);
//!     Worker::spawn("producer", move |stop| {
//!         let mut n = 0u32;
//!         while !stop.load(Ordering::Relaxed) {
//!             let _ = handoff.put(n);
//!             n += 1;
//!             std::thread::sleep(Duration::from_millis(1));
//!         }
//!     })?
//! };
//! let first = handoff.take(Duration::from_secs(5)).unwrap();
//! let later = handoff.take(Duration::from_secs(5)).unwrap();
//! assert!(later > first); // never an older item
//! drop(producer); // stops and joins the thread
//! # Ok::<(), std::io::Error>(())
//! ```

mod newest;
mod worker;

pub use newest::{NewestFrame, TakeError};
pub use worker::Worker;
