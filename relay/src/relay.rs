//! The relay's loop: messages from the publishers' sockets, checked and counted per stream, go
//! out unchanged on one [`PubSocket`] (campub's publishing socket: newest message per viewer
//! connection, little unsent data per connection). Viewers that subscribe to each stream on a
//! connection of its own get the newest frame per (viewer, stream); the directory message tells
//! them which streams there are.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use campub::http::{Feed, HttpError, HttpServer, PipelineTotals, SourceInfo};
use campub::publish::{PubSocket, PublishError, HANDSHAKE_IVL_MS};
use campub::security::{make_curve_server, SecurityError, ZapHandler};
use camwire::StreamName;

use crate::config::Config;

/// The directory goes out this often (and at once when the streams change): a viewer that
/// connects learns the streams within it.
const DIRECTORY_EVERY: Duration = Duration::from_secs(1);
/// A viewer that just connected gets the directory this many times, this far apart, before
/// the once-a-second rhythm (see `watch_viewers`).
const DIRECTORY_REPEATS_FOR_A_NEW_VIEWER: u32 = 4;
const DIRECTORY_REPEAT_EVERY: Duration = Duration::from_millis(100);
/// The loop wakes at least this often (stop flag, links, directory, idle).
const POLL_MS: i64 = 100;
/// Messages taken from one publisher socket before the others get a turn.
const BURST: usize = 64;
/// Messages queued per publisher connection in the relay: it drains them at once, so a few
/// are enough; more would only be older frames.
const UPSTREAM_RCVHWM: i32 = 4;
const HEARTBEAT_IVL_MS: i32 = 1000;
const HEARTBEAT_TIMEOUT_MS: i32 = 3000;
/// A publisher that went away is dialled again after 100 ms, backing off to 1 s: a restarted
/// publisher or relay is back within about a second.
const RECONNECT_IVL_MS: i32 = 100;
const RECONNECT_IVL_MAX_MS: i32 = 1000;

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("viewers' socket: {0}")]
    Viewers(#[from] PublishError),
    #[error("{0}")]
    Security(#[from] SecurityError),
    #[error("publishers' socket ({what}): {source}")]
    Upstream { what: String, source: zmq::Error },
    #[error("{0}")]
    Http(#[from] HttpError),
    #[error("cannot register for signal {signal}: {source}")]
    Signal { signal: i32, source: std::io::Error },
}

/// One socket the relay takes streams from.
struct Upstream {
    socket: zmq::Socket,
    /// The publisher's endpoint when the relay dials it (--from): while idle the relay hangs
    /// up, so that the publisher sees no subscriber and idles too (campub stops encoding).
    dialled: Option<String>,
    /// The endpoint it listens on (--listen, the port filled in): while idle the relay stops
    /// listening, which also closes the connections accepted there, so the campubs that
    /// dialled in see no subscriber and idle too; they dial again (within a second) once the
    /// relay listens again.
    listening: Option<String>,
    /// For the log: the endpoint dialled or listened on.
    label: String,
    subscribed: bool,
}

/// What the relay has seen of one stream.
#[derive(Debug, Default)]
struct StreamStats {
    last_seen: Option<Instant>,
    /// Frames and bytes in this stats window.
    frames: u64,
    bytes: u64,
    total_frames: u64,
}

/// Counters of one stats window.
#[derive(Debug, Default)]
struct Window {
    forwarded: u64,
    forwarded_bytes: u64,
    bad: u64,
    reserved: u64,
    not_forwarded_idle: u64,
}

/// One stream served over HTTP (--http-stream): campub's server, fed by the relay.
struct HttpStream {
    feed: Arc<Feed>,
    server: HttpServer,
}

pub struct Relay {
    viewers: PubSocket,
    http: BTreeMap<String, HttpStream>,
    upstream: Vec<Upstream>,
    streams: BTreeMap<String, StreamStats>,
    config: Config,
    directory: Vec<u8>,
    directory_due: Instant,
    directory_changed: bool,
    window: Window,
    stats_due: Instant,
    idle: bool,
    idle_since: Option<Instant>,
    /// Directories still to send at [`DIRECTORY_REPEAT_EVERY`] for a viewer that just came.
    directory_repeats: u32,
    /// Viewer connections at the last look (None: links not visible).
    viewers_seen: Option<usize>,
    bad_logged: Option<Instant>,
    /// Keep the ZAP handlers and contexts alive as long as the sockets.
    _zap: Vec<ZapHandler>,
    _contexts: (zmq::Context, zmq::Context),
}

impl Relay {
    /// Binds the viewers' socket and the publishers' sockets. The `reload` flags (SIGHUP) make
    /// the viewers' and the publishers' allow-lists be read again.
    pub fn start(config: Config, reload: &Reload) -> Result<Self, RelayError> {
        // Two contexts: each has its own ZAP handler, one for the viewers' allow-list, one for
        // the publishers'. Messages cross between them through this thread.
        let viewer_context = zmq::Context::new();
        let publisher_context = zmq::Context::new();
        let mut zap = Vec::new();
        if let Some(allow) = &config.viewers.allow {
            zap.push(ZapHandler::start(
                &viewer_context,
                allow.clone(),
                Arc::clone(&reload.viewers),
                "viewer",
            )?);
        }
        if let Some(allow) = &config.publishers_allow {
            zap.push(ZapHandler::start(
                &publisher_context,
                allow.clone(),
                Arc::clone(&reload.publishers),
                "publisher",
            )?);
        }
        let viewers =
            PubSocket::bind(&viewer_context, &config.bind, config.viewers.curve.as_ref())?;
        let mut upstream = Vec::new();
        for from in &config.from {
            let socket = upstream_socket(&publisher_context, &from.endpoint)?;
            if let (Some(server), Some(pair)) = (&from.server_key, &config.viewers.curve) {
                socket
                    .set_curve_serverkey(server.as_bytes())
                    .and_then(|()| socket.set_curve_publickey(pair.public.as_bytes()))
                    .and_then(|()| socket.set_curve_secretkey(pair.secret.as_bytes()))
                    .map_err(|source| RelayError::Upstream {
                        what: from.endpoint.clone(),
                        source,
                    })?;
            }
            // Subscribed once for good: idling hangs up and dials again (subscribe_all).
            socket
                .set_subscribe(b"")
                .and_then(|()| socket.connect(&from.endpoint))
                .map_err(|source| RelayError::Upstream {
                    what: format!("connect to {}", from.endpoint),
                    source,
                })?;
            log::info!(
                "taking streams from {} ({})",
                from.endpoint,
                if from.server_key.is_some() {
                    "CURVE"
                } else {
                    "not encrypted"
                }
            );
            upstream.push(Upstream {
                socket,
                dialled: Some(from.endpoint.clone()),
                listening: None,
                label: from.endpoint.clone(),
                subscribed: true,
            });
        }
        if let Some(listen) = &config.listen {
            let socket = upstream_socket(&publisher_context, listen)?;
            if let Some(pair) = &config.viewers.curve {
                make_curve_server(&socket, pair).map_err(|source| RelayError::Upstream {
                    what: listen.clone(),
                    source,
                })?;
            }
            socket.bind(listen).map_err(|source| RelayError::Upstream {
                what: format!("bind {listen}"),
                source,
            })?;
            let bound = socket
                .get_last_endpoint()
                .ok()
                .and_then(Result::ok)
                .unwrap_or_else(|| listen.clone());
            match (&config.viewers.curve, &config.publishers_allow) {
                (None, _) => log::warn!(
                    "accepting publishers on {bound} without encryption: anyone who can reach \
                     it can publish a stream here (--curve-secret-key and --publishers-allow)"
                ),
                (Some(_), None) => log::warn!(
                    "accepting publishers on {bound}: any publisher with the relay's public \
                     key may publish (--publishers-allow lists the ones that may)"
                ),
                (Some(_), Some(allow)) => log::info!(
                    "accepting publishers on {bound}: CURVE, {} allowed keys from {}",
                    allow.keys.len(),
                    allow.path.display()
                ),
            }
            // Subscribed once for good: idling stops listening (subscribe_all).
            socket
                .set_subscribe(b"")
                .map_err(|source| RelayError::Upstream {
                    what: bound.clone(),
                    source,
                })?;
            upstream.push(Upstream {
                socket,
                dialled: None,
                listening: Some(bound.clone()),
                label: bound,
                subscribed: true,
            });
        }
        match (&config.viewers.curve, &config.viewers.allow) {
            (None, _) => log::warn!(
                "viewers on {} are not encrypted (--curve-secret-key and --allow)",
                viewers.endpoint()
            ),
            (Some(pair), None) => log::warn!(
                "viewers on {}: CURVE (public key {}); no --allow: any viewer that has the \
                 relay's public key may watch",
                viewers.endpoint(),
                pair.public.to_z85()
            ),
            (Some(pair), Some(allow)) => log::info!(
                "viewers on {}: CURVE (public key {}), {} allowed keys from {}",
                viewers.endpoint(),
                pair.public.to_z85(),
                allow.keys.len(),
                allow.path.display()
            ),
        }
        let mut http = BTreeMap::new();
        for (name, http_config) in &config.http {
            let feed = Arc::new(Feed::new());
            let server = HttpServer::start(
                http_config,
                Arc::clone(&feed),
                SourceInfo {
                    description: format!("camrelay: stream {name} as the relay receives it"),
                    stream: name.as_str().to_owned(),
                    // Not known to a relay: it passes the JPEGs on as they come.
                    quality: 0,
                },
            )?;
            campub::http::log_start(http_config, server.addr());
            http.insert(name.as_str().to_owned(), HttpStream { feed, server });
        }
        let now = Instant::now();
        let mut relay = Self {
            viewers,
            http,
            upstream,
            streams: BTreeMap::new(),
            directory: Vec::new(),
            directory_due: now,
            directory_changed: false,
            window: Window::default(),
            stats_due: now + config.stats_interval,
            idle: false,
            idle_since: None,
            viewers_seen: None,
            directory_repeats: 0,
            bad_logged: None,
            config,
            _zap: zap,
            _contexts: (viewer_context, publisher_context),
        };
        // Subscribed from the start: the first viewer should not wait for the publishers.
        relay.subscribe_all(true);
        Ok(relay)
    }

    /// Where viewers connect (with the port filled in).
    pub fn viewers_endpoint(&self) -> String {
        self.viewers.endpoint()
    }

    /// Where each --http-stream is served (ports filled in).
    pub fn http_addrs(&self) -> Vec<(String, std::net::SocketAddr)> {
        self.http
            .iter()
            .map(|(name, h)| (name.clone(), h.server.addr()))
            .collect()
    }

    /// Relays until `stop` is set.
    pub fn run(&mut self, stop: &AtomicBool) -> Result<(), RelayError> {
        let mut notifier = Notifier::from_env();
        notifier.ready(&format!("relaying to {}", self.viewers.endpoint()));
        let mut message = zmq::Message::new();
        while !stop.load(Ordering::Relaxed) {
            notifier.alive();
            let mut items: Vec<zmq::PollItem<'_>> = self
                .upstream
                .iter()
                .map(|u| u.socket.as_poll_item(zmq::POLLIN))
                .collect();
            match zmq::poll(&mut items, POLL_MS) {
                Ok(_) | Err(zmq::Error::EINTR) => {}
                Err(e) => {
                    return Err(RelayError::Upstream {
                        what: "poll".into(),
                        source: e,
                    })
                }
            }
            let readable: Vec<bool> = items.iter().map(zmq::PollItem::is_readable).collect();
            drop(items);
            for (i, ready) in readable.into_iter().enumerate() {
                if ready {
                    self.drain(i, &mut message)?;
                }
            }
            let now = Instant::now();
            self.watch_viewers(now);
            self.expire_streams(now);
            self.send_directory(now)?;
            self.maybe_log_stats(now);
        }
        notifier.stopping();
        self.log_stats(Instant::now());
        Ok(())
    }

    /// Takes up to [`BURST`] messages from one publisher socket.
    fn drain(&mut self, index: usize, message: &mut zmq::Message) -> Result<(), RelayError> {
        for _ in 0..BURST {
            let socket = &self.upstream[index].socket;
            match socket.recv(message, zmq::DONTWAIT) {
                Ok(()) => {}
                Err(zmq::Error::EAGAIN | zmq::Error::EINTR) => return Ok(()),
                Err(source) => {
                    return Err(RelayError::Upstream {
                        what: format!("receive from {}", self.upstream[index].label),
                        source,
                    })
                }
            }
            if message.get_more() {
                // No sender of this format makes multipart messages: drop every part.
                let mut dropped = 1;
                while socket.get_rcvmore().unwrap_or(false)
                    && socket.recv(message, zmq::DONTWAIT).is_ok()
                {
                    dropped += 1;
                }
                self.bad(index, &format!("a multipart message ({dropped} parts)"));
                continue;
            }
            self.relay_one(index, message)?;
        }
        Ok(())
    }

    fn relay_one(&mut self, index: usize, msg: &[u8]) -> Result<(), RelayError> {
        let (stream, header, jpeg) = match camwire::parse_native(msg) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.bad(index, &format!("not a native campub frame ({e})"));
                return Ok(());
            }
        };
        if camwire::is_reserved_stream_name(stream) {
            self.window.reserved += 1;
            self.bad(
                index,
                &format!("a frame under the reserved name {stream:?}"),
            );
            return Ok(());
        }
        let now = Instant::now();
        let stats = match self.streams.get_mut(stream) {
            Some(stats) => stats,
            None => {
                if self.streams.len() >= camwire::MAX_DIRECTORY_STREAMS {
                    self.bad(index, "a stream beyond the most a relay carries");
                    return Ok(());
                }
                log::info!(
                    "stream {stream:?} appeared (from {})",
                    self.upstream[index].label
                );
                self.directory_changed = true;
                self.streams.entry(stream.to_owned()).or_default()
            }
        };
        stats.last_seen = Some(now);
        stats.frames += 1;
        stats.total_frames += 1;
        stats.bytes += msg.len() as u64;
        if let Some(http) = self.http.get(stream) {
            let age_ns = camwire::unix_time_ns().saturating_sub(header.capture_unix_ns);
            http.feed.frame(
                jpeg,
                u32::from(header.width_px),
                u32::from(header.height_px),
                header.capture_unix_ns,
                Duration::from_nanos(age_ns),
            );
        }
        if self.idle {
            self.window.not_forwarded_idle += 1;
            return Ok(());
        }
        self.viewers.send(msg)?;
        self.window.forwarded += 1;
        self.window.forwarded_bytes += msg.len() as u64;
        Ok(())
    }

    /// Counts a refused message; logs once per burst of them (at most every 10 s).
    fn bad(&mut self, index: usize, what: &str) {
        self.window.bad += 1;
        let now = Instant::now();
        if self
            .bad_logged
            .is_none_or(|t| now.duration_since(t) >= Duration::from_secs(10))
        {
            self.bad_logged = Some(now);
            log::warn!(
                "refused {what} from {} (further ones counted in the stats line)",
                self.upstream[index].label
            );
        }
    }

    /// Idles when no viewer is connected: unsubscribes from the publishers, so nothing crosses
    /// their links; subscribes again as soon as one is.
    fn watch_viewers(&mut self, now: Instant) {
        self.viewers.refresh_links();
        let viewers = self.viewers.subscribers_now();
        // A viewer that just connected learns the streams at once, not within a second.
        // Sent a few times: the link is seen before the viewer's subscription has reached the
        // socket, and a message sent before that does not reach the viewer.
        if viewers.unwrap_or(0) > self.viewers_seen.unwrap_or(0) {
            self.directory_repeats = DIRECTORY_REPEATS_FOR_A_NEW_VIEWER;
            self.directory_due = now;
        }
        self.viewers_seen = viewers;
        // Sampled whether the relay may idle or not (--no-idle).
        for (name, http) in &self.http {
            let captured = self.streams.get(name).map_or(0, |s| s.total_frames);
            http.feed.maybe_sample(|| PipelineTotals {
                captured,
                dropped_encoder_busy: 0,
                dropped_source: 0,
                zmq_subscribers: viewers,
                idle: self.idle,
            });
        }
        if !self.config.idle {
            return;
        }
        // None: the links cannot be seen; never idle blind. HTTP clients waiting for a frame
        // are viewers too.
        let http_watchers: usize = self.http.values().map(|h| h.feed.watchers()).sum();
        let nobody = viewers == Some(0) && http_watchers == 0;
        if nobody && !self.idle {
            self.idle = true;
            self.idle_since = Some(now);
            self.subscribe_all(false);
            log::info!(
                "idle: no viewer connected; not taking the publishers' streams (hung up on \
                 the ones it dials, not listening for the ones that dial in)"
            );
        } else if !nobody && self.idle {
            self.idle = false;
            self.subscribe_all(true);
            let idle_for = self
                .idle_since
                .map_or(0.0, |t| now.duration_since(t).as_secs_f64());
            log::info!(
                "resumed after {idle_for:.1} s idle: {}",
                if http_watchers > 0 && viewers.unwrap_or(0) == 0 {
                    "an HTTP client is waiting for a frame"
                } else {
                    "a viewer connected"
                }
            );
        }
    }

    /// Takes the publishers' streams again (`on`) or stops taking them: the publishers the relay
    /// dials are hung up on and dialled again, and the listening endpoint is closed and opened
    /// again (which hangs up on the publishers that dialled in). Either way campub sees no
    /// subscriber in between and idles: it stops encoding.
    fn subscribe_all(&mut self, on: bool) {
        for upstream in &mut self.upstream {
            if upstream.subscribed == on {
                continue;
            }
            let result = match (&upstream.dialled, &upstream.listening, on) {
                (Some(endpoint), _, true) => upstream.socket.connect(endpoint),
                (Some(endpoint), _, false) => upstream.socket.disconnect(endpoint),
                (None, Some(endpoint), true) => upstream.socket.bind(endpoint),
                (None, Some(endpoint), false) => upstream.socket.unbind(endpoint),
                (None, None, true) => upstream.socket.set_subscribe(b""),
                (None, None, false) => upstream.socket.set_unsubscribe(b""),
            };
            match result {
                Ok(()) => upstream.subscribed = on,
                Err(e) => log::error!(
                    "cannot {} {}: {e}",
                    if on {
                        "take the streams of"
                    } else {
                        "let go of"
                    },
                    upstream.label
                ),
            }
        }
    }

    /// Streams silent for --stream-timeout leave the directory (not while idle: then nothing
    /// is sent on purpose).
    fn expire_streams(&mut self, now: Instant) {
        if self.idle {
            return;
        }
        let timeout = self.config.stream_timeout;
        let before = self.streams.len();
        self.streams.retain(|name, stats| {
            let alive = stats
                .last_seen
                .is_some_and(|t| now.duration_since(t) < timeout);
            if !alive {
                log::info!(
                    "stream {name:?} gone: nothing for {:.0} s",
                    timeout.as_secs_f64()
                );
            }
            alive
        });
        self.directory_changed |= self.streams.len() != before;
    }

    fn send_directory(&mut self, now: Instant) -> Result<(), RelayError> {
        if self.idle || (now < self.directory_due && !self.directory_changed) {
            return Ok(());
        }
        self.directory_repeats = self.directory_repeats.saturating_sub(1);
        self.directory_due = now
            + if self.directory_repeats > 0 {
                DIRECTORY_REPEAT_EVERY
            } else {
                DIRECTORY_EVERY
            };
        self.directory_changed = false;
        let names: Vec<StreamName> = self
            .streams
            .keys()
            .filter_map(|n| StreamName::new(n).ok())
            .collect();
        camwire::encode_directory(&names, &mut self.directory);
        self.viewers.send(&self.directory)?;
        Ok(())
    }

    fn maybe_log_stats(&mut self, now: Instant) {
        if self.config.stats_interval.is_zero() || now < self.stats_due {
            return;
        }
        self.log_stats(now);
    }

    fn log_stats(&mut self, now: Instant) {
        let window = self.config.stats_interval.as_secs_f64().max(0.001);
        self.stats_due = now + self.config.stats_interval;
        let streams: Vec<String> = self
            .streams
            .iter_mut()
            .map(|(name, s)| {
                let line = format!(
                    "{name} {:.1} fps {:.0} kB/s",
                    s.frames as f64 / window,
                    s.bytes as f64 / window / 1000.0
                );
                s.frames = 0;
                s.bytes = 0;
                line
            })
            .collect();
        let links = self.viewers.take_link_summary();
        let viewers = match links {
            Some(l) if l.saturated > 0 => format!(
                "{} viewer connections ({} on links slower than their streams)",
                l.subscribers, l.saturated
            ),
            Some(l) => format!("{} viewer connections", l.subscribers),
            None => "viewer connections not visible".to_owned(),
        };
        let w = std::mem::take(&mut self.window);
        let mut line = format!(
            "{} streams [{}]; {viewers}; forwarded {} messages ({:.1} MB)",
            self.streams.len(),
            streams.join(", "),
            w.forwarded,
            w.forwarded_bytes as f64 / 1e6
        );
        if w.bad > 0 {
            line.push_str(&format!(", refused {}", w.bad));
        }
        if self.idle {
            line.push_str(", idle (no viewer)");
        }
        log::info!("{line}");
    }
}

