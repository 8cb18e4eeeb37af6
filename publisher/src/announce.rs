//! campub's mDNS/DNS-SD announcement (`_campub._tcp`): what a viewer on the LAN needs to find
//! and connect to this stream, and the goodbye when campub stops. Uses the `mdns-sd` crate.

use std::net::IpAddr;
use std::time::Duration;

use mdns_sd::{IfKind, ServiceDaemon, ServiceInfo};

/// The DNS-SD service type campub announces and camview browses for.
pub const SERVICE_TYPE: &str = "_campub._tcp.local.";

/// How long a clean stop waits for the goodbye packets to go out: the daemon sends them from
/// its own thread, and campub must not hang on a wedged network either.
const GOODBYE_WAIT: Duration = Duration::from_millis(1500);

/// What the TXT record says about this stream.
#[derive(Debug, Clone)]
pub struct Announcement {
    /// The stream name (`--stream`).
    pub stream: String,
    /// "native" or "base64".
    pub wire: &'static str,
    /// The server's public key (Z85) when CURVE is on.
    pub curve_public_key: Option<String>,
    /// The HTTP port when --http is on.
    pub http_port: Option<u16>,
}

/// Where the PUB socket listens, as far as announcing goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A wildcard bind (`*`, 0.0.0.0, ::): every interface but loopback.
    All,
    /// One address: announced on its interface, with that address only.
    Addr(IpAddr),
    /// An interface name (tcp://eth0:5555).
    Interface(String),
    /// Nothing to announce, and why (loopback, ipc://, ...).
    Nothing(String),
}

/// Reads `--bind` (as given) the way libzmq does, for announcing.
pub fn scope_of_bind(bind: &str) -> Scope {
    let Some(rest) = bind.strip_prefix("tcp://") else {
        return Scope::Nothing(format!("{bind} is not a TCP endpoint"));
    };
    let Some((host, _port)) = rest.rsplit_once(':') else {
        return Scope::Nothing(format!("{bind} has no port"));
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host == "*" {
        return Scope::All;
    }
    if host.eq_ignore_ascii_case("localhost") {
        return Scope::Nothing(format!("{bind} is loopback only"));
    }
    match host.parse::<IpAddr>() {
        Ok(ip) if ip.is_unspecified() => Scope::All,
        Ok(ip) if ip.is_loopback() => Scope::Nothing(format!("{bind} is loopback only")),
        Ok(ip) => Scope::Addr(ip),
        Err(_) => Scope::Interface(host.to_owned()),
    }
}

/// The TCP port of a bound endpoint as libzmq reports it (tcp://0.0.0.0:5555).
pub fn port_of_endpoint(endpoint: &str) -> Option<u16> {
    endpoint.rsplit_once(':')?.1.parse().ok()
}

/// The TXT record, in the order the docs list it.
pub fn txt_properties(announcement: &Announcement) -> Vec<(String, String)> {
    let mut txt = vec![
        ("txtvers".to_owned(), "1".to_owned()),
        ("stream".to_owned(), announcement.stream.clone()),
        ("wire".to_owned(), announcement.wire.to_owned()),
        (
            "curve".to_owned(),
            if announcement.curve_public_key.is_some() {
                "on"
            } else {
                "off"
            }
            .to_owned(),
        ),
    ];
    if let Some(key) = &announcement.curve_public_key {
        txt.push(("key".to_owned(), key.clone()));
    }
    if let Some(port) = announcement.http_port {
        txt.push(("http".to_owned(), port.to_string()));
    }
    txt.push(("version".to_owned(), env!("CARGO_PKG_VERSION").to_owned()));
    txt
}

/// This machine's host name, for the instance and host names: uname(2), which the systemd
/// unit's ProcSubset=pid (no /proc/sys) leaves readable.
fn hostname() -> String {
    let name = rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .trim()
        .to_owned();
    if name.is_empty() {
        "campub".to_owned()
    } else {
        name
    }
}

/// A DNS label from a host name: letters, digits and '-' (mDNS host names are DNS labels).
fn host_label(name: &str) -> String {
    let label: String = name
        .split('.')
        .next()
        .unwrap_or("")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    if label.is_empty() {
        "campub".to_owned()
    } else {
        label
    }
}

/// Why announcing failed.
#[derive(Debug, thiserror::Error)]
#[error("mDNS announcement: {0}")]
pub struct AnnounceError(String);

/// A running announcement; dropping it says goodbye (a zero-TTL record) and stops the daemon.
pub struct Announcer {
    daemon: ServiceDaemon,
    fullname: String,
}

impl Announcer {
    /// Announces the stream bound at `bound_endpoint` (libzmq's last endpoint) as `bind` (the
    /// option as given) scopes it. `Ok(None)`: nothing to announce (logged, with the reason).
    pub fn start(
        bind: &str,
        bound_endpoint: &str,
        announcement: &Announcement,
    ) -> Result<Option<Self>, AnnounceError> {
        let scope = scope_of_bind(bind);
        if let Scope::Nothing(why) = &scope {
            log::info!("not announced on the LAN (mDNS): {why}");
            return Ok(None);
        }
        let port = port_of_endpoint(bound_endpoint).ok_or_else(|| {
            AnnounceError(format!(
                "no TCP port in the bound endpoint {bound_endpoint:?}"
            ))
        })?;
        let host = host_label(&hostname());
        let instance = format!("{host}-{}", announcement.stream);
        let daemon = ServiceDaemon::new()
            .map_err(|e| AnnounceError(format!("cannot start the mDNS responder: {e}")))?;
        // The daemon answers on loopback by default; campub's viewers are on the LAN.
        let interfaces = match &scope {
            Scope::All => None,
            Scope::Addr(ip) => Some(IfKind::Addr(*ip)),
            Scope::Interface(name) => Some(IfKind::Name(name.clone())),
            Scope::Nothing(_) => None,
        };
        let setup = daemon
            .disable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6])
            .and_then(|()| match interfaces {
                Some(kind) => daemon
                    .disable_interface(IfKind::All)
                    .and_then(|()| daemon.enable_interface(kind)),
                None => Ok(()),
            });
        if let Err(e) = setup {
            let _ = daemon.shutdown();
            return Err(AnnounceError(format!("cannot choose interfaces: {e}")));
        }
        let txt = txt_properties(announcement);
        let info = match &scope {
            Scope::Addr(ip) => ServiceInfo::new(
                SERVICE_TYPE,
                &instance,
                &format!("{host}.local."),
                *ip,
                port,
                &txt[..],
            ),
            _ => ServiceInfo::new(
                SERVICE_TYPE,
                &instance,
                &format!("{host}.local."),
                (),
                port,
                &txt[..],
            )
            .map(ServiceInfo::enable_addr_auto),
        }
        .map_err(|e| AnnounceError(format!("service record for {instance:?}: {e}")));
        let registered = info.and_then(|info| {
            let fullname = info.get_fullname().to_owned();
            daemon
                .register(info)
                .map(|()| fullname)
                .map_err(|e| AnnounceError(format!("cannot register {instance:?}: {e}")))
        });
        match registered {
            Ok(fullname) => {
                log::info!(
                    "announced on the LAN (mDNS) as {fullname:?}, port {port}{}",
                    match &scope {
                        Scope::Addr(ip) => format!(", address {ip}"),
                        Scope::Interface(name) => format!(", interface {name}"),
                        _ => String::new(),
                    }
                );
                Ok(Some(Self { daemon, fullname }))
            }
            Err(e) => {
                let _ = daemon.shutdown();
                Err(e)
            }
        }
    }
}

