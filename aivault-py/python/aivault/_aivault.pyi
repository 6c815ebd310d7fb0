"""Type stubs of the native module ``aivault._aivault`` (hand-written, checked against the
module by ``python -m mypy.stubtest aivault._aivault``).

Records: ``SecretMeta`` and ``Response`` are typed classes; the other records (credentials,
capabilities, bindings, policies, audit events, status, deletion and import reports) are dicts
with the CLI's JSON names (camelCase keys), typed ``dict[str, Any]``. No record holds a secret
value, and no ``repr`` shows one.
"""

import builtins
import os
import pathlib
from collections.abc import Awaitable, Mapping, Sequence
from typing import Any, ClassVar, Optional, Union, final

__all__ = [
    "ERROR_KINDS",
    "Vault",
    "RemoteVault",
    "RemoteCapabilities",
    "connect",
    "Secrets",
    "Credentials",
    "Capabilities",
    "Audit",
    "SecretMeta",
    "Response",
    "AivaultError",
    "InvalidInputError",
    "NotFoundError",
    "AlreadyExistsError",
    "VaultLockedError",
    "DecryptFailedError",
    "PolicyViolationError",
    "CapabilityNotFoundError",
    "CredentialNotFoundError",
    "CredentialAmbiguousError",
    "RateLimitedError",
    "UpstreamError",
    "IoError",
    "InternalError",
    "IntegrityFailedError",
    "UnauthorizedError",
]

_Headers = Union[Mapping[str, str], Sequence[tuple[str, str]]]
_Value = Union[bytes, str]
_Json = Any

class AivaultError(Exception):
    """Base class of every aivault error; ``kind`` is the stable error kind (DESIGN §7)."""

    kind: ClassVar[str]

class InvalidInputError(AivaultError): ...
class NotFoundError(AivaultError): ...
class AlreadyExistsError(AivaultError): ...
class VaultLockedError(AivaultError): ...
class DecryptFailedError(AivaultError): ...
class PolicyViolationError(AivaultError): ...
class CapabilityNotFoundError(AivaultError): ...
class CredentialNotFoundError(AivaultError): ...
class CredentialAmbiguousError(AivaultError): ...
class RateLimitedError(AivaultError): ...
class UpstreamError(AivaultError): ...
class IoError(AivaultError): ...
class InternalError(AivaultError): ...
ERROR_KINDS: list[str]

class IntegrityFailedError(AivaultError): ...
class UnauthorizedError(AivaultError): ...

