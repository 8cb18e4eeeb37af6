//! ZeroMQ endpoints as campub binds and camview connects them: one parser for both programs.
//!
//! `tcp://HOST:PORT`, `ipc://PATH` and `inproc://NAME`. To bind, HOST may be `*` (every
//! interface) and PORT `*` or 0 (any free port). To connect, the shorthands `HOST:PORT` and
//! `HOST` (port [`DEFAULT_PORT`]) mean TCP, and the port must be 1-65535.

use std::fmt;

use crate::DEFAULT_PORT;

/// A checked endpoint; `Display` writes it as ZeroMQ takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `host` as written (`*`, a name, an IPv4 address or a bracketed IPv6 one); `port` 0 means
    /// any free port (bind only).
    Tcp {
        host: String,
        port: u16,
    },
    Ipc(String),
    Inproc(String),
}

/// Which way an endpoint is used: what it may contain depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Bind,
    Connect,
}

/// Why an endpoint was refused: the reason alone; the caller names the option.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EndpointError(pub &'static str);

impl Endpoint {
    /// Parses `text` for binding or connecting.
    pub fn parse(text: &str, direction: Direction) -> Result<Self, EndpointError> {
        let (scheme, rest) = match (text.split_once("://"), direction) {
            (Some(parts), _) => parts,
            (None, _) if text.is_empty() => return Err(EndpointError("empty")),
            (None, Direction::Connect) if has_port(text) => ("tcp", text),
            (None, Direction::Connect) => ("tcp", ""),
            (None, Direction::Bind) => {
                return Err(EndpointError(
                    "expected tcp://HOST:PORT (HOST may be *), ipc://PATH or inproc://NAME",
                ))
            }
        };
        match scheme {
            "tcp" if rest.is_empty() && !text.contains("://") => Ok(Self::Tcp {
                host: text.to_owned(),
                port: DEFAULT_PORT,
            }),
            "tcp" => parse_tcp(rest, direction),
            "ipc" if !rest.is_empty() => Ok(Self::Ipc(rest.to_owned())),
            "inproc" if !rest.is_empty() => Ok(Self::Inproc(rest.to_owned())),
            "ipc" | "inproc" => Err(EndpointError("missing path or name")),
            _ => Err(EndpointError(match direction {
                Direction::Bind => {
                    "expected tcp://HOST:PORT (HOST may be *), ipc://PATH or inproc://NAME"
                }
                Direction::Connect => "transport must be tcp, ipc or inproc",
            })),
        }
    }

    /// The TCP port, when this is a TCP endpoint.
    pub fn tcp_port(&self) -> Option<u16> {
        match self {
            Self::Tcp { port, .. } => Some(*port),
            _ => None,
        }
    }
}

fn parse_tcp(rest: &str, direction: Direction) -> Result<Endpoint, EndpointError> {
    let Some((host, port)) = rest.rsplit_once(':') else {
        return Err(EndpointError(match direction {
            Direction::Bind => "expected tcp://HOST:PORT (HOST may be *)",
            Direction::Connect => "expected tcp://HOST:PORT",
        }));
    };
    if host.is_empty() || host.chars().any(char::is_whitespace) {
        return Err(EndpointError(match direction {
            Direction::Bind => "missing or invalid host (* for every interface)",
            Direction::Connect => "missing or invalid host",
        }));
    }
    if host == "*" && direction == Direction::Connect {
        return Err(EndpointError(
            "* (every interface) is for binding: give the host to connect to",
        ));
    }
    let port = match (port, direction) {
        ("*", Direction::Bind) => 0,
        (digits, Direction::Bind) => digits
            .parse::<u16>()
            .map_err(|_| EndpointError("the port must be * or a number from 0 to 65535"))?,
        (digits, Direction::Connect) => match digits.parse::<u16>() {
            Ok(port) if port > 0 => port,
            _ => return Err(EndpointError("port must be a number from 1 to 65535")),
        },
    };
    Ok(Endpoint::Tcp {
        host: host.to_owned(),
        port,
    })
}

/// `HOST:PORT` (including `[v6]:PORT`), as opposed to a bare host.
fn has_port(text: &str) -> bool {
    match text.rsplit_once(':') {
        Some((host, port)) => {
            !port.is_empty()
                && port.bytes().all(|b| b.is_ascii_digit())
                && (!host.contains(':') || host.ends_with(']'))
        }
        None => false,
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp { host, port } => write!(f, "tcp://{host}:{port}"),
            Self::Ipc(path) => write!(f, "ipc://{path}"),
            Self::Inproc(name) => write!(f, "inproc://{name}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connect(text: &str) -> Result<String, EndpointError> {
        Endpoint::parse(text, Direction::Connect).map(|e| e.to_string())
    }

    fn bind(text: &str) -> Result<Endpoint, EndpointError> {
        Endpoint::parse(text, Direction::Bind)
    }

    #[test]
    fn a_viewer_may_write_shorthands() {
        assert_eq!(
            connect("tcp://127.0.0.1:5555").unwrap(),
            "tcp://127.0.0.1:5555"
        );
        assert_eq!(connect("192.168.1.7").unwrap(), "tcp://192.168.1.7:5555");
        assert_eq!(connect("pi.local:6000").unwrap(), "tcp://pi.local:6000");
        assert_eq!(connect("tcp://[::1]:5555").unwrap(), "tcp://[::1]:5555");
        assert_eq!(connect("[::1]:7").unwrap(), "tcp://[::1]:7");
        assert_eq!(connect("ipc:///tmp/cam").unwrap(), "ipc:///tmp/cam");
        for bad in [
            "",
            "tcp://host",
            "tcp://:5555",
            "tcp://host:0",
            "tcp://host:99999",
            "http://x:1",
            "ipc://",
            "tcp://a b:1",
        ] {
            assert!(connect(bad).is_err(), "{bad:?} was taken");
        }
    }

    #[test]
    fn a_publisher_binds_any_interface_and_any_port() {
        assert_eq!(bind("tcp://*:5555").unwrap().tcp_port(), Some(5555));
        assert_eq!(bind("tcp://127.0.0.1:*").unwrap().tcp_port(), Some(0));
        assert_eq!(bind("tcp://[::1]:0").unwrap().tcp_port(), Some(0));
        assert_eq!(bind("inproc://x").unwrap().tcp_port(), None);
        for bad in [
            "",
            "nonsense://x",
            "tcp://127.0.0.1",
            "tcp://127.0.0.1:99999",
            "host:5555",
        ] {
            assert!(bind(bad).is_err(), "{bad:?} was taken");
        }
    }
}
