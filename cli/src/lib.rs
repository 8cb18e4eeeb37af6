//! camcli: what the front doors of campub and camview share — exit codes that mean the same in
//! both programs, one way to log (a terminal's format, or the systemd journal's), and printing
//! to a stdout that may be closed.
//!
//! ```
//! use camcli::{exit, LogLevel};
//!
//! let level: LogLevel = "warn".parse()?;
//! assert_eq!(level.as_str(), "warn");
//! assert!("warning!".parse::<LogLevel>().is_err());
//! assert_eq!(exit::USAGE, 2);
//! # Ok::<(), camcli::BadLogLevel>(())
//! ```
//! `camcli::init_logging(&level)` then sends `log` records to stderr: with a timestamp and
//! the level word on a terminal or in a file, with an sd-daemon priority prefix (`<4>`) and
//! nothing else under systemd, so `journalctl -p warning` finds the warnings.

use std::fmt;
use std::io::Write as _;
use std::str::FromStr;

/// Exit codes, the same in every program of this workspace.
pub mod exit {
    /// Finished, or stopped by a signal.
    pub const OK: u8 = 0;
    /// A runtime error: camera, network, a file that went away. A service manager may retry.
    pub const RUNTIME: u8 = 1;
    /// A usage or configuration error: retrying cannot help (the systemd units say
    /// `RestartPreventExitStatus=2`).
    pub const USAGE: u8 = 2;
    /// camview --headless: the run ended without a single frame shown.
    pub const NO_FRAME: u8 = 3;
}

/// The words `--log-level` takes.
pub const LEVEL_WORDS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// A checked `--log-level`: a level word, or an env_logger filter whose every directive ends in
/// one (`camview=debug,zmq=warn`). "warning" is taken for "warn" (journalctl's and syslog's word).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLevel(String);

/// A `--log-level` that is neither a level word nor a filter made of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadLogLevel(String);

impl fmt::Display for BadLogLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bad --log-level {:?}: use one of {} (or a filter such as campub=debug)",
            self.0,
            LEVEL_WORDS.join(", ")
        )
    }
}

impl std::error::Error for BadLogLevel {}

impl FromStr for LogLevel {
    type Err = BadLogLevel;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = || BadLogLevel(text.to_string());
        let mut directives = Vec::new();
        for directive in text.split(',') {
            let (module, word) = match directive.split_once('=') {
                Some((module, word)) if !module.trim().is_empty() => (Some(module.trim()), word),
                Some(_) => return Err(bad()),
                None => (None, directive),
            };
            let mut word = word.trim().to_ascii_lowercase();
            if word == "warning" {
                word = "warn".to_string();
            }
            if !LEVEL_WORDS.contains(&word.as_str()) {
                return Err(bad());
            }
            directives.push(match module {
                Some(module) => format!("{module}={word}"),
                None => word,
            });
        }
        Ok(Self(directives.join(",")))
    }
}

impl LogLevel {
    /// The filter as env_logger reads it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for LogLevel {
    fn default() -> Self {
        Self("info".to_string())
    }
}

/// Where stderr goes, which decides how a log line looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogTarget {
    /// A terminal, a file or a pipe: "[time LEVEL] message".
    Terminal,
    /// The systemd journal's stream: "<priority>message", no time (the journal has it).
    Journal,
}

impl LogTarget {
    /// The journal when stderr is the very stream systemd connected (sd-daemon's rule: the
    /// device and inode in `JOURNAL_STREAM` are stderr's), a terminal otherwise — so a
    /// program started from a shell inside a service still logs for a person.
    pub fn detect() -> Self {
        match (std::env::var("JOURNAL_STREAM"), stderr_identity()) {
            (Ok(value), Some(stderr)) => Self::from_journal_stream(&value, stderr),
            _ => Self::Terminal,
        }
    }

    /// The rule behind [`LogTarget::detect`]: `JOURNAL_STREAM` ("DEVICE:INODE") against
    /// stderr's (device, inode).
    pub fn from_journal_stream(value: &str, stderr: (u64, u64)) -> Self {
        let parsed = value
            .split_once(':')
            .and_then(|(dev, ino)| Some((dev.parse::<u64>().ok()?, ino.parse::<u64>().ok()?)));
        if parsed == Some(stderr) {
            Self::Journal
        } else {
            Self::Terminal
        }
    }
}

