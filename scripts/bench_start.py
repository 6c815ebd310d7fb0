#!/usr/bin/env python3
"""Start-up cost of short `aivault` commands, whole processes (Python 3.11, standard library only).

Times `aivault status` on a vault of 1 secret against `aivault --version` (the cost of starting
the binary and parsing its arguments, nothing else) and, when it is given, against the original
aivault tool's `status` on its own vault of 1 secret. Also times `capability list`,
`capability describe openai/chat-completions` and `secrets list` on the same vault, so a change
to start-up shows on every command.

Every command of one round runs once, the order rotating from round to round (interleaved: load
from other processes on the machine hits every command alike); the figures are the median and
the minimum over the rounds, and the ratios are ratios of medians. Processes are started with
os.posix_spawn (no Python between fork and exec) with stdout and stderr to /dev/null and an
explicit environment (PATH, HOME, AIVAULT_DIR, LC_ALL, NO_COLOR).

`--compare PATH` times a second aivault build on the same commands in the same rounds (its own
vault), e.g. the previous commit's binary, and prints the ratios new/old.

The original tool (`--original PATH`, or env AIVAULT_ORIGINAL) is used read-only, with its own
HOME in the temporary directory; when the path is absent its row is skipped with a message.

Usage: scripts/bench_start.py [--binary PATH | --skip-build] [--original PATH] [--compare PATH]
                              [--runs N] [--keep]
Without --binary the script builds `cargo build --release -p aivault-cli` first.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CANARY = "canary-start-bench-7f3a9c"
TARGET_VS_VERSION = 1.5
TARGET_VS_ORIGINAL = 0.8


def spawn_time(argv: list[str], env: dict[str, str]) -> float:
    """Wall time of one process from spawn to exit, in milliseconds; fails on a non-zero exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        actions = [
            (os.POSIX_SPAWN_DUP2, devnull, 1),
            (os.POSIX_SPAWN_DUP2, devnull, 2),
        ]
        start = time.perf_counter_ns()
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
        _, status = os.waitpid(pid, 0)
        elapsed = time.perf_counter_ns() - start
    finally:
        os.close(devnull)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(argv)} exited with {code}")
    return elapsed / 1e6


def run(argv: list[str], env: dict[str, str], stdin: str | None = None) -> str:
    """Runs a setup command, returning its stdout; stops the script when it fails."""
    done = subprocess.run(argv, env=env, input=stdin, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def base_env(home: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LC_ALL": "C",
        "NO_COLOR": "1",
    }


def our_vault(binary: Path, work: Path, label: str) -> dict[str, str]:
    """A file-provider vault of 1 secret for `binary`; returns the environment that uses it."""
    home = work / f"{label}-home"
    home.mkdir()
    env = base_env(home)
    env["AIVAULT_DIR"] = str(work / f"{label}-vault")
    run([str(binary), "init"], env)
    run([str(binary), "secrets", "create", "--name", "MY_KEY", "--value-stdin"], env, CANARY)
    return env


def original_vault(binary: Path, work: Path) -> dict[str, str]:
    """The original tool's vault of 1 secret, under its own HOME."""
    home = work / "original-home"
    home.mkdir()
    env = base_env(home)
    run([str(binary), "secrets", "create", "--name", "MY_KEY", "--value", CANARY], env)
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--binary", type=Path, help="the aivault binary (default: build release)")
    parser.add_argument("--skip-build", action="store_true", help="use target/release/aivault")
    parser.add_argument("--original", type=Path, default=os.environ.get("AIVAULT_ORIGINAL"))
    parser.add_argument("--compare", type=Path, help="a second aivault build to compare with")
    parser.add_argument("--runs", type=int, default=101)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()

    binary = args.binary
    if binary is None:
        if not args.skip_build:
            subprocess.run(
                ["cargo", "build", "--release", "-p", "aivault-cli"], cwd=ROOT, check=True
            )
        binary = ROOT / "target" / "release" / "aivault"
    binary = binary.resolve()
    original = args.original
    if original is not None and not Path(original).is_file():
        print(f"original tool not found at {original}: its row is skipped")
        original = None
    if original is None:
        print("no original tool (--original PATH or AIVAULT_ORIGINAL): its row is skipped")

    work = Path(tempfile.mkdtemp(prefix="aivault-bench-start-"))
    try:
        commands: list[tuple[str, list[str], dict[str, str]]] = []
        env = our_vault(binary, work, "ours")
        ours = [
            ("status", ["status"]),
            ("--version", ["--version"]),
            ("capability list", ["capability", "list"]),
            ("capability describe", ["capability", "describe", "openai/chat-completions"]),
            ("secrets list", ["secrets", "list"]),
        ]
        for label, argv in ours:
            commands.append((label, [str(binary), *argv], env))
        if args.compare is not None:
            other = args.compare.resolve()
            other_env = our_vault(other, work, "compare")
            for label, argv in ours:
                commands.append((f"compare: {label}", [str(other), *argv], other_env))
        if original is not None:
            orig_env = original_vault(Path(original), work)
            commands.append(("original: status", [str(Path(original).resolve()), "status"], orig_env))

        for _, argv, cmd_env in commands:  # warm-up (page cache, first-open work)
            for _ in range(3):
                spawn_time(argv, cmd_env)
        times: dict[str, list[float]] = {label: [] for label, _, _ in commands}
        load_before = os.getloadavg()[0]
        for round_no in range(args.runs):
            shift = round_no % len(commands)
            for label, argv, cmd_env in commands[shift:] + commands[:shift]:
                times[label].append(spawn_time(argv, cmd_env))
        load_after = os.getloadavg()[0]

        median = {label: statistics.median(t) for label, t in times.items()}
        print(
            f"{args.runs} interleaved rounds; 1-minute load average {load_before:.2f} before, "
            f"{load_after:.2f} after; binary {binary}"
        )
        print(f"{'command':<34} {'median':>9} {'min':>9}")
        for label, t in times.items():
            print(f"{label:<34} {median[label]:>7.2f}ms {min(t):>7.2f}ms")
        print()
        ratio = median["status"] / median["--version"]
        verdict = "met" if ratio <= TARGET_VS_VERSION else "MISSED"
        print(f"status / --version: {ratio:.2f} (target <= {TARGET_VS_VERSION}: {verdict})")
        if "original: status" in median:
            ratio = median["status"] / median["original: status"]
            verdict = "met" if ratio <= TARGET_VS_ORIGINAL else "MISSED"
            print(f"status / original status: {ratio:.2f} (target <= {TARGET_VS_ORIGINAL}: {verdict})")
        if args.compare is not None:
            for label, _ in ours:
                print(f"{label}: this build / compared build: "
                      f"{median[label] / median['compare: ' + label]:.2f}")
    finally:
        if args.keep:
            print(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
