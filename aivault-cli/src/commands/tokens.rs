//! `aivault token create | list | revoke`.

use aivault_core::tokens::parse_ttl;
use aivault_core::{Config, NewToken, Result, TokenMeta};

use crate::cli::{TokenCommand, TokenCreateArgs};
use crate::commands::{open_vault, plural};
use crate::output::{Output, Style};

/// Runs a `token` subcommand.
pub fn run(command: TokenCommand, config: Config, out: &Output) -> Result<()> {
    match command {
        TokenCommand::Create(args) => create(args, config, out),
        TokenCommand::List => list(config, out),
        TokenCommand::Revoke { name_or_id } => {
            let meta = open_vault(config, out)?.revoke_token(&name_or_id)?;
            if out.verbose {
                out.json(&meta);
            }
            out.note(&format!("Token revoked: {} ({})", meta.name, meta.id));
            Ok(())
        }
    }
}

fn create(args: TokenCreateArgs, config: Config, out: &Output) -> Result<()> {
    let new = NewToken {
        name: args.name,
        capabilities: args.capabilities,
        workspace_id: args.workspace_id,
        group_id: args.group_id,
        consumer: args.consumer,
        ttl: args.ttl.as_deref().map(parse_ttl).transpose()?,
    };
    let created = open_vault(config, out)?.create_token(new)?;
    let token = String::from_utf8_lossy(created.token.expose()).into_owned();
    if out.verbose {
        out.json(&serde_json::json!({ "token": token, "meta": created.meta }));
    } else {
        out.line(&token);
    }
    out.note(&format!(
        "Token created: {} ({}). It is shown once: only its hash is kept.",
        created.meta.name,
        describe(&created.meta)
    ));
    Ok(())
}

/// One line on what a token grants and until when.
fn describe(t: &TokenMeta) -> String {
    let mut parts = vec![format!("capabilities {}", t.capabilities.join(", "))];
    match (&t.workspace_id, &t.group_id) {
        (Some(w), Some(g)) => parts.push(format!("group {w}/{g}")),
        (Some(w), None) => parts.push(format!("workspace {w}")),
        _ => {}
    }
    if let Some(c) = &t.consumer {
        parts.push(format!("consumer {c}"));
    }
    if let Some(at) = t.expires_at_ms {
        parts.push(format!("expires {}", crate::output::timestamp(at)));
    }
    parts.join("; ")
}

fn list(config: Config, out: &Output) -> Result<()> {
    let tokens = open_vault(config, out)?.list_tokens()?;
    if out.verbose {
        out.json(&serde_json::json!({ "tokens": tokens }));
        return Ok(());
    }
    if tokens.is_empty() {
        out.line("No tokens found.");
        return Ok(());
    }
    let mut text = out.paint(Style::Heading, "Tokens");
    text.push('\n');
    for t in &tokens {
        text.push_str(&format!(
            "  {} {} [{}]\n      {}\n",
            out.paint(Style::Name, &t.name),
            out.paint(Style::Dim, &t.id),
            t.state,
            describe(t)
        ));
    }
    text.push_str(&out.paint(Style::Dim, &plural(tokens.len(), "token", "tokens")));
    out.line(&text);
    Ok(())
}
