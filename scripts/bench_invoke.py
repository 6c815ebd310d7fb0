#!/usr/bin/env python3
"""Whole-process benchmarks of `aivault invoke` (Python 3.11, standard library only).

One loopback HTTPS upstream (`aivault-testkit/examples/serve.rs`: a throwaway CA, a server
certificate for api.openai.com, a fixed 1 KiB JSON body on /v1/models and N zero bytes on
/v1/models/zeros?bytes=N) serves every run. Measured, each as the median (and min) of N
complete processes, the timed runs of a comparison interleaved (a, b, a, b, ...) so that load
changes affect both sides alike:

  1. `aivault invoke openai/models` against the same request made by curl:
       curl -s --cacert ca.pem --connect-to api.openai.com:443:127.0.0.1:PORT \\
            -H 'authorization: Bearer x' https://api.openai.com/v1/models
     (target: aivault/curl <= 0.45, with no `aivault serve` running);
  2. `aivault invoke openai/models` in a vault holding only OPENAI_API_KEY against a vault
     holding secrets of 60 registry providers (60 credentials), and against a vault holding
     OPENAI_API_KEY plus 10,000 custom secrets (target: each ratio <= 1.05: only the credential
     in use is read and decrypted);
  3. `aivault invoke --stream openai/models --path /v1/models/zeros?bytes=N` of 100 MiB to
     /dev/null: peak RSS (target < 30 MB) and MB/s, with curl's download of the same as the
     reference.

Why a `bench-dev` build. The broker only ever talks to the registry's hosts on port 443; the
test hooks AIVAULT_DEV_RESOLVE (route api.openai.com to 127.0.0.1:PORT) and AIVAULT_DEV_CA_CERT
(trust the test CA) make a loopback server stand in for api.openai.com, and they are gated on
`cfg!(debug_assertions)`: release builds refuse them. The workspace profile `bench-dev`
inherits `release` (same optimizations, LTO, codegen units) and only turns debug assertions
on, so the hooks work and the figures are those of an optimized binary (debug_assert!s in
aivault and its dependencies run too, a small cost that only makes aivault look slower).
The binary is target/bench-dev/aivault; never ship it.

Peak RSS comes from separate, untimed runs traced with ptrace (VmHWM read at the exit event,
as in scripts/bench_cli.py, whose Tracer this script reuses): wait4's ru_maxrss would include
the forking Python's high-water mark.

With --criterion the script also runs the in-process criterion bench
(`cargo bench -p aivault-core --bench broker`) and prints its medians and ratios (Vault::invoke
vs plain ureq over HTTP and HTTPS, two-thread throughput, the breakdown of the broker's own
time, and invoke cost vs vault size) from target/criterion/*/new/estimates.json.

With --baseline PATH the first comparison also times another aivault binary (an earlier build,
on its own vault of 1 secret set up by that binary), interleaved with the two others, so a
change can be judged against its predecessor in the same run.

Usage: scripts/bench_invoke.py [--runs N] [--rss-runs N] [--stream-mib N] [--skip-build]
                               [--criterion] [--baseline PATH] [--tmpdir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_cli import Tracer  # noqa: E402  (ptrace VmHWM reader)

ROOT = Path(__file__).resolve().parent.parent
PROFILE = "bench-dev"
CAPABILITY = "openai/models"
PROVIDERS = 60
EXTRA_SECRETS = 10_000
FLAT_TARGET = 1.05
MEMORY_TARGET_MB = 30.0
CURL_RATIO_TARGET = 0.45
MIB = 1024 * 1024


class CommandFailed(Exception):
    """A measured command exited non-zero."""


@dataclass
class Result:
    label: str
    argv: list[str]
    env_note: str = ""
    wall_ms: list[float] = field(default_factory=list)
    hwm_kib: list[int] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.wall_ms)

    @property
    def mean_ms(self) -> float:
        """The mean: unlike the median it includes the occasional WAL checkpoint's cost."""
        return statistics.fmean(self.wall_ms)

    @property
    def min_ms(self) -> float:
        return min(self.wall_ms)

    @property
    def peak_rss_mb(self) -> float | None:
        return max(self.hwm_kib) / 1024.0 if self.hwm_kib else None


