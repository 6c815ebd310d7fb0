#!/usr/bin/env python3
"""Whole-process benchmarks of the `aivault` CLI (Python 3.11, standard library only).

Builds the release binary, then times complete `aivault` processes (wall time from spawn to
exit, median and min of N runs) and records each process's peak RSS (ru_maxrss of the child,
from os.wait4), for:

  - `secrets import` of 1,000 entries (one command) into a new vault (fresh AIVAULT_DIR);
  - `secrets list -v` over a vault of 10,000 secrets (stdout to /dev/null);
  - one `secrets create` into a vault of 10,000 (a fresh name each run);
  - `status` on the vault of 10,000;
  - `secrets import` of 1,000 into a fresh copy of a vault of 9,000, and the same import into
    a fresh copy of an initialized empty vault: their ratio shows whether cost grows with size;
  - a variant: 1,000 entries of which 5 are registry-claimed names (they pin and provision).

The large vaults are built with the CLI's own import (1,000 entries per command). Every process
gets an explicit environment (PATH, AIVAULT_DIR, LC_ALL, NO_COLOR): no HOME, no
XDG_RUNTIME_DIR. Targets are printed next to the figures; a missed target never fails the
script, only a failing command does.

Usage: scripts/bench_cli.py [--runs N] [--skip-build] [--tmpdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHUNK = 1_000
LARGE = 10_000
MEMORY_TARGET_MB = 30.0


class CommandFailed(Exception):
    """An aivault (or cargo) command exited non-zero."""


@dataclass
class Run:
    wall_ms: float
    maxrss_kib: int


@dataclass
class Result:
    operation: str
    time_target_ms: float | None
    runs: list[Run] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(r.wall_ms for r in self.runs)

    @property
    def min_ms(self) -> float:
        return min(r.wall_ms for r in self.runs)

    @property
    def peak_rss_mb(self) -> float:
        return max(r.maxrss_kib for r in self.runs) / 1024.0


def entry_args(names: list[str]) -> list[str]:
    args: list[str] = []
    for i, name in enumerate(names):
        args += ["--entry", f"{name}=sk-bench-{i:05}-0123456789abcdefghijklmnopqrstuv"]
    return args


def custom_names(prefix: str, start: int, count: int) -> list[str]:
    return [f"{prefix}_{i:05}" for i in range(start, start + count)]


def registry_names() -> list[str]:
    """Secret names claimed by the built-in registry (registry/*.toml)."""
    names: list[str] = []
    for path in sorted((ROOT / "registry").glob("*.toml")):
        with path.open("rb") as f:
            provider = tomllib.load(f)
        for credential in provider.get("credentials", []):
            names.extend(credential.get("secrets", {}).values())
    return sorted(set(names))


class Bench:
    def __init__(self, binary: Path, work: Path) -> None:
        self.binary = binary
        self.work = work
        self.counter = 0

    def env(self, vault_dir: Path) -> dict[str, str]:
        return {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "AIVAULT_DIR": str(vault_dir),
            "LC_ALL": "C",
            "NO_COLOR": "1",
        }

    def fresh_dir(self, label: str) -> Path:
        self.counter += 1
        return self.work / f"{label}-{self.counter:04}"

    def run(self, args: list[str], vault_dir: Path) -> Run:
        """Runs one aivault process; raises CommandFailed on a non-zero exit."""
        argv = [str(self.binary), *args]
        with tempfile.TemporaryFile() as err:
            start = time.perf_counter()
            proc = subprocess.Popen(
                argv,
                env=self.env(vault_dir),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                close_fds=True,
            )
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                err.seek(0)
                message = err.read().decode(errors="replace").strip()
                shown = " ".join(argv[:6]) + (" ..." if len(argv) > 6 else "")
                raise CommandFailed(
                    f"`{shown}` (AIVAULT_DIR={vault_dir}) exited {proc.returncode}: {message}"
                )
        # Linux reports ru_maxrss in KiB.
        return Run(wall_ms=wall * 1000.0, maxrss_kib=usage.ru_maxrss)

    def build_vault(self, vault_dir: Path, count: int) -> None:
        if count == 0:
            self.run(["init"], vault_dir)
        for start in range(0, count, CHUNK):
            names = custom_names("BENCH_KEY", start, min(CHUNK, count - start))
            self.run(["secrets", "import", *entry_args(names)], vault_dir)

    def copy_vault(self, template: Path, label: str) -> Path:
        """A fresh copy of a closed vault's files (kek.key, vault.db, -wal, -shm if present).

        The copy's metadata still names the template's kek.key (an absolute path), which holds
        the same key, so the template must outlive its copies."""
        target = self.fresh_dir(label)
        target.mkdir(mode=0o700)
        for item in template.iterdir():
            if item.is_file():
                shutil.copy2(item, target / item.name)
        return target

    def measure(
        self,
        result: Result,
        runs: int,
        prepare: Callable[[], Path],
        args_for: Callable[[int], list[str]],
    ) -> Result:
        """One unmeasured warm-up run, then `runs` measured ones; `prepare()` gives each run
        its vault directory (untimed) and `args_for(i)` its arguments."""
        for i in range(runs + 1):
            vault_dir = prepare()
            run = self.run(args_for(i), vault_dir)
            if i > 0:
                result.runs.append(run)
        return result


def machine_lines(work: Path, binary: Path, load_before: float) -> list[str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count() or 0
    fs = subprocess.run(
        ["stat", "-f", "-c", "%T", str(work)], capture_output=True, text=True, check=False
    ).stdout.strip() or "unknown"
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
        capture_output=True, text=True, check=False,
    ).stdout.strip() or "unknown"
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    return [
        f"- date: {now}",
        f"- machine: {nproc} CPUs (nproc), {model}; {platform.system()} {platform.release()}",
        f"- vaults in: {work} (filesystem: {fs}; SQLite synchronous=FULL, so fsync cost counts)",
        f"- commit: {commit}; binary: {binary} (release profile, copied before measuring)",
        f"- 1-min load average: {load_before:.2f} before, {os.getloadavg()[0]:.2f} after "
        "(other work on the machine inflates the figures)",
    ]


def table(results: list[Result]) -> list[str]:
    lines = [
        "| operation | median ms | min ms | peak RSS MB | target |",
        "|---|---:|---:|---:|---|",
    ]
    for r in results:
        parts = []
        if r.time_target_ms is not None:
            met = r.median_ms < r.time_target_ms
            parts.append(f"< {r.time_target_ms:g} ms {'met' if met else '**MISSED**'}")
        mem_met = r.peak_rss_mb < MEMORY_TARGET_MB
        parts.append(f"< {MEMORY_TARGET_MB:g} MB {'met' if mem_met else '**MISSED**'}")
        lines.append(
            f"| {r.operation} | {r.median_ms:.1f} | {r.min_ms:.1f} | {r.peak_rss_mb:.1f} "
            f"| {'; '.join(parts)} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="measured runs per operation (7)")
    parser.add_argument("--skip-build", action="store_true", help="use the existing binary")
    parser.add_argument("--tmpdir", type=Path, help="where the vaults live (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the vaults afterwards")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    if not args.skip_build:
        build = subprocess.run(
            ["cargo", "build", "--release", "-p", "aivault-cli"], cwd=ROOT, check=False
        )
        if build.returncode != 0:
            print("error: cargo build failed", file=sys.stderr)
            return 1
    target_dir = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = target_dir / "release" / "aivault"
    if not binary.is_file():
        print(f"error: {binary} not found (build it or drop --skip-build)", file=sys.stderr)
        return 1

    work = Path(tempfile.mkdtemp(prefix="aivault-bench-", dir=args.tmpdir))
    # Measure a private copy: a concurrent `cargo build` cannot swap the binary mid-run.
    measured = work / "aivault"
    shutil.copy2(binary, measured)
    bench = Bench(measured, work)
    runs = args.runs
    failed = False
    load_before = os.getloadavg()[0]
    try:
        print(f"preparing vaults of {LARGE} and {LARGE - CHUNK} secrets in {work} ...",
              file=sys.stderr)
        large = work / "template-10000"
        bench.build_vault(large, LARGE)
        nine = work / "template-9000"
        bench.build_vault(nine, LARGE - CHUNK)
        empty = work / "template-0"
        bench.build_vault(empty, 0)

        new_names = custom_names("BENCH_KEY", 0, CHUNK)
        more_names = custom_names("BENCH_KEY", LARGE - CHUNK, CHUNK)
        registry = registry_names()
        mixed_names = registry + custom_names("BENCH_KEY", 0, CHUNK - len(registry))
        results: list[Result] = []

        print("measuring ...", file=sys.stderr)
        results.append(bench.measure(
            Result("`secrets import` 1,000 entries -> new vault", 300),
            runs, lambda: bench.fresh_dir("new"),
            lambda i: ["secrets", "import", *entry_args(new_names)],
        ))
        results.append(bench.measure(
            Result("`secrets list -v` over 10,000", 40),
            runs, lambda: large, lambda i: ["-v", "secrets", "list"],
        ))
        results.append(bench.measure(
            Result("`secrets create` 1 -> vault of 10,000", 10),
            runs, lambda: large,
            lambda i: ["secrets", "create", "--name", f"BENCH_CREATE_{i:04}",
                       "--value", f"sk-create-{i:06}-0123456789abcdef"],
        ))
        results.append(bench.measure(
            Result("`status` on 10,000", None),
            runs, lambda: large, lambda i: ["status"],
        ))
        into_nine = bench.measure(
            Result("`secrets import` 1,000 -> copy of vault of 9,000", 400),
            runs, lambda: bench.copy_vault(nine, "nine"),
            lambda i: ["secrets", "import", *entry_args(more_names)],
        )
        into_zero = bench.measure(
            Result("`secrets import` 1,000 -> copy of empty vault", None),
            runs, lambda: bench.copy_vault(empty, "zero"),
            lambda i: ["secrets", "import", *entry_args(more_names)],
        )
        results += [into_nine, into_zero]
        results.append(bench.measure(
            Result(f"variant: import 1,000 incl. {len(registry)} registry names -> new vault",
                   300),
            runs, lambda: bench.fresh_dir("mixed"),
            lambda i: ["secrets", "import", *entry_args(mixed_names)],
        ))
    except CommandFailed as e:
        print(f"error: {e}", file=sys.stderr)
        print(f"(vaults kept in {work})", file=sys.stderr)
        failed = True
        return 1
    finally:
        if not args.keep and not failed:
            shutil.rmtree(work, ignore_errors=True)

    lines = [f"## aivault CLI benchmark ({runs} runs per operation, after 1 warm-up run)", ""]
    lines += machine_lines(work, binary, load_before)
    lines += [""] + table(results) + [""]
    ratio = into_nine.median_ms / into_zero.median_ms
    lines.append(
        f"Ratio import 1,000 into 9,000 / into 0 (medians): {ratio:.2f} "
        f"({into_nine.median_ms:.1f} ms / {into_zero.median_ms:.1f} ms; "
        f"~1.0 means the cost does not grow with the vault)"
    )
    lines += [
        "",
        "Notes:",
        "- Wall time is spawn to exit of the whole process (exec, dynamic loading, argument "
        "parsing, SQLite open, key load, work, fsync, exit), measured from Python.",
        "- Peak RSS is the largest ru_maxrss of the measured runs (MB = MiB).",
        f"- Names are custom (BENCH_KEY_00000...). Only {len(registry)} names are claimed by "
        f"the registry ({', '.join(registry)}); they pin and provision credentials, so a vault "
        "of thousands of secrets is custom names almost entirely and custom names are "
        "representative; the variant row shows the registry names change little.",
        "- Targets are informative: a missed target is flagged, never a failure.",
    ]
    if args.keep:
        lines.append(f"- Vaults kept in {work}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
