//! `aivault secrets ...`.

use std::path::PathBuf;

use aivault_core::{
    Config, Error, ErrorKind, GroupRef, NewSecret, Provisioning, Registry, Result, SecretFilter,
    SecretMeta, SecretUpdate, SecretValue, codex, dotenv,
};

use crate::cli::{ScopeArgs, SecretsCommand};
use crate::commands::{open_vault, scope, scope_kind};
use crate::input;
use crate::output::{Output, Style};

/// Prints the brief's lines for what happened to a provider's credential.
fn print_provisioning(provisioning: &Provisioning, out: &Output) {
    match provisioning {
        Provisioning::Provisioned {
            credential_id,
            capabilities,
            created: true,
            ..
        } => out.note(&format!(
            "Credential auto-provisioned: {credential_id} ({capabilities} capabilities enabled)"
        )),
        Provisioning::Provisioned { created: false, .. } => {}
        Provisioning::Waiting { provider, missing } => out.note(&format!(
            "Waiting for {} to complete {provider} credential",
            missing.join(", ")
        )),
    }
}

/// Runs a `secrets` subcommand.
pub fn run(command: SecretsCommand, config: Config, out: &Output) -> Result<()> {
    if let SecretsCommand::List {
        scope,
        workspace_id,
        group_id,
    } = command
    {
        let filter = SecretFilter {
            kind: scope.map(scope_kind),
            workspace_id,
            group_id,
        };
        filter.check()?; // before the vault is opened (and perhaps created)
        let vault = open_vault(config, out)?;
        return list(&vault.list_secrets(&filter)?, out);
    }
    if let SecretsCommand::ImportCodex {
        file,
        scope: scope_args,
    } = command
    {
        return import_codex(file, &scope_args, config, out);
    }
    let vault = open_vault(config, out)?;
    match command {
        SecretsCommand::List { .. } | SecretsCommand::ImportCodex { .. } => {
            unreachable!("handled above")
        }
        SecretsCommand::Create {
            name,
            value,
            scope: scope_args,
            aliases,
        } => {
            let secret = NewSecret {
                name,
                value: input::secret_value(&value)?,
                scope: scope(&scope_args)?,
                aliases,
            };
            let outcome = vault.create_secret(secret)?;
            out.json(&outcome.secret);
            if let Some(provider) = &outcome.secret.pinned_provider {
                out.note(&format!(
                    "Secret created: {} (pinned to provider: {provider})",
                    outcome.secret.name
                ));
            }
            if let Some(provisioning) = &outcome.provisioning {
                print_provisioning(provisioning, out);
            }
        }
        SecretsCommand::Update {
            id,
            name,
            aliases,
            clear_aliases,
        } => {
            let aliases = match (clear_aliases, aliases.is_empty()) {
                (true, _) => Some(Vec::new()),
                (false, false) => Some(aliases),
                (false, true) => None,
            };
            out.json(&vault.update_secret(&id, SecretUpdate { name, aliases })?);
        }
        SecretsCommand::Rotate { id, value } => {
            let outcome = vault.rotate_secret(&id, input::secret_value(&value)?)?;
            out.json(&outcome.secret);
            if let Some(provisioning) = &outcome.provisioning {
                print_provisioning(provisioning, out);
            }
        }
        SecretsCommand::Delete { id } => {
            let outcome = vault.delete_secret(&id)?;
            out.json(&outcome.secret);
            for credential in &outcome.removed_credentials {
                out.note(&format!("Credential removed: {credential}"));
            }
        }
        SecretsCommand::AttachGroup(args) => {
            let group = GroupRef::new(&args.workspace_id, &args.group_id)?;
            out.json(&vault.attach_group(&args.id, &group)?);
        }
        SecretsCommand::DetachGroup(args) => {
            let group = GroupRef::new(&args.workspace_id, &args.group_id)?;
            out.json(&vault.detach_group(&args.id, &group)?);
        }
        SecretsCommand::Import {
            entries,
            env_file,
            scope: scope_args,
        } => {
            let scope = scope(&scope_args)?;
            let mut pairs = Vec::new();
            for (index, entry) in entries.iter().enumerate() {
                // Never echo an entry: without '=' it may be a bare value.
                let (name, value) = entry.split_once('=').ok_or_else(|| {
                    Error::new(
                        ErrorKind::InvalidInput,
                        format!(
                            "--entry number {} has no '='; expected KEY=VALUE",
                            index + 1
                        ),
                    )
                })?;
                pairs.push((name.to_string(), SecretValue::from(value)));
            }
            if let Some(path) = &env_file {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::new(
                        ErrorKind::Io,
                        format!("cannot read --env-file {}: {e}", path.display()),
                    )
                })?;
                pairs.extend(dotenv::parse(&text)?);
            }
            let report = vault.import_secrets(pairs, &scope)?;
            out.json(&report);
            for provisioning in &report.provisioning {
                print_provisioning(provisioning, out);
            }
        }
        SecretsCommand::Verify => {
            let check = vault.check_secrets()?;
            if out.verbose {
                out.json(&check);
            } else if check.failed.is_empty() {
                out.line(&format!("All {} secrets decrypt", check.checked));
            }
            if let Some(first) = check.failed.first() {
                return Err(Error::new(
                    ErrorKind::DecryptFailed,
                    format!(
                        "{} of {} secrets fail to decrypt (first: {} {}): {}",
                        check.failed.len(),
                        check.checked,
                        first.name,
                        first.secret_id,
                        first.message
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// `secrets import-codex`: the file is read and checked before the vault is opened (and
/// perhaps created), so a missing or malformed file changes nothing.
fn import_codex(
    file: Option<PathBuf>,
    scope_args: &ScopeArgs,
    config: Config,
    out: &Output,
) -> Result<()> {
    let scope = scope(scope_args)?;
    let path = match file {
        Some(path) => path,
        None => codex::default_auth_file(|name| std::env::var(name).ok())?,
    };
    let value = codex::read_auth_file(&path)?;
    codex::check_auth_json(Registry::builtin(), value.expose())?;
    let vault = open_vault(config, out)?;
    let outcome = vault.import_codex(value, &scope)?;
    out.json(&outcome);
    let pinned = outcome
        .secret
        .pinned_provider
        .as_deref()
        .map(|p| format!(", pinned to provider: {p}"))
        .unwrap_or_default();
    out.note(&format!(
        "Secret {}: {} (from {}{pinned})",
        outcome.action,
        outcome.secret.name,
        path.display()
    ));
    for provisioning in &outcome.provisioning {
        print_provisioning(provisioning, out);
    }
    Ok(())
}

fn list(secrets: &[SecretMeta], out: &Output) -> Result<()> {
    if out.verbose {
        out.json(&secrets);
        return Ok(());
    }
    if secrets.is_empty() {
        out.line("No secrets found.");
        return Ok(());
    }
    let mut text = String::new();
    text.push_str(&out.paint(Style::Heading, "Secrets"));
    text.push('\n');
    for secret in secrets {
        text.push_str(&format!("  {}\n", out.paint(Style::Name, &secret.name)));
        text.push_str(&format!("      ID: {}\n", secret.secret_id));
        text.push_str(&format!("      Scope: {}\n", secret.scope));
        if let Some(provider) = &secret.pinned_provider {
            text.push_str(&format!("      Provider: {provider}\n"));
        }
        if !secret.aliases.is_empty() {
            text.push_str(&format!("      Aliases: {}\n", secret.aliases.join(", ")));
        }
        if !secret.attached_groups.is_empty() {
            let groups: Vec<String> = secret
                .attached_groups
                .iter()
                .map(|g| format!("{}/{}", g.workspace_id, g.group_id))
                .collect();
            text.push_str(&format!("      Groups: {}\n", groups.join(", ")));
        }
        text.push('\n');
    }
    let n = secrets.len();
    text.push_str(&out.paint(
        Style::Dim,
        &format!("{n} secret{}", if n == 1 { "" } else { "s" }),
    ));
    text.push_str("\nUse --verbose for full JSON detail.");
    out.line(&text);
    Ok(())
}
