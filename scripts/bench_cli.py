#!/usr/bin/env python3
"""Whole-process benchmarks of the `aivault` CLI (Python 3.11, standard library only).

Builds the release binary, then times complete `aivault` processes (wall time from spawn to
exit; median and min of N runs) and records each process's peak RSS, for:

  - `secrets import` of 1,000 entries (one command) into a new vault (fresh AIVAULT_DIR);
  - `secrets list -v` over a vault of 10,000 secrets (stdout to /dev/null);
  - one `secrets create` into a vault of 10,000 (a fresh name each run);
  - `status` on the vault of 10,000;
  - `secrets import` of 1,000 into a fresh copy of a vault of 9,000, and the same import into
    a fresh copy of an initialized empty vault: their ratio shows whether cost grows with size;
  - a variant: 1,000 entries of which the registry-claimed names (OPENAI_API_KEY, ...) are a
    few; they pin and provision credentials;
  - the capability catalog: `capability list`, `capability list -v` (JSON) and `capability
    describe openai/chat-completions` on the vault of 10,000 and on an initialized empty
    vault (timed runs interleaved), with their ratios (they read no secret, so ~1.0), and
    `status` on the empty vault as the baseline cost of an aivault process. The number of
    registry providers (60+ wanted) and capabilities is printed (from `capability list -v`).

The large vaults are built with the CLI's own import (1,000 entries per command). Every process
gets an explicit environment (PATH, AIVAULT_DIR, LC_ALL, NO_COLOR): no HOME, no
XDG_RUNTIME_DIR. Targets are printed next to the figures; a missed target never fails the
script, only a failing command does (exit status 1).

Peak RSS. Timed runs are spawned with subprocess.Popen and reaped with os.wait4, but their
ru_maxrss is NOT the binary's own peak: at execve Linux folds the high-water mark of the
replaced address space (the forking Python's, several MB) into the child's maxrss. So the
peak RSS column comes from separate, untimed runs traced with ptrace (via ctypes): the child
stops at its exit event while its address space is intact and VmHWM is read from
/proc/PID/status. If ptrace is unavailable the wait4 figure is shown as an upper bound.

Usage: scripts/bench_cli.py [--runs N] [--rss-runs N] [--skip-build] [--tmpdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import ctypes
import datetime
import json
import os
import platform
import shutil
import signal
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
CATALOG_TARGET_MS = 50.0
DESCRIBED = "openai/chat-completions"

# ptrace(2) requests and options (Linux, every architecture).
PTRACE_TRACEME = 0
PTRACE_CONT = 7
PTRACE_SETOPTIONS = 0x4200
PTRACE_O_TRACEEXIT = 0x40
PTRACE_O_EXITKILL = 0x100000
PTRACE_EVENT_EXIT = 6


class CommandFailed(Exception):
    """An aivault command exited non-zero."""


@dataclass
class Result:
    operation: str
    time_target_ms: float | None
    wall_ms: list[float] = field(default_factory=list)
    hwm_kib: list[int] = field(default_factory=list)  # VmHWM at exit (exact)
    wait4_kib: list[int] = field(default_factory=list)  # ru_maxrss (upper bound)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.wall_ms)

    @property
    def min_ms(self) -> float:
        return min(self.wall_ms)

    @property
    def peak_rss_mb(self) -> float:
        return max(self.hwm_kib or self.wait4_kib) / 1024.0


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


class Tracer:
    """Reads a child's VmHWM at its exit with ptrace (PTRACE_O_TRACEEXIT)."""

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.ptrace.restype = ctypes.c_long
        self.libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]

    def ptrace(self, request: int, pid: int, data: int = 0) -> None:
        if self.libc.ptrace(request, pid, None, ctypes.c_void_p(data or None)) == -1:
            errno = ctypes.get_errno()
            raise OSError(errno, f"ptrace({request}): {os.strerror(errno)}")

    def traceme(self) -> None:  # runs in the child between fork and exec
        self.ptrace(PTRACE_TRACEME, 0)

    def follow(self, pid: int) -> tuple[int, int | None]:
        """Runs a child that called traceme to completion: (wait status, VmHWM KiB)."""
        hwm = None
        _, status = os.waitpid(pid, 0)  # the SIGTRAP stop after execve
        if not os.WIFSTOPPED(status):
            return status, None
        self.ptrace(PTRACE_SETOPTIONS, pid, PTRACE_O_TRACEEXIT | PTRACE_O_EXITKILL)
        self.ptrace(PTRACE_CONT, pid)
        while True:
            _, status = os.waitpid(pid, 0)
            if not os.WIFSTOPPED(status):
                return status, hwm
            sig = os.WSTOPSIG(status)
            if sig == signal.SIGTRAP and status >> 16 == PTRACE_EVENT_EXIT:
                hwm = read_hwm(pid)
                sig = 0
            elif sig == signal.SIGTRAP:
                sig = 0
            self.ptrace(PTRACE_CONT, pid, sig)


