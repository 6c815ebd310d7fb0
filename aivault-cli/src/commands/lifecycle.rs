//! `status`, `init`, `unlock`, `lock`, `rotate-master`, `audit`, `verify`.

use aivault_core::keys::parse_key_text;
use aivault_core::{
    AuditQuery, Config, Error, ErrorKind, InitOptions, KeyProviderKind, NewMasterKey, Result,
    Status, Vault,
};

use crate::cli::{
    AuditArgs, AuditCommand, InitArgs, PassphraseArgs, ProviderArg, RotateMasterArgs,
};
use crate::input;
use crate::output::{Output, Style};

fn provider_label(kind: KeyProviderKind) -> &'static str {
    match kind {
        KeyProviderKind::File => "Key file",
        KeyProviderKind::Env => "Environment variable",
        KeyProviderKind::Passphrase => "Passphrase",
    }
}

/// Prints a status report, assembled first and written at once (one write, not one per line).
fn print_status(status: &Status, out: &Output) {
    use std::fmt::Write as _;
    if out.verbose {
        return out.json(status);
    }
    let state = &status.state;
    let label = if !state.initialized {
        out.paint(Style::Warn, "not initialized")
    } else if state.locked {
        out.paint(Style::Warn, "locked")
    } else {
        out.paint(Style::Good, "unlocked")
    };
    let mut text = out.paint(Style::Heading, "Vault");
    let _ = write!(text, "\n  Status: {label}");
    if let Some(provider) = state.provider_type {
        let _ = write!(text, "\n  Provider: {}", provider_label(provider));
    }
    if let Some(kek_id) = &state.kek_id {
        let _ = write!(
            text,
            "\n  KEK identifier: {}",
            out.paint(Style::Dim, kek_id)
        );
    }
    if let (true, Some(reason)) = (state.initialized, &state.lock_reason) {
        let _ = write!(text, "\n  Locked because: {reason}");
    }
    if state.initialized {
        let c = &status.counts;
        let _ = write!(
            text,
            "\n  Contents: {} secrets, {} credentials, {} audit events",
            c.secrets, c.credentials, c.audit_events
        );
    }
    let _ = write!(text, "\n\n{}", out.paint(Style::Heading, "Paths"));
    let p = &status.paths;
    let _ = write!(text, "\n  Root: {}", p.root_dir.display());
    let _ = write!(text, "\n  Database: {}", p.database.display());
    if let Some(key_file) = &p.key_file {
        let _ = write!(text, "\n  Key file: {}", key_file.display());
    }
    if let Some(var) = &p.key_env_var {
        let _ = write!(text, "\n  Key variable: {var}");
    }
    if let Some(session) = &p.session_file {
        let _ = write!(text, "\n  Unlock session: {}", session.display());
    }
    out.line(&text);
}

/// `aivault status`: never creates a vault.
pub fn status(config: Config, out: &Output) -> Result<()> {
    let status = Vault::status(config.clone())?;
    print_status(&status, out);
    if !status.state.initialized {
        super::original_vault_hint(&config.dir, out);
    }
    Ok(())
}

/// `aivault init`.
pub fn init(args: InitArgs, config: Config, out: &Output) -> Result<()> {
    let provider = match args.provider {
        ProviderArg::File => KeyProviderKind::File,
        ProviderArg::Env => KeyProviderKind::Env,
        ProviderArg::Passphrase => KeyProviderKind::Passphrase,
    };
    // Read a passphrase when one is given, or needed (a prompt); the core rejects one given
    // to another provider.
    let given = args.passphrase.passphrase.is_some() || args.passphrase.passphrase_stdin;
    let passphrase = if given || provider == KeyProviderKind::Passphrase {
        Some(input::passphrase_args(&args.passphrase, &config, true)?)
    } else {
        None
    };
    let options = InitOptions {
        provider,
        key_file: args.file_path,
        env_var: args.env_var,
        passphrase,
        force: args.force,
    };
    let status_config = config.clone();
    Vault::init(config, options)?;
    out.note(&format!(
        "Vault initialized (provider: {})",
        provider.as_str()
    ));
    super::original_vault_hint(&status_config.dir, out);
    print_status(&Vault::status(status_config)?, out);
    Ok(())
}

