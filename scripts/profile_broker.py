#!/usr/bin/env python3
"""Where a brokered call's CPU goes, per call, against a plain ureq call (needs `perf`).

Runs the `paired` benchmark pinned to one CPU twice under `perf record`: once with
`--only vault` (`Vault::invoke`), once with `--only ureq` (a plain agent, same upstream), the
same number of calls each. Every sample is CPU time, so samples / frequency / calls is time per
call. Prints, per thread group (the calling thread, the audit writer, the in-process upstream),
the time per call of each side and the difference, then the symbols whose time per call differs
most. The difference is what the broker adds: policy, cache check, request building,
redaction, the audit event.

    python3 scripts/profile_broker.py [--case invoke_http|invoke_https] [--rounds 500]
"""

import argparse
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

FREQUENCY = 10_000
CALLS_PER_BLOCK = 200


def bench_binary():
    """Builds the paired benchmark and returns its path."""
    out = subprocess.run(
        ["cargo", "bench", "--locked", "-p", "aivault-core", "--bench", "paired",
         "--no-run", "--message-format", "json"],
        check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        message = json.loads(line)
        if message.get("reason") == "compiler-artifact" and message.get("executable") \
                and message["target"]["name"] == "paired":
            return message["executable"]
    sys.exit("cargo did not report the paired benchmark's executable")


def profile(binary, case, side, rounds, data):
    """Records `rounds` blocks of one side; returns the benchmark's own line."""
    out = subprocess.run(
        ["perf", "record", "-q", "-F", str(FREQUENCY), "-o", data, binary, case,
         "--one-core", "--only", side, "--rounds", str(rounds),
         "--calls", str(CALLS_PER_BLOCK)],
        check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def samples(data):
    """Samples per (thread group, symbol)."""
    report = subprocess.run(
        ["perf", "report", "-i", data, "--no-children", "--sort", "comm,symbol",
         "-g", "none", "-F", "sample,comm,sym", "--stdio"],
        check=True, capture_output=True, text=True).stdout
    rows = collections.Counter()
    for line in report.splitlines():
        match = re.match(r"\s*(\d+)\s+(\S+)\s+\[.\]\s+(.*)$", line)
        if not match:
            continue
        count, comm, symbol = int(match[1]), match[2], match[3].strip()
        group = ("upstream" if comm.startswith("testkit") else
                 "audit" if "audit" in comm else "caller")
        rows[(group, symbol[:90])] += count
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", default="invoke_http",
                        choices=["invoke_http", "invoke_https"])
    parser.add_argument("--rounds", type=int, default=500,
                        help="blocks of 200 calls per side (default 500)")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    binary = bench_binary()
    calls = args.rounds * CALLS_PER_BLOCK
    per_call = lambda n: n * 1e6 / FREQUENCY / calls
    with tempfile.TemporaryDirectory() as tmp:
        sides = {}
        for side in ("vault", "ureq"):
            data = os.path.join(tmp, f"{side}.data")
            print(profile(binary, args.case, side, args.rounds, data))
            sides[side] = samples(data)
    vault, plain = sides["vault"], sides["ureq"]
    print(f"\nus of CPU per call ({calls} calls a side, {args.case}, one CPU):")
    for group in ("caller", "audit", "upstream"):
        v = sum(n for (g, _), n in vault.items() if g == group)
        p = sum(n for (g, _), n in plain.items() if g == group)
        print(f"  {group:9} vault {per_call(v):6.2f}  ureq {per_call(p):6.2f}  "
              f"added {per_call(v - p):+6.2f}")
    print(f"\nsymbols whose time per call differs most (vault - ureq):")
    keys = set(vault) | set(plain)
    diff = sorted(keys, key=lambda k: -abs(vault[k] - plain[k]))
    for group, symbol in diff[:args.top]:
        print(f"  {per_call(vault[(group, symbol)] - plain[(group, symbol)]):+7.3f} us  "
              f"{group:8} {symbol}")


if __name__ == "__main__":
    main()
