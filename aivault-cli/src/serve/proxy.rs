//! The HTTPS forward proxy (`aivault serve --proxy 127.0.0.1:PORT`, loopback only), for tools
//! that take nothing but `HTTPS_PROXY` (curl, git, SDKs that read `OPENAI_API_KEY`).
//!
//! The caller authenticates with its token as proxy credentials
//! (`Proxy-Authorization: Basic base64("aivault:<token>")`, what
//! `HTTPS_PROXY=http://aivault:<token>@127.0.0.1:PORT` makes clients send); without them, or
//! with a bad token, the answer is `407` with `Proxy-Authenticate: Basic realm="aivault"`.
//!
//! - `CONNECT host:443` to a host that a capability of the token names: `200`, then TLS with a
//!   leaf for that host from the vault's local CA (`proxy_ca.rs`; a client hello naming another
//!   server is refused), then HTTP/1.1 requests with keep-alive, each treated like the
//!   gateway's provider route: the capability of the token whose hosts, methods and paths
//!   allow it (`403` with the error JSON otherwise), the caller's credentials dropped, the
//!   vault's injected, the answer streamed back redacted and audited (caller
//!   `token:<name>,proxy`).
//! - An absolute-form request (`GET http://host/path`): the same, without TLS.
//! - `CONNECT` to a host no capability of the token names: `403`, unless it matches a
//!   `--passthrough-host` pattern (`api.example.com`, `*.example.com`, `*`): then a blind
//!   tunnel (bytes copied both ways; no credential is ever injected), to a public address only
//!   (the network guard; a loopback, private or link-local target is `403`), audited as
//!   `proxy.passthrough`.
//!
//! [`start_proxy`] runs it on a listener the caller bound (`aivault serve` with `--proxy`;
//! `aivault run` on `127.0.0.1:0` in its own process) and records the address in
//! [`Shared::proxy_address`] (what the socket protocol's `proxyInfo` answers).

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use aivault_core::{Error, ErrorKind, Result, TokenGrant};
use base64::Engine as _;

use super::Shared;
use super::exchange::{Conn, Failure, Phase, forward, outside_token, serve_requests};
use super::http::{self, Head};
use super::proxy_tls::{self, TlsCache};

/// How long a caller may stay silent while sending a request.
const IDLE: Duration = Duration::from_secs(30);
/// How long a blind tunnel may stay silent in both directions.
const TUNNEL_IDLE: Duration = Duration::from_secs(600);
/// How long connecting a blind tunnel's upstream may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The proxy's realm in `Proxy-Authenticate`.
const CHALLENGE: &str = "Basic realm=\"aivault\"";

/// What every proxy connection shares.
struct Proxy {
    shared: Arc<Shared>,
    passthrough: Vec<String>,
    tls: TlsCache,
}

/// Checks `--passthrough-host` patterns: a host name, `*.` and a host name, or `*` (any
/// host); lower-cased.
///
/// # Errors
/// `invalid_input` naming the first malformed pattern.
pub fn passthrough_patterns(patterns: &[String]) -> Result<Vec<String>> {
    patterns
        .iter()
        .map(|p| {
            let p = p.trim().to_ascii_lowercase();
            let name = p.strip_prefix("*.").unwrap_or(&p);
            let ok = p == "*"
                || (!name.is_empty()
                    && name.split('.').all(|label| {
                        !label.is_empty()
                            && label
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    }));
            if ok {
                Ok(p)
            } else {
                Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("--passthrough-host {p:?}: use a host name, '*.example.com' or '*'"),
                ))
            }
        })
        .collect()
}

/// Whether `host` matches a passthrough pattern (`*.example.com` matches any name under
/// example.com, not example.com itself).
fn passes(patterns: &[String], host: &str) -> bool {
    patterns.iter().any(|p| {
        p == "*"
            || p == host
            || p.strip_prefix('*')
                .is_some_and(|suffix| suffix.starts_with('.') && host.ends_with(suffix))
    })
}