def registry_secret_names(count: int) -> list[str]:
    """One secret name each of `count` registry providers other than OpenAI: the only secret of
    the first single-secret, non-OAuth, non-mTLS credential (as aivault-core/benches/broker.rs
    picks them)."""
    names: list[str] = []
    for path in sorted((ROOT / "registry").glob("*.toml")):
        with path.open("rb") as f:
            provider = tomllib.load(f)
        if provider.get("id") == "openai":
            continue
        for credential in provider.get("credentials", []):
            secrets = credential.get("secrets", {})
            kind = credential.get("auth", {}).get("kind")
            if len(secrets) == 1 and kind not in ("oauth2", "mtls"):
                names.append(next(iter(secrets.values())))
                break
        if len(names) == count:
            return names
    raise SystemExit(f"error: only {len(names)} registry providers with a single secret")


class Runner:
    def __init__(self, tracer: Tracer | None) -> None:
        self.tracer = tracer

    def run(self, argv: list[str], env: dict[str, str], traced: bool = False) -> tuple[float, int]:
        """One process, stdout to /dev/null: (wall ms, VmHWM KiB or 0)."""
        tracer = self.tracer if traced else None
        with tempfile.TemporaryFile() as err:
            start = time.perf_counter()
            proc = subprocess.Popen(
                argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=err, close_fds=True, preexec_fn=tracer.traceme if tracer else None,
            )
            if tracer:
                status, hwm = tracer.follow(proc.pid)
                kib = hwm or 0
            else:
                _, status, _ = os.wait4(proc.pid, 0)
                kib = 0
            wall_ms = (time.perf_counter() - start) * 1000.0
            code = os.waitstatus_to_exitcode(status)
            if code != 0:
                err.seek(0)
                raise CommandFailed(
                    f"`{shlex.join(argv[:8])}` exited {code}: "
                    f"{err.read().decode(errors='replace').strip()}"
                )
        return wall_ms, kib

    def interleaved(
        self, pairs: list[tuple[Result, dict[str, str]]], runs: int, rss_runs: int
    ) -> None:
        """One warm-up run each, then `runs` rounds (a, b, ...), then `rss_runs` traced rounds."""
        for result, env in pairs:
            self.run(result.argv, env)
        for _ in range(runs):
            for result, env in pairs:
                result.wall_ms.append(self.run(result.argv, env)[0])
        if self.tracer:
            for _ in range(rss_runs):
                for result, env in pairs:
                    result.hwm_kib.append(self.run(result.argv, env, traced=True)[1])


def aivault_env(vault: Path, port: int, ca: Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AIVAULT_DIR": str(vault),
        "LC_ALL": "C",
        "NO_COLOR": "1",
        "AIVAULT_DEV_RESOLVE": f"api.openai.com=127.0.0.1:{port}",
        "AIVAULT_DEV_CA_CERT": str(ca),
    }


