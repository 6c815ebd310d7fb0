"""Shared fixtures: a real loopback HTTP upstream that records what it receives, a fresh vault
in a temporary directory, and a custom service (secret + credential + capability) pointing the
vault at the upstream."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest

import aivault

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Upstream:
    """A loopback HTTP/1.1 server. Every request is recorded; the answer is JSON (a chat
    completion for `/v1/chat/completions`), after `delay` seconds."""

    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def last(self) -> Received:
        with self.lock:
            return self.received[-1]


def chat_completion(model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "pong"},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def sse_chunks(model: str) -> bytes:
    """A streamed chat completion ("po", "ng") as server-sent events."""
    events = []
    for piece, finish in (("po", None), ("ng", "stop")):
        chunk = {
            "id": "chatcmpl-test", "object": "chat.completion.chunk",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "delta": {"role": "assistant", "content": piece},
                         "finish_reason": finish, "logprobs": None}],
        }
        events.append(f"data: {json.dumps(chunk)}\n\n")
    events.append("data: [DONE]\n\n")
    return "".join(events).encode()


def _handler(upstream_ref: list[Upstream]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # one answer, no 40 ms delayed-ACK stall

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _serve(self) -> None:
            upstream = upstream_ref[0]
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers: dict[str, str] = {}
            for name, value in self.headers.items():
                name = name.lower()
                headers[name] = f"{headers[name]}, {value}" if name in headers else value
            with upstream.lock:
                upstream.received.append(Received(self.command, self.path, headers, body))
            if upstream.delay:
                time.sleep(upstream.delay)
            content_type = "application/json"
            if self.path.startswith("/v1/chat/completions"):
                request = json.loads(body or b"{}")
                model = request.get("model", "test")
                answer = json.dumps(chat_completion(model)).encode()
                if request.get("stream"):
                    content_type = "text/event-stream"
                    answer = sse_chunks(model)
            else:
                answer = json.dumps({"ok": True, "method": self.command, "path": self.path}).encode()
            self.send_response(200)
            self.send_header("content-type", content_type)
            self.send_header("x-upstream", "loopback")
            self.send_header("content-length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

    return Handler


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    ref: list[Upstream] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(ref))
    server.daemon_threads = True
    ref.append(Upstream(server))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield ref[0]
    server.shutdown()
    server.server_close()


@pytest.fixture
def canary() -> str:
    return "canary-" + secrets.token_hex(12)


@pytest.fixture
def vault(tmp_path: Path) -> aivault.Vault:
    return aivault.Vault(tmp_path / "vault")


def make_service(
    vault: aivault.Vault,
    upstream: Upstream,
    value: str,
    *,
    name: str = "ACME_TOKEN",
    methods: Optional[list[str]] = None,
    paths: Optional[list[str]] = None,
    capability: str = "acme/api",
) -> aivault.SecretMeta:
    """A secret holding `value`, a credential injecting it as a bearer token towards the
    upstream (a local plain-HTTP service, so it opts in to both), a capability allowing
    `methods` under `paths`."""
    meta = vault.secrets.create(name=name, value=value)
    vault.credentials.create(
        id="acme",
        provider="acme",
        secret_refs=[meta.secret_ref],
        auth={"kind": "header"},
        hosts=[upstream.host],
        network={"allow_private_network": True, "insecure_http": True},
    )
    vault.capabilities.create(
        id=capability,
        credential="acme",
        methods=methods or ["GET", "POST"],
        paths=paths or ["/v1"],
    )
    return meta


def cli() -> Path:
    """The `aivault` CLI built from this workspace (scripts/python.sh builds it)."""
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    path = target / "debug" / "aivault"
    if not path.exists():
        subprocess.run(["cargo", "build", "-q", "-p", "aivault-cli"], cwd=REPO, check=True)
    return path
