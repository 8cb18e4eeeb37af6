//! camview: shows campub's (or the tutorial's) ZeroMQ video stream. Arguments -> config -> run ->
//! exit code; the pipeline is receive -> decode -> render, driven by `app`.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use argh::FromArgs;

use camview::config::{Args, Config};
use camview::{app, security};

use camcli::exit;

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(code) => return code,
    };
    if args.version {
        camcli::print_stdout(&format!("camview {}", env!("CARGO_PKG_VERSION")));
        return ExitCode::SUCCESS;
    }
    match args
        .log_level
        .as_deref()
        .map(str::parse)
        .unwrap_or(Ok(camcli::LogLevel::default()))
    {
        Ok(level) => camcli::init_logging(&level),
        Err(e) => return fail(exit::USAGE, &e),
    }
    if let Some(stem) = &args.keygen {
        return match security::keygen(stem) {
            Ok(text) => {
                camcli::print_stdout(&text);
                ExitCode::SUCCESS
            }
            Err(e) => fail(exit::RUNTIME, &e),
        };
    }
    let config = match Config::from_args(&args) {
        Ok(config) => config,
        Err(e) => return fail(exit::USAGE, &e),
    };

    let quit = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&quit)) {
            log::warn!("cannot handle signal {signal}: {e}");
        }
    }

    match app::run(&config, &quit) {
        Ok(summaries) if config.headless => {
            // One line for a single stream; one per tile (each with its endpoint) for a grid.
            let mut silent = false;
            for summary in &summaries {
                match serde_json::to_string(summary) {
                    Ok(json) => camcli::print_stdout(&json),
                    Err(e) => return fail(exit::RUNTIME, &e),
                }
                if summary.frames_shown == 0 {
                    silent = true;
                    no_frame_message(summary);
                }
            }
            if silent {
                return ExitCode::from(exit::NO_FRAME);
            }
            ExitCode::SUCCESS
        }
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => fail(exit::RUNTIME, &e),
    }
}

/// Says on stderr that a stream showed no frame, and why when its connection knows.
fn no_frame_message(summary: &camview::stats::Summary) {
    let why = summary
        .connection
        .iter()
        .find(|s| s.state.is_failure())
        .map(|s| {
            format!(
                ": {}: {}",
                s.state.headline(),
                s.detail.as_deref().unwrap_or("")
            )
        })
        .unwrap_or_default();
    eprintln!(
        "camview: no frame arrived from {}{why}",
        summary.endpoints.join(", ")
    );
}

/// Parses the command line; help goes to stdout, a mistake is one line on stderr.
fn parse_args() -> Result<Args, ExitCode> {
    let strings: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let command = strings
        .first()
        .map_or("camview", |c| c.rsplit('/').next().unwrap_or(c));
    let rest: Vec<&str> = strings
        .iter()
        .skip(1)
        .map(|a| camcli::long_help_flag(a))
        .collect();
    Args::from_args(&[command], &rest).map_err(|early| match early.status {
        Ok(()) => {
            use std::io::Write as _;
            let _ = write!(std::io::stdout(), "{}", early.output);
            ExitCode::SUCCESS
        }
        Err(()) => {
            let first_line = early
                .output
                .lines()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("invalid arguments");
            camcli::print_error(
                "camview",
                &format_args!("error: {} (see camview --help)", first_line.trim()),
            );
            ExitCode::from(exit::USAGE)
        }
    })
}

fn fail(code: u8, e: &dyn std::fmt::Display) -> ExitCode {
    camcli::print_error("camview", &format_args!("error: {e}"));
    ExitCode::from(code)
}
