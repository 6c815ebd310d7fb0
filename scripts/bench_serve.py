#!/usr/bin/env python3
"""Benchmarks of the trust boundary (`aivault serve`), each side by side in one run.

1. Thin client vs curl. `aivault invoke openai/models` as a thin client (AIVAULT_SOCKET +
   AIVAULT_TOKEN; the server keeps its upstream connection) against curl making the same 1 KiB
   request to a loopback HTTPS upstream standing in for api.openai.com; whole processes, runs
   interleaved (a, b, a, b, ...), medians. Target: thin client / curl <= 0.35.
2. Server throughput. 32 client threads (`aivault-core/examples/serve_load.rs`, the library's
   remote client) against one server on this machine, invoking a capability whose credential
   points at a loopback plain-HTTP upstream: calls/s, p50 and p99 latency, and the server's
   resident memory after 10,000 and after 100,000 calls (flat means no growth per call).
   Targets: >= 5,000 calls/s, p99 <= 5 ms, memory flat.
3. The HTTP gateway with the official OpenAI Python SDK (from .venv): `chat.completions.create`
   through `OPENAI_BASE_URL=http://127.0.0.1:GW/acme/v1` with the token as the key, against
   the same SDK calling the upstream directly; blocks interleaved, medians per call.
   Target: gateway / direct <= 1.2.

The server is the `bench-dev` build (release optimizations with debug assertions, so that the
test hooks can route api.openai.com to the loopback upstream in part 1; see bench_invoke.py).

Usage: scripts/bench_serve.py [--runs N] [--calls N] [--sdk-calls N] [--skip-build]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))


def run(cmd, env=None, check=True, **kw):
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, **kw)
    if check and out.returncode != 0:
        sys.exit(f"{cmd[0]} failed ({out.returncode}): {out.stderr.strip()}")
    return out


def timed(cmd, env) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


class Upstream:
    """`aivault-testkit/examples/serve.rs`: HTTPS (api.openai.com) or plain HTTP."""

    def __init__(self, workdir: Path, http: bool):
        workdir.mkdir(parents=True, exist_ok=True)
        args = [str(TARGET / "release/examples/serve"), str(workdir)] + (["http"] if http else [])
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        info = json.loads(self.proc.stdout.readline())
        self.port, self.ca = info["port"], info["ca"]

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()


class Server:
    """`aivault serve` on a socket (and the gateway when `http`)."""

    def __init__(self, aivault: str, env: dict, socket: Path, http: bool = False):
        args = [aivault, "serve", "--socket", str(socket)] + (["--http", "127.0.0.1:0"] if http else [])
        self.proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.gateway = None
        for line in self.proc.stderr:
            if "HTTP gateway on http://" in line:
                self.gateway = line.split("http://")[1].strip()
            if "listening on" in line and not http:
                break
            if http and self.gateway:
                break

    def close(self):
        self.proc.terminate()
        self.proc.wait()


def vault_env(workdir: Path, name: str, extra: dict | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIVAULT_")}
    env.update(AIVAULT_DIR=str(workdir / name), AIVAULT_RUNTIME_DIR=str(workdir / f"{name}-run"), NO_COLOR="1")
    env.update(extra or {})
    return env


def acme(aivault: str, env: dict, port: int) -> str:
    """A loopback credential and capability `acme/api` (GET, POST /v1); returns a token."""
    out = run([aivault, "secrets", "create", "--name", "ACME_KEY", "--value", "acme-bench-key-0001", "-v"], env)
    meta = json.loads(out.stdout)
    secret_id = meta.get("secret", meta)["secretId"]
    run([aivault, "credential", "create", "acme", "--provider", "acme", "--secret-ref",
         f"vault:secret:{secret_id}", "--auth", "header", "--host", f"127.0.0.1:{port}",
         "--allow-private-network", "--insecure-http"], env)
    run([aivault, "capability", "create", "acme/api", "--credential", "acme", "--method", "GET",
         "--method", "POST", "--path", "/v1"], env)
    return run([aivault, "token", "create", "--name", "bench", "--capability", "acme/api"], env).stdout.strip()


def thin_client_vs_curl(aivault: str, workdir: Path, runs: int) -> dict:
    upstream = Upstream(workdir / "https", http=False)
    env = vault_env(workdir, "v1", {
        "AIVAULT_DEV_RESOLVE": f"api.openai.com=127.0.0.1:{upstream.port}",
        "AIVAULT_DEV_CA_CERT": upstream.ca,
    })
    run([aivault, "secrets", "create", "--name", "OPENAI_API_KEY", "--value", "sk-bench-000000000001"], env)
    token = run([aivault, "token", "create", "--name", "bench", "--capability", "openai/models"], env).stdout.strip()
    socket = workdir / "s1" / "broker.sock"
    server = Server(aivault, env, socket)
    client_env = {"PATH": os.environ["PATH"], "HOME": str(workdir), "AIVAULT_SOCKET": str(socket),
                  "AIVAULT_TOKEN": token, "AIVAULT_DIR": "/nonexistent"}
    thin = [aivault, "invoke", "openai/models"]
    curl = ["curl", "-s", "--cacert", upstream.ca, "--connect-to", f"api.openai.com:443:127.0.0.1:{upstream.port}",
            "-H", "authorization: Bearer x", "https://api.openai.com/v1/models", "-o", "/dev/null"]
    for _ in range(3):
        timed(thin, client_env), timed(curl, os.environ.copy())
    a, b = [], []
    for _ in range(runs):
        a.append(timed(thin, client_env))
        b.append(timed(curl, os.environ.copy()))
    server.close()
    upstream.close()
    ma, mb = statistics.median(a), statistics.median(b)
    return {"thin_client_ms": round(ma * 1e3, 2), "curl_ms": round(mb * 1e3, 2), "ratio": round(ma / mb, 3),
            "runs": runs, "target": "<= 0.35"}


def throughput(aivault: str, workdir: Path, calls: int) -> dict:
    upstream = Upstream(workdir / "http", http=True)
    env = vault_env(workdir, "v2")
    token = acme(aivault, env, upstream.port)
    socket = workdir / "s2" / "broker.sock"
    server = Server(aivault, env, socket)
    load = str(TARGET / "release/examples/serve_load")

    def burst(n: int) -> dict:
        out = run([load, str(socket), token, "acme/api", "/v1/ping", "32", str(n)])
        return json.loads(out.stdout)

    burst(2_000)  # warm up
    first = burst(10_000)
    rss_10k = rss_kib(server.proc.pid)
    rest = burst(calls - 10_000)
    rss_100k = rss_kib(server.proc.pid)
    server.close()
    upstream.close()
    return {"threads": 32, "calls": calls, "per_sec": rest["per_sec"], "p50_us": rest["p50_us"],
            "p99_us": rest["p99_us"], "first_10k_per_sec": first["per_sec"],
            "rss_kib_after_10k": rss_10k, f"rss_kib_after_{calls // 1000}k": rss_100k,
            "target": ">= 5000/s, p99 <= 5 ms, memory flat"}


SDK_SCRIPT = r"""
import json, sys, time, openai
base, key, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
client = openai.OpenAI(base_url=base, api_key=key, max_retries=0)
client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
times = []
for _ in range(n):
    t = time.perf_counter()
    r = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}])
    times.append(time.perf_counter() - t)
    assert r.choices[0].message.content
