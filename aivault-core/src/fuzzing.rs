//! Entry points for the property tests and timed fuzz runs (`tests/props_*.rs`,
//! `scripts/fuzz.sh`): thin wrappers over the crate's private parsers and checks, so the
//! properties exercise the code the broker runs. Not a stable API; hidden from the docs.

use std::io::Read;
use std::sync::Arc;

use crate::broker::{headers, params, path, redact, sigv4};
use crate::error::Result;

/// Query pairs as given: (raw name, raw value), `None` for `?flag`.
pub type QueryPairs = Vec<(String, Option<String>)>;

/// The broker's path normaliser: the normalized path and the raw query pairs.
///
/// # Errors
/// As the broker's step 2 (`invalid_input`, `policy_violation`).
pub fn normalize_path(raw: &str) -> Result<(String, QueryPairs)> {
    path::normalize(raw).map(|t| (t.path, t.query))
}

/// The broker's segment-aware prefix match (both sides normalized).
pub fn prefix_admits(prefix: &str, normalized_path: &str) -> bool {
    path::prefix_admits(prefix, normalized_path)
}

/// The broker's owned query parameter check on a raw target.
///
/// # Errors
/// As [`normalize_path`], and `policy_violation` for a parameter in `owned`.
pub fn check_query(raw: &str, owned: &[&str]) -> Result<Vec<String>> {
    let target = path::normalize(raw)?;
    params::check_caller_query(&target, owned)?;
    Ok(target
        .query
        .iter()
        .map(|(name, _)| path::percent_decode(name))
        .collect())
}

/// The broker's caller header check; `owned` are lower-case names the credential sets.
///
/// # Errors
/// As the broker's step 3.
pub fn check_caller_headers(
    headers: &[(String, String)],
    owned: &[String],
) -> Result<Vec<(String, String)>> {
    headers::check_caller_headers(headers, owned)
}

/// The response redactor, as the broker builds it for injected `secrets` and policy
/// `literals`.
#[derive(Debug, Clone)]
pub struct FuzzRedactor(Arc<redact::Redactor>);

impl FuzzRedactor {
    /// Builds the redactor.
    pub fn new(secrets: &[&[u8]], literals: &[String]) -> FuzzRedactor {
        FuzzRedactor(Arc::new(redact::Redactor::new(secrets, literals)))
    }

    /// Redacts a whole buffer.
    pub fn redact(&self, bytes: &[u8]) -> Vec<u8> {
        self.0.redact(bytes)
    }

    /// The streaming reader the broker wraps an upstream body in.
    pub fn reader<'r, R: Read + 'r>(&self, inner: R) -> Box<dyn Read + 'r> {
        Box::new(redact::RedactingReader::new(
            inner,
            Arc::clone(&self.0),
            None,
        ))
    }
}

/// One SigV4 signing input (see the broker's `sigv4.rs`).
#[derive(Debug, Clone, Default)]
pub struct SigV4Input {
    /// Method.
    pub method: String,
    /// Host header value.
    pub host: String,
    /// Percent-encoded path as sent.
    pub path: String,
    /// Raw query, without `?`.
    pub query: String,
    /// Other headers sent.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub payload: Vec<u8>,
    /// Region.
    pub region: String,
    /// Service.
    pub service: String,
    /// Unix time in seconds.
    pub time: i64,
}

/// Signs `input` with a fixed example key; returns the headers the broker would add.
pub fn sigv4_sign(input: &SigV4Input, session_token: Option<&str>) -> Vec<(String, String)> {
    let request = sigv4::SigV4Request {
        method: &input.method,
        host: &input.host,
        path: &input.path,
        query: &input.query,
        headers: &input.headers,
        payload: &input.payload,
    };
    let key = sigv4::SigV4Key {
        access_key_id: "AKIDEXAMPLE",
        secret_access_key: b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        session_token,
    };
    sigv4::sign(&request, &key, &input.region, &input.service, input.time)
}
