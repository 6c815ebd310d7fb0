//! `aivault run [--token T | --capability ID...] [--print-env] -- CMD [ARGS]`: runs any tool
//! unchanged with its HTTPS traffic going through aivault's proxy, which injects the vault's
//! credentials for the hosts of the token's capabilities; the tool holds placeholders only.
//!
//! - Local (no `AIVAULT_SOCKET`): the proxy runs in this process on `127.0.0.1:0`, serving
//!   the vault here. `--capability` (default: every ready capability of the vault) mints a
//!   token for exactly those capabilities, revoked when the child exits (with a lifetime as
//!   a backstop should this process be killed).
//!   Same-user: a convenience, not a boundary (the child could read the vault's files).
//! - Remote (`AIVAULT_SOCKET` and a token): asks that `aivault serve --proxy` for its address
//!   and CA (`proxyInfo`); the vault and its key stay in the server's process.
//! - `--print-env`: the variables for a harness configured once (remote only: the proxy
//!   must outlive this command).

mod bundle;
mod child;
mod env;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use aivault_core::remote::client;
use aivault_core::tokens::parse_ttl;
use aivault_core::{
    AuditQuery, CapabilityListing, Config, Error, ErrorKind, NewToken, ProxyCa, Registry, Result,
    SecretFilter, Vault,
};

use crate::cli::RunArgs;
use crate::commands::open_vault;
use crate::output::Output;
use crate::serve::Shared;
use env::ChildEnv;

/// A minted token's lifetime when `--ttl` is not given: a working day, as a backstop (the
/// token is revoked when the child exits).
const DEFAULT_TTL: Duration = Duration::from_secs(12 * 3600);

/// How long calls still in flight when the child exits may take to finish.
const DRAIN: Duration = Duration::from_secs(5);

/// Runs the command (or prints its environment) and returns the exit code to leave with.
///
/// # Errors
/// `invalid_input` for a combination that cannot work (named in the message);
/// `unauthorized` for a missing or bad token; `not_found` when the server runs no proxy or
/// the command does not exist; as opening the vault, minting a token or reaching the server.
pub fn main(args: RunArgs, config: Config, out: &Output) -> Result<u8> {
    if args.print_env {
        print_env(&args, out)?;
        return Ok(0);
    }
    let bundle_base = bundle::system_roots();
    if bundle_base.is_none() {
        out.note(
            "warning: no system CA bundle found (SSL_CERT_FILE or the usual paths): the command trusts aivault's CA alone",
        );
    }
    let system = bundle_base.as_ref().map(|(_, text)| text.as_str());
    match socket(&args) {
        Some(socket) => {
            let target = remote(&args, &socket)?;
            let bundle = bundle::temporary(&bundle::compose(system, &target.ca_pem))?;
            let child = target.child_env(&bundle.path);
            child::run(&args.command, child.apply(std::env::vars_os()))
        }
        None => local(&args, config, system, out),
    }
}

/// What the child is pointed at: the proxy (with the token), its CA, and the names of its
/// environment that change.
struct Target {
    proxy_url: String,
    ca_pem: String,
    placeholders: BTreeSet<String>,
    removed: BTreeSet<String>,
}

impl Target {
    fn child_env(&self, bundle: &Path) -> ChildEnv {
        ChildEnv {
            proxy_url: self.proxy_url.clone(),
            bundle: env::path_text(bundle),
            placeholders: self.placeholders.clone(),
            removed: self.removed.clone(),
        }
    }
}

/// `--socket` / `AIVAULT_SOCKET`, when set and not empty.
fn socket(args: &RunArgs) -> Option<PathBuf> {
    args.socket.clone().filter(|s| !s.as_os_str().is_empty())
}

/// The token of `--token`, else `AIVAULT_TOKEN`; checked for a token's shape, since it is
/// put in a URL.
fn given_token(args: &RunArgs) -> Result<Option<String>> {
    let token = args
        .token
        .clone()
        .or_else(|| std::env::var("AIVAULT_TOKEN").ok())
        .filter(|t| !t.is_empty());
    match token {
        Some(t) if !aivault_core::tokens::well_formed(&t) => Err(Error::new(
            ErrorKind::Unauthorized,
            "aivault run: the token is malformed (a caller token starts with avt_; see `aivault token create`)",
        )),
        other => Ok(other),
    }
}

