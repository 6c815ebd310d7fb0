"""aivault from Python.

Secrets stay in the vault: values go in, only metadata comes out, and calls to a provider go
through the vault's broker, which injects the credential. The native module
``aivault._aivault`` does the work (each call releases the GIL); this package re-exports it.

    vault = aivault.Vault("/path/to/vault")
    meta = vault.secrets.create(name="OPENAI_API_KEY", value=b"sk-...")
    response = vault.invoke("openai/chat-completions", json={...})

An agent on the other side of the boundary (``aivault serve``) holds only a socket and a
caller token, and uses the same calls:

    remote = aivault.connect(socket="/run/user/1000/aivault/broker.sock", token="avt_...")
    response = remote.invoke("openai/chat-completions", json={...})

Drop-in transports for HTTP clients: ``aivault.httpx`` and ``aivault.httpx2`` (over a ``Vault``
or a ``RemoteVault``).
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
    RemoteCapabilities,
    RemoteVault,
    Response,
    SecretMeta,
    Secrets,
    UpstreamError,
    Vault,
    VaultLockedError,
    connect,
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
    "RemoteCapabilities",
    "RemoteVault",
    "Response",
    "SecretMeta",
    "Secrets",
    "UpstreamError",
    "Vault",
    "VaultLockedError",
    "connect",
]
