//! The TCP listening socket campub creates itself (and hands to ZeroMQ with `ZMQ_USE_FD`), so that
//! every subscriber connection keeps at most a few kilobytes of *unsent* data in the kernel
//! (`TCP_NOTSENT_LOWAT`), while its room for data in flight still grows with the link.
//!
//! Why: on a link slower than the stream, the kernel's autotuned send buffer would otherwise hold
//! seconds of video that ZeroMQ's high-water mark cannot see (docs/WIFI.md). A small `SO_SNDBUF`
//! bounds that too, but it also caps data in flight, and so the throughput of any link with a real
//! round trip; the unsent-data limit does not.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, IntoRawFd, RawFd};

/// Unsent bytes a subscriber connection may hold in the kernel: one of ZeroMQ's 8 KiB output
/// batches, a third of a typical 640x360 frame. Data in flight is not limited by this.
pub const NOTSENT_LOWAT_BYTES: u32 = 8 * 1024;
/// A connection whose sent data has gone unacknowledged this long is closed by the kernel
/// (`TCP_USER_TIMEOUT`, what `ZMQ_TCP_MAXRT` sets). Under heavy loss TCP's retransmission
/// back-off otherwise grows to seconds (0.2, 0.4, 0.8, 1.6, 3.2 s …) while the frame in flight
/// ages: at 30 % loss both ways shown frames were up to 2.3-8.8 s old, with this typically
/// 1.7-3.9 s (docs/WIFI.md). The viewer reconnects within about a second and gets the newest frame. The
/// same 2 s is inside the heartbeats' 3 s; a link that is slow but delivers keeps acknowledging.
pub const USER_TIMEOUT_MS: u32 = 2000;
/// Pending connections, as ZeroMQ's own listener uses (ZMQ_BACKLOG's default).
const LISTEN_BACKLOG: i32 = 100;

/// A `tcp://` endpoint campub can open itself: an IP address (or `*`) and a port (or `*`/0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpBind {
    pub addr: SocketAddr,
}

impl TcpBind {
    /// `None` for endpoints ZeroMQ must open itself: `ipc://`, `inproc://`, interface or host
    /// names. Those keep the kernel's default send buffering (logged by the caller).
    pub fn parse(endpoint: &str) -> Option<Self> {
        let camwire::Endpoint::Tcp { host, port } =
            camwire::Endpoint::parse(endpoint, camwire::Direction::Bind).ok()?
        else {
            return None;
        };
        let ip: IpAddr = match host.as_str() {
            // ZeroMQ binds `*` to every IPv4 address unless ZMQ_IPV6 is set (campub does not).
            "*" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            bracketed if bracketed.starts_with('[') && bracketed.ends_with(']') => {
                bracketed[1..bracketed.len() - 1].parse().ok()?
            }
            literal => literal.parse().ok()?,
        };
        Some(Self {
            addr: SocketAddr::new(ip, port),
        })
    }
}

/// A bound, listening socket whose accepted connections inherit `TCP_NOTSENT_LOWAT` and
/// `TCP_USER_TIMEOUT`.
pub struct LowLatencyListener {
    socket: socket2::Socket,
}

