//! campub: args -> config -> pipeline -> exit code.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use campub::config::{self, Args, Config, SourceKind};
use campub::publish::{self, Publisher};
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
            eprintln!("{}", early.output.trim_end());
            ExitCode::from(EXIT_USAGE)
        }
    })
}

/// Prints a line to stdout, quietly giving up if stdout is closed (`campub --help | head`).
fn print_stdout(text: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stdout(), "{text}");
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

    let source = pipeline::open_source(config)?;
    log::info!("source: {}", source.describe());
    let context = zmq::Context::new();
    let mut publisher =
        Publisher::bind(&context, &config.bind, config.wire, config.stream.clone())?;
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
    log::warn!(
        "the stream is not encrypted: anyone who can reach {} can watch it",
        config.bind
    );
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
