//! campub's wiring: signals, the source, the ZAP handler, the PUB socket and systemd, then the
//! pipeline until a signal or an error. `main.rs` turns the result into an exit code.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::config::{Config, SourceKind};
use crate::publish::{self, Publisher};
use crate::security::ZapHandler;
use crate::{announce, http, pipeline, service};

/// Streams until SIGINT/SIGTERM (Ok) or a runtime error.
pub fn run(config: &Config) -> Result<(), pipeline::RunError> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(|source| pipeline::RunError::Signal { signal, source })?;
    }
    // Registered with or without an allow-list: SIGHUP must never end campub.
    let reload = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&reload)).map_err(
        |source| pipeline::RunError::Signal {
            signal: signal_hook::consts::SIGHUP,
            source,
        },
    )?;

    match crate::shed::raise_descriptor_limit() {
        Ok(Some((old, new))) => {
            log::info!("file-descriptor limit raised from {old} to {new} (the hard limit)");
        }
        Ok(None) => {}
        Err(e) => log::warn!("cannot raise the file-descriptor limit: {e}"),
    }
    let source = pipeline::open_source(config)?;
    log::info!("source: {}", source.describe());
    let context = zmq::Context::new();
    // The ZAP handler is bound before the PUB socket, so no viewer is ever let in unchecked.
    let _zap = match &config.security.allow {
        Some(allow) => Some(ZapHandler::start(
            &context,
            allow.clone(),
            reload,
            "viewer",
        )?),
        None => None,
    };
    let mut publisher = Publisher::bind(
        &context,
        &config.bind,
        config.wire,
        config.stream.clone(),
        config.security.curve.as_ref(),
    )?;
    for endpoint in &config.connect {
        let curve = match (&config.connect_server_key, &config.security.curve) {
            (Some(server), Some(pair)) => Some((pair, server)),
            _ => None,
        };
        publisher.connect(&context, endpoint, curve)?;
        log::info!(
            "dialling out to {endpoint} ({}); reconnecting by itself whenever it goes away",
            if curve.is_some() {
                "encrypted, CURVE"
            } else {
                "not encrypted: --connect-server-key encrypts it"
            }
        );
    }
    log::info!(
        "publishing {} JPEGs, {} px wide, quality {}, on {} (stream {:?})",
        match config.wire {
            publish::WireMode::Native => "native",
            publish::WireMode::Base64 => "base64 (tutorial-compatible)",
        },
        config.width_px,
        config.quality,
        publisher.endpoint(),
        config.stream.as_str(),
    );
    log_security(config);
    let feed = config.http.as_ref().map(|_| Arc::new(http::Feed::new()));
    let _http = match (&config.http, &feed) {
        (Some(http_config), Some(feed)) => {
            let server = http::HttpServer::start(
                http_config,
                Arc::clone(feed),
                http::SourceInfo {
                    description: source.describe(),
                    stream: config.stream.as_str().to_owned(),
                    quality: config.quality,
                },
            )?;
            http::log_start(http_config, server.addr());
            Some(server)
        }
        _ => None,
    };
    // Dropped when run() returns, after the pipeline stopped: the goodbye goes out then.
    let _announcer = if config.announce {
        start_announcer(
            config,
            &publisher.endpoint(),
            _http.as_ref().map(|s| s.addr().port()),
        )
    } else {
        log::info!("not announced on the LAN (mDNS): --no-announce");
        None
    };
    if config.source == SourceKind::Pattern {
        log::info!("no camera: streaming the built-in test pattern");
    }

    let mut notifier = service::ServiceNotifier::from_env();
    let endpoint = publisher.endpoint();
    let mut on_frame = |event: pipeline::FrameEvent| match event {
        pipeline::FrameEvent::Published(count) => {
            if count == 1 {
                log::info!("first frame published");
            }
            notifier.frame_published(|| format!("streaming on {endpoint}"));
        }
        // Capture still flows: the watchdog keeps being fed while nobody watches.
        pipeline::FrameEvent::Idle => notifier.alive(),
    };
    let result = pipeline::run(
        config,
        source,
        &mut publisher,
        &stop,
        &mut on_frame,
        feed.as_deref(),
    );
    notifier.stopping();
    result
}

/// Announces the stream on the LAN; a failure is logged, not fatal: the stream works without it.
fn start_announcer(
    config: &Config,
    bound_endpoint: &str,
    http_port: Option<u16>,
) -> Option<announce::Announcer> {
    let announcement = announce::Announcement {
        stream: config.stream.as_str().to_owned(),
        wire: match config.wire {
            publish::WireMode::Native => "native",
            publish::WireMode::Base64 => "base64",
        },
        curve_public_key: config
            .security
            .curve
            .as_ref()
            .map(|pair| pair.public.to_string()),
        http_port,
    };
    match announce::Announcer::start(&config.bind, bound_endpoint, &announcement) {
        Ok(announcer) => announcer,
        Err(e) => {
            log::warn!("{e}; viewers must be given the endpoint");
            None
        }
    }
}

/// Says at start where HTTP clients watch, and who may.
/// Says at start who can watch.
fn log_security(config: &Config) {
    let Some(pair) = &config.security.curve else {
        log::warn!(
            "the stream is not encrypted: anyone who can reach {} can watch it \
             (--curve-secret-key and --allow turn on encryption and viewer keys)",
            config.bind
        );
        return;
    };
    log::info!(
        "CURVE encryption on; server public key {} (viewers: camview --server-key)",
        pair.public
    );
    match &config.security.allow {
        Some(allow) => log::info!(
            "admitting only the {} viewer keys in {} (SIGHUP reloads it)",
            allow.keys.len(),
            allow.path.display()
        ),
        None => log::warn!("no --allow: any viewer that has the server's public key may watch"),
    }
}