/// Runs the proxy on `listener` in a thread of its own (a thread per connection) until
/// `stopping` is set and the listener is woken (shut down, or connected to), and records its
/// address in `shared.proxy_address`. `passthrough` are checked patterns
/// ([`passthrough_patterns`]).
///
/// # Errors
/// `internal` when the thread cannot start.
pub(crate) fn start_proxy(
    shared: Arc<Shared>,
    listener: TcpListener,
    passthrough: Vec<String>,
    stopping: Arc<AtomicBool>,
) -> Result<JoinHandle<()>> {
    if let Ok(address) = listener.local_addr() {
        let _ = shared.proxy_address.set(address);
    }
    let proxy = Arc::new(Proxy {
        shared,
        passthrough,
        tls: TlsCache::default(),
    });
    std::thread::Builder::new()
        .name("aivault-proxy".into())
        .spawn(move || accept_loop(listener, proxy, stopping))
        .map_err(|e| {
            Error::new(
                ErrorKind::Internal,
                format!("aivault serve: the proxy thread: {e}"),
            )
        })
}

fn accept_loop(listener: TcpListener, proxy: Arc<Proxy>, stopping: Arc<AtomicBool>) {
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        let shared = &proxy.shared;
        shared.active.fetch_add(1, Ordering::SeqCst);
        let spawned = std::thread::Builder::new()
            .name("aivault-proxy-conn".into())
            .spawn({
                let proxy = Arc::clone(&proxy);
                move || {
                    handle(stream, &proxy);
                    proxy.shared.active.fetch_sub(1, Ordering::SeqCst);
                }
            });
        if spawned.is_err() {
            shared.active.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

/// What a `CONNECT` turned the connection into.
enum Tunnel {
    /// TLS terminated here, requests forwarded through the token's capabilities.
    Terminate {
        host: String,
        host_key: String,
        /// The caller's token, authenticated again for every request in the tunnel: a
        /// revocation or expiry takes effect on the next request, as everywhere else.
        token: String,
        config: Arc<rustls::ServerConfig>,
    },
    /// Bytes copied both ways to `upstream`.
    Blind(TcpStream),
}

fn handle(stream: TcpStream, proxy: &Proxy) {
    let _ = stream.set_read_timeout(Some(IDLE));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(60)));
    let _ = stream.set_nodelay(true);
    let mut conn = Conn::new(stream);
    let shared = &proxy.shared;
    if shared.active.load(Ordering::SeqCst) > shared.max_connections {
        let why = format!(
            "aivault serve is at its limit of {} connections; retry shortly",
            shared.max_connections
        );
        conn.refuse(503, &Error::new(ErrorKind::RateLimited, why), &[]);
        return;
    }
    let mut tunnel = None;
    serve_requests(
        &mut conn,
        |conn| proxy_request(conn, proxy, &mut tunnel),
        &|phase| match phase {
            Phase::ProxyToken => vec![("Proxy-Authenticate".to_string(), CHALLENGE.to_string())],
            _ => Vec::new(),
        },
    );
    let Some(tunnel) = tunnel else { return };
    let buffered = conn.reader.buffer().to_vec();
    let client = conn.reader.into_inner();
    match tunnel {
        Tunnel::Terminate {
            host,
            host_key,
            token,
            config,
        } => {
            let Ok(tls) = proxy_tls::accept(client, &buffered, &host, config) else {
                return;
            };
            let mut conn = Conn::new(tls);
            serve_requests(
                &mut conn,
                |conn| tunnelled_request(conn, shared, &host, &host_key, &token),
                &|_| Vec::new(),
            );
            let tls = conn.reader.get_mut();
            tls.conn.send_close_notify();
            let _ = tls.flush();
        }
        Tunnel::Blind(upstream) => copy_both_ways(client, &buffered, upstream),
    }
}

