//! The broker's HTTP agents. One shared `ureq::Agent` per vault handle serves every public
//! HTTPS call (connections are pooled and reused); a credential with its own network
//! settings (private network, plain HTTP, a private CA, an mTLS client certificate) gets an
//! agent of its own, so a pooled connection never crosses credentials.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use ureq::Agent;
use ureq::tls::{Certificate, ClientCert, RootCerts, TlsConfig};
use ureq::unversioned::transport::DefaultConnector;

use crate::config::Config;
use crate::error::{Error, ErrorKind, Result};
use crate::model::NetworkOptions;

use super::netguard::{self, DevRoutes, GuardedResolver, HostLookup};

/// Connect timeout of every call.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Whole-call timeout when the caller sets none (LLM calls can take minutes).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// What makes an agent different from the shared one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct AgentKey {
    /// The credential id.
    pub credential: String,
    /// Its network options, serialized.
    pub network: String,
    /// The secret versions of an mTLS identity (so a rotated certificate gets a new agent).
    pub identity: String,
}

/// The agents of one vault handle.
pub(crate) struct Transport {
    routes: Arc<DevRoutes>,
    lookup: Arc<dyn HostLookup>,
    dev_ca: Option<Vec<Certificate<'static>>>,
    shared: OnceLock<Agent>,
    own: Mutex<HashMap<AgentKey, Agent>>,
}

impl Transport {
    /// Reads the test routing of `config` (debug builds only; `Config::from_env` refuses it
    /// in release builds).
    pub(crate) fn new(config: &Config) -> Result<Transport> {
        let dev_ca = match &config.dev_ca_cert {
            Some(pem) => Some(super::tls::parse_certificates(pem)?),
            None => None,
        };
        Ok(Transport {
            routes: Arc::new(config.dev_routes.clone()),
            lookup: config.lookup.clone(),
            dev_ca,
            shared: OnceLock::new(),
            own: Mutex::new(HashMap::new()),
        })
    }

    /// The agent for a call with `network` options and an optional client identity.
    pub(crate) fn agent(
        &self,
        key: Option<AgentKey>,
        network: &NetworkOptions,
        client_cert: Option<ClientCert>,
    ) -> Result<Agent> {
        let Some(key) = key else {
            return Ok(self
                .shared
                .get_or_init(|| self.build(&NetworkOptions::default(), None, None))
                .clone());
        };
        let mut own = self.own.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(agent) = own.get(&key) {
            return Ok(agent.clone());
        }
        let ca = match &network.ca_cert {
            Some(pem) => Some(super::tls::parse_certificates(pem)?),
            None => None,
        };
        let agent = self.build(network, ca, client_cert);
        // Old entries of the same credential (rotated certificate, changed options) go.
        own.retain(|k, _| k.credential != key.credential);
        own.insert(key, agent.clone());
        Ok(agent)
    }

    fn build(
        &self,
        network: &NetworkOptions,
        ca: Option<Vec<Certificate<'static>>>,
        client_cert: Option<ClientCert>,
    ) -> Agent {
        let mut tls = TlsConfig::builder().client_cert(client_cert);
        // A credential's private CA replaces the web roots for its hosts; the debug-only
        // test CA replaces them for everything.
        if let Some(certs) = ca.as_ref().or(self.dev_ca.as_ref()) {
            tls = tls.root_certs(RootCerts::new_with_certs(certs));
        }
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .proxy(None)
            .https_only(!network.insecure_http)
            .user_agent(concat!("aivault/", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .tls_config(tls.build())
            .build();
        let resolver = GuardedResolver {
            lookup: self.lookup.clone(),
            routes: self.routes.clone(),
            allow_private: network.allow_private_network,
            loopback_only: network.insecure_http,
        };
        Agent::with_parts(config, DefaultConnector::new(), resolver)
    }
}

/// Turns a transport failure into an aivault error naming the host, never a URL (a URL can
/// carry an injected query parameter).
pub(crate) fn upstream_error(err: ureq::Error, host: &str, timeout: Duration) -> Error {
    if let Some(refusal) = netguard::refusal_of(&err) {
        return refusal;
    }
    let message = match &err {
        ureq::Error::Timeout(_) => format!(
            "upstream {host} did not answer within {} ms",
            timeout.as_millis()
        ),
        ureq::Error::HostNotFound => format!("upstream host {host} was not found"),
        ureq::Error::ConnectionFailed => format!("cannot connect to upstream {host}"),
        ureq::Error::Io(io) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused => {
                format!("cannot connect to upstream {host}: connection refused")
            }
            std::io::ErrorKind::TimedOut => format!(
                "upstream {host} did not answer within {} ms",
                timeout.as_millis()
            ),
            _ => format!("connection to upstream {host} failed: {io}"),
        },
        ureq::Error::Tls(reason) => format!("TLS with upstream {host} failed: {reason}"),
        ureq::Error::RequireHttpsOnly(_) => {
            return Error::new(
                ErrorKind::PolicyViolation,
                format!("plain HTTP to {host} is not allowed"),
            );
        }
        ureq::Error::Protocol(_) => format!("upstream {host} sent a malformed HTTP response"),
        other => format!("call to upstream {host} failed: {}", kind_of(other)),
    };
    Error::new(ErrorKind::UpstreamError, message)
}

/// A short name of a ureq error, without its (possibly URL-bearing) details.
fn kind_of(err: &ureq::Error) -> &'static str {
    match err {
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => "invalid request",
        ureq::Error::TooManyRedirects | ureq::Error::RedirectFailed => "redirect",
        ureq::Error::BodyExceedsLimit(_) => "body too large",
        _ => "transport error",
    }
}
