//! One module per command group; each function converts arguments, calls the core and
//! prints. No behaviour lives here.

mod capabilities;
mod credentials;
pub(crate) mod invoke;
mod lifecycle;
mod migrate;
mod proxy;
pub(crate) mod run;
mod secrets;
mod setup;
mod tokens;

use aivault_core::{Config, Result, Scope, ScopeKind, Vault};

use aivault_core::oauth_setup::ConsentRequest;

use crate::cli::{Command, OauthCommand, ProviderCommand, ScopeArg, ScopeArgs};
use crate::deferred::Deferred;
use crate::output::Output;

/// Runs one parsed command.
pub fn run(command: Command, config: Config, out: &Output) -> Result<()> {
    match command {
        Command::Status => lifecycle::status(config, out),
        Command::Init(Deferred(args)) => lifecycle::init(args, config, out),
        Command::Unlock(Deferred(args)) => lifecycle::unlock(args, config, out),
        Command::Lock => lifecycle::lock(config, out),
        Command::RotateMaster(Deferred(args)) => lifecycle::rotate_master(args, config, out),
        Command::Audit(Deferred(args)) => lifecycle::audit(args, config, out),
        Command::Verify => lifecycle::verify(config, out),
        Command::Secrets(Deferred(command)) => secrets::run(command, config, out),
        Command::Credential(Deferred(command)) => credentials::run(command, config, out),
        Command::Capability(Deferred(command)) => capabilities::run(command, config, out),
        Command::Token(Deferred(command)) => tokens::run(command, config, out),
        Command::Serve(Deferred(args)) => crate::serve::run(args, config, out),
        Command::Mcp => crate::serve::mcp::run(config, out),
        Command::Setup(Deferred(command)) => setup::run(command, config, out),
        Command::Proxy(Deferred(command)) => proxy::run(command, config, out),
        Command::Migrate(Deferred(args)) => migrate::run(args, config, out),
        Command::Invoke(Deferred(args)) => invoke::run(args, invoke::Render::Body, config, out),
        Command::Json(Deferred(args)) => invoke::run(args, invoke::Render::Json, config, out),
        Command::Markdown(Deferred(args)) => {
            invoke::run(args, invoke::Render::Markdown, config, out)
        }
        Command::Oauth(Deferred(OauthCommand::Setup(args))) => {
            let consent = aivault_core::oauth_setup::consent_url(&ConsentRequest {
                provider: args.provider,
                auth_url: args.auth_url,
                client_id: args.client_id,
                redirect_uri: args.redirect_uri,
                scopes: args.scopes,
                state: args.state,
            })?;
            out.json(&consent);
            Ok(())
        }
        Command::Provider(Deferred(ProviderCommand::Trust { file })) => {
            let vault = open_vault(config, out)?;
            let trusted = vault.trust_provider_file(&file)?;
            if out.verbose {
                out.json(&trusted);
            } else {
                out.line(&format!(
                    "Provider file trusted: {} (provider {}, sha256 {})",
                    trusted.file.display(),
                    trusted.provider,
                    trusted.sha256
                ));
            }
            Ok(())
        }
        Command::Completions { .. } => unreachable!("handled before the vault is opened"),
        // Its exit code is the child's: main calls `run::main` directly.
        Command::Run(Deferred(args)) => run::main(args, config, out).map(|_| ()),
    }
}

/// Opens (creating if needed) the vault and reports operator provider files that were
/// skipped, so a broken file is never silently ignored. Creating a vault next to one of the
/// original aivault tool points at `aivault migrate` (the two are never mixed).
pub(crate) fn open_vault(config: Config, out: &Output) -> Result<Vault> {
    let fresh = !config.db_path().exists();
    let dir = config.dir.clone();
    let vault = open_vault_quiet(config, out)?;
    if fresh {
        original_vault_hint(&dir, out);
    }
    Ok(vault)
}

/// [`open_vault`] without the `migrate` hint (for `migrate` itself).
pub(crate) fn open_vault_quiet(config: Config, out: &Output) -> Result<Vault> {
    let vault = Vault::open(config)?;
    for warning in vault.registry_warnings() {
        out.note(&format!("warning: {warning}"));
    }
    Ok(vault)
}

/// Points at `aivault migrate` when the original tool's vault is in or under `dir`.
pub(crate) fn original_vault_hint(dir: &std::path::Path, out: &Output) {
    if let Some(found) = aivault_core::migrate::find_original_layout(dir) {
        out.note(&format!(
            "note: {} holds a vault of the original aivault tool; this vault is separate. Import it with `aivault migrate --from {}`",
            found.display(),
            found.display()
        ));
    }
}

/// `1 credential`, `2 credentials`.
pub(crate) fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

pub(crate) fn scope_kind(arg: ScopeArg) -> ScopeKind {
    match arg {
        ScopeArg::Global => ScopeKind::Global,
        ScopeArg::Workspace => ScopeKind::Workspace,
        ScopeArg::Group => ScopeKind::Group,
    }
}

/// The scope of `--scope` with its ids.
pub(crate) fn scope(args: &ScopeArgs) -> Result<Scope> {
    Scope::from_parts(
        scope_kind(args.scope),
        args.workspace_id.as_deref(),
        args.group_id.as_deref(),
    )
}