impl Drop for Announcer {
    fn drop(&mut self) {
        match self.daemon.unregister(&self.fullname) {
            Ok(done) => match done.recv_timeout(GOODBYE_WAIT) {
                Ok(_) => log::info!("mDNS goodbye sent for {:?}", self.fullname),
                Err(e) => log::warn!("mDNS goodbye for {:?} not confirmed: {e}", self.fullname),
            },
            Err(e) => log::warn!("mDNS goodbye for {:?}: {e}", self.fullname),
        }
        if let Ok(done) = self.daemon.shutdown() {
            let _ = done.recv_timeout(GOODBYE_WAIT);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_and_non_tcp_binds_announce_nothing() {
        for bind in [
            "tcp://127.0.0.1:5555",
            "tcp://127.0.0.2:0",
            "tcp://[::1]:5555",
            "tcp://localhost:5555",
            "ipc:///tmp/cam",
            "inproc://x",
        ] {
            assert!(matches!(scope_of_bind(bind), Scope::Nothing(_)), "{bind}");
        }
    }

    #[test]
    fn wildcard_address_and_interface_binds_are_announced() {
        assert_eq!(scope_of_bind("tcp://*:5555"), Scope::All);
        assert_eq!(scope_of_bind("tcp://0.0.0.0:5555"), Scope::All);
        assert_eq!(scope_of_bind("tcp://[::]:5555"), Scope::All);
        assert_eq!(
            scope_of_bind("tcp://10.1.2.3:5555"),
            Scope::Addr("10.1.2.3".parse().unwrap_or(IpAddr::from([0, 0, 0, 0])))
        );
        assert_eq!(
            scope_of_bind("tcp://eth0:5555"),
            Scope::Interface("eth0".into())
        );
    }

    #[test]
    fn ports_come_from_the_bound_endpoint() {
        assert_eq!(port_of_endpoint("tcp://0.0.0.0:41234"), Some(41234));
        assert_eq!(port_of_endpoint("tcp://[::]:5555"), Some(5555));
        assert_eq!(port_of_endpoint("ipc:///tmp/x"), None);
    }

    #[test]
    fn txt_carries_key_and_http_only_when_on() {
        let plain = txt_properties(&Announcement {
            stream: "door".into(),
            wire: "native",
            curve_public_key: None,
            http_port: None,
        });
        let keys: Vec<&str> = plain.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["txtvers", "stream", "wire", "curve", "version"]);
        assert!(plain.contains(&("curve".into(), "off".into())));
        let full = txt_properties(&Announcement {
            stream: "door".into(),
            wire: "base64",
            curve_public_key: Some("K".repeat(40)),
            http_port: Some(8080),
        });
        assert!(full.contains(&("curve".into(), "on".into())));
        assert!(full.contains(&("key".into(), "K".repeat(40))));
        assert!(full.contains(&("http".into(), "8080".into())));
        assert!(full.contains(&("wire".into(), "base64".into())));
    }

    #[test]
    fn host_labels_are_dns_labels() {
        assert_eq!(host_label("pi.lan"), "pi");
        assert_eq!(host_label("my_pi"), "my-pi");
        assert_eq!(host_label(""), "campub");
    }
}