/// `aivault unlock`.
pub fn unlock(args: PassphraseArgs, config: Config, out: &Output) -> Result<()> {
    let passphrase = input::passphrase_args(&args, &config, false)?;
    let vault = Vault::open_existing(config.clone())?;
    vault.unlock(&passphrase)?;
    out.note("Vault unlocked");
    print_status(&Vault::status(config)?, out);
    Ok(())
}

/// `aivault lock`.
pub fn lock(config: Config, out: &Output) -> Result<()> {
    let vault = Vault::open_existing(config.clone())?;
    let removed = vault.lock()?;
    out.note(if removed {
        "Vault locked"
    } else {
        "Vault was not unlocked by a session"
    });
    print_status(&Vault::status(config)?, out);
    Ok(())
}

/// `aivault rotate-master`.
pub fn rotate_master(args: RotateMasterArgs, config: Config, out: &Output) -> Result<()> {
    let vault = Vault::open_existing(config.clone())?;
    let provider = vault.key_provider()?;
    let wants_passphrase = args.new_passphrase.is_some() || args.new_passphrase_stdin;
    let new = if let Some(key) = &args.new_key {
        NewMasterKey::Key(parse_key_text("--new-key", key.as_bytes())?)
    } else if wants_passphrase || provider == KeyProviderKind::Passphrase {
        NewMasterKey::Passphrase(input::passphrase(
            args.new_passphrase.as_ref(),
            args.new_passphrase_stdin,
            None,
            "New passphrase: ",
            true,
        )?)
    } else {
        NewMasterKey::Random
    };
    let switches = wants_passphrase && provider != KeyProviderKind::Passphrase;
    let key_id = vault.rotate_master(new)?;
    out.note(&format!("Master key rotated (new key id {key_id})"));
    if switches {
        out.note(&format!(
            "The vault now uses a passphrase instead of the {} provider; its old key no longer opens it.",
            provider.as_str()
        ));
    } else if provider == KeyProviderKind::Env {
        out.note("Set the vault's key variable to the new key before the next command.");
    }
    print_status(&Vault::status(config)?, out);
    Ok(())
}

/// `aivault audit [verify]`.
pub fn audit(args: AuditArgs, config: Config, out: &Output) -> Result<()> {
    let vault = Vault::open_existing(config)?;
    match args.command {
        Some(AuditCommand::Verify) => {
            let report = vault.verify_audit()?;
            if out.verbose {
                out.json(&report);
            } else if report.ok {
                out.line(&format!(
                    "Audit log intact: {} events verified",
                    report.events
                ));
            }
            match report.problem {
                None => Ok(()),
                Some(problem) => Err(Error::new(
                    ErrorKind::IntegrityFailed,
                    format!("audit log verification failed: {problem}"),
                )),
            }
        }
        None => {
            let query = AuditQuery {
                limit: Some(args.limit),
                before_ts_ms: args.before_ts_ms,
                kind: args.kind,
                secret_id: args.secret_id,
            };
            out.json(&vault.audit(&query)?);
            Ok(())
        }
    }
}

/// `aivault verify`: the whole-vault check; any problem is `integrity_failed` (exit 14), one
/// line on stderr listing every problem (ids and kinds only); `-v` prints the full report.
pub fn verify(config: Config, out: &Output) -> Result<()> {
    let vault = Vault::open_existing(config)?;
    let report = vault.verify()?;
    if out.verbose {
        out.json(&report);
    }
    if report.ok {
        if !out.verbose {
            out.line(&format!(
                "Vault intact: {} secrets decrypt, {} rows authenticated, {} audit events verified",
                report.secrets.checked, report.rows_checked, report.audit.events
            ));
        }
        return Ok(());
    }
    let mut problems: Vec<String> = report
        .secrets
        .failed
        .iter()
        .map(|f| format!("secret {} ({}): {}", f.secret_id, f.name, f.kind))
        .collect();
    problems.extend(report.row_problems.iter().cloned());
    if let Some(problem) = &report.audit.problem {
        problems.push(format!("audit log: {problem}"));
    }
    Err(Error::new(
        ErrorKind::IntegrityFailed,
        format!("vault verification failed: {}", problems.join("; ")),
    ))
}
