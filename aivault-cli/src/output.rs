//! Everything the CLI writes: JSON on stdout, human text with optional colour, the one-line
//! error report on stderr, and the exit code of each error kind.

use std::io::{self, IsTerminal, Write};

use aivault_core::{Error, ErrorKind};
use serde::Serialize;

/// The exit code of each error kind (documented in `aivault --help` and the README).
pub fn exit_code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Internal => 1,
        ErrorKind::InvalidInput => 2,
        ErrorKind::NotFound => 3,
        ErrorKind::AlreadyExists => 4,
        ErrorKind::VaultLocked => 5,
        ErrorKind::DecryptFailed => 6,
        ErrorKind::PolicyViolation => 7,
        ErrorKind::CapabilityNotFound => 8,
        ErrorKind::CredentialNotFound => 9,
        ErrorKind::CredentialAmbiguous => 10,
        ErrorKind::RateLimited => 11,
        ErrorKind::UpstreamError => 12,
        ErrorKind::Io => 13,
        ErrorKind::IntegrityFailed => 14,
        ErrorKind::Unauthorized => 15,
        _ => 1,
    }
}

/// How to write output.
pub struct Output {
    /// `-v`: full JSON.
    pub verbose: bool,
    color_stdout: bool,
    color_stderr: bool,
}

/// ANSI styles used by human output.
#[derive(Clone, Copy)]
pub enum Style {
    /// Section headings.
    Heading,
    /// Names of items.
    Name,
    /// Good states.
    Good,
    /// Warnings and locked states.
    Warn,
    /// Secondary text.
    Dim,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Heading => "\x1b[1;36m",
            Style::Name => "\x1b[96m",
            Style::Good => "\x1b[32m",
            Style::Warn => "\x1b[33m",
            Style::Dim => "\x1b[2m",
        }
    }
}

impl Output {
    /// Colour only on a terminal, and never when `NO_COLOR` is set to a non-empty value.
    pub fn new(verbose: bool) -> Output {
        let allowed = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
        Output {
            verbose,
            color_stdout: allowed && io::stdout().is_terminal(),
            color_stderr: allowed && io::stderr().is_terminal(),
        }
    }

    /// `text` in `style` when stdout is coloured.
    pub fn paint(&self, style: Style, text: &str) -> String {
        paint(self.color_stdout, style, text)
    }

    /// Writes a line to stdout.
    pub fn line(&self, text: &str) {
        write_stdout(&format!("{text}\n"));
    }

    /// Writes pretty JSON to stdout, streamed (a 10,000-secret listing is never copied).
    pub fn json<T: Serialize>(&self, value: &T) {
        let mut stdout = io::BufWriter::with_capacity(64 * 1024, io::stdout().lock());
        let written = serde_json::to_writer_pretty(&mut stdout, value)
            .map_err(io::Error::from)
            .and_then(|()| stdout.write_all(b"\n"))
            .and_then(|()| stdout.flush());
        if let Err(e) = written {
            stdout_failed(e);
        }
    }

    /// Writes an informational line to stderr (`Secret created: ...`).
    pub fn note(&self, text: &str) {
        let _ = writeln!(io::stderr().lock(), "{text}");
    }

    /// Reports an error on stderr: one line `error[kind]: message`, or with `-v`
    /// `{"error":{"kind":..,"message":..}}`.
    pub fn error(&self, error: &Error) {
        let kind = error.kind().as_str();
        let text = if self.verbose {
            serde_json::json!({"error": {"kind": kind, "message": error.message()}}).to_string()
        } else {
            let label = paint(self.color_stderr, Style::Warn, &format!("error[{kind}]"));
            format!("{label}: {}", error.message().replace('\n', " "))
        };
        let _ = writeln!(io::stderr().lock(), "{text}");
    }
}

fn paint(enabled: bool, style: Style, text: &str) -> String {
    if enabled {
        format!("{}{text}\x1b[0m", style.code())
    } else {
        text.to_string()
    }
}

/// Writes to stdout.
fn write_stdout(text: &str) {
    let mut stdout = io::stdout().lock();
    if let Err(e) = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        stdout_failed(e);
    }
}

/// A closed pipe (`aivault secrets list | head`) ends the process quietly; any other write
/// failure is an `io` error.
fn stdout_failed(e: io::Error) -> ! {
    if e.kind() == io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    let _ = writeln!(io::stderr(), "error[io]: cannot write to stdout: {e}");
    std::process::exit(i32::from(exit_code(ErrorKind::Io)));
}

/// A time in ms since the epoch as UTC, `2026-12-02T16:21:27Z` (days to a civil date as in
/// Howard Hinnant's `civil_from_days`).
pub fn timestamp(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_exit_code() {
        let mut codes: Vec<u8> = ErrorKind::ALL.iter().map(|k| exit_code(*k)).collect();
        assert!(codes.iter().all(|&c| c != 0));
        codes.sort();
        codes.dedup();
        assert_eq!(codes.len(), ErrorKind::ALL.len());
    }

    #[test]
    fn timestamps_are_utc_civil_dates() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(timestamp(1_796_228_487_000), "2026-12-02T16:21:27Z");
        assert_eq!(timestamp(951_782_400_000), "2000-02-29T00:00:00Z");
    }
}
