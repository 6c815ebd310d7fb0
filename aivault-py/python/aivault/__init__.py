"""aivault from Python.

Secrets stay in the vault: values go in, only metadata comes out, and calls to a provider go
through the vault's broker, which injects the credential. The native module
``aivault._aivault`` does the work (each call releases the GIL); this package re-exports it.

    vault = aivault.Vault("/path/to/vault")
    meta = vault.secrets.create(name="OPENAI_API_KEY", value=b"sk-...")
    response = vault.invoke("openai/chat-completions", json={...})

Drop-in transports for HTTP clients: ``aivault.httpx`` and ``aivault.httpx2``.
"""

from aivault._aivault import (
    AivaultError,
    AlreadyExistsError,
    Audit,
    Capabilities,
    CapabilityNotFoundError,
    CredentialAmbiguousError,
    CredentialNotFoundError,
    Credentials,
    DecryptFailedError,
    IntegrityFailedError,
    UnauthorizedError,
    InternalError,
    InvalidInputError,
    IoError,
    NotFoundError,
    PolicyViolationError,
    RateLimitedError,
    Response,
    SecretMeta,
    Secrets,
    UpstreamError,
    Vault,
    VaultLockedError,
)

__all__ = [
    "AivaultError",
    "AlreadyExistsError",
    "Audit",
    "Capabilities",
    "CapabilityNotFoundError",
    "CredentialAmbiguousError",
    "CredentialNotFoundError",
    "Credentials",
    "DecryptFailedError",
    "IntegrityFailedError",
    "UnauthorizedError",
    "InternalError",
    "InvalidInputError",
    "IoError",
    "NotFoundError",
    "PolicyViolationError",
    "RateLimitedError",
    "Response",
    "SecretMeta",
    "Secrets",
    "UpstreamError",
    "Vault",
    "VaultLockedError",
]