/// One request to the proxy itself: `CONNECT` (which ends the request loop, leaving the
/// connection to `tunnel`) or an absolute-form request.
fn proxy_request(
    conn: &mut Conn<TcpStream>,
    proxy: &Proxy,
    tunnel: &mut Option<Tunnel>,
) -> Result<(), Failure> {
    let at = |phase| move |e: Error| (e, phase);
    let head = http::read_any_head(&mut conn.reader).map_err(at(Phase::Call))?;
    conn.keep_alive = head.keep_alive;
    let shared = &proxy.shared;
    let token = proxy_token(&head).map_err(at(Phase::ProxyToken))?;
    let grant = shared
        .vault
        .authenticate(&token)
        .map_err(at(Phase::ProxyToken))?;
    if head.method == "CONNECT" {
        conn.keep_alive = false;
        let found = connect(proxy, &head, &grant, token).map_err(at(Phase::Call))?;
        conn.began = true;
        let mut w = conn.writer();
        w.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
            .and_then(|()| w.flush())
            .map_err(|e| Error::new(ErrorKind::Io, format!("the caller went away: {e}")))
            .map_err(at(Phase::Call))?;
        *tunnel = Some(found);
        return Ok(());
    }
    let Some(rest) = head.target.strip_prefix("http://") else {
        let why = if head.target.starts_with("https://") {
            "an https:// URL goes through CONNECT (set HTTPS_PROXY, not a plain request)"
        } else {
            "this is a proxy: send CONNECT host:443 or an absolute http:// URL"
        };
        return Err((Error::new(ErrorKind::InvalidInput, why), Phase::Call));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) if rest.as_bytes()[at] == b'/' => (&rest[..at], &rest[at..]),
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_string()
    };
    let (host, port) = split_authority(authority, 80).map_err(at(Phase::Call))?;
    let host_key = host_key(&host, port, 80);
    route_and_forward(conn, shared, &head, &path, &host_key, &grant).map_err(at(Phase::Call))
}

/// The token of `Proxy-Authorization: Basic base64("aivault:<token>")`.
fn proxy_token(head: &Head) -> Result<String> {
    let missing = || {
        Error::new(
            ErrorKind::Unauthorized,
            "proxy credentials required: use http://aivault:<token>@HOST:PORT as the proxy",
        )
    };
    let value = head.header("proxy-authorization").ok_or_else(missing)?;
    let (scheme, encoded) = value.split_once(' ').ok_or_else(missing)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(missing());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| missing())?;
    let text = String::from_utf8(decoded).map_err(|_| missing())?;
    match text.split_once(':') {
        Some(("aivault", token)) if !token.is_empty() => Ok(token.to_string()),
        _ => Err(missing()),
    }
}

/// `host:port` (IPv6 in brackets) of a request target; `default` when there is no port.
fn split_authority(authority: &str, default: u16) -> Result<(String, u16)> {
    let bad = || {
        Error::new(
            ErrorKind::InvalidInput,
            format!("a malformed host:port {authority:?}"),
        )
    };
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or_else(bad)?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(bad()),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(bad)?,
        None => default,
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() || host.contains(['@', '/', '\\']) {
        return Err(bad());
    }
    Ok((host, port))
}

/// How capability hosts name `host` on `port`: the bare host on the scheme's port, else
/// `host:port` (`[::1]:port`).
fn host_key(host: &str, port: u16, default: u16) -> String {
    match (port == default, host.contains(':')) {
        (true, _) => host.to_string(),
        (false, true) => format!("[{host}]:{port}"),
        (false, false) => format!("{host}:{port}"),
    }
}

/// Decides a `CONNECT`: terminate TLS for a host a capability of the token names (its leaf
/// minted now, so a host outside the CA's constraints is refused before `200`), tunnel blind
/// to a passthrough host, refuse anything else.
fn connect(proxy: &Proxy, head: &Head, grant: &TokenGrant, token: String) -> Result<Tunnel> {
    let shared = &proxy.shared;
    let (host, port) = split_authority(&head.target, 0)?;
    if port == 0 {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "CONNECT needs host:port",
        ));
    }
    let key = host_key(&host, port, 443);
    if shared.vault.covers_host(&key, &|id| grant.allows(id))? {
        let ca = shared.vault.proxy_ca()?;
        let config = proxy.tls.config_for(&ca, &host)?;
        return Ok(Tunnel::Terminate {
            host,
            host_key: key,
            token,
            config,
        });
    }
    if passes(&proxy.passthrough, &host) {
        let upstream = shared
            .vault
            .connect_guarded(&host, port, CONNECT_TIMEOUT)
            .inspect_err(|e| {
                let why = format!("passthrough to {key} refused: {}", e.message());
                let _ = shared.vault.record_refusal(&why, Some(&grant.name), None);
            })?;
        shared.vault.record_passthrough(&grant.name, &host, port)?;
        return Ok(Tunnel::Blind(upstream));
    }
    let why = format!(
        "no capability of token '{}' names host {key} (and it is not a --passthrough-host)",
        grant.name
    );
    shared.vault.record_refusal(&why, Some(&grant.name), None)?;
    Err(Error::new(ErrorKind::Unauthorized, why))
}

