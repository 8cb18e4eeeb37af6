//! A ZeroMQ subscriber in a separate process, so that a benchmark's PUB socket really sends
//! (a PUB socket without subscribers drops messages for free) while the receiving side's CPU
//! stays out of the benchmark's own process.
//!
//! The benchmark binary is its own subscriber: `main` calls [`serve_if_asked`] first, and
//! [`Subscriber::spawn`] starts the same binary with [`ENV_ENDPOINT`] set.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::BenchError;

/// Set to an endpoint, it turns the benchmark binary into a subscriber of that endpoint.
pub const ENV_ENDPOINT: &str = "CAMBENCH_SUBSCRIBE";
/// What the subscriber prints on stdout once the first message arrived.
const READY_LINE: &str = "subscribed";
/// How long the subscriber may take to see a first message.
const READY_TIMEOUT: Duration = Duration::from_secs(20);

/// If this process was started as a subscriber, runs as one and exits; otherwise returns.
pub fn serve_if_asked() {
    let Ok(endpoint) = std::env::var(ENV_ENDPOINT) else {
        return;
    };
    let code = match serve(&endpoint) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("cambench subscriber: {e}");
            1
        }
    };
    std::process::exit(code);
}

/// Receives and drops messages until the parent process is gone.
fn serve(endpoint: &str) -> Result<(), BenchError> {
    let parent = rustix::process::getppid();
    let context = zmq::Context::new();
    let socket = context.socket(zmq::SUB)?;
    socket.set_rcvtimeo(100)?;
    socket.set_subscribe(b"")?;
    socket.connect(endpoint)?;
    let mut msg = zmq::Message::new();
    let mut ready = false;
    while rustix::process::getppid() == parent {
        match socket.recv(&mut msg, 0) {
            Ok(()) if !ready => {
                ready = true;
                let mut out = std::io::stdout();
                writeln!(out, "{READY_LINE}")
                    .and_then(|()| out.flush())
                    .map_err(|source| BenchError::Io {
                        what: "telling the benchmark".into(),
                        source,
                    })?;
            }
            Ok(()) | Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// A running subscriber process; dropping it ends the process.
pub struct Subscriber {
    child: Child,
    ready: mpsc::Receiver<()>,
}

impl Subscriber {
    /// Starts this binary again as a subscriber of `endpoint`.
    pub fn spawn(endpoint: &str) -> Result<Self, BenchError> {
        let exe = std::env::current_exe().map_err(|source| BenchError::Io {
            what: "finding the benchmark binary".into(),
            source,
        })?;
        let mut child = Command::new(exe)
            .env(ENV_ENDPOINT, endpoint)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|source| BenchError::Io {
                what: "starting the subscriber".into(),
                source,
            })?;
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| BenchError::Other("subscriber has no stdout".into()))?;
        let (tx, ready) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) if l == READY_LINE => {
                        let _ = tx.send(());
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        Ok(Self { child, ready })
    }

    /// Calls `send` (which should publish one message) until the subscriber has received one,
    /// so that measuring starts with the subscription in place.
    pub fn wait_ready(&mut self, mut send: impl FnMut()) -> Result<(), BenchError> {
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            send();
            match self.ready.recv_timeout(Duration::from_millis(10)) {
                Ok(()) => return Ok(()),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(BenchError::Other("the subscriber process ended".into()))
                }
            }
        }
        Err(BenchError::Other(format!(
            "the subscriber saw no message within {READY_TIMEOUT:?}"
        )))
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