#[cfg(unix)]
fn stderr_identity() -> Option<(u64, u64)> {
    let stat = rustix::fs::fstat(std::io::stderr()).ok()?;
    // st_dev and st_ino are u64 on every Linux target but armv7's st_dev (also u64 there) and
    // the BSDs' narrower types: widen, never truncate.
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    Some((u64::from(stat.st_dev as u64), u64::from(stat.st_ino as u64)))
}

#[cfg(not(unix))]
fn stderr_identity() -> Option<(u64, u64)> {
    None
}

/// The sd-daemon priority of a log level (syslog's: 3 err, 4 warning, 6 info, 7 debug).
pub fn journal_priority(level: log::Level) -> u8 {
    match level {
        log::Level::Error => 3,
        log::Level::Warn => 4,
        log::Level::Info => 6,
        log::Level::Debug | log::Level::Trace => 7,
    }
}

/// Sends `log` records to stderr, formatted for where stderr goes ([`LogTarget::detect`]).
/// `RUST_LOG`, when set, wins over `level`. Call once, before anything logs.
pub fn init_logging(level: &LogLevel) {
    let env = env_logger::Env::default().default_filter_or(level.as_str());
    let mut builder = env_logger::Builder::from_env(env);
    builder.format_target(false);
    if LogTarget::detect() == LogTarget::Journal {
        builder.format(|out, record| {
            writeln!(
                out,
                "<{}>{}",
                journal_priority(record.level()),
                record.args()
            )
        });
    }
    builder.init();
}

/// `-h` as `--help` (argh knows only the long form; every user tries `-h` first); any other
/// argument unchanged.
pub fn long_help_flag(arg: &str) -> &str {
    if arg == "-h" {
        "--help"
    } else {
        arg
    }
}

/// Prints "PROGRAM: MESSAGE" on stderr for an error found before logging starts (a bad option,
/// an unreadable config file): under systemd with the error priority, so that
/// `journalctl -p err` shows why a service would not start.
pub fn print_error(program: &str, message: &dyn fmt::Display) {
    let prefix = match LogTarget::detect() {
        LogTarget::Journal => "<3>",
        LogTarget::Terminal => "",
    };
    let _ = writeln!(std::io::stderr(), "{prefix}{program}: {message}");
}

/// Prints `text` and a newline on stdout, quietly giving up when stdout is closed
/// (`campub --help | head -1`): there is no one left to tell.
pub fn print_stdout(text: &str) {
    let _ = writeln!(std::io::stdout(), "{text}");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn level_words_and_filters_are_taken_anything_else_is_refused() {
        for (given, taken) in [
            ("info", "info"),
            ("WARN", "warn"),
            ("warning", "warn"),
            ("off", "off"),
            ("campub=debug", "campub=debug"),
            ("camview=trace,zmq=warning", "camview=trace,zmq=warn"),
            ("debug,campub=info", "debug,campub=info"),
        ] {
            assert_eq!(
                given.parse::<LogLevel>().map(|l| l.0),
                Ok(taken.to_string())
            );
        }
        for bad in ["", "verbose", "warnings", "=debug", "campub=loud", "info,"] {
            let err = bad.parse::<LogLevel>().unwrap_err();
            assert!(
                err.to_string()
                    .contains("off, error, warn, info, debug, trace"),
                "{err}"
            );
        }
    }

    #[test]
    fn the_journal_is_stderr_only_when_journal_stream_names_it() {
        assert_eq!(
            LogTarget::from_journal_stream("8:12345", (8, 12345)),
            LogTarget::Journal
        );
        // Inherited by a child whose stderr was redirected: not ours.
        assert_eq!(
            LogTarget::from_journal_stream("8:12345", (8, 999)),
            LogTarget::Terminal
        );
        assert_eq!(
            LogTarget::from_journal_stream("garbage", (8, 12345)),
            LogTarget::Terminal
        );
        assert_eq!(
            LogTarget::from_journal_stream("8:", (8, 0)),
            LogTarget::Terminal
        );
    }

    #[test]
    fn priorities_are_syslogs() {
        assert_eq!(journal_priority(log::Level::Error), 3);
        assert_eq!(journal_priority(log::Level::Warn), 4);
        assert_eq!(journal_priority(log::Level::Info), 6);
        assert_eq!(journal_priority(log::Level::Debug), 7);
        assert_eq!(journal_priority(log::Level::Trace), 7);
    }
}
