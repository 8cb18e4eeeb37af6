//! Loopback ports for the tests (never any other address).

use std::net::TcpListener;

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `tcp://127.0.0.1:PORT`.
pub fn endpoint(port: u16) -> String {
    format!("tcp://127.0.0.1:{port}")
}