@final
class SecretMeta:
    """A secret's metadata (never its value)."""

    @property
    def secret_id(self) -> str: ...
    @property
    def secret_ref(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def aliases(self) -> list[str]: ...
    @property
    def scope(self) -> str: ...
    @property
    def workspace_id(self) -> Optional[str]: ...
    @property
    def group_id(self) -> Optional[str]: ...
    @property
    def pinned_provider(self) -> Optional[str]: ...
    @property
    def value_version(self) -> int: ...
    @property
    def created_at_ms(self) -> int: ...
    @property
    def updated_at_ms(self) -> int: ...
    @property
    def attached_groups(self) -> list[tuple[str, str]]: ...
    def to_dict(self) -> dict[str, Any]: ...
    def __eq__(self, value: object, /) -> bool: ...

@final
class Response:
    """An upstream response relayed by the broker (redacted)."""

    @property
    def status(self) -> int: ...
    @property
    def headers(self) -> dict[str, str]: ...
    @property
    def header_list(self) -> list[tuple[str, str]]: ...
    @property
    def content(self) -> bytes: ...
    @property
    def text(self) -> str: ...
    @property
    def planned(self) -> dict[str, Any]: ...
    def json(self) -> Any: ...

@final
class Secrets:
    def create(
        self,
        name: str,
        value: _Value,
        scope: Optional[str] = None,
        workspace_id: Optional[str] = None,
        group_id: Optional[str] = None,
        aliases: Optional[Sequence[str]] = None,
    ) -> SecretMeta: ...
    def list(
        self,
        scope: Optional[str] = None,
        workspace_id: Optional[str] = None,
        group_id: Optional[str] = None,
    ) -> builtins.list[SecretMeta]: ...
    def update(
        self, id: str, name: Optional[str] = None, aliases: Optional[Sequence[str]] = None
    ) -> SecretMeta: ...
    def rotate(self, id: str, value: _Value) -> SecretMeta: ...
    def delete(self, id: str) -> dict[str, Any]: ...
    def attach_group(self, id: str, workspace_id: str, group_id: str) -> SecretMeta: ...
    def detach_group(self, id: str, workspace_id: str, group_id: str) -> SecretMeta: ...
    def import_(
        self,
        entries: Mapping[str, _Value],
        scope: Optional[str] = None,
        workspace_id: Optional[str] = None,
        group_id: Optional[str] = None,
    ) -> dict[str, Any]: ...

@final
class Credentials:
    def create(
        self,
        id: str,
        provider: str,
        secret_refs: Sequence[str],
        auth: Optional[Mapping[str, Any]] = None,
        hosts: Optional[Sequence[str]] = None,
        workspace_id: Optional[str] = None,
        group_id: Optional[str] = None,
        network: Optional[Mapping[str, Any]] = None,
    ) -> dict[str, Any]: ...
    def list(self) -> builtins.list[dict[str, Any]]: ...
    def delete(self, id: str) -> dict[str, Any]: ...

@final
class Capabilities:
    def list(self) -> dict[str, Any]: ...
    def describe(self, id: str) -> dict[str, Any]: ...
    def create(
        self,
        id: str,
        methods: Sequence[str],
        paths: Sequence[str],
        provider: Optional[str] = None,
        credential: Optional[str] = None,
        hosts: Optional[Sequence[str]] = None,
    ) -> dict[str, Any]: ...
    def delete(self, id: str) -> dict[str, Any]: ...
    def set_policy(
        self,
        id: str,
        rate_limit_per_minute: Optional[int] = None,
        max_request_body_bytes: Optional[int] = None,
        max_response_body_bytes: Optional[int] = None,
        response_block: Optional[Sequence[str]] = None,
    ) -> dict[str, Any]: ...
    def bind(
        self,
        capability: str,
        secret_ref: str,
        scope: Optional[str] = None,
        workspace_id: Optional[str] = None,
        group_id: Optional[str] = None,
        consumer: Optional[str] = None,
    ) -> dict[str, Any]: ...
    def unbind(
        self,
        capability: str,
        scope: Optional[str] = None,
        workspace_id: Optional[str] = None,
        group_id: Optional[str] = None,
        consumer: Optional[str] = None,
    ) -> dict[str, Any]: ...
    def bindings(
        self,
        capability: Optional[str] = None,
        scope: Optional[str] = None,
        workspace_id: Optional[str] = None,
        group_id: Optional[str] = None,
        consumer: Optional[str] = None,
    ) -> builtins.list[dict[str, Any]]: ...
    def route(self, host: str, method: str, path: str) -> dict[str, str]: ...

@final
class Audit:
    def query(
        self,
        limit: Optional[int] = None,
        before_ts_ms: Optional[int] = None,
        kind: Optional[str] = None,
        secret_id: Optional[str] = None,
    ) -> builtins.list[dict[str, Any]]: ...
    def verify(self) -> dict[str, Any]: ...

@final
class Vault:
    """An open vault; thread-safe, every call releases the GIL."""

    def __new__(cls, path: Union[str, os.PathLike[str], None] = None) -> Vault: ...
    @property
    def path(self) -> pathlib.Path: ...
    @property
    def secrets(self) -> Secrets: ...
    @property
    def credentials(self) -> Credentials: ...
    @property
    def capabilities(self) -> Capabilities: ...
    @property
    def audit(self) -> Audit: ...
    def status(self) -> dict[str, Any]: ...
    def invoke(
        self,
        capability: str,
        method: Optional[str] = None,
        path: Optional[str] = None,
        headers: Optional[_Headers] = None,
        body: Optional[_Value] = None,
        json: _Json = None,
        credential: Optional[str] = None,
        workspace_id: Optional[str] = None,
        group_id: Optional[str] = None,
        consumer: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Response: ...
    def ainvoke(
        self,
        capability: str,
        method: Optional[str] = None,
        path: Optional[str] = None,
        headers: Optional[_Headers] = None,
        body: Optional[_Value] = None,
        json: _Json = None,
        credential: Optional[str] = None,
        workspace_id: Optional[str] = None,
        group_id: Optional[str] = None,
        consumer: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Awaitable[Response]: ...

@final
class RemoteCapabilities:
    """The token's capabilities, as a running ``aivault serve`` shows them."""

    def list(self) -> dict[str, Any]: ...
    def describe(self, id: str) -> dict[str, Any]: ...
    def route(self, host: str, method: str, path: str) -> dict[str, str]: ...

@final
class RemoteVault:
    """A running ``aivault serve`` and a caller token; thread-safe, every call releases the GIL."""

    def __new__(
        cls,
        socket: Union[str, os.PathLike[str], None] = None,
        token: Optional[str] = None,
    ) -> RemoteVault: ...
    @property
    def socket(self) -> pathlib.Path: ...
    @property
    def capabilities(self) -> RemoteCapabilities: ...
    def invoke(
        self,
        capability: str,
        method: Optional[str] = None,
        path: Optional[str] = None,
        headers: Optional[_Headers] = None,
        body: Optional[_Value] = None,
        json: _Json = None,
        credential: Optional[str] = None,
        workspace_id: Optional[str] = None,
        group_id: Optional[str] = None,
        consumer: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Response: ...
    def ainvoke(
        self,
        capability: str,
        method: Optional[str] = None,
        path: Optional[str] = None,
        headers: Optional[_Headers] = None,
        body: Optional[_Value] = None,
        json: _Json = None,
        credential: Optional[str] = None,
        workspace_id: Optional[str] = None,
        group_id: Optional[str] = None,
        consumer: Optional[str] = None,
        timeout: Optional[float] = None,
    ) -> Awaitable[Response]: ...

def connect(
    socket: Union[str, os.PathLike[str], None] = None, token: Optional[str] = None
) -> RemoteVault:
    """A ``RemoteVault`` for ``socket`` (else ``AIVAULT_SOCKET``) and ``token`` (else
    ``AIVAULT_TOKEN``)."""
