//! camrelay: args -> config -> relay -> exit code.

use std::process::ExitCode;

use camcli::exit::{RUNTIME as EXIT_RUNTIME, USAGE as EXIT_USAGE};
use camrelay::config::{Args, Config};
use camrelay::relay::{self, Relay};

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().collect();
    // The config file's options go in front of the command line's (campub's format and rules).
    let argv = match campub::config::merge_config_file(&argv) {
        Ok(argv) => argv,
        Err(message) => {
            camcli::print_error("camrelay", &message);
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let rest: Vec<&str> = argv
        .get(1..)
        .unwrap_or_default()
        .iter()
        .map(|a| camcli::long_help_flag(a))
        .collect();
    use argh::FromArgs as _;
    let args = match Args::from_args(&["camrelay"], &rest) {
        Ok(args) => args,
        Err(early) => {
            return match early.status {
                Ok(()) => {
                    camcli::print_stdout(&early.output);
                    ExitCode::SUCCESS
                }
                Err(()) => {
                    let words: Vec<&str> = early.output.split_whitespace().collect();
                    camcli::print_error("camrelay", &words.join(" "));
                    ExitCode::from(EXIT_USAGE)
                }
            }
        }
    };
    if args.version {
        camcli::print_stdout(&format!("camrelay {}", env!("CARGO_PKG_VERSION")));
        return ExitCode::SUCCESS;
    }
    let level = match args.log_level.parse::<camcli::LogLevel>() {
        Ok(level) => level,
        Err(e) => {
            camcli::print_error("camrelay", &e);
            return ExitCode::from(EXIT_USAGE);
        }
    };
    camcli::init_logging(&level);
    let config = match Config::from_args(&args) {
        Ok(config) => config,
        Err(message) => {
            camcli::print_error("camrelay", &message);
            return ExitCode::from(EXIT_USAGE);
        }
    };
    let result = relay::signals().and_then(|(stop, reload)| {
        let mut relay = Relay::start(config, &reload)?;
        relay.run(&stop)
    });
    match result {
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