/// A SUB socket toward publishers, with the limits campub's viewers use.
fn upstream_socket(context: &zmq::Context, what: &str) -> Result<zmq::Socket, RelayError> {
    let err = |source| RelayError::Upstream {
        what: what.to_owned(),
        source,
    };
    let socket = context.socket(zmq::SUB).map_err(err)?;
    socket.set_rcvhwm(UPSTREAM_RCVHWM).map_err(err)?;
    socket
        .set_maxmsgsize(camwire::MAX_MESSAGE_BYTES as i64)
        .map_err(err)?;
    socket.set_linger(0).map_err(err)?;
    socket.set_heartbeat_ivl(HEARTBEAT_IVL_MS).map_err(err)?;
    socket
        .set_heartbeat_timeout(HEARTBEAT_TIMEOUT_MS)
        .map_err(err)?;
    socket
        .set_heartbeat_ttl(HEARTBEAT_TIMEOUT_MS)
        .map_err(err)?;
    socket.set_handshake_ivl(HANDSHAKE_IVL_MS).map_err(err)?;
    socket.set_tcp_keepalive(1).map_err(err)?;
    socket.set_reconnect_ivl(RECONNECT_IVL_MS).map_err(err)?;
    socket
        .set_reconnect_ivl_max(RECONNECT_IVL_MAX_MS)
        .map_err(err)?;
    Ok(socket)
}