print(json.dumps(times))
"""


def gateway_vs_direct(aivault: str, workdir: Path, calls: int) -> dict | None:
    python = ROOT / ".venv/bin/python"
    if run([str(python), "-c", "import openai"], check=False).returncode != 0:
        print("gateway: skipped (no .venv with openai: run scripts/python.sh)", file=sys.stderr)
        return None
    upstream = Upstream(workdir / "http3", http=True)
    env = vault_env(workdir, "v3")
    token = acme(aivault, env, upstream.port)
    socket = workdir / "s3" / "broker.sock"
    server = Server(aivault, env, socket, http=True)
    through = f"http://{server.gateway}/acme/v1"
    direct = f"http://127.0.0.1:{upstream.port}/v1"
    a, b = [], []
    for _ in range(5):
        b += json.loads(run([str(python), "-c", SDK_SCRIPT, direct, "direct-key", str(calls // 5)]).stdout)
        a += json.loads(run([str(python), "-c", SDK_SCRIPT, through, token, str(calls // 5)]).stdout)
    server.close()
    upstream.close()
    ma, mb = statistics.median(a), statistics.median(b)
    return {"gateway_ms": round(ma * 1e3, 3), "direct_ms": round(mb * 1e3, 3), "ratio": round(ma / mb, 3),
            "calls": len(a), "target": "<= 1.2"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--sdk-calls", type=int, default=500)
    parser.add_argument("--skip-build", action="store_true")
    args = parser.parse_args()
    if not args.skip_build:
        for cmd in (["cargo", "build", "--locked", "--profile", "bench-dev", "-p", "aivault-cli"],
                    ["cargo", "build", "--locked", "--release", "-p", "aivault-testkit", "--example", "serve"],
                    ["cargo", "build", "--locked", "--release", "-p", "aivault-core", "--example", "serve_load"]):
            run(cmd, cwd=ROOT)
    aivault = str(TARGET / "bench-dev/aivault")
    workdir = Path(tempfile.mkdtemp(prefix="aivault-bench-serve-"))
    try:
        results = {"thin_client_vs_curl": thin_client_vs_curl(aivault, workdir, args.runs),
                   "server_throughput": throughput(aivault, workdir, args.calls),
                   "gateway_openai_sdk": gateway_vs_direct(aivault, workdir, args.sdk_calls),
                   "cpus": os.cpu_count()}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
