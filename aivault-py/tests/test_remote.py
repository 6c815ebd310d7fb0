"""The remote form against a real ``aivault serve`` (the CLI built from this workspace): the
vault, its loopback credential and a caller token are made by the CLI; the calls use only the
socket and the token (``aivault.connect``), never the vault directory."""

from __future__ import annotations

import asyncio
import json
import os
import socket as socketlib
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

import aivault
from conftest import Upstream, cli

FORGED = "avt_" + "A" * 43


@dataclass
class Served:
    socket: Path
    token: str
    value: str
    env: dict[str, str]


def _run(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(cli()), *args], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def served(tmp_path: Path, upstream: Upstream, canary: str) -> Iterator[Served]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "AIVAULT_DIR": str(tmp_path / "vault"),
        "AIVAULT_RUNTIME_DIR": str(tmp_path / "runtime"),
        "NO_COLOR": "1",
    }
    value_file = tmp_path / "value"
    value_file.write_text(canary)
    created = _run(env, "secrets", "create", "--name", "ACME", "--value-file", str(value_file))
    value_file.unlink()
    secret_id = json.loads(created)["secretId"]
    _run(env, "credential", "create", "acme", "--provider", "acme", "--secret-ref",
         f"vault:secret:{secret_id}", "--auth", "header", "--host", upstream.host,
         "--allow-private-network", "--insecure-http")
    _run(env, "capability", "create", "acme/api", "--credential", "acme", "--method", "GET",
         "--method", "POST", "--path", "/v1")
    _run(env, "capability", "create", "acme/other", "--credential", "acme", "--method", "GET",
         "--path", "/v2")
    token = _run(env, "token", "create", "--name", "py-agent", "--capability", "acme/api").strip()
    sock = tmp_path / "sock" / "broker.sock"
    server = subprocess.Popen([str(cli()), "serve", "--socket", str(sock)], env=env,
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            probe = socketlib.socket(socketlib.AF_UNIX)
            try:
                probe.connect(str(sock))
                break
            except OSError:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                assert time.monotonic() < deadline, "the server never listened"
                time.sleep(0.02)
            finally:
                probe.close()
        yield Served(sock, token, canary, env)
    finally:
        server.terminate()
        server.wait(timeout=30)
        if server.stderr:
            server.stderr.close()


def _no_canary(value: str, *objects: Any) -> None:
    for obj in objects:
        assert value not in repr(obj)
        assert value not in str(obj)


def test_round_trip_relays_status_headers_body_and_plan(served: Served, upstream: Upstream) -> None:
    remote = aivault.connect(socket=served.socket, token=served.token)
    response = remote.invoke("acme/api", path="/v1/items?x=1", headers={"x-trace": "t1"})
    assert response.status == 200
    assert response.json() == {"ok": True, "method": "GET", "path": "/v1/items?x=1"}
    assert response.headers["x-upstream"] == "loopback"
    assert ("content-type", "application/json") in response.header_list
    assert response.planned["capability"] == "acme/api"
    got = upstream.last()
    assert got.headers["authorization"] == f"Bearer {served.value}"
    assert got.headers["x-trace"] == "t1"

    posted = remote.invoke("acme/api", method="POST", path="/v1/echo", json={"a": [1, 2]})
    assert posted.status == 200 and upstream.last().body == b'{"a":[1,2]}'
    raw = remote.invoke("acme/api", method="POST", path="/v1/raw", body=b"\x00\xffbytes")
    assert raw.status == 200 and upstream.last().body == b"\x00\xffbytes"

    assert remote.socket == served.socket
    assert served.token not in repr(remote)
    _no_canary(served.value, remote, response, response.content, response.text,
               response.headers, response.header_list, response.planned, posted, raw)


def test_list_describe_and_route_show_only_the_tokens_capabilities(
    served: Served, upstream: Upstream
) -> None:
    caps = aivault.connect(socket=str(served.socket), token=served.token).capabilities
    listing = caps.list()
    assert "acme/api" in json.dumps(listing) and "acme/other" not in json.dumps(listing)
    described = caps.describe("acme/api")
    assert "acme/api" in json.dumps(described)
    assert caps.route(upstream.host, "GET", "/v1/a?b=1") == {
        "capability": "acme/api", "path": "/v1/a?b=1"}
    with pytest.raises(aivault.CapabilityNotFoundError):
        caps.route(upstream.host, "GET", "/v2/a")
    with pytest.raises(aivault.UnauthorizedError):
        caps.describe("acme/other")
    _no_canary(served.value, listing, described)


def test_calls_outside_the_token_and_forged_tokens_are_unauthorized(
    served: Served, upstream: Upstream
) -> None:
    remote = aivault.connect(socket=served.socket, token=served.token)
    before = len(upstream.received)
    with pytest.raises(aivault.UnauthorizedError) as outside:
        remote.invoke("acme/other", path="/v2/a")
    assert outside.value.kind == "unauthorized"
    with pytest.raises(aivault.UnauthorizedError):
        remote.invoke("acme/api", path="/v1/a", workspace_id="elsewhere")
    forged = aivault.connect(socket=served.socket, token=FORGED)
    with pytest.raises(aivault.UnauthorizedError) as refused:
        forged.invoke("acme/api", path="/v1/a")
    with pytest.raises(aivault.UnauthorizedError):
        forged.capabilities.list()
    assert len(upstream.received) == before, "refused calls never reach the upstream"
    _no_canary(served.value, outside.value, refused.value)


def test_connect_defaults_to_the_environment(
    served: Served, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIVAULT_SOCKET", str(served.socket))
    monkeypatch.setenv("AIVAULT_TOKEN", served.token)
    assert aivault.connect().invoke("acme/api", path="/v1/env").status == 200
    monkeypatch.delenv("AIVAULT_TOKEN")
    with pytest.raises(aivault.UnauthorizedError, match="AIVAULT_TOKEN"):
        aivault.connect()
    monkeypatch.delenv("AIVAULT_SOCKET")
    with pytest.raises(aivault.InvalidInputError, match="AIVAULT_SOCKET"):
        aivault.connect(token=served.token)
    dead = aivault.connect(socket=tmp_path / "nothing.sock", token=served.token)
    with pytest.raises(aivault.IoError):
        dead.invoke("acme/api")


def test_threads_and_asyncio_run_calls_at_once(served: Served, upstream: Upstream) -> None:
    """Eight calls to a 0.3 s upstream finish in well under 8 x 0.3 s: the GIL is released
    while a call waits, and `ainvoke` keeps the event loop free."""
    upstream.delay = 0.3
    remote = aivault.connect(socket=served.socket, token=served.token)
    statuses: list[int] = []
    start = time.monotonic()
    threads = [threading.Thread(target=lambda i=i: statuses.append(
        remote.invoke("acme/api", path=f"/v1/t{i}").status)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * 8
    assert time.monotonic() - start < 1.6

    async def gather() -> list[Any]:
        return await asyncio.gather(
            *(remote.ainvoke("acme/api", path=f"/v1/a{i}") for i in range(8)))

    start = time.monotonic()
    responses = asyncio.run(gather())
    assert [r.status for r in responses] == [200] * 8
    assert time.monotonic() - start < 1.6


AGENT = textwrap.dedent("""
    import json, os, sys
    import openai
    import aivault
    if int(openai.__version__.split(".")[0]) >= 3:
        import httpx2 as client
        import aivault.httpx2 as transports
    else:
        import httpx as client
        import aivault.httpx as transports
    remote = aivault.connect()  # AIVAULT_SOCKET and AIVAULT_TOKEN only
    sdk = openai.OpenAI(api_key="unused", base_url=sys.argv[1], max_retries=0,
                        http_client=client.Client(transport=transports.Transport(remote)))
    completion = sdk.chat.completions.create(
        model="remote-model", messages=[{"role": "user", "content": "ping"}])
    outside = openai.OpenAI(api_key="unused", base_url=sys.argv[2], max_retries=0,
                            http_client=client.Client(transport=transports.Transport(remote)))
    try:
        outside.models.list()
        refused = "not refused"
    except openai.APIStatusError as err:
        refused = f"{type(err).__name__} {err.status_code}"
    forged = openai.OpenAI(api_key="unused", base_url=sys.argv[1], max_retries=0,
                           http_client=client.Client(transport=transports.Transport(
                               aivault.connect(token="avt_" + "A" * 43))))
    try:
        forged.models.list()
        forged_refused = "not refused"
    except openai.APIStatusError as err:
        forged_refused = f"{type(err).__name__} {err.status_code} {err.body['code']}"
    print(json.dumps({"content": completion.choices[0].message.content,
                      "model": completion.model, "refused": refused,
                      "forged": forged_refused,
                      "env": sorted(k for k in os.environ if k.startswith("AIVAULT"))}))
""")


def test_the_openai_sdk_through_a_remote_vault(served: Served, upstream: Upstream) -> None:
    pytest.importorskip("openai")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": served.env["HOME"],
        "AIVAULT_SOCKET": str(served.socket),
        "AIVAULT_TOKEN": served.token,
        "AIVAULT_DIR": "/nonexistent/the-agent-has-no-vault",
    }
    run = subprocess.run(
        [sys.executable, "-c", AGENT, f"{upstream.url}/v1", f"{upstream.url}/v2"],
        env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert (report["content"], report["model"]) == ("pong", "remote-model")
    assert report["refused"] == "PermissionDeniedError 403"  # /v2 is outside the token
    assert report["forged"] == "PermissionDeniedError 403 unauthorized"
    assert report["env"] == ["AIVAULT_DIR", "AIVAULT_SOCKET", "AIVAULT_TOKEN"]
    got = upstream.last()
    assert got.path == "/v1/chat/completions"
    assert got.headers["authorization"] == f"Bearer {served.value}"
    assert "unused" not in json.dumps(got.headers)
    assert served.value not in run.stdout + run.stderr
