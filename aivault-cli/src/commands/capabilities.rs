//! `aivault capability list | describe | create | delete | policy set | bind | unbind |
//! bindings`.

use std::collections::BTreeMap;

use aivault_core::{
    BindingFilter, CapabilityInfo, Config, NewBinding, NewCapability, PolicyUpdate, Result,
};

use crate::cli::{BindingsArgs, CapabilityCommand, PolicyCommand};
use crate::commands::{open_vault, plural, scope, scope_kind};
use crate::output::{Output, Style};

/// Runs a `capability` subcommand.
pub fn run(command: CapabilityCommand, config: Config, out: &Output) -> Result<()> {
    match command {
        CapabilityCommand::Invoke(args) => {
            super::invoke::run(args, super::invoke::Render::Body, config, out)
        }
        CapabilityCommand::Json(args) => {
            super::invoke::run(args, super::invoke::Render::Json, config, out)
        }
        CapabilityCommand::Markdown(args) => {
            super::invoke::run(args, super::invoke::Render::Markdown, config, out)
        }
        CapabilityCommand::List => list(config, out),
        CapabilityCommand::Describe { id } => {
            let description = match crate::serve::client::remote()? {
                Some((socket, token)) => {
                    aivault_core::remote::client::describe_capability(&socket, &token, &id)?
                }
                None => open_vault(config, out)?.describe_capability(&id)?,
            };
            out.json(&description);
            Ok(())
        }
        CapabilityCommand::Create(args) => {
            let view = open_vault(config, out)?.create_capability(NewCapability {
                id: args.id,
                provider: args.provider,
                credential: args.credential,
                methods: args.methods,
                paths: args.paths,
                hosts: args.hosts,
            })?;
            out.json(&view);
            Ok(())
        }
        CapabilityCommand::Delete { id } => {
            out.json(&open_vault(config, out)?.delete_capability(&id)?);
            Ok(())
        }
        CapabilityCommand::Policy(PolicyCommand::Set(args)) => {
            let update = PolicyUpdate {
                rate_limit_per_minute: args.rate_limit_per_minute,
                max_request_body_bytes: args.max_request_body_bytes,
                max_response_body_bytes: args.max_response_body_bytes,
                response_block: (!args.response_block.is_empty()).then_some(args.response_block),
            };
            out.json(&open_vault(config, out)?.set_policy(&args.capability, update)?);
            Ok(())
        }
        CapabilityCommand::Bind(args) => {
            let scope = scope(&args.scope)?;
            let outcome = open_vault(config, out)?.bind(NewBinding {
                capability: args.capability,
                secret_ref: args.secret_ref,
                scope,
                consumer: args.consumer,
            })?;
            out.json(&outcome);
            Ok(())
        }
        CapabilityCommand::Unbind(args) => {
            let scope = scope(&args.scope)?;
            let outcome = open_vault(config, out)?.unbind(
                &args.capability,
                &scope,
                args.consumer.as_deref(),
            )?;
            out.json(&outcome);
            Ok(())
        }
        CapabilityCommand::Bindings(args) => bindings(args, config, out),
    }
}

/// Ready first, then what is available with the command that enables it.
fn list(config: Config, out: &Output) -> Result<()> {
    let listing = match crate::serve::client::remote()? {
        Some((socket, token)) => aivault_core::remote::client::list_capabilities(&socket, &token)?,
        None => open_vault(config, out)?.list_capabilities()?,
    };
    if out.verbose {
        out.json(&listing);
        return Ok(());
    }
    let mut text = String::new();
    if !listing.ready.is_empty() {
        text.push_str(&out.paint(Style::Heading, "Ready (credential configured)"));
        text.push('\n');
        for capability in &listing.ready {
            text.push_str(&format!("  {}\n", out.paint(Style::Name, &capability.id)));
        }
        text.push('\n');
    }
    if !listing.available.is_empty() {
        text.push_str(&out.paint(Style::Heading, "Available (needs credential)"));
        text.push('\n');
        let mut by_provider: BTreeMap<&str, Vec<&CapabilityInfo>> = BTreeMap::new();
        for capability in &listing.available {
            by_provider
                .entry(&capability.provider)
                .or_default()
                .push(capability);
        }
        for (provider, capabilities) in by_provider {
            text.push_str(&format!("  {}\n", out.paint(Style::Name, provider)));
            let mut setups: Vec<&str> = Vec::new();
            for capability in &capabilities {
                text.push_str(&format!("    {}\n", out.paint(Style::Dim, &capability.id)));
                if let Some(setup) = capability.setup.as_deref()
                    && !setups.contains(&setup)
                {
                    setups.push(setup);
                }
            }
            for setup in setups {
                text.push_str(&format!("    Setup: {setup}\n"));
            }
        }
        text.push('\n');
    }
    let total = listing.ready.len() + listing.available.len();
    text.push_str(&out.paint(
        Style::Dim,
        &format!(
            "{} ({} ready)",
            plural(total, "capability", "capabilities"),
            listing.ready.len()
        ),
    ));
    text.push_str(
        "\nUse --verbose for full JSON, or `aivault capability describe <id>` to inspect one.",
    );
    out.line(&text);
    Ok(())
}

fn bindings(args: BindingsArgs, config: Config, out: &Output) -> Result<()> {
    let filter = BindingFilter {
        capability: args.capability,
        kind: args.scope.map(scope_kind),
        workspace_id: args.workspace_id,
        group_id: args.group_id,
        consumer: args.consumer,
    };
    filter.check()?; // before the vault is opened (and perhaps created)
    let bindings = open_vault(config, out)?.bindings(&filter)?;
    if out.verbose {
        out.json(&serde_json::json!({ "bindings": bindings }));
        return Ok(());
    }
    if bindings.is_empty() {
        out.line("No bindings found.");
        return Ok(());
    }
    let mut text = out.paint(Style::Heading, "Capability bindings");
    text.push('\n');
    for b in &bindings {
        text.push_str(&format!(
            "  {} -> {}\n",
            out.paint(Style::Name, &b.capability),
            b.secret_ref
        ));
        text.push_str(&format!("      Scope: {}\n", b.scope));
        text.push_str(&format!(
            "      Consumer: {}\n\n",
            b.consumer.as_deref().unwrap_or("(any)")
        ));
    }
    text.push_str(&out.paint(Style::Dim, &plural(bindings.len(), "binding", "bindings")));
    out.line(&text);
    Ok(())
}
