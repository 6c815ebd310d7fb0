//! `aivault credential list` and `aivault capability list`.

use std::collections::BTreeMap;

use aivault_core::{CapabilityInfo, Config, Result, Vault};

use crate::output::{Output, Style};

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `aivault credential list`.
pub fn credentials(config: Config, out: &Output) -> Result<()> {
    let credentials = Vault::open(config)?.list_credentials()?;
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

/// `aivault capability list`: ready first, then what is available with the command that
/// enables it.
pub fn capabilities(config: Config, out: &Output) -> Result<()> {
    let listing = Vault::open(config)?.list_capabilities()?;
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
            for capability in &capabilities {
                text.push_str(&format!("    {}\n", out.paint(Style::Dim, &capability.id)));
            }
            let setup: Vec<String> = capabilities[0]
                .required_secrets
                .iter()
                .map(|name| {
                    format!("aivault secrets create --name {name} --value \"...\" --scope global")
                })
                .collect();
            text.push_str(&format!("    Setup: {}\n", setup.join(" && ")));
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
    out.line(&text);
    Ok(())
}
