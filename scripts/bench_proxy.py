#!/usr/bin/env python3
"""Benchmarks of the HTTPS proxy (`aivault serve --proxy`), each side by side in one run.

1. curl through the proxy vs curl direct, keep-alive on both sides. One loopback HTTPS upstream
   (`aivault-testkit/examples/serve.rs`, a 1 KiB JSON body) stands in for api.openai.com. In
   each round one curl process fetches N URLs through the proxy
   (`--proxy http://aivault:TOKEN@127.0.0.1:PORT --cacert <aivault proxy ca>`: one CONNECT,
   one TLS session with the proxy, which keeps its own connection to the upstream), and one
   fetches the same N URLs directly (`--connect-to ... --cacert <upstream CA>`: one TLS
   session). Both send the same headers (`authorization: Bearer x`, which the proxy drops).
   Per-request times are curl's `%{time_total}` and `%{time_starttransfer}`; the first
   request of each process (TCP, CONNECT, TLS handshakes) is reported apart, and every later
   one must have reused its connection (`%{num_connects}` 0, checked). Rounds alternate which
   side goes first. Reported: the median per request over all rounds for each side, the ratio
   of the medians, and the median of the per-round ratios. Target: <= 1.3.
2. A new host's first CONNECT. A raw client (this script: CONNECT, then a TLS handshake with
   Python's ssl module trusting only the exported CA; no request) connects to a host never
   seen before (`h<n>.openai.azure.com`, under the registry's `*.openai.azure.com`, which the
   token's `azure-openai/models` covers; no upstream is contacted) and, interleaved, to a
   host whose leaf is cached. The difference of the medians is what a new host pays (the leaf
   minted and its TLS configuration built). Target: a mint <= 2 ms (see also --criterion).

With --criterion the script also runs `cargo bench -p aivault-core --bench proxy_ca` (the
mint alone, in process: `ProxyCa::mint_leaf` for a new host and a cached one) and prints its
medians from target/criterion/*/new/estimates.json.

Every binary is a `bench-dev` build: release optimizations with debug assertions, because the
test hooks AIVAULT_DEV_RESOLVE / AIVAULT_DEV_CA_CERT, which route api.openai.com to the
loopback upstream, exist only in debug-assertion builds (see bench_invoke.py). The upstream is
built with the same profile so that one dependency build serves both.

With --baseline PATH another `aivault` binary (a bench-dev build of another commit) serves a
second proxy on a vault of its own, measured in the same rounds (before/after a change).

Usage: scripts/bench_proxy.py [--rounds N] [--requests N] [--handshakes N] [--criterion]
                              [--baseline AIVAULT] [--skip-build]
"""

from __future__ import annotations

import argparse
import base64
import datetime
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
PROFILE = "bench-dev"
URL = "https://api.openai.com/v1/models"
RATIO_TARGET = 1.3
MINT_TARGET_MS = 2.0
WRITE_OUT = r"%{time_total} %{time_starttransfer} %{num_connects} %{http_code}\n"


def run(cmd, env=None, check=True, **kw):
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, **kw)
    if check and out.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({out.returncode}): {out.stderr.strip()}")
    return out


def loadavg() -> str:
    return Path("/proc/loadavg").read_text().strip()


