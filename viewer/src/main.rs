//! camview: shows campub's (or the tutorial's) ZeroMQ video stream. Arguments -> config -> run ->
//! exit code; the pipeline is receive -> decode -> render, driven by `app`.

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use argh::FromArgs;

use camview::config::{Args, Config};
use camview::{app, discover, security};

use camcli::exit;

fn main() -> ExitCode {
    let mut args = match parse_args() {
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
    let quit = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        if let Err(e) = signal_hook::flag::register(signal, Arc::clone(&quit)) {
            log::warn!("cannot handle signal {signal}: {e}");
        }
    }
    if args.discover || args.endpoints.is_empty() {
        // A bad option is reported at once, not after a browse that may wait for ever.
        if let Err(e) = Config::from_args(&args) {
            return fail(exit::USAGE, &e);
        }
        if let Err(code) = discover_endpoints(&mut args, &quit) {
            return code;
        }
        if args.discover || args.endpoints.is_empty() {
            return ExitCode::SUCCESS;
        }
    }
    let config = match Config::from_args(&args) {
        Ok(config) => config,
        Err(e) => return fail(exit::USAGE, &e),
    };

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

/// `--discover`: prints what answers and ends camview (`Err` carries the exit code; 3 when
/// nothing answered). No endpoint: waits until a campub answers, then shows every one found that
/// shares the first one's security in the grid (with the first's announced key, trust on first
/// use, when no --server-key is given) and names the rest.
fn discover_endpoints(args: &mut Args, quit: &AtomicBool) -> Result<(), ExitCode> {
    let seconds = args.discover_seconds;
    if !(0.1..=3600.0).contains(&seconds) {
        return Err(fail(
            exit::USAGE,
            &format_args!("bad --discover-seconds {seconds}: must be 0.1-3600"),
        ));
    }
    let round = std::time::Duration::from_secs_f64(seconds);
    if args.discover {
        let found = discover::browse(round, quit).map_err(|e| fail(exit::RUNTIME, &e))?;
        for publisher in &found {
            camcli::print_stdout(&publisher.line());
        }
        if found.is_empty() {
            eprintln!("camview: no campub answered on the LAN (mDNS) within {seconds} s");
            return Err(ExitCode::from(exit::NO_FRAME));
        }
        return Ok(());
    }
    let found = discover::wait_for_publishers(round, quit).map_err(|e| fail(exit::RUNTIME, &e))?;
    // Every publisher that shares the first one's security (all open, or the same announced
    // key: camview has one --server-key for all its endpoints) gets a tile of the grid; the
    // others are named, to be watched on their own.
    let Some(first) = found.first() else {
        return Ok(());
    };
    let same_security =
        |p: &discover::Found| p.curve == first.curve && (!first.curve || p.key == first.key);
    let (shown, others): (Vec<_>, Vec<_>) = found.iter().cloned().partition(same_security);
    for publisher in &shown {
        log::info!("found on the LAN: {}", publisher.line());
    }
    for other in &others {
        log::info!(
            "also found, with another key: {} (camview --server-key ... {} to watch it)",
            other.line(),
            other.endpoint
        );
    }
    if args.server_key.is_none() && first.curve {
        match &first.key {
            Some(key) => {
                log::warn!(
                    "{} encrypts with CURVE: trusting the key it announced ({key}) on first use; \
                     anyone on the LAN can announce a key, so check it against campub's log and \
                     pass --server-key from then on (docs/SECURITY.md)",
                    first.name
                );
                args.server_key = Some(format!("z85:{key}"));
            }
            None => log::warn!(
                "{} encrypts with CURVE but announced no usable key: give --server-key",
                first.name
            ),
        }
    }
    args.endpoints = discover::endpoints(&shown);
    Ok(())
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
