"""The real `openai` package (3.x over httpx2, or <3 over httpx, whichever this environment
has) drives a loopback upstream through an aivault transport: the upstream receives the
vault's key, never the SDK's placeholder, and the agent process never holds the key (its
environment, its Python objects, its output). The secret is written by the CLI, so no Python
process ever sees its value."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import aivault
from conftest import Upstream, cli

AGENT = Path(__file__).with_name("openai_agent.py")


def test_openai_sdk_through_the_vault(tmp_path: Path, upstream: Upstream, canary: str) -> None:
    path = tmp_path / "vault"
    vault = aivault.Vault(path)
    value_file = tmp_path / "value"
    value_file.write_text(canary)
    env = {**os.environ, "AIVAULT_DIR": str(path)}
    created = subprocess.run(
        [str(cli()), "-v", "secrets", "create", "--name", "LOOPBACK_LLM_KEY", "--value-file",
         str(value_file)], env=env, capture_output=True, text=True, check=True)
    value_file.unlink()
    secret_id = json.loads(created.stdout)["secretId"]
    vault.credentials.create(
        id="loopback-llm", provider="loopback-llm", secret_refs=[f"vault:secret:{secret_id}"],
        auth={"kind": "header"}, hosts=[upstream.host],
        network={"allow_private_network": True, "insecure_http": True})
    vault.capabilities.create(id="loopback-llm/chat", credential="loopback-llm",
                              methods=["POST"], paths=["/v1/chat/completions"])

    dump = tmp_path / "dump.txt"
    agent_env = {k: v for k, v in os.environ.items() if not k.startswith("AIVAULT")}
    run = subprocess.run(
        [sys.executable, str(AGENT), str(path), f"{upstream.url}/v1", str(dump)],
        env=agent_env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    major = int(report["openai"].split(".")[0])
    assert report["client"] == ("httpx2" if major >= 3 else "httpx")
    assert report["content"] == "pong"
    assert (report["model"], report["async_model"]) == ("test-model", "test-model-async")
    assert report["refused"] == "PermissionDeniedError 403"
    assert report["streamed"] == "pong"  # server-sent events, relayed whole

    chats = [r for r in upstream.received if r.path == "/v1/chat/completions"]
    assert len(chats) == 3
    assert [r.path for r in upstream.received] == ["/v1/chat/completions"] * 3
    for got in chats:
        assert got.method == "POST"
        assert got.headers["authorization"] == f"Bearer {canary}"
        assert "unused" not in json.dumps(got.headers)
        assert json.loads(got.body)["messages"] == [{"role": "user", "content": "ping"}]

    held = dump.read_text(encoding="utf-8")
    assert "unused" in held and "pong" in held  # the scan sees what the process does hold
    assert canary not in held
    assert canary not in run.stdout + run.stderr
