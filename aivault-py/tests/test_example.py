"""examples/python/quickstart.py runs clean, both with its own service and against a given
port, and never prints the value it was given."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from conftest import REPO, Upstream

EXAMPLE = REPO / "examples" / "python" / "quickstart.py"


def run(*args: str, value: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(EXAMPLE), *args], input=value + "\n",
                          capture_output=True, text=True, timeout=120)


def test_quickstart_with_its_own_service(tmp_path: Path, canary: str) -> None:
    done = run(str(tmp_path / "v"), value=canary)
    assert done.returncode == 0, done.stderr
    assert "status: 200" in done.stdout
    assert "service got a bearer token: True" in done.stdout
    assert "unknown capability: capability_not_found" in done.stdout
    assert "outside the capability: policy_violation" in done.stdout
    assert canary not in done.stdout + done.stderr


def test_quickstart_against_a_port(tmp_path: Path, upstream: Upstream, canary: str) -> None:
    done = run(str(tmp_path / "v"), str(upstream.port), value=canary)
    assert done.returncode == 0, done.stderr
    assert upstream.last().headers["authorization"] == f"Bearer {canary}"
    assert canary not in done.stdout + done.stderr
