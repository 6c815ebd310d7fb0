//! The local CA of the HTTPS proxy (`aivault serve --proxy`, `aivault proxy ca`).
//!
//! The proxy terminates the TLS of a tool that goes through it (`curl`, an SDK) with a leaf
//! certificate for the host it asked for, signed by this CA, which the tool trusts through its
//! CA bundle. The CA is an ECDSA P-256 key and a self-signed certificate, generated at first
//! use. Its private key is a vault-held blob (`envelope::seal_blob`, AAD bound to the purpose
//! `proxy-ca-key` and the CA's id; re-wrapped by master-key rotation), never written in
//! plaintext; the stored row (`meta` key `proxy_ca`) is MACed like every row the vault trusts.
//!
//! The certificate carries critical X.509 name constraints: the permitted DNS subtrees are the
//! hosts of the vault's capabilities when it was generated (registry and operator-defined),
//! `*.example.com` as the subtree `.example.com`; IP addresses are limited to the capability
//! hosts that are IP literals, or excluded entirely. So even a stolen CA key cannot make a
//! certificate that a client accepts for any other site. (A DNS subtree also admits the
//! host's subdomains: X.509 has no exact-name constraint.) Leaves live 12 hours, are minted
//! only for hosts a capability pattern matches, and are cached in memory.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    NameConstraints, PKCS_ECDSA_P256_SHA256, SanType, SerialNumber,
};
use rustls_pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::audit::{self, NewEvent, kinds};
use crate::capabilities::custom_view;
use crate::crypto;
use crate::envelope::{self, BlobBinding};
use crate::error::{Error, ErrorKind, Result};
use crate::integrity;
use crate::model::printable;
use crate::registry::host_matches;
use crate::sensitive::Key32;
use crate::store::{Envelope, StoreTx};
use crate::vault::{Keys, Vault, now_ms};

/// The `meta` key of the stored CA.
pub(crate) const META_KEY: &str = "proxy_ca";
/// The row-MAC id of the stored CA.
pub(crate) const ROW_ID: &str = "current";
/// The AAD purpose of the CA's private key.
const PURPOSE: &str = "proxy-ca-key";
/// How long a CA is valid.
const CA_LIFETIME: Duration = Duration::from_secs(5 * 366 * 24 * 3600);
/// How long a leaf is valid.
const LEAF_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// How far certificates are backdated (clocks of the tool and the proxy may differ a little).
const BACKDATE: Duration = Duration::from_secs(5 * 60);
/// A cached leaf closer than this to its end is minted again.
const RENEW_BEFORE: Duration = Duration::from_secs(3600);
/// The most leaves a CA keeps (a full cache is emptied).
const MAX_LEAVES: usize = 4096;

/// The stored CA: its certificate, what it permits, and its private key sealed.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StoredCa {
    /// `pca_` + 16 hex digits (new at every generation).
    pub id: String,
    /// The certificate, PEM.
    pub certificate_pem: String,
    /// The host patterns its name constraints permit.
    pub permitted_hosts: Vec<String>,
    /// Created (ms since the epoch).
    pub created_at_ms: i64,
    /// Its end of validity (seconds since the epoch).
    pub not_after_s: i64,
    /// The sealed PKCS#8 private key, each field hex.
    pub key_value_nonce: String,
    pub key_value_ciphertext: String,
    pub key_dek_nonce: String,
    pub key_wrapped_dek: String,
}

impl StoredCa {
    fn envelope(&self) -> Result<Envelope> {
        let hex =
            |s: &str| crypto::from_hex(s).ok_or_else(|| integrity::tampered("proxy_ca", ROW_ID));
        Ok(Envelope {
            value_nonce: hex(&self.key_value_nonce)?,
            value_ciphertext: hex(&self.key_value_ciphertext)?,
            dek_nonce: hex(&self.key_dek_nonce)?,
            wrapped_dek: hex(&self.key_wrapped_dek)?,
        })
    }

    fn set_envelope(&mut self, envelope: &Envelope) {
        self.key_value_nonce = crypto::to_hex(&envelope.value_nonce);
        self.key_value_ciphertext = crypto::to_hex(&envelope.value_ciphertext);
        self.key_dek_nonce = crypto::to_hex(&envelope.dek_nonce);
        self.key_wrapped_dek = crypto::to_hex(&envelope.wrapped_dek);
    }
}