def read_hwm(pid: int) -> int | None:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])  # kB
    return None


class Bench:
    def __init__(self, binary: Path, work: Path, tracer: Tracer | None) -> None:
        self.binary = binary
        self.work = work
        self.tracer = tracer
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

    def run(self, args: list[str], vault_dir: Path, traced: bool = False) -> tuple[float, int]:
        """Runs one aivault process: (wall ms, KiB). Untraced: ru_maxrss from wait4 (an upper
        bound); traced: VmHWM at exit. Raises CommandFailed on a non-zero exit."""
        argv = [str(self.binary), *args]
        tracer = self.tracer if traced else None
        with tempfile.TemporaryFile() as err:
            start = time.perf_counter()
            proc = subprocess.Popen(
                argv,
                env=self.env(vault_dir),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=err,
                close_fds=True,
                preexec_fn=tracer.traceme if tracer else None,
            )
            if tracer:
                status, hwm = tracer.follow(proc.pid)
                kib = hwm or 0
            else:
                _, status, usage = os.wait4(proc.pid, 0)
                kib = usage.ru_maxrss  # Linux: KiB
            wall_ms = (time.perf_counter() - start) * 1000.0
            proc.returncode = os.waitstatus_to_exitcode(status)
            if proc.returncode != 0:
                err.seek(0)
                message = err.read().decode(errors="replace").strip()
                shown = " ".join(argv[:6]) + (" ..." if len(argv) > 6 else "")
                raise CommandFailed(
                    f"`{shown}` (AIVAULT_DIR={vault_dir}) exited {proc.returncode}: {message}"
                )
        return wall_ms, kib

    def output(self, args: list[str], vault_dir: Path) -> str:
        """Runs one untimed aivault process and returns its stdout."""
        proc = subprocess.run(
            [str(self.binary), *args], env=self.env(vault_dir), stdin=subprocess.DEVNULL,
            capture_output=True, text=True, check=False,
        )
        if proc.returncode != 0:
            raise CommandFailed(
                f"`aivault {' '.join(args)}` (AIVAULT_DIR={vault_dir}) exited "
                f"{proc.returncode}: {proc.stderr.strip()}"
            )
        return proc.stdout

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
        rss_runs: int,
        prepare: Callable[[], Path],
        args_for: Callable[[int], list[str]],
    ) -> Result:
        """One unmeasured warm-up run, `runs` timed runs, then `rss_runs` traced runs for the
        peak RSS; `prepare()` gives each run its vault directory (untimed) and `args_for(i)`
        the arguments of the run numbered i (0, 1, 2, ... across all of them)."""
        n = 0
        for i in range(1 + runs):
            wall_ms, kib = self.run(args_for(n), prepare())
            n += 1
            if i > 0:
                result.wall_ms.append(wall_ms)
                result.wait4_kib.append(kib)
        if self.tracer:
            for _ in range(rss_runs):
                _, kib = self.run(args_for(n), prepare(), traced=True)
                n += 1
                result.hwm_kib.append(kib)
        return result

    def measure_pair(
        self, a: Result, b: Result, runs: int, rss_runs: int,
        vault_a: Path, vault_b: Path, args: list[str],
    ) -> tuple[Result, Result]:
        """`measure` of the same read-only command on two vaults, with the timed runs
        interleaved (a, b, a, b, ...) so that a change of load affects both alike."""
        self.run(args, vault_a)  # warm-up runs
        self.run(args, vault_b)
        for _ in range(runs):
            for result, vault in ((a, vault_a), (b, vault_b)):
                wall_ms, kib = self.run(args, vault)
                result.wall_ms.append(wall_ms)
                result.wait4_kib.append(kib)
        if self.tracer:
            for _ in range(rss_runs):
                for result, vault in ((a, vault_a), (b, vault_b)):
                    result.hwm_kib.append(self.run(args, vault, traced=True)[1])
        return a, b


