//! The one error type of aivault and its small, stable vocabulary of kinds.
//!
//! Messages name ids, names and providers, never secret values. Every wrapper maps
//! [`ErrorKind`] in exactly one place (CLI exit code, JSON `kind`, Python class, ...).

use std::fmt;

/// A stable classification of failures. [`ErrorKind::as_str`] names are API: never renamed.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The caller supplied something malformed (a flag, a name, a scope, a key encoding).
    InvalidInput,
    /// The named item (secret, credential, vault) does not exist.
    NotFound,
    /// The item already exists (a name or alias in the same scope, an initialized vault).
    AlreadyExists,
    /// The vault's master key is unavailable (passphrase vault not unlocked, key variable unset).
    VaultLocked,
    /// Authenticated decryption failed: wrong key, or tampered ciphertext or metadata.
    DecryptFailed,
    /// The request is refused by policy (pinning, host, method, path).
    PolicyViolation,
    /// No capability with that id.
    CapabilityNotFound,
    /// No credential could be resolved for the capability and context.
    CredentialNotFound,
    /// Several credentials match at the same level and none was chosen.
    CredentialAmbiguous,
    /// A rate limit was exceeded.
    RateLimited,
    /// The upstream service failed (connection, TLS, timeout).
    UpstreamError,
    /// A filesystem or database I/O failure.
    Io,
    /// An invariant was broken; a bug in aivault or a corrupted vault.
    Internal,
    /// A tamper-evident structure (the audit chain) failed verification.
    IntegrityFailed,
    /// A caller token is missing, unknown, expired or revoked, or the call lies outside what
    /// the token grants (capability or context).
    Unauthorized,
}

impl ErrorKind {
    /// The stable snake_case name of this kind, as used in JSON and by every binding.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidInput => "invalid_input",
            ErrorKind::NotFound => "not_found",
            ErrorKind::AlreadyExists => "already_exists",
            ErrorKind::VaultLocked => "vault_locked",
            ErrorKind::DecryptFailed => "decrypt_failed",
            ErrorKind::PolicyViolation => "policy_violation",
            ErrorKind::CapabilityNotFound => "capability_not_found",
            ErrorKind::CredentialNotFound => "credential_not_found",
            ErrorKind::CredentialAmbiguous => "credential_ambiguous",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::UpstreamError => "upstream_error",
            ErrorKind::Io => "io",
            ErrorKind::Internal => "internal",
            ErrorKind::IntegrityFailed => "integrity_failed",
            ErrorKind::Unauthorized => "unauthorized",
        }
    }

    /// Every kind, in declaration order (for mapping tables and their tests).
    pub const ALL: [ErrorKind; 15] = [
        ErrorKind::InvalidInput,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::VaultLocked,
        ErrorKind::DecryptFailed,
        ErrorKind::PolicyViolation,
        ErrorKind::CapabilityNotFound,
        ErrorKind::CredentialNotFound,
        ErrorKind::CredentialAmbiguous,
        ErrorKind::RateLimited,
        ErrorKind::UpstreamError,
        ErrorKind::Io,
        ErrorKind::Internal,
        ErrorKind::IntegrityFailed,
        ErrorKind::Unauthorized,
    ];
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An aivault error: a stable [`ErrorKind`] plus a human message that never holds a secret.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// Builds an error of `kind` with a message (which must not contain secret material).
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
        }
    }

    /// The stable kind of this error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidInput, message)
    }

    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::NotFound, message)
    }

    pub(crate) fn exists(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::AlreadyExists, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }

    pub(crate) fn io(context: impl fmt::Display, err: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, format!("{context}: {err}"))
    }
}

/// Result alias used across the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        // SQLite messages describe statements and constraints, never bound values.
        Error::new(ErrorKind::Io, format!("vault database: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_are_stable_and_unique() {
        let names: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "invalid_input",
                "not_found",
                "already_exists",
                "vault_locked",
                "decrypt_failed",
                "policy_violation",
                "capability_not_found",
                "credential_not_found",
                "credential_ambiguous",
                "rate_limited",
                "upstream_error",
                "io",
                "internal",
                "integrity_failed",
                "unauthorized"
            ]
        );
    }
}
