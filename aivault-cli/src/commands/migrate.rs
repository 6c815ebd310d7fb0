//! `aivault migrate`: import a vault of the original aivault tool, then print what was
//! imported and what was not (with why); `-v` prints the report as JSON.

use aivault_core::migrate::{
    MigrationReport, OriginalKeyProvider, OriginalVault, SourceKey, check_target,
    default_original_dir,
};
use aivault_core::{Config, Result};

use crate::cli::MigrateArgs;
use crate::commands::plural;
use crate::input;
use crate::output::{Output, Style};

/// `aivault migrate`.
pub fn run(args: MigrateArgs, config: Config, out: &Output) -> Result<()> {
    let from = args
        .from
        .unwrap_or_else(|| default_original_dir(&config.dir));
    let source = OriginalVault::open(&from)?;
    check_target(source.dir(), &config.dir)?;
    let wants_passphrase = args.passphrase.is_some() || args.passphrase_stdin;
    let key = match args.key_file {
        Some(path) => SourceKey::KeyFile(path),
        None if wants_passphrase || *source.key_provider() == OriginalKeyProvider::Passphrase => {
            SourceKey::Passphrase(input::passphrase(
                args.passphrase.as_ref(),
                args.passphrase_stdin,
                None,
                "Passphrase of the original vault: ",
                false,
            )?)
        }
        None => SourceKey::Layout,
    };
    let vault = super::open_vault_quiet(config, out)?;
    let report = vault.migrate(&source, &key)?;
    print_report(&report, out);
    Ok(())
}

fn print_report(report: &MigrationReport, out: &Output) {
    if out.verbose {
        return out.json(report);
    }
    let count = |kind: &str, one: &str, many: &str| plural(report.imported_count(kind), one, many);
    out.line(&format!(
        "{} {}: {}, {}, {}, {}, {}",
        out.paint(Style::Heading, "Migrated from"),
        report.source,
        count("secret", "secret", "secrets"),
        count("credential", "credential", "credentials"),
        count("capability", "capability", "capabilities"),
        count("policy", "policy", "policies"),
        count("binding", "binding", "bindings"),
    ));
    let describe = |item: &aivault_core::migrate::MigratedItem| {
        let mut text = format!("{} {}", item.kind, out.paint(Style::Name, &item.id));
        if let Some(scope) = &item.scope {
            text.push_str(&format!(" ({scope})"));
        }
        if let Some(reason) = &item.reason {
            text.push_str(&format!(": {reason}"));
        }
        text
    };
    for item in &report.imported {
        out.line(&format!(
            "  {} {}",
            out.paint(Style::Good, "imported"),
            describe(item)
        ));
    }
    if !report.skipped.is_empty() {
        out.line(&format!(
            "{} ({}):",
            out.paint(Style::Warn, "Not imported"),
            report.skipped.len()
        ));
        for item in &report.skipped {
            out.line(&format!(
                "  {} {}",
                out.paint(Style::Warn, "skipped"),
                describe(item)
            ));
        }
    }
    if report.audit_events_not_imported > 0 {
        out.line(&out.paint(
            Style::Dim,
            &format!(
                "{} of the original stay in {} (this vault keeps its own audit log)",
                plural(
                    report.audit_events_not_imported as usize,
                    "audit event",
                    "audit events"
                ),
                report.source
            ),
        ));
    }
}
