//! `aivault serve`: the trust boundary. One long-running process opens and unlocks the vault
//! once and serves callers over a Unix socket; a caller holds only the socket and a caller
//! token, never the vault's files or key. The process is non-dumpable (no ptrace, no
//! `/proc/<pid>/mem`, no core files) and never opens a path a caller names: bodies arrive as
//! bytes. The protocol is `aivault_core::remote`.

pub mod client;
mod connection;
mod exchange;
mod gateway;
mod http;
mod listener;
pub mod mcp;
pub(crate) mod proxy;
mod proxy_tls;

pub(crate) use listener::socket_path;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aivault_core::{Config, Error, ErrorKind, Result};

use crate::cli::ServeArgs;
use crate::commands::open_vault;
use crate::output::Output;

/// How long a stopping server waits for calls in flight.
const DRAIN: Duration = Duration::from_secs(30);

/// What every connection handler shares.
pub(crate) struct Shared {
    pub vault: aivault_core::Vault,
    pub allow_uids: Vec<u32>,
    pub max_connections: usize,
    pub active: AtomicUsize,
    pub max_body_bytes: u64,
    /// Connections open per peer uid, so one caller's idle connections cannot starve others.
    pub per_uid: std::sync::Mutex<std::collections::HashMap<u32, usize>>,
    pub max_per_uid: usize,
    /// Where the HTTPS proxy listens, once it does (`--proxy`, or `aivault run`'s own).
    pub proxy_address: std::sync::OnceLock<std::net::SocketAddr>,
}

impl Shared {
    /// The most body bytes a call of `capability` may send: the capability's
    /// `maxRequestBodyBytes` when it is lower than the server's `--max-body-bytes`.
    pub fn body_limit(&self, capability: &str) -> Result<u64> {
        Ok(self
            .vault
            .request_body_limit(capability)?
            .map_or(self.max_body_bytes, |max| max.min(self.max_body_bytes)))
    }
}

/// Runs the server until SIGTERM or SIGINT, then finishes the calls in flight (up to 30 s),
/// flushes the audit log and removes the socket.
pub fn run(args: ServeArgs, config: Config, out: &Output) -> Result<()> {
    forbid_inspection()?;
    let vault_dir = config.dir.clone();
    let vault = open_vault(config, out)?;
    // Unlock now (keys, integrity checks): a locked or tampered vault fails at start, not at
    // the first call.
    vault.list_tokens()?;
    let _lock = listener::lock_vault(&vault_dir)?;
    let socket = listener::socket_path(args.socket.as_deref())?;
    let listener = listener::bind(&socket, &args.socket_mode, args.socket_group.as_deref())?;
    let shared = Arc::new(Shared {
        vault,
        allow_uids: args.allow_uids,
        max_connections: args.max_connections,
        active: AtomicUsize::new(0),
        max_body_bytes: args.max_body_bytes,
        per_uid: Default::default(),
        max_per_uid: args.max_connections_per_uid,
        proxy_address: std::sync::OnceLock::new(),
    });
    let stopping = Arc::new(AtomicBool::new(false));
    let gateway = match &args.http {
        Some(addr) => Some(bind_loopback("--http", addr)?),
        None => None,
    };
    let passthrough = proxy::passthrough_patterns(&args.passthrough_hosts)?;
    if !passthrough.is_empty() && args.proxy.is_none() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "--passthrough-host needs --proxy",
        ));
    }
    let proxy_listener = match &args.proxy {
        Some(addr) => Some(bind_loopback("--proxy", addr)?),
        None => None,
    };
    let gateway_addr = gateway.as_ref().and_then(|l| l.local_addr().ok());
    let tcp: Vec<&std::net::TcpListener> = gateway.iter().chain(proxy_listener.iter()).collect();
    watch_signals(&stopping, &listener, &tcp)?;
    out.note(&format!(
        "aivault serve: listening on {} (pid {})",
        socket.display(),
        std::process::id()
    ));
    let gateway_thread = match gateway {
        Some(listener) => {
            if let Some(addr) = gateway_addr {
                out.note(&format!("aivault serve: HTTP gateway on http://{addr}"));
            }
            let (shared, stopping) = (Arc::clone(&shared), Arc::clone(&stopping));
            Some(
                std::thread::Builder::new()
                    .name("aivault-gateway".into())
                    .spawn(move || gateway::serve(listener, shared, stopping))
                    .map_err(|e| Error::new(ErrorKind::Internal, format!("aivault serve: {e}")))?,
            )
        }
        None => None,
    };
    let proxy_thread = match proxy_listener {
        Some(listener) => {
            if let Ok(addr) = listener.local_addr() {
                out.note(&format!(
                    "aivault serve: HTTPS proxy on http://{addr} (CONNECT)"
                ));
            }
            Some(proxy::start_proxy(
                Arc::clone(&shared),
                listener,
                passthrough,
                Arc::clone(&stopping),
            )?)
        }
        None => None,
    };
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let shared = Arc::clone(&shared);
        shared.active.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new()
            .name("aivault-call".into())
            .spawn({
                let shared = Arc::clone(&shared);
                move || {
                    connection::handle(stream, &shared);
                    shared.active.fetch_sub(1, Ordering::SeqCst);
                }
            });
        if spawned.is_err() {
            shared.active.fetch_sub(1, Ordering::SeqCst);
        }
    }
    drop(listener);
    let _ = std::fs::remove_file(&socket);
    for thread in gateway_thread.into_iter().chain(proxy_thread) {
        let _ = thread.join();
    }
    let deadline = Instant::now() + DRAIN;
    while shared.active.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let left = shared.active.load(Ordering::SeqCst);
    out.note(&if left == 0 {
        "aivault serve: stopped".to_string()
    } else {
        format!("aivault serve: stopped with {left} call(s) still running after 30 s")
    });
    Ok(())
}

