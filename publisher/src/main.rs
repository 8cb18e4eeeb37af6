//! campub: args -> config -> pipeline -> exit code.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use campub::config::{self, Args, Command, Config, SourceKind};
use campub::publish::{self, Publisher};
use campub::security::ZapHandler;
use campub::{capture, pipeline, service};

const EXIT_RUNTIME: u8 = 1;
const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli: Vec<String> = std::env::args().collect();
    let args = match config::merge_config_file(&cli) {
        Ok(merged) => parse_args(&merged),
        Err(message) => {
            eprintln!("campub: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let args = match args {
        Ok(args) => args,
        Err(code) => return code,
    };
    if args.version {
        print_stdout(&format!("campub {}", env!("CARGO_PKG_VERSION")));
        return ExitCode::SUCCESS;
    }
    if let Some(Command::Keygen(keygen)) = &args.command {
        return write_keys(&keygen.stem);
    }
    init_logging(&args.log_level);
    if let Some(path) = &args.config {
        log::info!("options from {} (command-line options win)", path.display());
    }
    let config = match Config::from_args(&args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("campub: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if args.list_formats {
        return match capture::v4l2::list_formats(&config.camera.device, &mut std::io::stdout()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                log::error!("{e}");
                ExitCode::from(EXIT_RUNTIME)
            }
        };
    }
    match run(&config) {
        Ok(()) => {
            log::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log::error!("{e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// argh's parse, with --help printed to stdout (exit 0) and errors to stderr (exit 2).
fn parse_args(argv: &[String]) -> Result<Args, ExitCode> {
    let strs: Vec<&str> = argv.iter().map(String::as_str).collect();
    let rest = strs.get(1..).unwrap_or_default();
    use argh::FromArgs as _;
    Args::from_args(&["campub"], rest).map_err(|early| match early.status {
        Ok(()) => {
            print_stdout(&early.output);
            ExitCode::SUCCESS
        }
        Err(()) => {
            // argh may spread one error over lines ("...not provided:\n    stem"): keep one.
            let words: Vec<&str> = early.output.split_whitespace().collect();
            eprintln!("campub: {}", words.join(" "));
            ExitCode::from(EXIT_USAGE)
        }
    })
}

/// Prints a line to stdout, quietly giving up if stdout is closed (`campub --help | head`).
fn print_stdout(text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout(), "{text}");
}

/// `campub keygen STEM`: a new key pair in STEM.key and STEM.key_secret.
fn write_keys(stem: &std::path::Path) -> ExitCode {
    match camkeys::write_key_pair(stem, "campub keygen") {
        Ok((pair, paths)) => {
            print_stdout(&format!(
                "wrote {} (secret key, mode 0600: keep it private)\n\
                 wrote {} (public key: give it to viewers, or add it to an allow-list)\n\
                 public key: {}",
                paths.secret.display(),
                paths.public.display(),
                pair.public
            ));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("campub: keygen: {e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

fn init_logging(level: &str) {
    let env = env_logger::Env::default().default_filter_or(level);
    env_logger::Builder::from_env(env)
        .format_target(false)
        .init();
}

fn run(config: &Config) -> Result<(), pipeline::RunError> {
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(&stop))
            .map_err(pipeline::RunError::Thread)?;
    }
    // Registered with or without an allow-list: SIGHUP must never end campub.
    let reload = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&reload))
        .map_err(pipeline::RunError::Thread)?;

    match campub::shed::raise_descriptor_limit() {
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
        Some(allow) => Some(ZapHandler::start(&context, allow.clone(), reload)?),
        None => None,
    };
    let mut publisher = Publisher::bind(
        &context,
        &config.bind,
        config.wire,
        config.stream.clone(),
        config.security.curve.as_ref(),
    )?;
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
    if config.source == SourceKind::Pattern {
        log::info!("no camera: streaming the built-in test pattern");
    }

    let mut notifier = service::ServiceNotifier::from_env();
    let endpoint = publisher.endpoint();
    let mut on_published = |count: u64| {
        if count == 1 {
            log::info!("first frame published");
        }
        notifier.frame_published(|| format!("streaming on {endpoint}"));
    };
    let result = pipeline::run(config, source, &mut publisher, &stop, &mut on_published);
    notifier.stopping();
    result
}

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
