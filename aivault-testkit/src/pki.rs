//! A throwaway PKI generated with rcgen: one CA, one server certificate, one client certificate.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::crypto::CryptoProvider;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A throwaway PKI: one CA, a server certificate for the given DNS names (plus `localhost`,
/// `127.0.0.1` and `::1`), and a client certificate signed by the same CA.
///
/// All fields are PEM text; keys are PKCS#8 (`-----BEGIN PRIVATE KEY-----`), ECDSA P-256.
/// The fields are public so a test can swap one of them (e.g. serve a certificate from a
/// different `Pki`) before starting an [`Upstream`](crate::Upstream).
#[derive(Debug, Clone)]
pub struct Pki {
    /// The CA certificate (the trust anchor a client should be given).
    pub ca_pem: String,
    /// The server's leaf certificate (EKU serverAuth), signed by the CA.
    pub server_cert_pem: String,
    /// The server's private key.
    pub server_key_pem: String,
    /// The client's leaf certificate (EKU clientAuth, CN `aivault-test-client`), signed by the CA.
    pub client_cert_pem: String,
    /// The client's private key.
    pub client_key_pem: String,
}

impl Pki {
    /// Generates a fresh CA, a server certificate valid for `dns_names` plus `localhost`,
    /// `127.0.0.1` and `::1`, and a client certificate. Writes nothing to disk.
    ///
    /// Entries of `dns_names` that parse as IP addresses become IP subject-alt-names.
    pub fn new(dns_names: &[&str]) -> Pki {
        // The CA.
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "aivault-testkit CA");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);

        // The server leaf.
        let mut names: Vec<String> = Vec::new();
        for name in dns_names
            .iter()
            .copied()
            .chain(["localhost", "127.0.0.1", "::1"])
        {
            if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                names.push(name.to_string());
            }
        }
        let common_name = names[0].clone();
        let mut server_params = CertificateParams::new(names).unwrap();
        server_params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        server_params.use_authority_key_identifier_extension = true;
        server_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate().unwrap();
        let server_cert = server_params.signed_by(&server_key, &issuer).unwrap();

        // The client leaf.
        let mut client_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        client_params
            .distinguished_name
            .push(DnType::CommonName, "aivault-test-client");
        client_params.use_authority_key_identifier_extension = true;
        client_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        client_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let client_key = KeyPair::generate().unwrap();
        let client_cert = client_params.signed_by(&client_key, &issuer).unwrap();

        Pki {
            ca_pem: ca_cert.pem(),
            server_cert_pem: server_cert.pem(),
            server_key_pem: server_key.serialize_pem(),
            client_cert_pem: client_cert.pem(),
            client_key_pem: client_key.serialize_pem(),
        }
    }

    /// Writes the CA certificate to `dir/ca.pem` and returns that path.
    pub fn write_ca(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ca.pem");
        fs::write(&path, &self.ca_pem).unwrap();
        path
    }

    /// Writes the client certificate and key to `dir/client.pem` and `dir/client-key.pem`
    /// and returns `(cert_path, key_path)`.
    pub fn write_client_identity(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let cert = dir.join("client.pem");
        let key = dir.join("client-key.pem");
        fs::write(&cert, &self.client_cert_pem).unwrap();
        fs::write(&key, &self.client_key_pem).unwrap();
        (cert, key)
    }

    /// The CA certificate as DER.
    pub fn ca_der(&self) -> CertificateDer<'static> {
        first_cert(&self.ca_pem)
    }

    /// The client certificate as DER (compare with [`Recorded::tls_client_cert`](crate::Recorded::tls_client_cert)).
    pub fn client_cert_der(&self) -> CertificateDer<'static> {
        first_cert(&self.client_cert_pem)
    }

    /// A rustls client configuration (ring provider) that trusts only this PKI's CA and,
    /// if `with_client_cert`, presents the client certificate. Handy for tests that talk
    /// to an [`Upstream`](crate::Upstream) directly.
    pub fn client_config(&self, with_client_cert: bool) -> Arc<ClientConfig> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca_der()).unwrap();
        let builder = ClientConfig::builder_with_provider(ring_provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = if with_client_cert {
            builder
                .with_client_auth_cert(
                    certs(&self.client_cert_pem),
                    private_key(&self.client_key_pem),
                )
                .unwrap()
        } else {
            builder.with_no_client_auth()
        };
        Arc::new(config)
    }
}

/// The ring crypto provider, passed explicitly to every config (no process-wide default).
pub(crate) fn ring_provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate in a PEM string.
pub(crate) fn certs(pem: &str) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
}

/// The first certificate in a PEM string.
fn first_cert(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

/// The private key in a PEM string.
pub(crate) fn private_key(pem: &str) -> PrivateKeyDer<'static> {
    PrivateKeyDer::from_pem_slice(pem.as_bytes()).unwrap()
}
