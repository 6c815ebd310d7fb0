#!/usr/bin/env python3
"""Benchmark of the Python binding against one loopback HTTP server, in one run:

The server runs in its own process.

1. `vault.invoke` vs the same request sent directly with httpx2 (and httpx), median per-call
   time and their ratio (the issue's target: <= 1.3), and an httpx2 client whose transport is
   `aivault.httpx2.Transport` (route + invoke: what an SDK user pays);
2. 4 threads invoking a server that answers after 20 ms vs the same calls made serially (the
   GIL is released: target < 0.4x);
3. where the broker's time goes: a call the broker refuses before the network (policy check +
   audit write) and a read-only call (capabilities.route), per call.

Build the binding in release mode first (it replaces the debug build in .venv until the next
`scripts/python.sh`):

    VIRTUAL_ENV=$PWD/.venv .venv/bin/maturin develop --release -m aivault-py/Cargo.toml
    .venv/bin/python scripts/bench_python.py [--calls 400]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

import aivault
import aivault.httpx2


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a provider's API
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/v1/slow"):
            time.sleep(0.02)
        body = b'{"object":"list","data":[{"id":"model-a"},{"id":"model-b"}]}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def per_call(fn: Callable[[], Any], calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return times


def serve() -> None:
    """The upstream, in its own process (so it never competes with the client for a GIL):
    prints its port, serves until its standard input closes."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    sys.stdin.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=400)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.serve:
        serve()
        return
    calls = options.calls

    server = subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None and server.stdin is not None
    port = int(server.stdout.readline())
    url = f"http://127.0.0.1:{port}"

    with tempfile.TemporaryDirectory() as root:
        vault = aivault.Vault(root)
        meta = vault.secrets.create(name="BENCH_TOKEN", value="bench-" + "x" * 40)
        vault.credentials.create(
            id="bench", provider="bench", secret_refs=[meta.secret_ref], auth={"kind": "header"},
            hosts=[f"127.0.0.1:{port}"],
            network={"allow_private_network": True, "insecure_http": True})
        vault.capabilities.create(id="bench/api", credential="bench", methods=["GET"],
                                  paths=["/v1"])

        import httpx
        import httpx2

        direct2 = httpx2.Client()
        direct1 = httpx.Client()


        through = httpx2.Client(transport=aivault.httpx2.Transport(vault))
        headers = {"authorization": "Bearer bench-" + "x" * 40}
        contenders: dict[str, Callable[[], Any]] = {
            "vault.invoke": lambda: vault.invoke("bench/api", path="/v1/models").content,
            "httpx2 direct": lambda: direct2.get(f"{url}/v1/models", headers=headers).content,
            "httpx direct": lambda: direct1.get(f"{url}/v1/models", headers=headers).content,
            "httpx2 + aivault transport": lambda: through.get(f"{url}/v1/models").content,
        }
        for fn in contenders.values():  # warm-up: connections, caches
            per_call(fn, 20)
        samples: dict[str, list[float]] = {name: [] for name in contenders}
        rounds = 4  # interleaved, so drift hits every contender alike
        for _ in range(rounds):
            for name, fn in contenders.items():
                samples[name] += per_call(fn, calls // rounds)
        medians = {name: statistics.median(s) for name, s in samples.items()}

        def refused() -> None:
            try:
                vault.invoke("bench/api", path="/v2/outside")
            except aivault.PolicyViolationError:
                pass

        refused_median = statistics.median(per_call(refused, 200))
        route_median = statistics.median(per_call(
            lambda: vault.capabilities.route(f"127.0.0.1:{port}", "GET", "/v1/models"), 200))

        def slow(n: int) -> None:
            for _ in range(n):
                vault.invoke("bench/api", path="/v1/slow")

        per_thread = 10
        started = time.perf_counter()
        slow(4 * per_thread)
        serial = time.perf_counter() - started
        threads = [threading.Thread(target=slow, args=(per_thread,)) for _ in range(4)]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        parallel = time.perf_counter() - started

    server.stdin.close()
    server.wait(timeout=10)
    result = {
        "calls_per_contender": calls,
        "median_ms": {name: round(m * 1000, 3) for name, m in medians.items()},
        "ratio_invoke_vs_httpx2": round(medians["vault.invoke"] / medians["httpx2 direct"], 2),
        "ratio_invoke_vs_httpx": round(medians["vault.invoke"] / medians["httpx direct"], 2),
        "ratio_transport_vs_httpx2": round(
            medians["httpx2 + aivault transport"] / medians["httpx2 direct"], 2),
        "refused_before_network_ms": round(refused_median * 1000, 3),
        "route_ms": round(route_median * 1000, 3),
        "threads_4x10_at_20ms_s": round(parallel, 3),
        "serial_40_at_20ms_s": round(serial, 3),
        "threads_vs_serial": round(parallel / serial, 2),
    }
    for name, m in medians.items():
        print(f"{name:>26}: median {m * 1000:.3f} ms per call")
    print(f"ratio vault.invoke / httpx2 direct: {result['ratio_invoke_vs_httpx2']}"
          f" (httpx: {result['ratio_invoke_vs_httpx']}; target <= 1.3); httpx2 through the"
          f" aivault transport / httpx2 direct: {result['ratio_transport_vs_httpx2']}")
    print(f"broker refusal before the network (policy + audit write): "
          f"{result['refused_before_network_ms']} ms; route (read only): {result['route_ms']} ms")
    print(f"4 threads x 10 calls at 20 ms: {parallel:.3f} s vs serial {serial:.3f} s"
          f" = {result['threads_vs_serial']}x (target < 0.4)")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
