//! `aivault credential create | list | delete`.

use aivault_core::{
    AuthOptions, Config, CredentialOrigin, Error, ErrorKind, NetworkOptions, NewCredential, Result,
};

use crate::cli::{CredentialCommand, CredentialCreateArgs};
use crate::commands::{open_vault, plural};
use crate::output::{Output, Style};

/// Runs a `credential` subcommand.
pub fn run(command: CredentialCommand, config: Config, out: &Output) -> Result<()> {
    match command {
        CredentialCommand::Create(args) => create(*args, config, out),
        CredentialCommand::List => list(config, out),
        CredentialCommand::Delete { id } => {
            let deletion = open_vault(config, out)?.delete_credential(&id)?;
            out.json(&deletion);
            match deletion.origin {
                None => out.note(&format!("No credential {id}: nothing to delete")),
                Some(CredentialOrigin::Registry) => out.note(&format!(
                    "Credential revoked: {id} (it comes back only when its secret is created, rotated or imported again)"
                )),
                Some(CredentialOrigin::Custom) => {}
            }
            Ok(())
        }
    }
}

fn create(args: CredentialCreateArgs, config: Config, out: &Output) -> Result<()> {
    let new = NewCredential {
        id: args.id,
        provider: args.provider,
        secret_refs: args.secret_refs,
        auth: AuthOptions {
            kind: args.auth,
            header_name: args.header_name,
            value_template: args.value_template,
            query_params: args.query_params,
            path_prefix_template: args.path_prefix_template,
            auth_headers: args.auth_headers,
            username_template: args.username_template,
            password_template: args.password_template,
            grant_type: args.grant_type,
            token_endpoint: args.token_endpoint,
            scopes: args.scopes,
            token_auth: args.token_auth,
            aws_service: args.aws_service,
            aws_region: args.aws_region,
            timestamp_header: args.timestamp_header,
        },
        hosts: args.hosts,
        workspace_id: args.workspace_id,
        group_id: args.group_id,
        network: NetworkOptions {
            allow_private_network: args.allow_private_network,
            insecure_http: args.insecure_http,
            ca_cert: match &args.ca_cert {
                Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                    Error::new(
                        ErrorKind::Io,
                        format!("cannot read --ca-cert {}: {e}", path.display()),
                    )
                })?),
                None => None,
            },
        },
    };
    new.check()?; // before the vault is opened (and perhaps created)
    let credential = open_vault(config, out)?.create_credential(new)?;
    out.json(&credential);
    if credential.capabilities.is_empty() {
        out.note(&format!(
            "Credential created: {id} (add capabilities with `aivault capability create <id> --credential {id} --method M --path /prefix`)",
            id = credential.id
        ));
    } else {
        out.note(&format!(
            "Credential created: {} ({})",
            credential.id,
            plural(
                credential.capabilities.len(),
                "capability enabled",
                "capabilities enabled"
            )
        ));
    }
    Ok(())
}

fn list(config: Config, out: &Output) -> Result<()> {
    let credentials = open_vault(config, out)?.list_credentials()?;
    if out.verbose {
        out.json(&serde_json::json!({ "credentials": credentials }));
        return Ok(());
    }
    if credentials.is_empty() {
        out.line("No credentials found.");
        return Ok(());
    }
    let mut text = out.paint(Style::Heading, "Credentials");
    text.push('\n');
    for c in &credentials {
        text.push_str(&format!("  {}\n", out.paint(Style::Name, &c.id)));
        text.push_str(&format!("      Provider: {}\n", c.provider));
        text.push_str(&format!("      Auth: {}\n", c.auth.kind_name()));
        text.push_str(&format!("      Hosts: {}\n", c.hosts.join(", ")));
        text.push_str(&format!("      Scope: {}\n", c.scope));
        text.push_str(&format!("      Capabilities: {}\n\n", c.capabilities.len()));
    }
    text.push_str(&out.paint(
        Style::Dim,
        &plural(credentials.len(), "credential", "credentials"),
    ));
    text.push_str("\nUse --verbose for full JSON detail.");
    out.line(&text);
    Ok(())
}