def setup_output(binary: Path, args: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run([str(binary), *args], env=env, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise CommandFailed(f"`aivault {' '.join(args[:4])} ...` exited {proc.returncode}: "
                            f"{proc.stderr.strip()}")
    return proc.stdout


def fmt(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def criterion_estimate(group: str, bench: str) -> float | None:
    """Median (ns) of a criterion benchmark from its last run, or None."""
    path = ROOT / "target" / "criterion" / group / bench / "new" / "estimates.json"
    try:
        return json.loads(path.read_text())["median"]["point_estimate"]
    except (OSError, KeyError, ValueError):
        return None


def criterion_table() -> list[str]:
    lines = ["| in-process (criterion, median per call) | a | b | b/a | target |",
             "|---|---:|---:|---:|---|"]

    def us(ns: float | None) -> str:
        return fmt(ns / 1000.0 if ns is not None else None, 1) + " µs"

    for group, label in (("invoke_http", "HTTP: ureq (a) vs Vault::invoke (b)"),
                         ("invoke_https", "HTTPS: ureq (a) vs Vault::invoke (b)")):
        a, b = criterion_estimate(group, "ureq"), criterion_estimate(group, "vault")
        ratio = b / a if a and b else None
        extra = f"overhead {fmt((b - a) / 1000.0, 1)} µs" if a and b else ""
        met = ratio is not None and ratio <= 1.15
        lines.append(f"| {label} | {us(a)} | {us(b)} | {fmt(ratio)} | "
                     f"<= 1.15 {'met' if met else '**MISSED**'}; {extra} |")
    a = criterion_estimate("throughput_2_threads", "ureq")
    b = criterion_estimate("throughput_2_threads", "vault")
    if a and b:
        lines.append(f"| 2 threads, calls/s: shared agent (a) vs shared Vault (b) | "
                     f"{1e9 / a:,.0f}/s | {1e9 / b:,.0f}/s | {a / b:.2f} | (throughput ratio) |")
    a = criterion_estimate("vault_size", "1")
    b = criterion_estimate("vault_size", str(PROVIDERS + 1_000))
    lines.append(f"| Vault::invoke, 1 secret (a) vs 60 credentials + 1,000 secrets (b) | "
                 f"{us(a)} | {us(b)} | {fmt(b / a if a and b else None)} | ~1.0 |")
    lines += ["", "| broker step (criterion breakdown) | median |", "|---|---:|"]
    for bench, label in (
        ("plan", "Vault::plan (read tx)"),
        ("secret_read", "secret envelope read (read tx)"),
        ("decrypt", "decrypt (unwrap DEK + open value)"),
        ("call_headers", "real call, invoke_stream until headers (plan, unseal, send, wait)"),
        ("call_body", "real call, reading the 1 KiB body (redacted)"),
        ("call_audit", "real call, finish(): the capability.invoke audit append"),
        ("audit_append_store", "audit append, SqliteStore write tx, synchronous=FULL"),
        ("audit_sql_full", "same SQL, raw connection, synchronous=FULL"),
        ("audit_sql_normal", "same SQL, raw connection, synchronous=NORMAL"),
    ):
        lines.append(f"| {label} | {us(criterion_estimate('breakdown', bench))} |")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=21, help="timed runs per command (21)")
    parser.add_argument("--rss-runs", type=int, default=2, help="traced runs for peak RSS (2)")
    parser.add_argument("--stream-runs", type=int, default=5, help="timed streaming runs (5)")
    parser.add_argument("--stream-mib", type=int, default=100, help="streamed MiB (100)")
    parser.add_argument("--skip-build", action="store_true", help="use the existing binaries")
    parser.add_argument("--criterion", action="store_true",
                        help="also run the in-process criterion bench and print its ratios")
    parser.add_argument("--baseline", type=Path,
                        help="another aivault binary to time beside this one (same run)")
    parser.add_argument("--tmpdir", type=Path, help="where the vaults live (default: $TMPDIR)")
    parser.add_argument("--keep", action="store_true", help="keep the vaults afterwards")
    args = parser.parse_args()
    if args.runs < 1 or args.rss_runs < 0 or args.stream_runs < 1:
        parser.error("--runs and --stream-runs must be at least 1, --rss-runs at least 0")
    curl = shutil.which("curl")
    if curl is None:
        print("error: curl not found", file=sys.stderr)
        return 1

    build_cmds = [
        ["cargo", "build", "--profile", PROFILE, "-p", "aivault-cli"],
        ["cargo", "build", "--profile", PROFILE, "-p", "aivault-testkit", "--example", "serve"],
    ]
    if not args.skip_build:
        for cmd in build_cmds:
            if subprocess.run(cmd, cwd=ROOT, check=False).returncode != 0:
                print(f"error: {shlex.join(cmd)} failed", file=sys.stderr)
                return 1
    target_dir = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    binary = target_dir / PROFILE / "aivault"
    serve_bin = target_dir / PROFILE / "examples" / "serve"
    for path in (binary, serve_bin):
        if not path.is_file():
            print(f"error: {path} not found (build it or drop --skip-build)", file=sys.stderr)
            return 1

    criterion_lines: list[str] = []
    if args.criterion:
        cmd = ["cargo", "bench", "-p", "aivault-core", "--bench", "broker"]
        print(f"running {shlex.join(cmd)} ...", file=sys.stderr)
        if subprocess.run(cmd, cwd=ROOT, check=False).returncode != 0:
            print("error: the criterion bench failed", file=sys.stderr)
            return 1
        criterion_lines = criterion_table()

    work = Path(tempfile.mkdtemp(prefix="aivault-invoke-bench-", dir=args.tmpdir))
    # Measure private copies: a concurrent `cargo build` cannot swap a binary mid-run.
    aivault = work / "aivault"
    shutil.copy2(binary, aivault)
    baseline: Path | None = None
    if args.baseline:
        baseline = work / "aivault-baseline"
        shutil.copy2(args.baseline, baseline)
    serve_copy = work / "serve"
    shutil.copy2(serve_bin, serve_copy)
    server = subprocess.Popen([str(serve_copy), str(work)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    failed = False
    try:
        assert server.stdout is not None
        info = json.loads(server.stdout.readline())
        port, ca = int(info["port"]), Path(info["ca"])

        tracer: Tracer | None = Tracer() if args.rss_runs > 0 else None
        runner = Runner(tracer)
        if tracer:
            try:
                runner.run([str(aivault), "--version"], aivault_env(work, port, ca), traced=True)
            except (OSError, subprocess.SubprocessError) as e:
                print(f"ptrace unavailable ({e}): no peak RSS", file=sys.stderr)
                runner.tracer = None

        small = work / "vault-1"
        creds = work / f"vault-{PROVIDERS}-credentials"
        many = work / f"vault-{EXTRA_SECRETS}-secrets"
        small_env = aivault_env(small, port, ca)
        creds_env = aivault_env(creds, port, ca)
        many_env = aivault_env(many, port, ca)
        key = "OPENAI_API_KEY=sk-bench-openai-0123456789abcdefghijklmnopqrstuv"
        setup_output(aivault, ["secrets", "import", "--entry", key], small_env)
        base_env = aivault_env(work / "vault-1-baseline", port, ca)
        if baseline:
            setup_output(baseline, ["secrets", "import", "--entry", key], base_env)
        entries = ["--entry", key]
        for i, name in enumerate(registry_secret_names(PROVIDERS - 1)):
            entries += ["--entry", f"{name}=sk-provider-{i:03}-0123456789"]
        setup_output(aivault, ["secrets", "import", *entries], creds_env)
        listing = json.loads(setup_output(aivault, ["credential", "list", "-v"], creds_env))
        n_credentials = len(listing.get("credentials", []))
        setup_output(aivault, ["secrets", "import", "--entry", key], many_env)
        for chunk in range(0, EXTRA_SECRETS, 1_000):
            entries = []
            for i in range(chunk, min(chunk + 1_000, EXTRA_SECRETS)):
                entries += ["--entry",
                            f"BENCH_KEY_{i:05}=sk-bench-{i:05}-0123456789abcdefghijklmnopqrstuv"]
            setup_output(aivault, ["secrets", "import", *entries], many_env)

        # Sanity: both return the 1 KiB body.
        for env in (small_env, creds_env, many_env):
            body = subprocess.run([str(aivault), "invoke", CAPABILITY], env=env,
                                  capture_output=True, check=True).stdout
            assert len(body) == 1024, f"invoke returned {len(body)} bytes"

        invoke = [str(aivault), "invoke", CAPABILITY]
        curl_argv = [curl, "-s", "--cacert", str(ca), "--connect-to",
                     f"api.openai.com:443:127.0.0.1:{port}", "-H", "authorization: Bearer x",
                     "https://api.openai.com/v1/models"]
        env_note = (f"AIVAULT_DIR=<vault> AIVAULT_DEV_RESOLVE=api.openai.com=127.0.0.1:{port} "
                    f"AIVAULT_DEV_CA_CERT={ca}")
        curl_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C"}
        a_curl = Result("curl GET /v1/models", curl_argv)
        a_inv = Result("aivault invoke openai/models (1 secret)", invoke, env_note)
        print(f"timing aivault vs curl ({args.runs} interleaved runs each) ...", file=sys.stderr)
        first = [(a_inv, small_env), (a_curl, curl_env)]
        a_base = None
        if baseline:
            a_base = Result(f"baseline {args.baseline}: invoke openai/models (1 secret)",
                            [str(baseline), "invoke", CAPABILITY], env_note)
            first.append((a_base, base_env))
        runner.interleaved(first, args.runs, args.rss_runs)

        b_small = Result("aivault invoke, vault of 1 secret", invoke, env_note)
        b_creds = Result(f"aivault invoke, vault of {n_credentials} credentials", invoke,
                         env_note)
        print("timing invoke vs number of credentials ...", file=sys.stderr)
        runner.interleaved([(b_small, small_env), (b_creds, creds_env)], args.runs, 0)
        c_small = Result("aivault invoke, vault of 1 secret", invoke, env_note)
        c_many = Result(f"aivault invoke, vault of 1 + {EXTRA_SECRETS:,} secrets", invoke,
                        env_note)
        print("timing invoke vs number of secrets ...", file=sys.stderr)
        runner.interleaved([(c_small, small_env), (c_many, many_env)], args.runs, 0)

        stream_path = f"/v1/models/zeros?bytes={args.stream_mib * MIB}"
        s_inv = Result(f"aivault invoke --stream, {args.stream_mib} MiB",
                       [str(aivault), "invoke", "--stream", CAPABILITY, "--path", stream_path],
                       env_note)
        s_curl = Result(f"curl, {args.stream_mib} MiB",
                        [*curl_argv[:-1], f"https://api.openai.com{stream_path}"])
        print(f"streaming {args.stream_mib} MiB ...", file=sys.stderr)
        runner.interleaved([(s_inv, small_env), (s_curl, curl_env)], args.stream_runs,
                           args.rss_runs)
    except (CommandFailed, subprocess.CalledProcessError, AssertionError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        failed = True
    finally:
        if server.stdin:
            server.stdin.close()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if failed:
        return 1

    def mbps(r: Result) -> float:
        return args.stream_mib * MIB / 1e6 / (r.median_ms / 1000.0)

    def flat(r: Result, base: Result, what: str) -> tuple[Result, str, str]:
        ratio = r.median_ms / base.median_ms
        return (r, f"{ratio:.2f} ({what})",
                f"<= {FLAT_TARGET} {'met' if ratio <= FLAT_TARGET else '**MISSED**'}")

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    print(f"# aivault invoke benchmarks ({now})\n")
    print(f"- machine: {len(os.sched_getaffinity(0))} CPUs; {platform.system()} "
          f"{platform.release()}; load before: {os.getloadavg()[0]:.2f}")
    print(f"- binary: {binary} (profile {PROFILE}: release + debug assertions, for the dev "
          "hooks); curl: " + subprocess.run([curl, "--version"], capture_output=True,
                                            text=True).stdout.split("\n")[0])
    print(f"- {args.runs} interleaved runs per command (stream: {args.stream_runs}); peak RSS "
          f"= VmHWM of {args.rss_runs} traced runs\n")
    if criterion_lines:
        print("\n".join(criterion_lines) + "\n")
    print("| whole process | median ms | mean ms | min ms | peak RSS MB | ratio | target |")
    print("|---|---:|---:|---:|---:|---:|---|")
    ratio = a_inv.median_ms / a_curl.median_ms
    rows = [
        (a_inv, f"{ratio:.2f} (aivault/curl)",
         f"<= {CURL_RATIO_TARGET} {'met' if ratio <= CURL_RATIO_TARGET else '**MISSED**'}"),
        (a_curl, "", ""),
    ]
    if a_base:
        rows.append((a_base, f"{a_base.median_ms / a_curl.median_ms:.2f} (baseline/curl); "
                     f"{a_inv.median_ms / a_base.median_ms:.2f} (aivault/baseline)", ""))
    rows += [
        (b_small, "", ""),
        flat(b_creds, b_small, "credentials/1"),
        (c_small, "", ""),
        flat(c_many, c_small, "secrets/1"),
    ]
    peak = s_inv.peak_rss_mb
    verdict = ("not measured (--rss-runs 0)" if peak is None
               else "met" if peak < MEMORY_TARGET_MB else "**MISSED**")
    rows.append((s_inv, f"{mbps(s_inv):.0f} MB/s", f"< {MEMORY_TARGET_MB:g} MB {verdict}"))
    rows.append((s_curl, f"{mbps(s_curl):.0f} MB/s", ""))
    for r, ratio_text, target in rows:
        print(f"| {r.label} | {r.median_ms:.2f} | {r.mean_ms:.2f} | {r.min_ms:.2f} | "
              f"{fmt(r.peak_rss_mb, 1)} | "
              f"{ratio_text} | {target} |")
    print("\nCommands (PORT and CA of the run's upstream; stdout to /dev/null):")
    for cmd in build_cmds:
        print(f"  {shlex.join(cmd)}")
    print(f"  upstream: {serve_copy.name} <dir>   # target/{PROFILE}/examples/serve")
    for r in (a_inv, s_inv):
        print(f"  {r.env_note} {shlex.join(['aivault', *r.argv[1:]])}")
    for r in (a_curl, s_curl):
        print(f"  {shlex.join(r.argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
