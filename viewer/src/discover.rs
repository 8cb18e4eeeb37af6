//! camview's side of mDNS/DNS-SD: browsing the LAN for campub's `_campub._tcp` announcements
//! (`--discover`, and `camview` with no endpoint), one line of text per publisher found.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use mdns_sd::{RecvTimeoutError, ResolvedService, ServiceDaemon, ServiceEvent};

/// The service type campub announces (publisher/src/announce.rs).
pub const SERVICE_TYPE: &str = "_campub._tcp.local.";

/// How often a browse checks the quit flag while it waits for answers.
const POLL: Duration = Duration::from_millis(100);

/// One publisher found on the LAN, from its SRV, A/AAAA and TXT records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The instance name (campub: HOST-STREAM).
    pub name: String,
    /// tcp://ADDRESS:PORT, ready for ZeroMQ.
    pub endpoint: String,
    pub stream: Option<String>,
    /// "native" or "base64" as announced.
    pub wire: Option<String>,
    pub curve: bool,
    /// The server's public key (Z85) when CURVE is on and the key is well formed.
    pub key: Option<String>,
    pub http_port: Option<u16>,
}

impl Found {
    /// The `--discover` line: tab-separated name, endpoint, stream, wire, curve, key.
    pub fn line(&self) -> String {
        format!(
            "{}\t{}\tstream={}\twire={}\tcurve={}\tkey={}",
            self.name,
            self.endpoint,
            self.stream.as_deref().unwrap_or("-"),
            self.wire.as_deref().unwrap_or("-"),
            if self.curve { "on" } else { "off" },
            self.key.as_deref().unwrap_or("-"),
        )
    }
}

/// Why browsing could not start.
#[derive(Debug, thiserror::Error)]
#[error("mDNS browse for {SERVICE_TYPE}: {0}")]
pub struct DiscoverError(String);

/// Reads one resolved announcement; `None` when it has no usable address. Every TXT value is
/// untrusted input: a bad stream name or key is dropped (logged), never used.
pub fn found_from(service: &ResolvedService) -> Option<Found> {
    let name = service
        .get_fullname()
        .strip_suffix(SERVICE_TYPE)
        .map(|n| n.trim_end_matches('.'))
        .unwrap_or(service.get_fullname())
        .to_owned();
    // IPv4 first (no scope id to carry), then global IPv6; sorted so that repeated browses pick
    // the same address.
    let mut addresses: Vec<IpAddr> = service
        .get_addresses()
        .iter()
        .map(|a| a.to_ip_addr())
        .filter(|ip| !ip.is_unspecified())
        .filter(|ip| match ip {
            IpAddr::V4(_) => true,
            IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) != 0xfe80,
        })
        .collect();
    addresses.sort_by_key(|ip| (ip.is_ipv6(), ip.is_loopback(), *ip));
    let address = addresses.first()?;
    let endpoint = match address {
        IpAddr::V4(v4) => format!("tcp://{v4}:{}", service.get_port()),
        IpAddr::V6(v6) => format!("tcp://[{v6}]:{}", service.get_port()),
    };
    let txt = |key: &str| service.get_property_val_str(key).map(str::to_owned);
    let stream = txt("stream").filter(|s| match camwire::StreamName::new(s) {
        Ok(_) => true,
        Err(e) => {
            log::warn!("{name}: announced stream {s:?} ignored: {e}");
            false
        }
    });
    let curve = txt("curve").as_deref() == Some("on");
    let key = txt("key").filter(|k| match camkeys::PublicKey::from_z85(k) {
        Ok(_) => true,
        Err(e) => {
            log::warn!("{name}: announced key ignored: {e}");
            false
        }
    });
    Some(Found {
        name,
        endpoint,
        stream,
        wire: txt("wire").filter(|w| w == "native" || w == "base64"),
        curve,
        key: if curve { key } else { None },
        http_port: txt("http").and_then(|p| p.parse().ok()),
    })
}

/// Browses for `duration` (or until `quit`) and returns what answered and was not withdrawn,
/// sorted by name.
pub fn browse(duration: Duration, quit: &AtomicBool) -> Result<Vec<Found>, DiscoverError> {
    let daemon = ServiceDaemon::new().map_err(|e| DiscoverError(e.to_string()))?;
    let events = match daemon.browse(SERVICE_TYPE) {
        Ok(events) => events,
        Err(e) => {
            let _ = daemon.shutdown();
            return Err(DiscoverError(e.to_string()));
        }
    };
    let deadline = Instant::now() + duration;
    let mut found: BTreeMap<String, Found> = BTreeMap::new();
    while !quit.load(Ordering::Relaxed) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match events.recv_timeout(left.min(POLL)) {
            Ok(ServiceEvent::ServiceResolved(service)) => {
                if let Some(publisher) = found_from(&service) {
                    log::debug!("found {}", publisher.line());
                    found.insert(service.get_fullname().to_owned(), publisher);
                }
            }
            Ok(ServiceEvent::ServiceRemoved(_, fullname)) => {
                log::debug!("gone: {fullname}");
                found.remove(&fullname);
            }
            Ok(_) => {}
            Err(RecvTimeoutError::Timeout) => {}
            Err(e @ RecvTimeoutError::Disconnected) => {
                let _ = daemon.shutdown();
                return Err(DiscoverError(format!("the mDNS daemon stopped: {e}")));
            }
        }
    }
    let _ = daemon.stop_browse(SERVICE_TYPE);
    let _ = daemon.shutdown();
    let mut list: Vec<Found> = found.into_values().collect();
    list.sort_by(|a, b| a.name.cmp(&b.name).then(a.endpoint.cmp(&b.endpoint)));
    Ok(list)
}

/// Browses in rounds of `round` until something answers (or `quit`): camview with no endpoint
/// says it is looking and never falls back to a fixed address. All publishers found are
/// returned, so that a grid can show them all.
pub fn wait_for_publishers(
    round: Duration,
    quit: &AtomicBool,
) -> Result<Vec<Found>, DiscoverError> {
    let mut said = false;
    while !quit.load(Ordering::Relaxed) {
        let found = browse(round, quit)?;
        if !found.is_empty() {
            return Ok(found);
        }
        if !said {
            log::warn!(
                "no endpoint given and no campub announced on the LAN (mDNS {SERVICE_TYPE}) yet: \
                 still looking (give an endpoint, e.g. camview pi.local, to skip this)"
            );
            said = true;
        }
    }
    Ok(Vec::new())
}

/// The endpoints of what was found, in the order found.
pub fn endpoints(found: &[Found]) -> Vec<String> {
    found.iter().map(|f| f.endpoint.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_tab_separated_with_dashes_for_missing_fields() {
        let found = Found {
            name: "pi-cam".into(),
            endpoint: "tcp://10.0.0.2:5555".into(),
            stream: Some("cam".into()),
            wire: None,
            curve: false,
            key: None,
            http_port: None,
        };
        assert_eq!(
            found.line(),
            "pi-cam\ttcp://10.0.0.2:5555\tstream=cam\twire=-\tcurve=off\tkey=-"
        );
    }
}
