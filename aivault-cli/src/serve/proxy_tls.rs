//! The proxy's side of TLS inside a `CONNECT`: one rustls server configuration per host (its
//! leaf from the vault's local CA, cached until an hour before the leaf ends, and dropped when
//! the CA is rotated), and the handshake, which reads the client's hello first so that a
//! server name other than the `CONNECT` host is refused before any certificate is shown.

use std::collections::HashMap;
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use aivault_core::{Error, ErrorKind, ProxyCa, Result};
use rustls::server::{Acceptor, ServerConfig, ServerConnection};
use rustls::{StreamOwned, pki_types::PrivateKeyDer, pki_types::PrivatePkcs8KeyDer};

/// A configuration whose leaf ends sooner than this is rebuilt.
const RENEW_BEFORE: Duration = Duration::from_secs(3600);
/// The most configurations kept (a full cache is emptied).
const MAX_CONFIGS: usize = 4096;

/// A host's configuration and the end of its leaf, by (CA id, host).
type Configs = HashMap<(String, String), (Arc<ServerConfig>, SystemTime)>;

/// Server configurations by (CA id, host).
#[derive(Default)]
pub struct TlsCache {
    configs: Mutex<Configs>,
}

impl TlsCache {
    /// The configuration presenting `ca`'s leaf for `host` (minted, or from the cache).
    ///
    /// # Errors
    /// As [`ProxyCa::mint_leaf`] (`policy_violation` for a host outside the CA's name
    /// constraints); `internal` when rustls refuses the leaf.
    pub fn config_for(&self, ca: &ProxyCa, host: &str) -> Result<Arc<ServerConfig>> {
        let key = (ca.id().to_string(), host.to_string());
        let now = SystemTime::now();
        let mut configs = self
            .configs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((config, not_after)) = configs.get(&key)
            && *not_after > now + RENEW_BEFORE
        {
            return Ok(Arc::clone(config));
        }
        let leaf = ca.mint_leaf(host)?;
        let private_key =
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.private_key_pkcs8().to_vec()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let failed = |e: rustls::Error| Error::new(ErrorKind::Internal, format!("proxy TLS: {e}"));
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(failed)?
            .with_no_client_auth()
            .with_single_cert(leaf.chain().to_vec(), private_key)
            .map_err(failed)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let config = Arc::new(config);
        if configs.len() >= MAX_CONFIGS {
            configs.clear();
        }
        // Configurations of a rotated CA go with the first one of the new CA.
        configs.retain(|(ca_id, _), _| ca_id == ca.id());
        configs.insert(key, (Arc::clone(&config), leaf.not_after()));
        Ok(config)
    }
}

/// Takes the client's hello (after `buffered`, bytes the client sent past its `CONNECT`),
/// refuses a server name other than `host`, and returns the TLS stream (the handshake
/// completes at its first read or write).
///
/// # Errors
/// `policy_violation` for another server name; `io` for a broken hello or connection.
pub fn accept(
    mut tcp: TcpStream,
    buffered: &[u8],
    host: &str,
    config: Arc<ServerConfig>,
) -> Result<StreamOwned<ServerConnection, TcpStream>> {
    let io = |e: std::io::Error| Error::new(ErrorKind::Io, format!("proxy TLS: {e}"));
    let mut acceptor = Acceptor::default();
    let mut early = buffered;
    let accepted = loop {
        if early.is_empty() {
            let n = acceptor.read_tls(&mut tcp).map_err(io)?;
            if n == 0 {
                return Err(Error::new(ErrorKind::Io, "proxy TLS: the client went away"));
            }
        } else {
            acceptor.read_tls(&mut early).map_err(io)?;
        }
        match acceptor.accept() {
            Ok(Some(accepted)) if early.is_empty() => break accepted,
            Ok(Some(_)) => {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    "proxy TLS: the client sent more than its hello before the server's answer",
                ));
            }
            Ok(None) => continue,
            Err((e, mut alert)) => {
                let _ = alert.write_all(&mut tcp);
                return Err(Error::new(ErrorKind::Io, format!("proxy TLS: {e}")));
            }
        }
    };
    if let Some(sni) = accepted.client_hello().server_name()
        && !sni.eq_ignore_ascii_case(host)
    {
        return Err(Error::new(
            ErrorKind::PolicyViolation,
            format!("proxy TLS: the client asked for '{sni}' inside a CONNECT to '{host}'"),
        ));
    }
    let connection = accepted.into_connection(config).map_err(|(e, mut alert)| {
        let _ = alert.write_all(&mut tcp);
        Error::new(ErrorKind::Io, format!("proxy TLS: {e}"))
    })?;
    Ok(StreamOwned::new(connection, tcp))
}
