//! The decoding thread: decodes one message at a time off the viewer's loop, so that the
//! window, the keys and SIGTERM are answered within a loop's poll (10 ms with a window, 100 ms
//! headless) whatever is being decoded. Two `Decoder`s take turns: the loop keeps the one whose
//! picture is on screen and lends the other to this thread with the next message.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use crate::decode::{DecodeError, Decoder};
use crate::error::Error;

/// A message to decode, the decoder to do it with, and when it was taken from the receiver.
struct Job {
    decoder: Decoder,
    msg: Vec<u8>,
    taken: Instant,
}

/// A finished job: the decoder (holding the new picture when `result` is `Ok`) and the
/// message's buffer, to give back to the receiver.
pub struct Done {
    pub decoder: Decoder,
    pub msg: Vec<u8>,
    pub taken: Instant,
    pub result: Result<(), DecodeError>,
}

/// The running thread. Dropping it does not wait for a decode in progress: the thread ends
/// after it, on its own.
pub struct DecodeThread {
    jobs: Sender<Job>,
    done: Receiver<Done>,
    busy: bool,
}

impl DecodeThread {
    /// Starts the thread; `delay` is slept before each decode (`--debug-decode-delay-ms`).
    pub fn start(delay: Duration) -> Result<Self, Error> {
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (done_tx, done) = mpsc::channel::<Done>();
        std::thread::Builder::new()
            .name("decode".into())
            .spawn(move || {
                for mut job in job_rx {
                    if !delay.is_zero() {
                        std::thread::sleep(delay);
                    }
                    let result = job.decoder.decode(&job.msg);
                    let done = Done {
                        decoder: job.decoder,
                        msg: job.msg,
                        taken: job.taken,
                        result,
                    };
                    if done_tx.send(done).is_err() {
                        return;
                    }
                }
            })
            .map_err(Error::Thread)?;
        Ok(Self {
            jobs,
            done,
            busy: false,
        })
    }

    /// Whether a message is being decoded.
    pub fn is_busy(&self) -> bool {
        self.busy
    }

    /// Hands `msg` to the thread, to decode with `decoder`.
    pub fn submit(&mut self, decoder: Decoder, msg: Vec<u8>, taken: Instant) -> Result<(), Error> {
        self.jobs
            .send(Job {
                decoder,
                msg,
                taken,
            })
            .map_err(|_| Error::DecodeThreadGone)?;
        self.busy = true;
        Ok(())
    }

    /// The finished job, waiting up to `timeout`; `None` while it is still decoding.
    pub fn finished(&mut self, timeout: Duration) -> Result<Option<Done>, Error> {
        match self.done.recv_timeout(timeout) {
            Ok(done) => {
                self.busy = false;
                Ok(Some(done))
            }
            Err(RecvTimeoutError::Timeout) => Ok(None),
            Err(RecvTimeoutError::Disconnected) => Err(Error::DecodeThreadGone),
        }
    }
}
