"""One handle, many threads: 8 threads invoke at once while a real `aivault` CLI process writes
secrets into the same vault (no error, no lost write); and the GIL is released during a call
(4 threads against a server answering after 20 ms finish in under 0.4x the serial time)."""

from __future__ import annotations

import os
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import aivault
from conftest import Upstream, cli, make_service

THREADS = 8
CALLS = 10
CLI_WRITES = 12


def test_threads_and_a_cli_writer(tmp_path: Path, upstream: Upstream, canary: str) -> None:
    path = tmp_path / "vault"
    vault = aivault.Vault(path)
    make_service(vault, upstream, canary)
    binary = cli()
    env = {**os.environ, "AIVAULT_DIR": str(path)}
    start = threading.Barrier(THREADS + 1)
    cli_failures: list[str] = []

    def writer() -> None:
        start.wait()
        for i in range(CLI_WRITES):
            run = subprocess.run(
                [str(binary), "secrets", "create", "--name", f"CLI_{i}", "--value-stdin"],
                input=f"{canary}-{i}", env=env, capture_output=True, text=True, timeout=60)
            if run.returncode != 0:
                cli_failures.append(run.stderr)
            assert canary not in run.stdout + run.stderr

    def invoker(n: int) -> list[int]:
        start.wait()
        return [vault.invoke("acme/api", path=f"/v1/t{n}/{i}").status for i in range(CALLS)]

    with ThreadPoolExecutor(THREADS + 1) as pool:
        cli_job = pool.submit(writer)
        jobs = [pool.submit(invoker, n) for n in range(THREADS)]
        statuses = [s for job in jobs for s in job.result()]
        cli_job.result()

    assert cli_failures == []
    assert statuses == [200] * (THREADS * CALLS)
    assert len(upstream.received) == THREADS * CALLS
    assert all(r.headers["authorization"] == f"Bearer {canary}" for r in upstream.received)
    paths = sorted(r.path for r in upstream.received)
    assert paths == sorted(f"/v1/t{n}/{i}" for n in range(THREADS) for i in range(CALLS))
    names = {m.name for m in vault.secrets.list()}
    assert names == {"ACME_TOKEN", *(f"CLI_{i}" for i in range(CLI_WRITES))}
    assert vault.audit.verify()["ok"] is True


def test_the_gil_is_released(vault: aivault.Vault, upstream: Upstream, canary: str) -> None:
    make_service(vault, upstream, canary)
    vault.invoke("acme/api", path="/v1/warm")
    upstream.delay = 0.02
    per_thread = 6

    def calls(n: int) -> None:
        for i in range(per_thread):
            vault.invoke("acme/api", path=f"/v1/{n}/{i}")

    started = time.perf_counter()
    for n in range(4):
        calls(n)
    serial = time.perf_counter() - started

    started = time.perf_counter()
    threads = [threading.Thread(target=calls, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    parallel = time.perf_counter() - started

    print(f"serial {serial:.3f}s, 4 threads {parallel:.3f}s, ratio {parallel / serial:.2f}")
    assert parallel < 0.4 * serial, f"4 threads took {parallel:.3f}s, serial {serial:.3f}s"
