//! The HTTPS proxy's blind tunnels (`--passthrough-host`): a TCP connection to a host the
//! caller named, through the same network guard as every broker call. The name is resolved
//! once and only a public address is connected to (no loopback, private, link-local, metadata
//! or other special-purpose address, however the name or literal is written); the tests'
//! `AIVAULT_DEV_RESOLVE` routes (debug builds only) are the one bypass, as for the broker.

use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};
use crate::model::printable;

use super::netguard::{self, DevRoutes, HostLookup};

fn refused(message: String) -> Error {
    Error::new(ErrorKind::PolicyViolation, message)
}

/// Connects to `host:port` (a DNS name or an IP literal) within `timeout`, to a validated
/// address only.
///
/// # Errors
/// `policy_violation` when the host is, or resolves only to, an address the guard refuses;
/// `invalid_input` for a malformed name; `upstream_error` when nothing answers.
pub(crate) fn connect(
    routes: &DevRoutes,
    lookup: &dyn HostLookup,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<TcpStream> {
    let host = host.trim().to_ascii_lowercase();
    let candidates: Vec<SocketAddr> = if let Some(address) = routes.route(&host, port) {
        vec![address]
    } else if let Some(ip) = netguard::parse_ip_literal(&host) {
        if let Some(reason) = netguard::refusal(ip) {
            return Err(refused(format!(
                "netguard: {} is {ip} ({reason}); refusing to connect",
                printable(&host)
            )));
        }
        vec![SocketAddr::new(ip, port)]
    } else {
        let valid = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'));
        if !valid {
            return Err(Error::invalid(format!(
                "netguard: {:?} is not a valid DNS name",
                printable(&host)
            )));
        }
        let ips: Vec<IpAddr> = lookup.lookup(&host, port).map_err(|e| {
            Error::new(
                ErrorKind::UpstreamError,
                format!("netguard: cannot resolve {host}: {e}"),
            )
        })?;
        let mut first_refusal = None;
        let accepted: Vec<SocketAddr> = ips
            .into_iter()
            .filter(|ip| match netguard::refusal(*ip) {
                Some(reason) => {
                    first_refusal.get_or_insert((*ip, reason));
                    false
                }
                None => true,
            })
            .map(|ip| SocketAddr::new(ip, port))
            .collect();
        if accepted.is_empty() {
            return Err(match first_refusal {
                Some((ip, reason)) => refused(format!(
                    "netguard: {host} resolves to {ip} ({reason}); refusing to connect"
                )),
                None => Error::new(
                    ErrorKind::UpstreamError,
                    format!("netguard: {host} has no address"),
                ),
            });
        }
        accepted
    };
    let mut last = None;
    for address in candidates.iter().take(16) {
        match TcpStream::connect_timeout(address, timeout) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    Err(Error::new(
        ErrorKind::UpstreamError,
        format!(
            "cannot connect to {host}:{port}: {}",
            last.map_or_else(|| "no address".to_string(), |e| e.to_string())
        ),
    ))
}