/// One request inside a terminated `CONNECT` to `host`.
fn tunnelled_request<S: Read + Write>(
    conn: &mut Conn<S>,
    shared: &Shared,
    host: &str,
    host_key: &str,
    token: &str,
) -> Result<(), Failure> {
    let at = |phase| move |e: Error| (e, phase);
    let head = http::read_head(&mut conn.reader).map_err(at(Phase::Call))?;
    conn.keep_alive = head.keep_alive;
    // Inside the tunnel there is no Proxy-Authorization to answer 407 to: a token revoked
    // since the CONNECT is refused with the error JSON (403) and the tunnel closed.
    let grant = shared.vault.authenticate(token).map_err(at(Phase::Call))?;
    let grant = &grant;
    if let Some(named) = head.header("host") {
        let named = split_authority(named, 443).map(|(h, _)| h);
        if named.as_deref().ok() != Some(host) {
            return Err((
                Error::new(
                    ErrorKind::InvalidInput,
                    format!("the Host header names another host than the CONNECT ({host})"),
                ),
                Phase::Call,
            ));
        }
    }
    let path = head.target.clone();
    route_and_forward(conn, shared, &head, &path, host_key, grant).map_err(at(Phase::Call))
}

/// Routes a request for `host_key` among the token's capabilities and forwards it.
fn route_and_forward<S: Read + Write>(
    conn: &mut Conn<S>,
    shared: &Shared,
    head: &Head,
    path: &str,
    host_key: &str,
    grant: &TokenGrant,
) -> Result<()> {
    let route = shared
        .vault
        .route_allowed(host_key, &head.method, path, &|id| grant.allows(id))
        .map_err(|e| outside_token(e, grant, &head.method, &format!("{host_key}{path}")))?;
    forward(
        conn,
        shared,
        head,
        grant,
        route,
        format!("token:{},proxy", grant.name),
    )
}

/// Copies bytes both ways until either side closes or both stay silent past the idle time.
fn copy_both_ways(client: TcpStream, buffered: &[u8], mut upstream: TcpStream) {
    for s in [&client, &upstream] {
        let _ = s.set_read_timeout(Some(TUNNEL_IDLE));
        let _ = s.set_write_timeout(Some(TUNNEL_IDLE));
    }
    if upstream.write_all(buffered).is_err() {
        return;
    }
    let (Ok(mut client_in), Ok(mut upstream_out)) = (client.try_clone(), upstream.try_clone())
    else {
        return;
    };
    let down = std::thread::Builder::new()
        .name("aivault-proxy-tunnel".into())
        .spawn(move || {
            let mut client_out = client;
            let _ = std::io::copy(&mut upstream, &mut client_out);
            let _ = client_out.shutdown(Shutdown::Write);
        });
    let _ = std::io::copy(&mut client_in, &mut upstream_out);
    let _ = upstream_out.shutdown(Shutdown::Write);
    if let Ok(down) = down {
        let _ = down.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorities_and_patterns() {
        assert_eq!(
            split_authority("API.example.com:443", 0).ok(),
            Some(("api.example.com".to_string(), 443))
        );
        assert_eq!(
            split_authority("[::1]:8443", 0).ok(),
            Some(("::1".to_string(), 8443))
        );
        assert_eq!(
            split_authority("example.com", 80).ok(),
            Some(("example.com".to_string(), 80))
        );
        for bad in ["example.com:0", "example.com:x", "[::1", "a@b:443", ":443"] {
            assert!(split_authority(bad, 0).is_err(), "{bad}");
        }
        assert_eq!(host_key("::1", 8443, 443), "[::1]:8443");
        assert_eq!(host_key("a.com", 443, 443), "a.com");
        let p = passthrough_patterns(&["*.Example.com".into(), "git.host".into()]).expect("ok");
        assert!(passes(&p, "a.example.com") && passes(&p, "git.host"));
        assert!(!passes(&p, "example.com") && !passes(&p, "evilexample.com"));
        assert!(passes(&["*".into()], "anything"));
        assert!(passthrough_patterns(&["a..b".into()]).is_err());
        assert!(passthrough_patterns(&["*a.com".into()]).is_err());
    }
}