/// The proxy's CA, unsealed: cheap to clone (shared), with its cache of leaves.
#[derive(Clone)]
pub struct ProxyCa {
    inner: Arc<Inner>,
}

struct Inner {
    id: String,
    certificate_pem: String,
    certificate_der: CertificateDer<'static>,
    permitted: Vec<String>,
    not_after: SystemTime,
    /// The signing key. (rcgen keeps its own copy of the PKCS#8 bytes, which it does not
    /// wipe; `aivault serve` is non-dumpable.)
    key: KeyPair,
    /// The issuer's name and key usages, as in the certificate.
    issuer: CertificateParams,
    leaves: Mutex<HashMap<String, ProxyLeaf>>,
}

/// Names the CA and its permitted hosts; never key material.
impl std::fmt::Debug for ProxyCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyCa")
            .field("id", &self.inner.id)
            .field("permitted_hosts", &self.inner.permitted.len())
            .finish_non_exhaustive()
    }
}

/// A leaf certificate for one host: the chain (leaf, then the CA) and its private key.
#[derive(Clone)]
pub struct ProxyLeaf {
    host: String,
    chain: Vec<CertificateDer<'static>>,
    key: Arc<Zeroizing<Vec<u8>>>,
    not_after: SystemTime,
}

/// Names the host; never the key.
impl std::fmt::Debug for ProxyLeaf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProxyLeaf")
            .field("host", &self.host)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl ProxyLeaf {
    /// The host it was minted for.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The DER chain: the leaf, then the CA certificate.
    pub fn chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The leaf's PKCS#8 private key (ECDSA P-256). Never log or persist it.
    pub fn private_key_pkcs8(&self) -> &[u8] {
        &self.key
    }

    /// The end of its validity.
    pub fn not_after(&self) -> SystemTime {
        self.not_after
    }
}

impl ProxyCa {
    /// The CA's id (`pca_...`, new at every rotation).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The CA certificate, PEM (what clients add to their trust store).
    pub fn certificate_pem(&self) -> String {
        self.inner.certificate_pem.clone()
    }

    /// The CA certificate, DER.
    pub fn certificate_der(&self) -> &CertificateDer<'static> {
        &self.inner.certificate_der
    }

    /// The host patterns its name constraints permit (`api.openai.com`, `*.openai.azure.com`,
    /// IP literals), sorted.
    pub fn permitted_hosts(&self) -> &[String] {
        &self.inner.permitted
    }

    /// Whether `host` (a DNS name or IP literal, no port) is one it may mint a leaf for.
    pub fn permits(&self, host: &str) -> bool {
        let host = normalize_host(host);
        self.inner
            .permitted
            .iter()
            .any(|p| *p == host || host_matches(p, &host))
    }

    /// A leaf certificate for `host`, valid 12 hours (backdated five minutes, never past the
    /// CA's end); cached, and minted again an hour before it ends.
    ///
    /// # Errors
    /// `policy_violation` when `host` is outside the CA's name constraints (run
    /// `aivault proxy ca --rotate` when a capability for it was added since the CA was made),
    /// or the CA has expired; `internal` when signing fails.
    pub fn mint_leaf(&self, host: &str) -> Result<ProxyLeaf> {
        let host = normalize_host(host);
        let now = SystemTime::now();
        {
            let leaves = self.leaves();
            if let Some(leaf) = leaves.get(&host)
                && leaf.not_after > now + RENEW_BEFORE
            {
                return Ok(leaf.clone());
            }
        }
        if !self.permits(&host) {
            return Err(Error::new(
                ErrorKind::PolicyViolation,
                format!(
                    "host '{}' is outside the proxy CA's name constraints (the hosts of the vault's capabilities when the CA was made); if a capability for it was added since, run `aivault proxy ca --rotate` and give clients the new certificate",
                    printable(&host)
                ),
            ));
        }
        if self.inner.not_after <= now + BACKDATE {
            return Err(Error::new(
                ErrorKind::PolicyViolation,
                "the proxy CA has expired: run `aivault proxy ca --rotate` and give clients the new certificate",
            ));
        }
        let leaf = self.sign_leaf(&host, now)?;
        let mut leaves = self.leaves();
        if leaves.len() >= MAX_LEAVES {
            leaves.clear();
        }
        leaves.insert(host, leaf.clone());
        Ok(leaf)
    }

    fn leaves(&self) -> std::sync::MutexGuard<'_, HashMap<String, ProxyLeaf>> {
        self.inner
            .leaves
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Signs a leaf for `host` without any check (the tests prove the name constraints hold
    /// against a verifier even for a leaf minted outside them).
    #[doc(hidden)]
    pub fn sign_leaf_unchecked(&self, host: &str) -> Result<ProxyLeaf> {
        self.sign_leaf(&normalize_host(host), SystemTime::now())
    }

    fn sign_leaf(&self, host: &str, now: SystemTime) -> Result<ProxyLeaf> {
        let failed = |e: rcgen::Error| Error::internal(format!("proxy CA: signing a leaf: {e}"));
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(failed)?;
        let pkcs8 = Zeroizing::new(key.serialize_der());
        let mut params = CertificateParams::default();
        let mut name = DistinguishedName::new();
        name.push(DnType::CommonName, host);
        params.distinguished_name = name;
        params.subject_alt_names = vec![match host.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => SanType::DnsName(host.try_into().map_err(failed)?),
        }];
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(serial()?);
        let not_after = (now + LEAF_LIFETIME).min(self.inner.not_after);
        params.not_before = (now - BACKDATE).into();
        params.not_after = not_after.into();
        let issuer = Issuer::from_params(&self.inner.issuer, &self.inner.key);
        let cert = params.signed_by(&key, &issuer).map_err(failed)?;
        Ok(ProxyLeaf {
            host: host.to_string(),
            chain: vec![cert.der().clone(), self.inner.certificate_der.clone()],
            key: Arc::new(pkcs8),
            not_after,
        })
    }
}

