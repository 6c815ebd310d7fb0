"""The conformance runner (tests/runners/runner.py) on a small scenario list of our own: it
prints one JSON line per step in the protocol's shape, with the binding's results as the
CLI's JSON and error kinds as DESIGN §7 names, and never a secret value."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import REPO, Upstream

RUNNER = REPO / "tests" / "runners" / "runner.py"
SCENARIOS = Path(__file__).with_name("runner_scenarios.json")


def test_runner_protocol(tmp_path: Path, upstream: Upstream, canary: str) -> None:
    text = SCENARIOS.read_text().replace("${PORT}", str(upstream.port))
    scenarios_file = tmp_path / "scenarios.json"
    scenarios_file.write_text(text.replace("${CANARY}", canary))
    run = subprocess.run([sys.executable, str(RUNNER), str(scenarios_file), str(tmp_path / "v")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert canary not in run.stdout + run.stderr
    lines = [json.loads(line) for line in run.stdout.splitlines()]
    scenarios = json.loads(text)
    expected = [(s["name"], n) for s in scenarios for n in range(len(s["steps"]))]
    assert [(line["scenario"], line["step"]) for line in lines] == expected
    assert (tmp_path / "v" / "0" / "vault.db").exists() and (tmp_path / "v" / "1").exists()

    steps = iter(step for s in scenarios for step in s["steps"])
    for line in lines:
        expect = next(steps)["expect"]
        assert set(line["result"]) == set(expect), line
        if "error" in expect:
            assert line["result"]["error"] == expect["error"], line

    results = [line["result"] for line in lines]
    created = results[0]["ok"]
    assert created["name"] == "ACME_TOKEN" and created["scope"] == "global"
    assert results[1]["ok"][0]["secretId"] == created["secretId"]
    invoked = results[4]["ok"]
    assert invoked["status"] == 200
    assert invoked["headers"]["x-upstream"] == "loopback"
    assert json.loads(invoked["body"])["path"] == "/v1/echo"
    assert upstream.last().headers["authorization"] == f"Bearer {canary}"
    assert upstream.last().body == b'{"q":"hi"}'
    assert results[6]["ok"] == {"capability": "acme/api", "path": "/v1/x?a=1"}


def test_runner_usage() -> None:
    run = subprocess.run([sys.executable, str(RUNNER)], capture_output=True, text=True)
    assert run.returncode == 2 and "usage" in run.stderr
