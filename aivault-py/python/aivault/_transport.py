"""The one implementation behind ``aivault.httpx`` and ``aivault.httpx2``: a request an SDK
sends to a URL goes through the broker instead of the network.

The vault is an ``aivault.Vault`` (in-process) or an ``aivault.RemoteVault``
(``aivault.connect(socket, token)``: the calls go to a running ``aivault serve``, and only the
token's capabilities are routed to). For each request: the capability that admits it is found
with ``vault.capabilities.route(host, method, path)`` (registry or operator capabilities; the most specific wins), then the request is
sent with ``vault.invoke``: the broker checks the capability's policy, injects the vault's
credential, and redacts the answer. The SDK's own auth headers (a placeholder key such as
``api_key="unused"``) and the framing headers the HTTP client adds are dropped first: the broker
refuses callers' credentials and owns the connection.

Errors (``errors="response"``, the default): a request that no capability admits, or that the
broker refuses (policy, credential, input, a caller token refused or exceeded), is answered with a synthetic ``403`` (``429`` when
rate limited) whose JSON body is ``{"error": {"type": "aivault_error", "code": KIND, "message":
...}}`` and whose ``x-aivault-error`` header names the kind, so an SDK reports it as a permission
error instead of retrying; an upstream that cannot be reached raises the client's
``ConnectError`` (the SDK retries as for any connection failure); a broken vault (locked, I/O,
integrity) raises the ``AivaultError``. With ``errors="raise"`` every ``AivaultError`` is raised
as is.

The response is read whole by the broker (it must see the bytes it redacts), so a streamed
answer (server-sent events) arrives at once when the upstream has finished.
"""

from __future__ import annotations

import functools
import json
from typing import Any, Mapping, Optional, Union

from aivault._aivault import (
    AivaultError,
    CapabilityNotFoundError,
    CredentialAmbiguousError,
    CredentialNotFoundError,
    InvalidInputError,
    PolicyViolationError,
    RateLimitedError,
    RemoteVault,
    UnauthorizedError,
    UpstreamError,
    Vault,
)

#: What a transport sends through: a vault opened in-process, or a running server.
AnyVault = Union[Vault, RemoteVault]

# Header names compared as the broker does: lower case, with "_" and "." read as "-".
#: Credentials an SDK sets itself (a placeholder key): the vault's credential replaces them.
AUTH_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "api-key",
        "x-goog-api-key",
        "x-auth-token",
    }
)
#: Connection and framing headers the HTTP client adds: the broker's client owns them, and it
#: always asks for identity encoding (it must see the bytes it redacts).
FRAMING_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
        "accept-encoding",
    }
)
DROPPED_HEADERS = AUTH_HEADERS | FRAMING_HEADERS

# Refusals answered with a response (the request never left), by status.
_REFUSED = (
    CapabilityNotFoundError,
    PolicyViolationError,
    CredentialNotFoundError,
    CredentialAmbiguousError,
    InvalidInputError,
    UnauthorizedError,
)


def _canonical(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


class Broker:
    """Sends an HTTP client's requests through a vault; the transports of ``aivault.httpx``
    and ``aivault.httpx2`` wrap one of these around their client module."""

    def __init__(
        self,
        client: Any,
        vault: AnyVault,
        *,
        credential: Optional[str] = None,
        workspace_id: Optional[str] = None,
        group_id: Optional[str] = None,
        consumer: Optional[str] = None,
        timeout: Optional[float] = None,
        errors: str = "response",
    ) -> None:
        if not isinstance(vault, (Vault, RemoteVault)):
            raise TypeError(
                f"vault: expected aivault.Vault or aivault.RemoteVault, got {type(vault).__name__}"
            )
        if errors not in ("response", "raise"):
            raise ValueError('errors: expected "response" or "raise"')
        self._client = client
        self._vault = vault
        self._context = {
            "credential": credential,
            "workspace_id": workspace_id,
            "group_id": group_id,
            "consumer": consumer,
        }
        self._timeout = timeout
        self._errors = errors

    def __repr__(self) -> str:
        return f"<aivault transport over {self._vault!r}>"

    def send(self, request: Any, body: bytes) -> Any:
        """Routes and invokes one request (blocking; the GIL is released while the broker
        works) and returns the client's ``Response``."""
        url = request.url
        host = url.host
        if ":" in host:  # an IPv6 literal
            host = f"[{host}]"
        if url.port is not None:
            host = f"{host}:{url.port}"
        target = url.raw_path.decode("ascii")
        headers = [
            (name, value)
            for name, value in request.headers.multi_items()
            if _canonical(name) not in DROPPED_HEADERS
        ]
        try:
            route = self._vault.capabilities.route(host, request.method, target)
            response = self._vault.invoke(
                route["capability"],
                method=request.method,
                path=route["path"],
                headers=headers,
                body=body or None,
                timeout=self._timeout_of(request),
                **self._context,
            )
        except AivaultError as err:
            return self._refusal(request, err)
        return self._client.Response(
            response.status,
            headers=response.header_list,
            content=response.content,
            request=request,
        )

    async def asend(self, request: Any) -> Any:
        """``send`` for async clients: the blocking call runs in a worker thread (anyio, so
        asyncio and trio event loops both keep running)."""
        import anyio.to_thread

        body = await request.aread()
        return await anyio.to_thread.run_sync(functools.partial(self.send, request, body))

    def _timeout_of(self, request: Any) -> Optional[float]:
        if self._timeout is not None:
            return self._timeout
        timeouts: Mapping[str, Optional[float]] = request.extensions.get("timeout") or {}
        read = timeouts.get("read")
        return float(read) if read else None

    def _refusal(self, request: Any, err: AivaultError) -> Any:
        if self._errors == "raise":
            raise err
        if isinstance(err, UpstreamError):
            raise self._client.ConnectError(str(err), request=request) from err
        if isinstance(err, RateLimitedError):
            status = 429
        elif isinstance(err, _REFUSED):
            status = 403
        else:
            raise err
        body = {"error": {"type": "aivault_error", "code": err.kind, "message": str(err)}}
        return self._client.Response(
            status,
            headers=[("content-type", "application/json"), ("x-aivault-error", err.kind)],
            content=json.dumps(body).encode(),
            request=request,
        )
