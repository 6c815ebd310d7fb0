"""aivault from Python: create a secret, list its metadata, let a credential inject it into a
call to a local HTTP service, and handle errors.

    python examples/python/quickstart.py VAULT_DIR [PORT]

The secret's value is read from standard input (one line), so it never shows in the process
list. Without PORT, the example starts its own local service (which checks that a bearer token
arrived, to show the injection); with PORT, the service is expected on
127.0.0.1:PORT. Plain HTTP to a local service needs the credential's opt-ins
(allow_private_network, insecure_http). Exits 0 when every step behaved.
"""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import aivault


class Service(BaseHTTPRequestHandler):
    """A stand-in for a provider's API: answers JSON and records the Authorization it got."""

    received: list[str] = []

    def do_GET(self) -> None:
        Service.received.append(self.headers.get("authorization", ""))
        body = b'{"pong": true}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def main() -> int:
    if len(sys.argv) not in (2, 3):
        print(__doc__, file=sys.stderr)
        return 2
    server = None
    if len(sys.argv) == 3:
        port = int(sys.argv[2])
    else:
        server = ThreadingHTTPServer(("127.0.0.1", 0), Service)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.server_address[1]
    value = sys.stdin.readline().rstrip("\n")

    vault = aivault.Vault(sys.argv[1])

    # 1. A secret: the value goes in; only metadata ever comes back.
    meta = vault.secrets.create(name="ACME_TOKEN", value=value, aliases=["acme"])
    del value
    print("created:", meta)
    print("secrets:", [m.name for m in vault.secrets.list()])

    # 2. A credential that injects it as a bearer token towards the local service, and a
    #    capability that allows GET under /v1 there.
    vault.credentials.create(
        id="acme",
        provider="acme",
        secret_refs=[meta.secret_ref],
        auth={"kind": "header"},
        hosts=[f"127.0.0.1:{port}"],
        network={"allow_private_network": True, "insecure_http": True},
    )
    vault.capabilities.create(id="acme/api", credential="acme", methods=["GET"], paths=["/v1"])

    # 3. The call: the broker injects the key; this process never holds it.
    response = vault.invoke("acme/api", path="/v1/ping")
    print("status:", response.status)
    print("planned:", response.planned)
    print("body:", response.json())
    if server is not None:
        injected = Service.received[-1].startswith("Bearer ") and len(Service.received[-1]) > 7
        print("service got a bearer token:", injected)
        server.shutdown()
        if not injected:
            return 1

    # 4. Errors: one class per stable kind.
    try:
        vault.invoke("acme/nope")
    except aivault.CapabilityNotFoundError as err:
        print("unknown capability:", err.kind)
    try:
        vault.invoke("acme/api", path="/v2/outside")
    except aivault.AivaultError as err:
        print("outside the capability:", err.kind)
        if not isinstance(err, aivault.PolicyViolationError):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
