"""Round trip through the binding: create → list (metadata only) → invoke against a real
loopback server that records the injected key; every namespace's operations once; no returned
object shows the value."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

import aivault
from conftest import Upstream, make_service


def everything_shown(*objects: Any) -> str:
    """What a user could see of the objects: repr and str, and JSON of the dicts."""
    parts = []
    for obj in objects:
        parts.append(repr(obj))
        parts.append(str(obj))
        try:
            parts.append(json.dumps(obj, default=repr))
        except (TypeError, ValueError):
            pass
    return "\n".join(parts)


def test_create_list_invoke(vault: aivault.Vault, upstream: Upstream, canary: str) -> None:
    meta = make_service(vault, upstream, canary)
    assert meta.name == "ACME_TOKEN"
    assert meta.scope == "global"
    assert meta.value_version == 1
    assert meta.pinned_provider is None
    assert meta.aliases == []
    assert meta.secret_ref == f"vault:secret:{meta.secret_id}"

    listed = vault.secrets.list()
    assert [m.secret_id for m in listed] == [meta.secret_id]
    assert listed[0] == meta
    assert set(meta.to_dict()) == {
        "secretId", "name", "aliases", "scope", "createdAtMs", "updatedAtMs",
        "valueVersion", "attachedGroups",
    }

    response = vault.invoke("acme/api", method="POST", path="/v1/echo?x=1", json={"q": 1},
                            headers={"x-trace": "t1"})
    assert response.status == 200
    assert response.json() == {"ok": True, "method": "POST", "path": "/v1/echo?x=1"}
    assert json.loads(response.text) == response.json()
    assert response.content == response.text.encode()
    assert response.headers["x-upstream"] == "loopback"
    assert ("x-upstream", "loopback") in response.header_list
    assert response.planned["capability"] == "acme/api"
    assert response.planned["credential"] == "acme"
    assert repr(response) == "<Response [200]>"

    got = upstream.last()
    assert got.headers["authorization"] == f"Bearer {canary}"
    assert got.headers["x-trace"] == "t1"
    assert json.loads(got.body) == {"q": 1}

    shown = everything_shown(meta, listed, response, response.planned, response.headers,
                             meta.to_dict(), vault.status(), vault.credentials.list(),
                             vault.capabilities.list(), vault.audit.query())
    assert canary not in shown


def test_body_bytes_and_str(vault: aivault.Vault, upstream: Upstream, canary: str) -> None:
    make_service(vault, upstream, canary)
    vault.invoke("acme/api", method="POST", path="/v1/a", body=b"\x00\xffraw")
    assert upstream.last().body == b"\x00\xffraw"
    vault.invoke("acme/api", method="POST", path="/v1/a", body="text é")
    assert upstream.last().body == "text é".encode()
    vault.invoke("acme/api", method="POST", path="/v1/a",
                 headers=[("x-rep", "1"), ("x-rep", "2")])
    assert upstream.last().headers["x-rep"] == "1, 2"


def test_ainvoke_runs_off_the_loop(vault: aivault.Vault, upstream: Upstream, canary: str) -> None:
    make_service(vault, upstream, canary)
    upstream.delay = 0.2

    async def main() -> tuple[aivault.Response, int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.ensure_future(ticker())
        response = await vault.ainvoke("acme/api", path="/v1/slow")
        task.cancel()
        return response, ticks

    response, ticks = asyncio.run(main())
    assert response.status == 200
    assert ticks >= 5, f"the event loop was blocked ({ticks} ticks in 200 ms)"
    assert upstream.last().headers["authorization"] == f"Bearer {canary}"


def test_secret_lifecycle(vault: aivault.Vault, canary: str) -> None:
    meta = vault.secrets.create(name="A", value=canary, aliases=["alpha"])
    assert meta.aliases == ["alpha"]
    renamed = vault.secrets.update(meta.secret_id, name="B", aliases=[])
    assert (renamed.name, renamed.aliases) == ("B", [])
    rotated = vault.secrets.rotate(meta.secret_id, canary.encode() + b"2")
    assert rotated.value_version == 2
    attached = vault.secrets.attach_group(meta.secret_id, "w1", "g1")
    assert attached.attached_groups == [("w1", "g1")]
    detached = vault.secrets.detach_group(meta.secret_id, "w1", "g1")
    assert detached.attached_groups == []
    ws = vault.secrets.create(name="W", value="v", workspace_id="w1")
    assert (ws.scope, ws.workspace_id, ws.group_id) == ("workspace", "w1", None)
    grp = vault.secrets.create(name="G", value="v", scope="group", workspace_id="w1",
                               group_id="g1")
    assert (grp.scope, grp.workspace_id, grp.group_id) == ("group", "w1", "g1")
    assert [m.name for m in vault.secrets.list(scope="group")] == ["G"]
    report = vault.secrets.import_({"X": canary, "Y": b"bytes", "EMPTY": ""})
    assert sorted(report["created"]) == ["X", "Y"]
    deleted = vault.secrets.delete(meta.secret_id)
    assert deleted["secret"]["secretId"] == meta.secret_id
    assert meta.secret_id not in [m.secret_id for m in vault.secrets.list()]
    assert canary not in everything_shown(meta, renamed, rotated, attached, report, deleted,
                                          vault.secrets.list(), vault.audit.query())


def test_capabilities_credentials_audit(vault: aivault.Vault, upstream: Upstream,
                                        canary: str) -> None:
    meta = make_service(vault, upstream, canary)
    assert [c["id"] for c in vault.credentials.list()] == ["acme"]
    described = vault.capabilities.describe("acme/api")
    assert described["capability"] == "acme/api"
    assert described["allowed"]["pathPrefixes"] == ["/v1"]
    assert "acme/api" in json.dumps(vault.capabilities.list())
    policy = vault.capabilities.set_policy("acme/api", rate_limit_per_minute=100,
                                           max_request_body_bytes=1000)
    assert policy["policy"]["rateLimitPerMinute"] == 100
    assert vault.capabilities.route(upstream.host, "get", "/v1/x?y=1") == {
        "capability": "acme/api", "path": "/v1/x?y=1"}
    vault.capabilities.bind("acme/api", meta.secret_ref, consumer="agent-1")
    bindings = vault.capabilities.bindings(capability="acme/api")
    assert [b["consumer"] for b in bindings] == ["agent-1"]
    assert vault.capabilities.unbind("acme/api", consumer="agent-1")["removed"] is True
    assert vault.capabilities.bindings() == []
    vault.invoke("acme/api", path="/v1/ping")
    events = vault.audit.query(limit=50)
    assert events and all(isinstance(e, dict) for e in events)
    assert vault.audit.verify()["ok"] is True
    assert vault.capabilities.delete("acme/api")["removedCapability"] is True
    assert vault.credentials.delete("acme")["removed"] is True
    assert vault.credentials.list() == []


def test_open_default_vault_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIVAULT_DIR", str(tmp_path / "default"))
    vault = aivault.Vault()
    assert vault.path == tmp_path / "default"
    assert vault.status()["status"]["initialized"] is True
    assert repr(vault) == f'Vault(path="{tmp_path / "default"}")'


def test_test_hooks_are_unreachable(tmp_path: Path, upstream: Upstream,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """AIVAULT_DEV_RESOLVE routes a registry host to loopback in debug CLI builds; a binding
    never honours it: the call goes to the real host's address check and fails there."""
    monkeypatch.setenv("AIVAULT_DEV_RESOLVE", f"api.openai.com={upstream.host}")
    vault = aivault.Vault(tmp_path / "v")
    vault.secrets.create(name="OPENAI_API_KEY", value="sk-test-0123456789")
    with pytest.raises(aivault.AivaultError):
        vault.invoke("openai/chat-completions", json={"model": "m"}, timeout=2)
    assert upstream.received == []