/// Makes this process non-dumpable (a same-user process can no longer ptrace it or read its
/// memory) and disables core files, before any key is loaded.
fn forbid_inspection() -> Result<()> {
    let fail = |what: &str, e: rustix::io::Errno| {
        Error::new(
            ErrorKind::Internal,
            format!("aivault serve: cannot {what}: {e}"),
        )
    };
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .map_err(|e| fail("make the process non-dumpable", e))?;
    rustix::process::setrlimit(
        rustix::process::Resource::Core,
        rustix::process::Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )
    .map_err(|e| fail("disable core files", e))
}

/// Binds the gateway's or the proxy's listener (`flag` names which): a loopback address only
/// (callers authenticate with a token only, so it must never face a network).
pub(crate) fn bind_loopback(flag: &str, addr: &str) -> Result<std::net::TcpListener> {
    let parsed: std::net::SocketAddr = addr.parse().map_err(|_| {
        Error::new(
            ErrorKind::InvalidInput,
            format!("{flag} {addr:?}: use a loopback address and port, such as 127.0.0.1:8787"),
        )
    })?;
    if !parsed.ip().is_loopback() {
        return Err(Error::new(
            ErrorKind::PolicyViolation,
            format!("{flag} {addr}: aivault serve listens on loopback addresses only"),
        ));
    }
    std::net::TcpListener::bind(parsed).map_err(|e| {
        Error::new(
            ErrorKind::Io,
            format!("aivault serve: cannot listen on {addr}: {e}"),
        )
    })
}

/// On SIGTERM or SIGINT: stop accepting (a connection to each listener wakes its loop).
fn watch_signals(
    stopping: &Arc<AtomicBool>,
    listener: &std::os::unix::net::UnixListener,
    tcp: &[&std::net::TcpListener],
) -> Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT]).map_err(|e| {
        Error::new(
            ErrorKind::Internal,
            format!("aivault serve: cannot watch signals: {e}"),
        )
    })?;
    let stopping = Arc::clone(stopping);
    // Copies of the listening sockets: shutting one down makes the blocked `accept` on the
    // other return (this works when the socket file was deleted, unlike connecting to it).
    let dup = |e: std::io::Error| Error::new(ErrorKind::Internal, format!("aivault serve: {e}"));
    let listener = listener.try_clone().map_err(dup)?;
    let tcp = tcp
        .iter()
        .map(|l| l.try_clone())
        .collect::<std::io::Result<Vec<_>>>()
        .map_err(dup)?;
    std::thread::Builder::new()
        .name("aivault-signals".into())
        .spawn(move || {
            if signals.forever().next().is_some() {
                stopping.store(true, Ordering::SeqCst);
                let _ = rustix::net::shutdown(&listener, rustix::net::Shutdown::Read);
                for l in &tcp {
                    let _ = rustix::net::shutdown(l, rustix::net::Shutdown::Read);
                }
            }
        })
        .map(|_| ())
        .map_err(|e| Error::new(ErrorKind::Internal, format!("aivault serve: {e}")))
}
