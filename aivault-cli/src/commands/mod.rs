//! One module per command group; each function converts arguments, calls the core and
//! prints. No behaviour lives here.

mod catalog;
mod lifecycle;
mod secrets;

use aivault_core::{Config, Result};

use crate::cli::{CapabilityCommand, Command, CredentialCommand};
use crate::output::Output;

/// Runs one parsed command.
pub fn run(command: Command, config: Config, out: &Output) -> Result<()> {
    match command {
        Command::Status => lifecycle::status(config, out),
        Command::Init(args) => lifecycle::init(args, config, out),
        Command::Unlock(args) => lifecycle::unlock(args, config, out),
        Command::Lock => lifecycle::lock(config, out),
        Command::RotateMaster(args) => lifecycle::rotate_master(args, config, out),
        Command::Audit(args) => lifecycle::audit(args, config, out),
        Command::Secrets(command) => secrets::run(command, config, out),
        Command::Credential(CredentialCommand::List) => catalog::credentials(config, out),
        Command::Capability(CapabilityCommand::List) => catalog::capabilities(config, out),
        Command::Completions { .. } => unreachable!("handled before the vault is opened"),
    }
}