/// The proxy of a running `aivault serve`, for `token`.
fn remote(args: &RunArgs, socket: &Path) -> Result<Target> {
    if !args.capabilities.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "aivault run: --capability mints a token, which needs the vault; through aivault serve (AIVAULT_SOCKET) pass a token with --token or AIVAULT_TOKEN (aivault token create, on the vault's side)",
        ));
    }
    if !args.passthrough_hosts.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "aivault run: --passthrough-host configures the proxy run starts itself; through aivault serve (AIVAULT_SOCKET), give it to aivault serve --proxy",
        ));
    }
    let token = given_token(args)?.ok_or_else(|| {
        Error::new(
            ErrorKind::Unauthorized,
            "aivault run: a proxy of aivault serve needs a caller token: pass --token or set AIVAULT_TOKEN",
        )
    })?;
    let info = client::proxy_info(socket, &token)?;
    let address = info.address.ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            format!(
                "aivault serve at {} runs no HTTPS proxy: start it with aivault serve --proxy 127.0.0.1:PORT",
                socket.display()
            ),
        )
    })?;
    let listing = client::list_capabilities(socket, &token)?;
    // The server's operator providers are not known here; the built-in registry names the
    // secrets of every registry provider.
    let registry = Registry::builtin();
    Ok(Target {
        proxy_url: env::proxy_url(&token, &address),
        ca_pem: info.ca_certificate_pem,
        placeholders: env::placeholder_names(registry, &listing),
        removed: env::claimed_names(registry),
    })
}

/// `--print-env`: writes the bundle at its stable path and prints the variables.
fn print_env(args: &RunArgs, out: &Output) -> Result<()> {
    if !args.capabilities.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "aivault run --print-env needs a token that outlives this command: create one with `aivault token create --name NAME --capability ID` and pass it with --token or AIVAULT_TOKEN",
        ));
    }
    if !args.command.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "aivault run --print-env runs nothing: drop the command after --",
        ));
    }
    let socket = match socket(args) {
        Some(socket) => socket,
        None => crate::serve::socket_path(None)?,
    };
    let target = remote(args, &socket)?;
    let path = match &args.ca_bundle {
        Some(path) => std::path::absolute(path).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("--ca-bundle {}: {e}", path.display()),
            )
        })?,
        None => bundle::default_path()?,
    };
    let system = bundle::system_roots();
    bundle::write_stable(
        &path,
        &bundle::compose(system.as_ref().map(|(_, t)| t.as_str()), &target.ca_pem),
    )?;
    let vars = target.child_env(&path).variables();
    if out.verbose {
        out.json(&env::json(&vars));
    } else {
        print!("{}", env::exports(&vars));
    }
    Ok(())
}

/// The proxy in this process, on the vault here.
fn local(args: &RunArgs, config: Config, system: Option<&str>, out: &Output) -> Result<u8> {
    // The child must not read this process's memory (it holds the vault's keys); exec gives
    // the child back its own dumpable state.
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!("aivault run: cannot make the process non-dumpable: {e}"),
            )
        })?;
    let passthrough = crate::serve::proxy::passthrough_patterns(&args.passthrough_hosts)?;
    let key_var = Vault::status(config.clone())
        .ok()
        .and_then(|s| s.paths.key_env_var);
    let vault = open_vault(config, out)?;
    let ca = vault.proxy_ca()?;
    let shared = Arc::new(Shared {
        vault,
        allow_uids: Vec::new(),
        max_connections: 512,
        active: AtomicUsize::new(0),
        max_body_bytes: 64 * 1024 * 1024,
        per_uid: Default::default(),
        max_per_uid: 64,
        proxy_address: std::sync::OnceLock::new(),
    });
    let program = args.command.first().map(String::as_str).unwrap_or("cmd");
    let given = if args.capabilities.is_empty() {
        given_token(args)?
    } else {
        None
    };
    let (token, revoke) = match given {
        Some(token) => (token, None),
        None => {
            let capabilities = granted_capabilities(&shared.vault, args, out)?;
            let (token, revoke) = mint(&shared, args, &capabilities, program)?;
            (token, Some(revoke))
        }
    };
    let grant = shared.vault.authenticate(&token)?;
    let listing = shared.vault.list_capabilities_granted(&grant)?;
    warn_uncovered(&ca, &listing, out);
    let mut removed = env::claimed_names(shared.vault.registry());
    for secret in shared.vault.list_secrets(&SecretFilter::default())? {
        removed.insert(secret.name);
        removed.extend(secret.aliases);
    }
    removed.extend(key_var);
    let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("aivault run: cannot listen on 127.0.0.1: {e}"),
        )
    })?;
    let address = listener
        .local_addr()
        .map_err(|e| Error::new(ErrorKind::Io, format!("aivault run: {e}")))?;
    let stopping = Arc::new(AtomicBool::new(false));
    let proxy = crate::serve::proxy::start_proxy(
        Arc::clone(&shared),
        listener,
        passthrough,
        Arc::clone(&stopping),
    )?;
    let target = Target {
        proxy_url: env::proxy_url(&token, &address.to_string()),
        placeholders: env::placeholder_names(shared.vault.registry(), &listing),
        ca_pem: ca.certificate_pem(),
        removed,
    };
    let bundle = bundle::temporary(&bundle::compose(system, &target.ca_pem))?;
    let code = child::run(
        &args.command,
        target.child_env(&bundle.path).apply(std::env::vars_os()),
    );
    // Stop accepting, let calls in flight finish (a grandchild may still be calling), then
    // revoke the token and write the audit events still queued.
    stopping.store(true, Ordering::SeqCst);
    let _ = std::net::TcpStream::connect(address);
    let _ = proxy.join();
    let deadline = std::time::Instant::now() + DRAIN;
    while shared.active.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(revoke);
    // Reading the log waits for the queued events.
    let _ = shared.vault.audit(&AuditQuery {
        limit: Some(1),
        ..AuditQuery::default()
    });
    code
}

