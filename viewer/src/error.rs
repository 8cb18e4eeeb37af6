//! Why camview stopped with an error: one enum, each variant a one-line message for the user.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad endpoint {endpoint:?}: {reason}")]
    BadEndpoint { endpoint: String, reason: String },
    #[error("bad --stream: {0}")]
    BadStream(camwire::WireError),
    #[error("bad {option}: {reason}")]
    BadOption {
        option: &'static str,
        reason: String,
    },
    #[error("bad {option}: {reason}")]
    Key {
        option: &'static str,
        reason: String,
    },
    #[error("ZeroMQ: cannot {action}: {source}")]
    Zmq { action: String, source: zmq::Error },
    #[error("cannot start the receiving thread: {0}")]
    Thread(std::io::Error),
    #[error("the receiving thread stopped unexpectedly")]
    ReceiverGone,
    #[error("the decoding thread stopped unexpectedly")]
    DecodeThreadGone,
    #[error("JPEG decoder: {0}")]
    Decoder(turbojpeg::Error),
    #[error("{0}")]
    Font(#[from] camtext::FontError),
    #[error("SDL: {0}")]
    Sdl(String),
    #[error("cannot write {path}: {reason}")]
    Write { path: PathBuf, reason: String },
}

impl Error {
    pub fn sdl(context: &str, err: impl std::fmt::Display) -> Self {
        Error::Sdl(format!("{context}: {err}"))
    }

    pub fn zmq(action: impl Into<String>, source: zmq::Error) -> Self {
        Error::Zmq {
            action: action.into(),
            source,
        }
    }
}
