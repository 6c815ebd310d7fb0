//! Routing a plain HTTP request to the capability that allows it. An SDK knows URLs (host,
//! method, path); the broker knows capabilities. A drop-in transport for an SDK asks
//! [`Vault::route`] which capability to invoke, then invokes it: the capability's own checks
//! and every overlapping policy still apply, so routing never widens what a call may do.

use serde::Serialize;

use crate::broker::path::{normalize, prefix_admits};
use crate::capabilities::{CapabilityView, custom_view};
use crate::error::{Error, ErrorKind, Result};
use crate::model::printable;
use crate::registry::host_matches;
use crate::vault::Vault;

/// The capability a request goes through, and the path to invoke it with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    /// The capability id (`openai/chat-completions`).
    pub capability: String,
    /// The path (and query) to pass to invoke: the request's, less the capability's upstream
    /// prefix (`/backend-api/codex/responses` on chatgpt.com is `/responses`).
    pub path: String,
}

impl Vault {
    /// The capability (registry or operator-defined) whose hosts, methods and paths admit a
    /// request of `method` to `host` at `path_and_query`; when several do, the one with the
    /// longest matching prefix (the most specific). Reads no secret and needs no key.
    ///
    /// # Errors
    /// `invalid_input` or `policy_violation` for a path the broker would refuse (as invoke's
    /// step 2); `capability_not_found` when no capability allows the request; `invalid_input`
    /// when two equally specific capabilities do (name one and invoke it directly).
    pub fn route(&self, host: &str, method: &str, path_and_query: &str) -> Result<Route> {
        self.route_allowed(host, method, path_and_query, &|_| true)
    }

    /// As [`Vault::route`], among the capabilities that `allowed` accepts (a remote caller's
    /// token).
    ///
    /// # Errors
    /// As [`Vault::route`].
    pub fn route_allowed(
        &self,
        host: &str,
        method: &str,
        path_and_query: &str,
        allowed: &dyn Fn(&str) -> bool,
    ) -> Result<Route> {
        let host = host.trim().to_ascii_lowercase();
        let admits = |view: &CapabilityView| {
            allowed(&view.id)
                && view
                    .hosts
                    .iter()
                    .any(|pattern| *pattern == host || host_matches(pattern, &host))
        };
        self.route_where(&admits, &host, method, path_and_query)
    }

    /// Whether a capability that `allowed` accepts names `host` (`host` or `host:port`, as
    /// capability hosts are written) among its hosts: the HTTPS proxy terminates TLS for such a
    /// host only.
    ///
    /// # Errors
    /// `integrity_failed` when an operator capability row was edited outside aivault.
    pub fn covers_host(&self, host: &str, allowed: &dyn Fn(&str) -> bool) -> Result<bool> {
        let host = host.trim().to_ascii_lowercase();
        let custom: Vec<CapabilityView> = self
            .read(|tx| tx.capability_list())?
            .into_iter()
            .map(custom_view)
            .collect();
        let covers = |view: &CapabilityView| {
            allowed(&view.id)
                && view
                    .hosts
                    .iter()
                    .any(|pattern| *pattern == host || host_matches(pattern, &host))
        };
        Ok(self.registry().capability_views().iter().any(covers) || custom.iter().any(covers))
    }

    /// As [`Vault::route`], among the capabilities of `provider` that `allowed` accepts (the
    /// HTTP gateway's `/<provider>/<path>`: among a caller token's capabilities).
    ///
    /// # Errors
    /// As [`Vault::route`]; `capability_not_found` when none of those allows the request.
    pub fn route_provider(
        &self,
        provider: &str,
        method: &str,
        path_and_query: &str,
        allowed: &dyn Fn(&str) -> bool,
    ) -> Result<Route> {
        let of_provider = |view: &CapabilityView| view.provider == provider && allowed(&view.id);
        self.route_where(
            &of_provider,
            &format!("{provider}:"),
            method,
            path_and_query,
        )
    }

    /// The most specific capability that `admits` and whose methods and paths allow the
    /// request; `shown` names where it goes in errors.
    fn route_where(
        &self,
        admits: &dyn Fn(&CapabilityView) -> bool,
        shown: &str,
        method: &str,
        path_and_query: &str,
    ) -> Result<Route> {
        let host = shown;
        let method = method.trim().to_ascii_uppercase();
        let target = normalize(path_and_query)?;
        let query = path_and_query
            .split_once('?')
            .map(|(_, q)| format!("?{q}"))
            .unwrap_or_default();
        let custom: Vec<CapabilityView> = self
            .read(|tx| tx.capability_list())?
            .into_iter()
            .map(custom_view)
            .collect();
        let views = self.registry().capability_views().iter().chain(&custom);
        // (prefix length, view) of every capability that admits the request.
        let mut matches: Vec<(usize, &CapabilityView)> = views
            .filter(|view| view.methods.contains(&method) && admits(view))
            .filter_map(|view| {
                let base = view.upstream_prefix.clone().unwrap_or_default();
                let longest = view
                    .paths
                    .iter()
                    .map(|p| format!("{base}{p}"))
                    .filter(|prefix| prefix_admits(prefix, &target.path))
                    .map(|prefix| prefix.len())
                    .max()?;
                Some((longest, view))
            })
            .collect();
        matches.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.id.cmp(&b.1.id)));
        let shown = || format!("{method} {host}{}", printable(&target.path));
        match matches.as_slice() {
            [] => Err(Error::new(
                ErrorKind::CapabilityNotFound,
                format!(
                    "no capability allows {}: create one with `aivault capability create`",
                    shown()
                ),
            )),
            [(first, a), (second, b), ..] if first == second => Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "{} is allowed equally by '{}' and '{}': invoke one of them by name",
                    shown(),
                    a.id,
                    b.id
                ),
            )),
            [(_, view), ..] => {
                let base = view.upstream_prefix.as_deref().unwrap_or("");
                let path = target.path.strip_prefix(base).unwrap_or(&target.path);
                Ok(Route {
                    capability: view.id.clone(),
                    path: format!("{path}{query}"),
                })
            }
        }
    }
}
