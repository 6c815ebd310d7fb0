"""Drop-in transports for ``httpx2``: every request goes through an aivault vault.

    import httpx2
    import aivault.httpx2

    client = httpx2.Client(transport=aivault.httpx2.Transport(vault))
    openai.OpenAI(api_key="unused", base_url=..., http_client=client)

``vault`` is an ``aivault.Vault`` or, for an agent that holds only a socket and a token, an
``aivault.RemoteVault`` from ``aivault.connect()``.

``Transport`` serves ``httpx2.Client``, ``AsyncTransport`` serves ``httpx2.AsyncClient``. Each
request is routed to the capability that admits it (``vault.capabilities.route``) and invoked
through the broker, which injects the vault's credential; the SDK's placeholder auth headers are
dropped. See ``aivault._transport`` for the routing and the error rules. Importing this module
needs ``httpx2`` installed; ``aivault`` itself does not.
"""

from __future__ import annotations

from typing import Optional

import httpx2 as _client

from aivault._transport import AnyVault, Broker

__all__ = ["AsyncTransport", "Transport"]


class Transport(_client.BaseTransport):
    """A ``httpx2.Client`` transport that sends every request through ``vault``.

    Args: ``credential``, ``workspace_id``, ``group_id``, ``consumer`` choose the
    credential as for ``vault.invoke``; ``timeout`` (seconds) overrides the client's read
    timeout; ``errors`` is ``"response"`` (refusals become 403/429 responses) or ``"raise"``.
    """

    def __init__(
        self,
        vault: AnyVault,
        *,
        credential: Optional[str] = None,
        workspace_id: Optional[str] = None,
        group_id: Optional[str] = None,
        consumer: Optional[str] = None,
        timeout: Optional[float] = None,
        errors: str = "response",
    ) -> None:
        self._broker = Broker(
            _client,
            vault,
            credential=credential,
            workspace_id=workspace_id,
            group_id=group_id,
            consumer=consumer,
            timeout=timeout,
            errors=errors,
        )

    def handle_request(self, request: _client.Request) -> _client.Response:
        body = request.read()
        response: _client.Response = self._broker.send(request, body)
        return response


class AsyncTransport(_client.AsyncBaseTransport):
    """A ``httpx2.AsyncClient`` transport that sends every request through ``vault``, off
    the event loop (the blocking call runs in a worker thread). Arguments as ``Transport``.
    """

    def __init__(
        self,
        vault: AnyVault,
        *,
        credential: Optional[str] = None,
        workspace_id: Optional[str] = None,
        group_id: Optional[str] = None,
        consumer: Optional[str] = None,
        timeout: Optional[float] = None,
        errors: str = "response",
    ) -> None:
        self._broker = Broker(
            _client,
            vault,
            credential=credential,
            workspace_id=workspace_id,
            group_id=group_id,
            consumer=consumer,
            timeout=timeout,
            errors=errors,
        )

    async def handle_async_request(self, request: _client.Request) -> _client.Response:
        response: _client.Response = await self._broker.asend(request)
        return response
