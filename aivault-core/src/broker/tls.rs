//! PEM material for TLS: a credential's private CA (`--ca-cert`) and an mTLS client
//! certificate and key held in the vault.

use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, parse_pem};

use crate::error::{Error, Result};

/// Every certificate in `pem`; `invalid_input` when there is none or the PEM is malformed.
pub(crate) fn parse_certificates(pem: &str) -> Result<Vec<Certificate<'static>>> {
    let mut certs = Vec::new();
    for item in parse_pem(pem.as_bytes()) {
        match item {
            Ok(PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(_) => return Err(Error::invalid("the PEM data is malformed")),
        }
    }
    if certs.is_empty() {
        return Err(Error::invalid(
            "no certificate found (expected PEM '-----BEGIN CERTIFICATE-----')",
        ));
    }
    Ok(certs)
}

/// The client identity of an mTLS credential: the certificate chain from `certificate` and
/// the one private key from `private_key` (both PEM). Errors never quote the material.
pub(crate) fn client_cert(certificate: &[u8], private_key: &[u8]) -> Result<ClientCert> {
    let chain = std::str::from_utf8(certificate)
        .map_err(|_| Error::invalid("the mTLS certificate secret is not PEM text"))
        .and_then(parse_certificates)
        .map_err(|e| Error::invalid(format!("mTLS certificate secret: {}", e.message())))?;
    let mut key: Option<PrivateKey<'static>> = None;
    for item in parse_pem(private_key) {
        match item {
            Ok(PemItem::PrivateKey(k)) if key.is_none() => key = Some(k),
            Ok(PemItem::PrivateKey(_)) => {
                return Err(Error::invalid(
                    "the mTLS private_key secret holds more than one private key",
                ));
            }
            Ok(_) => {}
            Err(_) => {
                return Err(Error::invalid(
                    "the mTLS private_key secret is malformed PEM",
                ));
            }
        }
    }
    let key =
        key.ok_or_else(|| Error::invalid("the mTLS private_key secret holds no PEM private key"))?;
    Ok(ClientCert::new_with_certs(&chain, key))
}
