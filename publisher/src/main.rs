//! campub: args -> config -> app::run -> exit code.

use std::process::ExitCode;

use campub::config::{self, Args, Command, Config};
use campub::{app, capture};

use camcli::exit::{RUNTIME as EXIT_RUNTIME, USAGE as EXIT_USAGE};
use camcli::print_stdout;

fn main() -> ExitCode {
    let cli: Vec<String> = std::env::args().collect();
    let args = match config::merge_config_file(&cli) {
        Ok(merged) => parse_args(&merged),
        Err(message) => {
            camcli::print_error("campub", &message);
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
    match &args.command {
        Some(Command::Keygen(keygen)) => return write_keys(&keygen.stem),
        Some(Command::Passwd(passwd)) => return write_user(&passwd.file, &passwd.user),
        Some(Command::TlsSelfsigned(tls)) => return write_self_signed(tls),
        None => {}
    }
    let log_level = match args.log_level.parse::<camcli::LogLevel>() {
        Ok(level) => level,
        Err(e) => {
            camcli::print_error("campub", &e);
            return ExitCode::from(EXIT_USAGE);
        }
    };
    camcli::init_logging(&log_level);
    if let Some(path) = &args.config {
        log::info!("options from {} (command-line options win)", path.display());
    }
    let config = match Config::from_args(&args) {
        Ok(config) => config,
        Err(message) => {
            camcli::print_error("campub", &message);
            return ExitCode::from(EXIT_USAGE);
        }
    };
    if args.list_formats || args.list_controls {
        return list_device(&config.camera.device, args.list_formats, args.list_controls);
    }
    match app::run(&config) {
        Ok(()) => {
            log::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            log::error!("{e}");
            ExitCode::from(if e.is_configuration() {
                EXIT_USAGE
            } else {
                EXIT_RUNTIME
            })
        }
    }
}

/// `--list-formats` and/or `--list-controls`: what the device offers, on stdout.
fn list_device(device: &std::path::Path, formats: bool, controls: bool) -> ExitCode {
    let mut out = std::io::stdout();
    let mut result = Ok(());
    if formats {
        result = capture::v4l2::list_formats(device, &mut out);
    }
    if controls && result.is_ok() {
        result = capture::v4l2::list_controls(device, &mut out);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("{e}");
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// argh's parse, with --help printed to stdout (exit 0) and errors to stderr (exit 2).
fn parse_args(argv: &[String]) -> Result<Args, ExitCode> {
    let strs: Vec<&str> = argv.iter().map(String::as_str).collect();
    let rest: Vec<&str> = strs
        .get(1..)
        .unwrap_or_default()
        .iter()
        .map(|a| camcli::long_help_flag(a))
        .collect();
    use argh::FromArgs as _;
    Args::from_args(&["campub"], &rest).map_err(|early| match early.status {
        Ok(()) => {
            print_stdout(&early.output);
            ExitCode::SUCCESS
        }
        Err(()) => {
            // argh may spread one error over lines ("...not provided:\n    stem"): keep one.
            let words: Vec<&str> = early.output.split_whitespace().collect();
            camcli::print_error("campub", &words.join(" "));
            ExitCode::from(EXIT_USAGE)
        }
    })
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
            camcli::print_error("campub", &format_args!("keygen: {e}"));
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}

/// `campub passwd FILE USER`: the password from one line of stdin, hashed into FILE (0600).
fn write_user(file: &std::path::Path, user: &str) -> ExitCode {
    let mut line = String::new();
    let read = std::io::BufRead::read_line(&mut std::io::stdin().lock(), &mut line);
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    let written = match read {
        Ok(_) => campub::http::auth::write_user(file, user, password),
        Err(e) => Err(format!("cannot read the password from stdin: {e}")),
    };
    match written {
        Ok(()) => {
            print_stdout(&format!(
                "wrote {user} to {} (Argon2id hash, mode 0600): campub --http ADDR:PORT \
                 --http-users {}",
                file.display(),
                file.display()
            ));
            ExitCode::SUCCESS
        }
        Err(e) => {
            camcli::print_error("campub", &format_args!("passwd: {e}"));
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// `campub tls-selfsigned CERT KEY [--name HOST]...`: a certificate for --http-cert.
fn write_self_signed(args: &config::TlsSelfsignedArgs) -> ExitCode {
    match campub::http::tls::write_self_signed(&args.cert, &args.key, &args.name) {
        Ok(names) => {
            print_stdout(&format!(
                "wrote {} (certificate for {}: give it to browsers to trust, docs/HTTP.md)\n\
                 wrote {} (private key, mode 0600: keep it private)",
                args.cert.display(),
                names.join(", "),
                args.key.display()
            ));
            ExitCode::SUCCESS
        }
        Err(e) => {
            camcli::print_error("campub", &format_args!("tls-selfsigned: {e}"));
            ExitCode::from(EXIT_RUNTIME)
        }
    }
}