/// A host as compared: lower case, no trailing dot, no IPv6 brackets.
fn normalize_host(host: &str) -> String {
    let host = host.trim().trim_end_matches('.').to_ascii_lowercase();
    match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) => inner.to_string(),
        None => host,
    }
}

/// A capability host pattern without its port (`127.0.0.1:8443`, `[::1]:8443`).
fn without_port(pattern: &str) -> String {
    let p = pattern.trim().to_ascii_lowercase();
    if let Some(rest) = p.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default().to_string();
    }
    match p.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host.to_string()
        }
        _ => p,
    }
}

/// Whether `name` is a DNS name a name constraint can carry (letters, digits, `-`, dots).
fn valid_dns(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// The permitted host patterns of a set of capability hosts: exact names, one-label
/// wildcards (`*.example.com`) and IP literals; anything else (no constraint can express it)
/// is left out.
pub(crate) fn permitted_patterns<'h>(hosts: impl IntoIterator<Item = &'h str>) -> Vec<String> {
    let mut out: Vec<String> = hosts
        .into_iter()
        .map(without_port)
        .filter(|h| {
            h.parse::<IpAddr>().is_ok()
                || valid_dns(h.strip_prefix("*.").unwrap_or(h)) && !h.starts_with("*.*")
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The name constraints of a CA permitting `patterns`.
fn constraints(patterns: &[String]) -> NameConstraints {
    let mut permitted = Vec::new();
    let mut excluded = Vec::new();
    let mut any_ip = false;
    for pattern in patterns {
        if let Ok(ip) = pattern.parse::<IpAddr>() {
            any_ip = true;
            let bits = if ip.is_ipv4() { 32 } else { 128 };
            permitted.push(GeneralSubtree::IpAddress(CidrSubnet::from_addr_prefix(
                ip, bits,
            )));
        } else if let Some(suffix) = pattern.strip_prefix("*.") {
            permitted.push(GeneralSubtree::DnsName(format!(".{suffix}")));
        } else {
            permitted.push(GeneralSubtree::DnsName(pattern.clone()));
        }
    }
    if !any_ip {
        // No permitted IP subtree would leave IP addresses unconstrained: exclude them all.
        excluded.push(GeneralSubtree::IpAddress(CidrSubnet::from_v4_prefix(
            [0; 4], 0,
        )));
        excluded.push(GeneralSubtree::IpAddress(CidrSubnet::from_v6_prefix(
            [0; 16], 0,
        )));
    }
    if permitted.is_empty() {
        // Nothing is permitted: a name no certificate can carry keeps the DNS tree closed.
        permitted.push(GeneralSubtree::DnsName("invalid".into()));
    }
    NameConstraints {
        permitted_subtrees: permitted,
        excluded_subtrees: excluded,
    }
}

/// A random positive 16-byte serial number.
fn serial() -> Result<SerialNumber> {
    let mut bytes: [u8; 16] = crypto::random_bytes()?;
    bytes[0] &= 0x7f;
    bytes[0] |= 0x01;
    Ok(SerialNumber::from_slice(&bytes))
}

/// The issuer parameters of a CA (its name and key usages), as in its certificate.
fn issuer_params(id: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::OrganizationName, "aivault");
    name.push(DnType::CommonName, format!("aivault local proxy CA {id}"));
    params.distinguished_name = name;
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params
}

/// A new CA permitting `patterns`: its stored row (the key sealed under `wrapping`) and the
/// unsealed CA.
fn generate(keys: &Keys, patterns: Vec<String>) -> Result<(StoredCa, ProxyCa)> {
    let failed = |e: rcgen::Error| Error::internal(format!("proxy CA: generating: {e}"));
    let id_bytes: [u8; 8] = crypto::random_bytes()?;
    let id = format!("pca_{}", crypto::to_hex(&id_bytes));
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(failed)?;
    let pkcs8 = Zeroizing::new(key.serialize_der());
    let now = SystemTime::now();
    let not_after = now + CA_LIFETIME;
    let mut params = issuer_params(&id);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.name_constraints = Some(constraints(&patterns));
    params.serial_number = Some(serial()?);
    params.not_before = (now - BACKDATE).into();
    params.not_after = not_after.into();
    let cert = params.self_signed(&key).map_err(failed)?;
    let binding = BlobBinding {
        vault_id: &keys.vault_id,
        purpose: PURPOSE,
        id: &id,
    };
    let sealed = envelope::seal_blob(&keys.wrapping, &binding, &pkcs8)?;
    let not_after_s = not_after
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mut stored = StoredCa {
        id: id.clone(),
        certificate_pem: cert.pem(),
        permitted_hosts: patterns.clone(),
        created_at_ms: now_ms(),
        not_after_s,
        key_value_nonce: String::new(),
        key_value_ciphertext: String::new(),
        key_dek_nonce: String::new(),
        key_wrapped_dek: String::new(),
    };
    stored.set_envelope(&sealed);
    let ca = ProxyCa {
        inner: Arc::new(Inner {
            id: id.clone(),
            certificate_pem: stored.certificate_pem.clone(),
            certificate_der: cert.der().clone(),
            permitted: patterns,
            not_after,
            key,
            issuer: issuer_params(&id),
            leaves: Mutex::new(HashMap::new()),
        }),
    };
    Ok((stored, ca))
}

/// Unseals a stored CA (`decrypt_failed` when its key does not decrypt or does not match its
/// certificate).
fn unseal(stored: &StoredCa, keys: &Keys) -> Result<ProxyCa> {
    let binding = BlobBinding {
        vault_id: &keys.vault_id,
        purpose: PURPOSE,
        id: &stored.id,
    };
    let pkcs8 = envelope::open_blob(&keys.wrapping, &binding, &stored.envelope()?)?;
    let broken = || {
        Error::new(
            ErrorKind::IntegrityFailed,
            "the stored proxy CA is inconsistent (its key does not match its certificate): run `aivault proxy ca --rotate`",
        )
    };
    let key = KeyPair::from_pkcs8_der_and_sign_algo(
        &PrivatePkcs8KeyDer::from(pkcs8.expose()),
        &PKCS_ECDSA_P256_SHA256,
    )
    .map_err(|_| broken())?;
    let der = rustls_pki_types::pem::PemObject::from_pem_slice(stored.certificate_pem.as_bytes())
        .map(|d: CertificateDer<'_>| d.into_owned())
        .map_err(|_| broken())?;
    // The certificate's public key is the key's: its SPKI ends with the raw public key.
    let raw = key.public_key_raw();
    if !der.windows(raw.len()).any(|w| w == raw) {
        return Err(broken());
    }
    Ok(ProxyCa {
        inner: Arc::new(Inner {
            id: stored.id.clone(),
            certificate_pem: stored.certificate_pem.clone(),
            certificate_der: der,
            permitted: stored.permitted_hosts.clone(),
            not_after: SystemTime::UNIX_EPOCH
                + Duration::from_secs(u64::try_from(stored.not_after_s).unwrap_or(0)),
            key,
            issuer: issuer_params(&stored.id),
            leaves: Mutex::new(HashMap::new()),
        }),
    })
}

/// The stored CA, checked against its MAC; `integrity_failed` when its row was edited, or
/// deleted while its MAC remains.
pub(crate) fn load(tx: &dyn StoreTx, rows: &Key32) -> Result<Option<StoredCa>> {
    let Some(text) = tx.meta_get(META_KEY)? else {
        if tx.row_mac_get(integrity::kind::PROXY_CA, ROW_ID)?.is_some() {
            return Err(Error::new(
                ErrorKind::IntegrityFailed,
                "the proxy CA was deleted from vault.db outside aivault; run `aivault verify`",
            ));
        }
        return Ok(None);
    };
    let stored: StoredCa = serde_json::from_str(&text)
        .map_err(|_| integrity::tampered(integrity::kind::PROXY_CA, ROW_ID))?;
    integrity::check_row(tx, rows, integrity::kind::PROXY_CA, ROW_ID, &stored)?;
    Ok(Some(stored))
}

/// Stores `stored` and its MAC (`tx` must update the row state: a [`integrity::MacTx`]).
fn save(tx: &dyn StoreTx, rows: &Key32, stored: &StoredCa) -> Result<()> {
    let text = serde_json::to_string(stored)
        .map_err(|e| Error::internal(format!("proxy CA: encode: {e}")))?;
    tx.meta_set(META_KEY, &text)?;
    integrity::seal_row(tx, rows, integrity::kind::PROXY_CA, ROW_ID, stored)
}

/// Master-key rotation: re-wraps the CA key's DEK under `new_wrapping` (after checking the row
/// and that the key decrypts) and re-MACs the row. Nothing to do without a CA.
pub(crate) fn rewrap(tx: &dyn StoreTx, old: &Keys, new_wrapping: &Key32) -> Result<()> {
    let mac_tx = integrity::MacTx {
        inner: tx,
        key: &old.rows,
    };
    let Some(mut stored) = load(&mac_tx, &old.rows)? else {
        return Ok(());
    };
    let binding = BlobBinding {
        vault_id: &old.vault_id,
        purpose: PURPOSE,
        id: &stored.id,
    };
    let mut sealed = stored.envelope()?;
    let (nonce, wrapped) = envelope::rewrap_blob(&old.wrapping, new_wrapping, &binding, &sealed)?;
    sealed.dek_nonce = nonce;
    sealed.wrapped_dek = wrapped;
    stored.set_envelope(&sealed);
    save(&mac_tx, &old.rows, &stored)
}

impl Vault {
    /// The proxy's CA: the stored one (unsealed once per handle and kept with its cache of
    /// leaves while it stays the stored one), or, at first use, a new one whose name
    /// constraints permit the hosts of the vault's capabilities.
    ///
    /// # Errors
    /// `vault_locked`; `integrity_failed` when its row was edited or deleted outside aivault;
    /// `decrypt_failed` when its key does not decrypt.
    pub fn proxy_ca(&self) -> Result<ProxyCa> {
        let stored = self.read_keyed(|tx, keys| load(tx, &keys.rows))?;
        match stored {
            Some(stored) => self.unsealed_ca(&stored),
            None => self.new_proxy_ca(false),
        }
    }

    /// Replaces the proxy's CA with a new one whose name constraints permit the hosts of the
    /// vault's capabilities now (after adding a capability on a new host, or to retire a
    /// CA). Leaves of the old CA stop verifying once clients trust only the new certificate.
    ///
    /// # Errors
    /// As [`Vault::proxy_ca`].
    pub fn rotate_proxy_ca(&self) -> Result<ProxyCa> {
        self.new_proxy_ca(true)
    }

    /// The unsealed CA of `stored`, from this handle's cache when it is the same CA.
    fn unsealed_ca(&self, stored: &StoredCa) -> Result<ProxyCa> {
        let mut cached = self
            .proxy_ca_cache()
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(ca) = cached.as_ref()
            && ca.inner.id == stored.id
        {
            return Ok(ca.clone());
        }
        let ca = self.read_keyed(|_, keys| unseal(stored, keys))?;
        *cached = Some(ca.clone());
        Ok(ca)
    }

    /// Generates and stores a CA (replacing the stored one only when `replace`; otherwise a CA
    /// another process stored meanwhile wins).
    fn new_proxy_ca(&self, replace: bool) -> Result<ProxyCa> {
        let custom = self.read_keyed(|tx, _| tx.capability_list())?;
        let views = self.registry().capability_views();
        let customs: Vec<_> = custom.into_iter().map(custom_view).collect();
        let patterns = permitted_patterns(
            views
                .iter()
                .chain(&customs)
                .flat_map(|v| v.hosts.iter().map(String::as_str)),
        );
        let ca = self.write(|tx, keys| {
            if !replace && let Some(stored) = load(tx, &keys.rows)? {
                return Ok(Err(stored));
            }
            let (stored, ca) = generate(keys, patterns)?;
            save(tx, &keys.rows, &stored)?;
            audit::append(
                tx,
                &keys.audit,
                NewEvent::new(if replace {
                    kinds::PROXY_CA_ROTATE
                } else {
                    kinds::PROXY_CA_CREATE
                })
                .note(format!(
                    "id={} permitted_hosts={}",
                    stored.id,
                    stored.permitted_hosts.len()
                )),
                now_ms(),
            )?;
            Ok(Ok(ca))
        })?;
        match ca {
            Ok(ca) => {
                *self
                    .proxy_ca_cache()
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(ca.clone());
                Ok(ca)
            }
            Err(stored) => self.unsealed_ca(&stored),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_drop_ports_and_what_no_constraint_can_say() {
        let got = permitted_patterns([
            "api.openai.com",
            "API.OpenAI.com",
            "*.openai.azure.com",
            "127.0.0.1:8443",
            "[::1]:443",
            "bad host",
            "*.*.x.com",
            "under_score.com",
            "example.com:443",
        ]);
        assert_eq!(
            got,
            [
                "*.openai.azure.com",
                "127.0.0.1",
                "::1",
                "api.openai.com",
                "example.com"
            ]
        );
    }

    #[test]
    fn hosts_normalize() {
        assert_eq!(normalize_host("API.example.COM."), "api.example.com");
        assert_eq!(normalize_host("[::1]"), "::1");
        assert_eq!(without_port("[::1]:8443"), "::1");
        assert_eq!(without_port("::1"), "::1");
    }

    use crate::config::Config;
    use crate::vault::NewMasterKey;
    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::ServerCertVerifier;
    use rustls_pki_types::{ServerName, UnixTime};

    fn vault() -> (tempfile::TempDir, Vault) {
        let dir = tempfile::tempdir().expect("tempdir");
        let vault = Vault::open(Config::in_dir(dir.path().join("vault"))).expect("open");
        (dir, vault)
    }

    /// A real verifier (rustls' WebPKI) that trusts only `ca`.
    fn verifies(ca: &ProxyCa, leaf: &ProxyLeaf, name: &str) -> std::result::Result<(), String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.certificate_der().clone()).expect("root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .expect("verifier");
        verifier
            .verify_server_cert(
                &leaf.chain()[0],
                &[],
                &ServerName::try_from(name.to_string()).expect("name"),
                &[],
                UnixTime::now(),
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_name_constraints_hold_even_against_the_cas_own_key() {
        let (_dir, vault) = vault();
        let ca = vault.proxy_ca().expect("ca");
        assert!(ca.permitted_hosts().iter().any(|h| h == "api.openai.com"));
        let started = std::time::Instant::now();
        let leaf = ca.mint_leaf("api.openai.com").expect("mint");
        let took = started.elapsed();
        assert!(took < Duration::from_millis(20), "minting took {took:?}");
        verifies(&ca, &leaf, "api.openai.com").expect("an in-constraint leaf verifies");
        // Wildcard capability hosts: one label under the suffix.
        let azure = ca.mint_leaf("x.openai.azure.com").expect("mint");
        verifies(&ca, &azure, "x.openai.azure.com").expect("wildcard host verifies");
        // mint_leaf refuses a host outside, naming the way out.
        let err = ca.mint_leaf("bank.example.com").expect_err("outside");
        assert_eq!(err.kind(), ErrorKind::PolicyViolation);
        assert!(err.message().contains("aivault proxy ca --rotate"), "{err}");
        // A leaf signed for it anyway with the CA's key (a stolen key) fails verification.
        for host in ["bank.example.com", "127.0.0.1", "openai.com.evil.test"] {
            let forged = ca.sign_leaf_unchecked(host).expect("signed");
            let err = verifies(&ca, &forged, host).expect_err("outside the constraints");
            assert!(
                err.to_lowercase().contains("name") || err.to_lowercase().contains("constraint"),
                "{host}: {err}"
            );
        }
        // Cached: the same leaf again, fast.
        let again = ca.mint_leaf("API.openai.com.").expect("cached");
        assert_eq!(again.chain()[0], leaf.chain()[0]);
        assert!(!format!("{again:?}{ca:?}").contains("PRIVATE"));
    }

    #[test]
    fn the_key_is_never_stored_in_plaintext_and_survives_master_rotation() {
        let (dir, vault) = vault();
        let ca = vault.proxy_ca().expect("ca");
        let pkcs8 = ca.inner.key.serialize_der();
        let pem = ca.inner.key.serialize_pem();
        let scalar = &pkcs8[pkcs8.len() - 32 - 70..][..32].to_vec();
        vault.rotate_master(NewMasterKey::Random).expect("rotate");
        vault.flush_audit();
        let mut stack = vec![dir.path().to_path_buf()];
        let mut seen = 0;
        while let Some(path) = stack.pop() {
            if path.is_dir() {
                for entry in std::fs::read_dir(&path).expect("dir") {
                    stack.push(entry.expect("entry").path());
                }
                continue;
            }
            let bytes = std::fs::read(&path).expect("read");
            seen += 1;
            for needle in [&pkcs8[..], pem.as_bytes(), &scalar[..], b"PRIVATE KEY"] {
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "key material in {}",
                    path.display()
                );
            }
        }
        assert!(seen >= 2);
        // A fresh handle (new master key) unseals the same CA.
        let reopened = Vault::open(vault.config().clone()).expect("reopen");
        let same = reopened.proxy_ca().expect("ca after rotation");
        assert_eq!(same.id(), ca.id());
        let leaf = same.mint_leaf("api.openai.com").expect("mint");
        verifies(&ca, &leaf, "api.openai.com").expect("signed by the same key");
    }

    #[test]
    fn an_edited_or_swapped_row_fails_integrity() {
        let (dir, vault) = vault();
        let first = vault.proxy_ca().expect("ca");
        let db = dir.path().join("vault").join("vault.db");
        let read = || -> String {
            let conn = rusqlite::Connection::open(&db).expect("db");
            conn.query_row("SELECT value FROM meta WHERE key = 'proxy_ca'", [], |r| {
                r.get(0)
            })
            .expect("row")
        };
        let write = |text: &str| {
            let conn = rusqlite::Connection::open(&db).expect("db");
            conn.execute("UPDATE meta SET value = ?1 WHERE key = 'proxy_ca'", [text])
                .expect("update");
        };
        let old = read();
        let second = vault.rotate_proxy_ca().expect("rotate");
        assert_ne!(first.id(), second.id());
        let current = read();
        // Widening the permitted hosts in the row.
        write(&current.replace("\"api.openai.com\"", "\"bank.example.com\""));
        let fresh = Vault::open(vault.config().clone()).expect("open");
        assert_eq!(
            fresh.proxy_ca().expect_err("edited").kind(),
            ErrorKind::IntegrityFailed
        );
        // The previous CA's row put back.
        write(&old);
        let fresh = Vault::open(vault.config().clone()).expect("open");
        assert_eq!(
            fresh.proxy_ca().expect_err("swapped").kind(),
            ErrorKind::IntegrityFailed
        );
        write(&current);
        let fresh = Vault::open(vault.config().clone()).expect("open");
        assert_eq!(fresh.proxy_ca().expect("restored").id(), second.id());
        // Deleted, with its MAC left behind: refused, not silently regenerated.
        let conn = rusqlite::Connection::open(&db).expect("db");
        conn.execute("DELETE FROM meta WHERE key = 'proxy_ca'", [])
            .expect("delete");
        let fresh = Vault::open(vault.config().clone()).expect("open");
        assert_eq!(
            fresh.proxy_ca().expect_err("deleted").kind(),
            ErrorKind::IntegrityFailed
        );
    }
}
