//! The `aivault` command: parses arguments, calls `aivault-core`, prints results and maps
//! errors to exit codes. Behaviour lives in the core.
#![forbid(unsafe_code)]

mod cli;
mod commands;
mod deferred;
mod input;
mod output;
mod serve;

use std::process::ExitCode;

use aivault_core::{AuditMode, Config, Error, ErrorKind};
use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command};
use crate::deferred::Deferred;
use crate::output::{Output, exit_code};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    let out = Output::new(cli.verbose);
    if let Command::Completions { shell } = cli.command {
        deferred::build_eagerly();
        let mut command = Cli::command();
        clap_complete::generate(shell, &mut command, "aivault", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let result = Config::from_env().and_then(|mut config| {
        config.audit = audit_mode(&cli.command);
        match cli.command {
            // `aivault run` exits with its child's code.
            Command::Run(Deferred(args)) => commands::run::main(args, config, &out),
            command => commands::run(command, config, &out).map(|()| 0),
        }
    });
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            out.error(&error);
            ExitCode::from(exit_code(error.kind()))
        }
    }
}

/// Long-lived commands (`serve`, `mcp`, `run` with its proxy) keep the background
/// group-commit audit writer; a one-shot command commits its call's event on its own
/// connection before it exits.
fn audit_mode(command: &Command) -> AuditMode {
    match command {
        Command::Serve(_) | Command::Mcp | Command::Run(_) => AuditMode::Background,
        _ => AuditMode::Inline,
    }
}

/// Help and version go to stdout with success; every other parse error becomes one line
/// `error[invalid_input]: ...` with exit code 2.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind as Clap;
    if matches!(
        e.kind(),
        Clap::DisplayHelp | Clap::DisplayVersion | Clap::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        let code = if e.kind() == Clap::DisplayHelpOnMissingArgumentOrSubcommand {
            2
        } else {
            0
        };
        return ExitCode::from(code);
    }
    let rendered = e.render().to_string();
    let first = rendered
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("invalid arguments")
        .trim_start_matches("error: ");
    let args: Vec<String> = std::env::args().skip(1).collect();
    let verbose = args.iter().any(|a| a == "-v" || a == "--verbose");
    // clap quotes the offending argument; a misplaced secret value must not reach stderr.
    let mut message = first.to_string();
    for arg in args.iter().filter(|a| !a.starts_with('-')) {
        message = message.replace(&format!("'{arg}'"), "'<redacted>'");
    }
    let message = format!("{message} (see --help)");
    Output::new(verbose).error(&Error::new(ErrorKind::InvalidInput, message));
    ExitCode::from(exit_code(ErrorKind::InvalidInput))
}