def machine_lines(work: Path, binary: Path) -> list[str]:
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
        rss = f"{r.peak_rss_mb:.1f}" if r.hwm_kib else f"<= {r.peak_rss_mb:.1f}"
        lines.append(
            f"| {r.operation} | {r.median_ms:.1f} | {r.min_ms:.1f} | {rss} "
            f"| {'; '.join(parts)} |"
        )
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed runs per operation (7)")
    parser.add_argument(
        "--rss-runs", type=int, default=2, help="traced runs per operation for peak RSS (2)"
    )
    parser.add_argument("--skip-build", action="store_true", help="use the existing binary")
    parser.add_argument("--tmpdir", type=Path, help="where the vaults live (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the vaults afterwards")
    args = parser.parse_args()
    if args.runs < 1 or args.rss_runs < 0:
        parser.error("--runs must be at least 1 and --rss-runs at least 0")

    if not args.skip_build:
        build = subprocess.run(
            ["cargo", "build", "--release", "-p", "aivault-cli"], cwd=ROOT, check=False
        )
        if build.returncode != 0:
            print("error: cargo build --release -p aivault-cli failed", file=sys.stderr)
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
    header = machine_lines(work, binary)
    load_before = os.getloadavg()[0]  # updated just before measuring

    tracer: Tracer | None = Tracer() if args.rss_runs > 0 else None
    tracer_note = ""
    bench = Bench(measured, work, tracer)
    if tracer:
        try:
            bench.run(["--version"], work, traced=True)
        except (OSError, subprocess.SubprocessError) as e:
            tracer_note = f"ptrace unavailable ({e}); "
            bench.tracer = None
    runs, rss_runs = args.runs, args.rss_runs
    failed = False
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

        # Flush dirty pages (the fresh build, the templates) so that writeback does not
        # lengthen the measured fsyncs.
        os.sync()
        load_before = os.getloadavg()[0]
        print("measuring ...", file=sys.stderr)
        results: list[Result] = []
        results.append(bench.measure(
            Result("`secrets import` 1,000 entries -> new vault", 300),
            runs, rss_runs, lambda: bench.fresh_dir("new"),
            lambda i: ["secrets", "import", *entry_args(new_names)],
        ))
        results.append(bench.measure(
            Result("`secrets list -v` over 10,000", 40),
            runs, rss_runs, lambda: large, lambda i: ["-v", "secrets", "list"],
        ))
        # The catalog, before `secrets create` adds to the vault of 10,000.
        listing = json.loads(bench.output(["capability", "list", "-v"], large))
        catalog = listing["capabilities"] + listing["registryCapabilities"]
        providers = len({c["provider"] for c in catalog})
        if json.loads(bench.output(["capability", "list", "-v"], empty)) != listing:
            raise CommandFailed("`capability list -v` differs between the vaults of 10,000 and 0")
        catalog_pairs: list[tuple[str, Result, Result]] = []
        for label, cmd, target in [
            ("`capability list`", ["capability", "list"], CATALOG_TARGET_MS),
            ("`capability list -v`", ["capability", "list", "-v"], CATALOG_TARGET_MS),
            (f"`capability describe {DESCRIBED}`", ["capability", "describe", DESCRIBED],
             None),
        ]:
            on_large, on_empty = bench.measure_pair(
                Result(f"{label} on 10,000", target),
                Result(f"{label} on empty vault", target),
                runs, rss_runs, large, empty, cmd,
            )
            results += [on_large, on_empty]
            catalog_pairs.append((label, on_large, on_empty))
        status_empty = bench.measure(
            Result("`status` on empty vault (process baseline)", None),
            runs, rss_runs, lambda: empty, lambda i: ["status"],
        )
        results.append(status_empty)
        results.append(bench.measure(
            Result("`secrets create` 1 -> vault of 10,000", 10),
            runs, rss_runs, lambda: large,
            lambda i: ["secrets", "create", "--name", f"BENCH_CREATE_{i:04}",
                       "--value", f"sk-create-{i:04}-0123456789abcdef"],
        ))
        results.append(bench.measure(
            Result("`status` on 10,000", None),
            runs, rss_runs, lambda: large, lambda i: ["status"],
        ))
        into_nine = bench.measure(
            Result("`secrets import` 1,000 -> copy of vault of 9,000", 400),
            runs, rss_runs, lambda: bench.copy_vault(nine, "nine"),
            lambda i: ["secrets", "import", *entry_args(more_names)],
        )
        into_zero = bench.measure(
            Result("`secrets import` 1,000 -> copy of empty vault", None),
            runs, rss_runs, lambda: bench.copy_vault(empty, "zero"),
            lambda i: ["secrets", "import", *entry_args(more_names)],
        )
        results += [into_nine, into_zero]
        results.append(bench.measure(
            Result(f"variant: import 1,000 incl. {len(registry)} registry names -> new vault",
                   300),
            runs, rss_runs, lambda: bench.fresh_dir("mixed"),
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

    lines = [f"## aivault CLI benchmark ({runs} timed runs per operation, after 1 warm-up run)",
             ""]
    lines += header
    lines.append(
        f"- 1-min load average: {load_before:.2f} before, {os.getloadavg()[0]:.2f} after "
        "(other work on the machine inflates the figures)"
    )
    lines += [""] + table(results) + [""]
    ratio = into_nine.median_ms / into_zero.median_ms
    lines.append(
        f"Ratio import 1,000 into 9,000 / into 0 (medians): {ratio:.2f} "
        f"({into_nine.median_ms:.1f} ms / {into_zero.median_ms:.1f} ms; "
        "~1.0 means the cost does not grow with the vault)"
    )
    for label, on_large, on_empty in catalog_pairs:
        lines.append(
            f"Ratio {label} on 10,000 / on empty vault (medians): "
            f"{on_large.median_ms / on_empty.median_ms:.2f} "
            f"({on_large.median_ms:.1f} ms / {on_empty.median_ms:.1f} ms)"
        )
    lines.append(
        f"Catalog: {len(catalog)} capabilities of {providers} providers (built-in registry; "
        f"60+ providers {'met' if providers >= 60 else '**MISSED**'}; "
        f"{len(listing['capabilities'])} ready); process baseline (`status` on the empty "
        f"vault): {status_empty.median_ms:.1f} ms"
    )
    wait4_max = max(max(r.wait4_kib) for r in results) / 1024.0
    if bench.tracer:
        rss_note = (
            f"- Peak RSS: VmHWM at process exit (ptrace exit stop), max of {rss_runs} untimed "
            f"runs per operation, MB = MiB. wait4's ru_maxrss of the timed runs peaked at "
            f"{wait4_max:.1f} MB, which is the spawning Python's high-water mark that Linux "
            "folds into the child at execve, not aivault's."
        )
    else:
        rss_note = (
            f"- Peak RSS: {tracer_note}shown as '<=': wait4's ru_maxrss, which includes the "
            "spawning Python's high-water mark folded in at execve (an upper bound)."
        )
    lines += [
        "",
        "Notes:",
        "- Wall time is spawn to exit of the whole process (exec, dynamic loading, argument "
        "parsing, SQLite open, key load, work, fsync, exit), measured from Python.",
        rss_note,
        f"- Names are custom (BENCH_KEY_00000...). Only {len(registry)} names are claimed by "
        f"the registry ({', '.join(registry)}); those pin and provision credentials, so a "
        "vault of thousands of secrets is custom names almost entirely and custom names are "
        "representative; the variant row mixes the registry names in.",
        "- Targets are informative: a missed target is flagged, never a failure.",
    ]
    if args.keep:
        lines.append(f"- Vaults kept in {work}")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