impl LowLatencyListener {
    pub fn open(bind: TcpBind) -> std::io::Result<Self> {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(bind.addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        if bind.addr.is_ipv6() {
            // As ZeroMQ does with ZMQ_IPV6: `[::]` also accepts IPv4 clients.
            socket.set_only_v6(false)?;
        }
        // Linux copies the listening socket's TCP settings into each connection it accepts.
        set_tcp_notsent_lowat(socket.as_raw_fd(), NOTSENT_LOWAT_BYTES)?;
        set_tcp_option(socket.as_raw_fd(), libc::TCP_USER_TIMEOUT, USER_TIMEOUT_MS)?;
        socket.bind(&bind.addr.into())?;
        socket.listen(LISTEN_BACKLOG)?;
        socket.set_nonblocking(true)?;
        Ok(Self { socket })
    }

    /// Where it listens, with the port filled in: the endpoint to give `zmq::Socket::bind`.
    pub fn endpoint(&self) -> std::io::Result<String> {
        let addr = self
            .socket
            .local_addr()?
            .as_socket()
            .ok_or_else(|| std::io::Error::other("the listener has no IP address"))?;
        Ok(format!("tcp://{addr}"))
    }

    /// A second descriptor for the same listening socket, for watching its backlog
    /// (`shed::DescriptorGuard`) after ZeroMQ owns the first.
    pub fn watch_handle(&self) -> std::io::Result<std::os::fd::OwnedFd> {
        self.socket.try_clone().map(std::os::fd::OwnedFd::from)
    }

    /// Gives the socket to `zmq_socket` for its next bind; ZeroMQ owns (and closes) it from then.
    pub fn hand_to(self, zmq_socket: &mut zmq::Socket) -> zmq::Result<()> {
        set_zmq_use_fd(zmq_socket, self.socket.as_raw_fd())?;
        // Ownership passes to libzmq only once it has accepted the descriptor.
        let _owned_by_zmq = self.socket.into_raw_fd();
        Ok(())
    }
}

/// Tunes the TCP connections a connecting ZeroMQ socket makes (`campub --connect`) as the
/// listener's accepted ones are: `TCP_NOTSENT_LOWAT` and `TCP_USER_TIMEOUT`. libzmq has no
/// option for either and `ZMQ_USE_FD` works only for binding, so the socket's monitor reports
/// each connection's descriptor (ZMQ_EVENT_CONNECTED) and the options are set on it before the
/// next message is sent. The descriptor is libzmq's; it is only tuned, and checked to be a
/// connected TCP socket first.
pub struct OutgoingTuner {
    monitor: zmq::Socket,
    /// Connections tuned so far (for tests and the log).
    pub tuned: u64,
    /// The descriptors of the outgoing connections open now.
    open: Vec<RawFd>,
}

/// ZeroMQ's inproc endpoints are per context: a process-wide counter keeps them apart.
static MONITOR_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl OutgoingTuner {
    /// Starts monitoring `socket` (call before it connects).
    pub fn start(context: &zmq::Context, socket: &zmq::Socket) -> zmq::Result<Self> {
        let id = MONITOR_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let address = format!("inproc://campub-outgoing-{}-{id}", std::process::id());
        socket.monitor(
            &address,
            zmq::SocketEvent::CONNECTED as i32 | zmq::SocketEvent::DISCONNECTED as i32,
        )?;
        let monitor = context.socket(zmq::PAIR)?;
        monitor.connect(&address)?;
        Ok(Self {
            monitor,
            tuned: 0,
            open: Vec::new(),
        })
    }

    /// Outgoing connections open at the last [`tune_new_connections`](Self::tune_new_connections).
    pub fn connected(&self) -> usize {
        self.open.len()
    }

    /// Tunes the connections made since the last call; never blocks.
    pub fn tune_new_connections(&mut self) {
        loop {
            let Ok(event) = self.monitor.recv_bytes(zmq::DONTWAIT) else {
                return;
            };
            // The endpoint part that follows; its text is not needed.
            while self.monitor.get_rcvmore().unwrap_or(false) {
                if self.monitor.recv_bytes(zmq::DONTWAIT).is_err() {
                    break;
                }
            }
            // A monitor event: the event number (u16), then its value (u32: the descriptor).
            let (Some(kind), Some(fd)) = (
                event
                    .get(0..2)
                    .and_then(|b| <[u8; 2]>::try_from(b).ok())
                    .map(u16::from_ne_bytes),
                event
                    .get(2..6)
                    .and_then(|b| <[u8; 4]>::try_from(b).ok())
                    .map(RawFd::from_ne_bytes),
            ) else {
                continue;
            };
            if kind == zmq::SocketEvent::DISCONNECTED as u16 {
                // Also reported for accepted connections: only ours are counted.
                self.open.retain(|open| *open != fd);
                continue;
            }
            self.open.push(fd);
            match tune_outgoing(fd) {
                Ok(()) => self.tuned += 1,
                Err(e) => log::warn!(
                    "cannot bound the unsent data of a new outgoing connection \
                     (descriptor {fd}): {e}"
                ),
            }
        }
    }
}

/// Sets the unsent-data and retransmission limits on a connected TCP socket of libzmq's.
fn tune_outgoing(fd: RawFd) -> std::io::Result<()> {
    // SAFETY of the borrow: libzmq reported the descriptor as its new connection a moment ago
    // and closes it only on its own I/O thread after a disconnect, which the monitor would
    // report next; the checks below refuse anything that is not a connected TCP socket.
    #[allow(unsafe_code)]
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let kind = rustix::net::sockopt::socket_type(borrowed)?;
    if kind != rustix::net::SocketType::STREAM || rustix::net::getpeername(borrowed)?.is_none() {
        return Err(std::io::Error::other("not a connected TCP socket"));
    }
    set_tcp_notsent_lowat(fd, NOTSENT_LOWAT_BYTES)?;
    set_tcp_option(fd, libc::TCP_USER_TIMEOUT, USER_TIMEOUT_MS)
}

/// Sets TCP_NOTSENT_LOWAT, which none of our socket crates exposes.
pub(crate) fn set_tcp_notsent_lowat(fd: RawFd, bytes: u32) -> std::io::Result<()> {
    set_tcp_option(fd, libc::TCP_NOTSENT_LOWAT, bytes)
}

/// Sets an IPPROTO_TCP option whose value is a C int.
#[allow(unsafe_code)]
fn set_tcp_option(fd: RawFd, option: libc::c_int, value: u32) -> std::io::Result<()> {
    let value = libc::c_int::try_from(value).unwrap_or(libc::c_int::MAX);
    // SAFETY: `fd` is an open socket borrowed from its owner for this call; the option value is a
    // c_int on the stack whose size is passed alongside it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            libc::IPPROTO_TCP,
            option,
            std::ptr::addr_of!(value).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Sets ZMQ_USE_FD, which the `zmq` crate does not expose.
#[allow(unsafe_code)]
fn set_zmq_use_fd(zmq_socket: &mut zmq::Socket, fd: RawFd) -> zmq::Result<()> {
    let value: libc::c_int = fd;
    // SAFETY: the pointer is the live ZeroMQ socket owned by `zmq_socket`; the option value is a
    // c_int on the stack whose size is passed alongside it; libzmq copies it.
    let rc = unsafe {
        zmq_sys::zmq_setsockopt(
            zmq_socket.as_mut_ptr(),
            zmq_sys::ZMQ_USE_FD as libc::c_int,
            std::ptr::addr_of!(value).cast(),
            std::mem::size_of::<libc::c_int>(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        // SAFETY: reads libzmq's thread-local error number; no arguments.
        Err(zmq::Error::from_raw(unsafe { zmq_sys::zmq_errno() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_campub_can_open_itself() {
        let parse = |e: &str| TcpBind::parse(e).map(|b| b.addr.to_string());
        assert_eq!(parse("tcp://*:5555").as_deref(), Some("0.0.0.0:5555"));
        assert_eq!(parse("tcp://127.0.0.1:0").as_deref(), Some("127.0.0.1:0"));
        assert_eq!(parse("tcp://127.0.0.1:*").as_deref(), Some("127.0.0.1:0"));
        assert_eq!(parse("tcp://[::1]:5555").as_deref(), Some("[::1]:5555"));
        assert_eq!(parse("tcp://[::]:7").as_deref(), Some("[::]:7"));
        for zmq_only in [
            "tcp://eth0:5555",
            "tcp://localhost:5555",
            "ipc:///tmp/cam",
            "inproc://cam",
            "tcp://*:http",
            "tcp://*",
        ] {
            assert_eq!(parse(zmq_only), None, "{zmq_only}");
        }
    }

    #[test]
    fn accepted_connections_inherit_the_unsent_limit() {
        let listener =
            LowLatencyListener::open(TcpBind::parse("tcp://127.0.0.1:0").unwrap()).unwrap();
        let addr = listener.socket.local_addr().unwrap().as_socket().unwrap();
        let _client = std::net::TcpStream::connect(addr).unwrap();
        listener.socket.set_nonblocking(false).unwrap();
        let (accepted, _) = listener.socket.accept().unwrap();
        assert_eq!(
            tcp_option(accepted.as_raw_fd(), libc::TCP_NOTSENT_LOWAT),
            NOTSENT_LOWAT_BYTES
        );
        assert_eq!(
            tcp_option(accepted.as_raw_fd(), libc::TCP_USER_TIMEOUT),
            USER_TIMEOUT_MS
        );
    }

    #[test]
    fn outgoing_connections_get_the_unsent_limit_too() {
        let peer = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let context = zmq::Context::new();
        let socket = context.socket(zmq::PUB).unwrap();
        socket.set_linger(0).unwrap();
        let mut tuner = OutgoingTuner::start(&context, &socket).unwrap();
        socket
            .connect(&format!("tcp://{}", peer.local_addr().unwrap()))
            .unwrap();
        let (accepted, _) = peer.accept().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while tuner.tuned == 0 && std::time::Instant::now() < deadline {
            tuner.tune_new_connections();
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!((tuner.tuned, tuner.connected()), (1, 1));
        let fd = tuner.open[0];
        assert_eq!(tcp_option(fd, libc::TCP_NOTSENT_LOWAT), NOTSENT_LOWAT_BYTES);
        assert_eq!(tcp_option(fd, libc::TCP_USER_TIMEOUT), USER_TIMEOUT_MS);
        // The peer goes away: the connection is no longer counted.
        drop(accepted);
        drop(peer);
        while tuner.connected() > 0 && std::time::Instant::now() < deadline {
            tuner.tune_new_connections();
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(tuner.connected(), 0);
    }

    #[allow(unsafe_code)]
    fn tcp_option(fd: RawFd, option: libc::c_int) -> u32 {
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: test-only getsockopt into a c_int on the stack with its size.
        let rc = unsafe {
            libc::getsockopt(
                fd,
                libc::IPPROTO_TCP,
                option,
                std::ptr::addr_of_mut!(value).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0, "{}", std::io::Error::last_os_error());
        u32::try_from(value).unwrap()
    }
}