/// systemd's notify protocol: READY once bound, watchdog pings while the loop turns.
struct Notifier {
    ping_every: Option<Duration>,
    last_ping: Option<Instant>,
}

impl Notifier {
    fn from_env() -> Self {
        Self {
            ping_every: sd_notify::watchdog_enabled().map(|d| d / 2),
            last_ping: None,
        }
    }

    fn ready(&self, status: &str) {
        notify(&[
            sd_notify::NotifyState::Ready,
            sd_notify::NotifyState::Status(status),
        ]);
    }

    fn alive(&mut self) {
        if let Some(every) = self.ping_every {
            if self.last_ping.is_none_or(|t| t.elapsed() >= every) {
                self.last_ping = Some(Instant::now());
                notify(&[sd_notify::NotifyState::Watchdog]);
            }
        }
    }

    fn stopping(&self) {
        notify(&[sd_notify::NotifyState::Stopping]);
    }
}

fn notify(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(e) = sd_notify::notify(states) {
        log::debug!("sd_notify: {e}");
    }
}

/// SIGHUP's flags: one per allow-list, each cleared by the handler that reloads it.
pub struct Reload {
    pub viewers: Arc<AtomicBool>,
    pub publishers: Arc<AtomicBool>,
}

/// Registers SIGINT/SIGTERM (stop) and SIGHUP (reload the allow-lists).
pub fn signals() -> Result<(Arc<AtomicBool>, Reload), RelayError> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|source| RelayError::Signal { signal, source })?;
    }
    let reload = Reload {
        viewers: Arc::new(AtomicBool::new(false)),
        publishers: Arc::new(AtomicBool::new(false)),
    };
    for flag in [&reload.viewers, &reload.publishers] {
        signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(flag)).map_err(
            |source| RelayError::Signal {
                signal: signal_hook::consts::SIGHUP,
                source,
            },
        )?;
    }
    Ok((stop, reload))
}
