#!/usr/bin/env bash
# Size of the shipped `aivault` binary: builds the release CLI (the release profile is the
# shipping profile: fat LTO, one codegen unit, stripped), strips a copy anyway (for a build made
# with other settings) and prints its size. With AIVAULT_ORIGINAL=<path to the original tool's
# binary> it prints the original's stripped size beside it. Not part of scripts/test.sh: a
# fat-LTO build costs minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked --quiet -p aivault-cli
bin="${CARGO_TARGET_DIR:-$PWD/target}/release/aivault"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

report() { # report LABEL PATH: strips a copy of PATH and prints its size
  cp "$2" "$work/bin"
  strip "$work/bin"
  local bytes
  bytes="$(stat -c %s "$work/bin")"
  awk -v l="$1" -v b="$bytes" 'BEGIN { printf "%-22s %10d bytes  %5.2f MB\n", l, b, b / 1e6 }'
}

report "aivault (stripped)" "$bin"
if [ -n "${AIVAULT_ORIGINAL:-}" ]; then
  report "original (stripped)" "$AIVAULT_ORIGINAL"
fi