class Upstream:
    """`aivault-testkit/examples/serve.rs`: a loopback HTTPS api.openai.com."""

    def __init__(self, workdir: Path):
        workdir.mkdir(parents=True, exist_ok=True)
        self.proc = subprocess.Popen([str(TARGET / PROFILE / "examples/serve"), str(workdir)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        info = json.loads(self.proc.stdout.readline())
        self.port, self.ca = info["port"], info["ca"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


class ProxyServer:
    """`aivault serve --proxy 127.0.0.1:0`; the address from its stderr."""

    def __init__(self, aivault: str, env: dict, socket_path: Path):
        args = [aivault, "serve", "--socket", str(socket_path), "--proxy", "127.0.0.1:0"]
        self.proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.port = None
        for line in self.proc.stderr:
            if "HTTPS proxy on http://" in line:
                self.port = int(line.split("http://")[1].split()[0].rsplit(":", 1)[1])
                break
        if self.port is None:
            sys.exit("aivault serve --proxy did not start")
        # Keep draining stderr so that the server never blocks on a full pipe.
        self.drain = subprocess.Popen(["cat"], stdin=self.proc.stderr, stdout=subprocess.DEVNULL)

    def close(self):
        self.proc.terminate()
        self.proc.wait()
        self.drain.wait()


def curl_times(argv: list[str], n: int) -> list[tuple[float, float, int]]:
    """One curl process fetching `n` URLs: (time_total, time_starttransfer, num_connects) each."""
    out = run(argv, env={"PATH": os.environ["PATH"], "HOME": "/nonexistent"})
    rows = [line.split() for line in out.stdout.splitlines() if line.strip()]
    if len(rows) != n or any(r[3] != "200" for r in rows):
        sys.exit(f"curl: expected {n} answers of 200, got {out.stdout!r} {out.stderr!r}")
    return [(float(r[0]), float(r[1]), int(r[2])) for r in rows]


def proxy_vs_direct(proxies: dict, upstream: Upstream, rounds: int, n: int) -> dict:
    """`proxies`: label -> (port, token, CA path). Every round runs each proxy's curl and the
    direct curl, in an order that rotates from round to round."""
    urls = []
    for _ in range(n):
        urls += ["-o", "/dev/null", URL]
    common = ["curl", "-s", "-H", "authorization: Bearer x", "-w", WRITE_OUT]
    sides = {label: common + ["--proxy", f"http://aivault:{token}@127.0.0.1:{port}", "--cacert", ca] + urls
             for label, (port, token, ca) in proxies.items()}
    sides["direct"] = common + ["--cacert", upstream.ca,
                                "--connect-to", f"api.openai.com:443:127.0.0.1:{upstream.port}"] + urls
    labels = list(sides)
    for _ in range(2):  # warm up (the first through a proxy mints the leaf)
        for label in labels:
            curl_times(sides[label], n)
    per = {label: [] for label in labels}
    start = {label: [] for label in labels}
    first = {label: [] for label in labels}
    round_ratios = {label: [] for label in proxies}
    for i in range(rounds):
        medians = {}
        for label in labels[i % len(labels):] + labels[:i % len(labels)]:
            rows = curl_times(sides[label], n)
            later = rows[1:]
            if any(c != 0 for _, _, c in later):
                sys.exit(f"{label}: curl opened a new connection after the first request: {rows}")
            first[label].append(rows[0][0])
            per[label] += [t for t, _, _ in later]
            start[label] += [st for _, st, _ in later]
            medians[label] = statistics.median(t for t, _, _ in later)
        for label in proxies:
            round_ratios[label].append(medians[label] / medians["direct"])
    ms = lambda xs: round(statistics.median(xs) * 1e3, 3)  # noqa: E731
    out = {"requests_per_process": n, "rounds": rounds, "target": f"<= {RATIO_TARGET}"}
    for label in labels:
        out[label] = {"per_request_ms": ms(per[label]), "starttransfer_ms": ms(start[label]),
                      "first_request_ms": ms(first[label])}
    for label in proxies:
        ratios = round_ratios[label]
        out[label].update({
            "ratio": round(statistics.median(per[label]) / statistics.median(per["direct"]), 3),
            "ratio_median_of_rounds": round(statistics.median(ratios), 3),
            "ratio_rounds_min_max": [round(min(ratios), 3), round(max(ratios), 3)],
        })
    return out


def handshake(port: int, token: str, host: str, ctx: ssl.SSLContext) -> float:
    """CONNECT `host`:443 and a TLS handshake with the proxy's leaf; the seconds it took."""
    auth = base64.b64encode(f"aivault:{token}".encode()).decode()
    t = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(f"CONNECT {host}:443 HTTP/1.1\r\nHost: {host}:443\r\n"
                  f"Proxy-Authorization: Basic {auth}\r\n\r\n".encode())
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = s.recv(4096)
            if not chunk:
                break
            answer += chunk
        if not answer.startswith(b"HTTP/1.1 200"):
            sys.exit(f"CONNECT {host}: {answer[:200]!r}")
        with ctx.wrap_socket(s, server_hostname=host):
            return time.perf_counter() - t


def new_host_first_connect(port: int, token: str, proxy_ca: str, count: int) -> dict:
    ctx = ssl.create_default_context(cafile=proxy_ca)
    ctx.set_alpn_protocols(["http/1.1"])
    cached_host = "cached.openai.azure.com"
    for i in range(5):  # warm up; mints the cached host's leaf
        handshake(port, token, cached_host, ctx)
        handshake(port, token, f"warm{i}.openai.azure.com", ctx)
    new, cached = [], []
    for i in range(count):
        new.append(handshake(port, token, f"h{i}.openai.azure.com", ctx))
        cached.append(handshake(port, token, cached_host, ctx))
    mn, mc = statistics.median(new), statistics.median(cached)
    return {"handshakes": count, "new_host_ms": round(mn * 1e3, 3), "cached_host_ms": round(mc * 1e3, 3),
            "new_host_pays_ms": round((mn - mc) * 1e3, 3), "target": f"mint <= {MINT_TARGET_MS} ms"}


def start_proxy(aivault: str, workdir: Path, upstream: Upstream) -> tuple[ProxyServer, str, str]:
    """A vault with OPENAI_API_KEY and AZURE_OPENAI_API_KEY, a token for `openai/models` and
    `azure-openai/models`, the proxy CA exported, and `aivault serve --proxy` on it (with
    api.openai.com routed to the upstream): (server, token, CA path)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIVAULT_")}
    env.update(AIVAULT_DIR=str(workdir / "vault"), AIVAULT_RUNTIME_DIR=str(workdir / "run"), NO_COLOR="1",
               AIVAULT_DEV_RESOLVE=f"api.openai.com=127.0.0.1:{upstream.port}",
               AIVAULT_DEV_CA_CERT=upstream.ca)
    run([aivault, "secrets", "create", "--name", "OPENAI_API_KEY", "--value", "sk-bench-000000000001"], env)
    run([aivault, "secrets", "create", "--name", "AZURE_OPENAI_API_KEY", "--value", "az-bench-0000000001"], env)
    token = run([aivault, "token", "create", "--name", "bench", "--capability", "openai/models",
                 "--capability", "azure-openai/models"], env).stdout.strip()
    proxy_ca = str(workdir / "proxy-ca.pem")
    run([aivault, "proxy", "ca", "--out", proxy_ca], env)
    return ProxyServer(aivault, env, workdir / "sock" / "broker.sock"), token, proxy_ca


def criterion() -> dict:
    run(["cargo", "bench", "--locked", "-p", "aivault-core", "--bench", "proxy_ca"], cwd=ROOT)
    out = {}
    for name in ("proxy_ca_mint_leaf/new_host", "proxy_ca_mint_leaf/cached",
                 "proxy_ca_vault_proxy_ca/stored", "proxy_ca_vault_proxy_ca/first_use_per_handle"):
        path = TARGET / "criterion" / name / "new/estimates.json"
        if path.exists():
            est = json.loads(path.read_text())
            out[name.replace("proxy_ca_", "", 1)] = f"{est['median']['point_estimate'] / 1e3:.1f} µs"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--handshakes", type=int, default=200)
    parser.add_argument("--criterion", action="store_true")
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--baseline", metavar="AIVAULT",
                        help="another aivault bench-dev binary (e.g. built from main) whose proxy runs in "
                             "the same rounds, for a before/after comparison")
    args = parser.parse_args()
    if shutil.which("curl") is None:
        sys.exit("curl is needed")
    if not args.skip_build:
        run(["cargo", "build", "--locked", "--profile", PROFILE, "-p", "aivault-cli", "-p", "aivault-testkit",
             "--bin", "aivault", "--example", "serve"], cwd=ROOT)
    binaries = {"proxy": str(TARGET / PROFILE / "aivault")}
    if args.baseline:
        binaries["baseline_proxy"] = str(Path(args.baseline).resolve())
    results = {"date": datetime.date.today().isoformat(), "loadavg_start": loadavg(), "cpus": os.cpu_count(),
               "binaries": binaries}
    workdir = Path(tempfile.mkdtemp(prefix="aivault-bench-proxy-"))
    upstream = None
    servers = []
    try:
        upstream = Upstream(workdir / "upstream")
        proxies = {}
        for label, aivault in binaries.items():
            server, token, proxy_ca = start_proxy(aivault, workdir / label, upstream)
            servers.append(server)
            proxies[label] = (server.port, token, proxy_ca)
        results["curl_proxy_vs_direct"] = proxy_vs_direct(proxies, upstream, args.rounds, args.requests)
        port, token, proxy_ca = proxies["proxy"]
        results["new_host_first_connect"] = new_host_first_connect(port, token, proxy_ca, args.handshakes)
    finally:
        for server in servers:
            server.close()
        if upstream:
            upstream.close()
        shutil.rmtree(workdir, ignore_errors=True)
    results["loadavg_end"] = loadavg()
    if args.criterion:
        results["criterion_proxy_ca"] = criterion()
    print(json.dumps(results, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