/// What the minted token grants: the `--capability` ids and globs; without them (and
/// without a token), every capability a credential of this vault enables — same-user local
/// mode is no boundary against the vault's owner, so this grants nothing `aivault invoke`
/// does not — said on stderr so the narrowing flag is one look away.
fn granted_capabilities(vault: &Vault, args: &RunArgs, out: &Output) -> Result<Vec<String>> {
    if !args.capabilities.is_empty() {
        return Ok(args.capabilities.clone());
    }
    let ready: Vec<String> = vault
        .list_capabilities()?
        .ready
        .into_iter()
        .map(|c| c.id)
        .collect();
    if ready.is_empty() {
        return Err(Error::new(
            ErrorKind::CapabilityNotFound,
            "aivault run: no capability of this vault has a credential yet: add one (aivault secrets create --name OPENAI_API_KEY ...), or pass --token",
        ));
    }
    out.note(&format!(
        "aivault run: the command may use this vault's {} ready capabilities; narrow them with --capability ID",
        ready.len()
    ));
    Ok(ready)
}

/// Mints the token for `capabilities`, named `run.<cmd>.<pid>` (a suffix when that name was
/// used before), and the guard that revokes it.
fn mint(
    shared: &Arc<Shared>,
    args: &RunArgs,
    capabilities: &[String],
    program: &str,
) -> Result<(String, Revoke)> {
    let ttl = match &args.ttl {
        Some(text) => parse_ttl(text)?,
        None => DEFAULT_TTL,
    };
    let base = token_name(program, std::process::id());
    for attempt in 1..=20 {
        let name = if attempt == 1 {
            base.clone()
        } else {
            format!("{base}.{attempt}")
        };
        let created = shared.vault.create_token(NewToken {
            name,
            capabilities: capabilities.to_vec(),
            workspace_id: args.workspace_id.clone(),
            group_id: args.group_id.clone(),
            consumer: args.consumer.clone(),
            ttl: Some(ttl),
        });
        match created {
            Ok(created) => {
                let token = String::from_utf8_lossy(created.token.expose()).into_owned();
                let revoke = Revoke {
                    shared: Arc::clone(shared),
                    id: created.meta.id,
                };
                return Ok((token, revoke));
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::new(
        ErrorKind::AlreadyExists,
        format!("aivault run: token names {base}.* are all taken"),
    ))
}

/// `run.<command's file name>.<pid>`, within a token name's alphabet and length.
fn token_name(program: &str, pid: u32) -> String {
    let file = Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut cmd: String = file
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .take(32)
        .collect();
    if cmd.is_empty() {
        cmd.push_str("cmd");
    }
    format!("run.{cmd}.{pid}")
}

/// Revokes the minted token when dropped: after the child exits, and on every error path
/// (a panic unwinds through it too).
struct Revoke {
    shared: Arc<Shared>,
    id: String,
}

impl Drop for Revoke {
    fn drop(&mut self) {
        if let Err(e) = self.shared.vault.revoke_token(&self.id) {
            eprintln!(
                "warning: aivault run could not revoke its token {}: {} (it expires on its own)",
                self.id,
                e.message()
            );
        }
    }
}

/// Warns about hosts of the token's capabilities that the proxy's CA cannot issue for (its
/// name constraints were fixed when it was made).
fn warn_uncovered(ca: &ProxyCa, listing: &CapabilityListing, out: &Output) {
    let mut seen = BTreeSet::new();
    for capability in &listing.ready {
        for host in &capability.allow.hosts {
            let bare = without_port(host);
            if bare.contains('*') || !seen.insert(bare.to_string()) || ca.permits(bare) {
                continue;
            }
            out.note(&format!(
                "warning: the proxy's CA does not cover {bare} (capability {} is newer than the CA): run `aivault proxy ca --rotate`",
                capability.id
            ));
        }
    }
}

/// `host` without a `:port` (`[::1]:8443` → `::1`).
fn without_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_names_fit_the_alphabet() {
        assert_eq!(token_name("/usr/bin/curl", 42), "run.curl.42");
        assert_eq!(token_name("my tool!", 7), "run.my_tool_.7");
        assert_eq!(token_name("", 7), "run.cmd.7");
        assert!(token_name(&"x".repeat(200), u32::MAX).len() <= 64);
    }

    #[test]
    fn ports_are_dropped() {
        assert_eq!(without_port("api.openai.com"), "api.openai.com");
        assert_eq!(without_port("git.example.com:8443"), "git.example.com");
        assert_eq!(without_port("[::1]:8443"), "::1");
        assert_eq!(without_port("::1"), "::1");
    }
}
