"""The drop-in transports of aivault.httpx and aivault.httpx2 (one implementation): a request
to a URL is routed to the capability that admits it and sent through the broker; placeholder
auth headers never reach the upstream; refusals become 403 responses (or raise)."""

from __future__ import annotations

import asyncio
import socket
from types import ModuleType
from typing import Any

import httpx
import httpx2
import pytest

import aivault
import aivault.httpx
import aivault.httpx2
from conftest import Upstream, make_service

PAIRS = [(httpx, aivault.httpx), (httpx2, aivault.httpx2)]
IDS = ["httpx", "httpx2"]


@pytest.mark.parametrize(("client", "transports"), PAIRS, ids=IDS)
def test_sync_client(client: Any, transports: ModuleType, vault: aivault.Vault,
                     upstream: Upstream, canary: str) -> None:
    make_service(vault, upstream, canary)
    with client.Client(transport=transports.Transport(vault)) as http:
        response = http.get(f"{upstream.url}/v1/models?limit=2",
                            headers={"Authorization": "Bearer unused", "x-api-key": "unused",
                                     "x-trace": "t"})
        assert response.status_code == 200
        assert response.json() == {"ok": True, "method": "GET", "path": "/v1/models?limit=2"}
        assert response.headers["x-upstream"] == "loopback"
        posted = http.post(f"{upstream.url}/v1/items", json={"a": [1, 2]})
        assert posted.status_code == 200
    got = upstream.received
    assert [r.path for r in got] == ["/v1/models?limit=2", "/v1/items"]
    assert all(r.headers["authorization"] == f"Bearer {canary}" for r in got)
    assert "x-api-key" not in got[0].headers
    assert got[0].headers["x-trace"] == "t"
    assert got[1].body == b'{"a":[1,2]}' or got[1].body == b'{"a": [1, 2]}'
    assert all("unused" not in str(r.headers) for r in got)
    assert canary not in repr(response.headers) + response.text + repr(posted.request.headers)


@pytest.mark.parametrize(("client", "transports"), PAIRS, ids=IDS)
def test_async_client(client: Any, transports: ModuleType, vault: aivault.Vault,
                      upstream: Upstream, canary: str) -> None:
    make_service(vault, upstream, canary)

    async def main() -> list[int]:
        async with client.AsyncClient(transport=transports.AsyncTransport(vault)) as http:
            responses = await asyncio.gather(
                *(http.post(f"{upstream.url}/v1/n/{i}", content=b"x") for i in range(4)))
        return [r.status_code for r in responses]

    assert asyncio.run(main()) == [200] * 4
    assert sorted(r.path for r in upstream.received) == [f"/v1/n/{i}" for i in range(4)]
    assert all(r.headers["authorization"] == f"Bearer {canary}" for r in upstream.received)


@pytest.mark.parametrize(("client", "transports"), PAIRS, ids=IDS)
def test_refusals(client: Any, transports: ModuleType, vault: aivault.Vault,
                  upstream: Upstream, canary: str) -> None:
    make_service(vault, upstream, canary, methods=["GET"])
    with client.Client(transport=transports.Transport(vault)) as http:
        refused = http.get(f"{upstream.url}/v2/outside")
        assert refused.status_code == 403
        assert refused.headers["x-aivault-error"] == "capability_not_found"
        assert refused.json()["error"]["code"] == "capability_not_found"
        assert http.delete(f"{upstream.url}/v1/x").status_code == 403
    with client.Client(transport=transports.Transport(vault, errors="raise")) as http:
        with pytest.raises(aivault.CapabilityNotFoundError):
            http.get(f"{upstream.url}/v2/outside")
    assert upstream.received == []
    vault.capabilities.set_policy("acme/api", rate_limit_per_minute=1)
    with client.Client(transport=transports.Transport(vault)) as http:
        assert http.get(f"{upstream.url}/v1/a").status_code == 200
        limited = http.get(f"{upstream.url}/v1/a")
        assert limited.status_code == 429
        assert limited.headers["x-aivault-error"] == "rate_limited"


@pytest.mark.parametrize(("client", "transports"), PAIRS, ids=IDS)
def test_unreachable_upstream_is_a_connect_error(client: Any, transports: ModuleType,
                                                 vault: aivault.Vault, canary: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    class Closed:
        host = f"127.0.0.1:{port}"

    make_service(vault, Closed(), canary)  # type: ignore[arg-type]
    with client.Client(transport=transports.Transport(vault)) as http:
        with pytest.raises(client.ConnectError) as info:
            http.get(f"http://127.0.0.1:{port}/v1/a")
    assert isinstance(info.value.__cause__, aivault.UpstreamError)


def test_transport_arguments(vault: aivault.Vault) -> None:
    with pytest.raises(TypeError):
        aivault.httpx.Transport("not a vault")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        aivault.httpx2.Transport(vault, errors="ignore")
    assert "Vault(path=" in repr(aivault.httpx2.Transport(vault)._broker)


def test_no_client_is_a_dependency() -> None:
    """Importing aivault imports neither HTTP client; each transport module imports only its
    own."""
    import subprocess
    import sys

    code = (
        "import sys, aivault\n"
        "assert 'httpx' not in sys.modules and 'httpx2' not in sys.modules\n"
        "import aivault.httpx\n"
        "assert 'httpx2' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
