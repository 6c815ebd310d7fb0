//! Requests a tool sends through the HTTPS proxy (`aivault serve --proxy`): the tool believes
//! it talks to the upstream, so it sends its own credentials (a placeholder key, a stale
//! token). The proxy drops them, rather than refusing the call as invoke does, and the broker
//! injects the vault's: every header and query parameter the chosen capability's credential
//! sets, under any spelling a server could read as it. Blind tunnels connect through the
//! network guard.

use std::net::TcpStream;
use std::time::Duration;

use crate::broker::Invocation;
use crate::broker::params::canonical_name;
use crate::error::Result;
use crate::vault::Vault;

impl Vault {
    /// Drops from `invocation` the headers and query parameters its credential's auth sets
    /// (headers case-insensitively; parameters in the broker's canonical form). Its capability
    /// and context must be final (after [`Vault::authorize`]).
    ///
    /// # Errors
    /// As [`Vault::invoke_stream`] before any request is made (`credential_not_found`, ...).
    pub fn drop_caller_auth(&self, invocation: &mut Invocation) -> Result<()> {
        let plan = self.plan_of(invocation)?;
        let headers: Vec<String> = plan
            .auth
            .header_names()
            .into_iter()
            .map(str::to_ascii_lowercase)
            .collect();
        invocation
            .headers
            .retain(|(name, _)| !headers.contains(&name.to_ascii_lowercase()));
        let params: Vec<String> = plan
            .auth
            .param_names()
            .into_iter()
            .map(canonical_name)
            .collect();
        if let Some(path) = invocation.path.as_mut() {
            *path = without_params(path, &params);
        }
        Ok(())
    }

    /// A TCP connection to `host:port` for a blind tunnel, through the network guard (see
    /// `broker/tunnel.rs`).
    ///
    /// # Errors
    /// `policy_violation` for a host that is, or resolves to, a refused address;
    /// `upstream_error` when nothing answers within `timeout`.
    pub fn connect_guarded(&self, host: &str, port: u16, timeout: Duration) -> Result<TcpStream> {
        let config = self.config();
        crate::broker::tunnel::connect(
            &config.dev_routes,
            config.lookup.as_ref(),
            host,
            port,
            timeout,
        )
    }
}

impl Vault {
    /// Records a blind tunnel the proxy opened (`proxy.passthrough`: the token's name, host
    /// and port; nothing is injected into a tunnel, so nothing else is known).
    ///
    /// # Errors
    /// As any audit write.
    pub fn record_passthrough(&self, token: &str, host: &str, port: u16) -> Result<()> {
        let now = crate::vault::now_ms();
        self.write(|tx, keys| {
            crate::audit::append(
                tx,
                &keys.audit,
                crate::audit::NewEvent::new(crate::audit::kinds::PROXY_PASSTHROUGH).note(format!(
                    "token={token} host={} port={port}",
                    crate::model::printable(host)
                )),
                now,
            )
        })
    }
}

/// `path` without the query pieces (split on `&`) of which any name (split again on `;`, as
/// some servers do) is one of `owned` (canonical names).
fn without_params(path: &str, owned: &[String]) -> String {
    let Some((base, query)) = path.split_once('?') else {
        return path.to_string();
    };
    if owned.is_empty() {
        return path.to_string();
    }
    let kept: Vec<&str> = query
        .split('&')
        .filter(|piece| {
            !piece.split(';').any(|sub| {
                let name = sub.split_once('=').map_or(sub, |(n, _)| n);
                owned.contains(&canonical_name(name))
            })
        })
        .collect();
    if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_parameters_go_under_any_spelling() {
        let owned = vec![canonical_name("api_key")];
        assert_eq!(
            without_params("/v1/x?a=1&api_key=fake&API.KEY=x&b=2;api-key=y&c", &owned),
            "/v1/x?a=1&c"
        );
        assert_eq!(without_params("/v1/x?api_key=1", &owned), "/v1/x");
        assert_eq!(without_params("/v1/x", &owned), "/v1/x");
        assert_eq!(without_params("/v1/x?a=1", &[]), "/v1/x?a=1");
    }
}
