#!/usr/bin/env bash
# Every check and test of the workspace: formatting, lints, unit + integration + doc tests
# (real SQLite files, real `aivault` processes), the benchmark in smoke mode, and the
# quickstart end to end.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -D warnings"
cargo clippy --workspace --all-targets --locked -- -D warnings

./scripts/node.sh    # the Node binding: npm ci, napi build, drift check, node --test
./scripts/python.sh  # the Python binding: maturin build, pytest, stubtest, openai<3
echo "== cargo test"
# The SDK tests (openai and mcp in .venv, openai in aivault-node/node_modules, installed by the
# two scripts above) and the Python and Node conformance runners must run here, never skip.
AIVAULT_REQUIRE_SDKS=1 AIVAULT_CONFORMANCE_ALL=1 cargo test --workspace --locked

echo "== property tests, 30 s each"
./scripts/fuzz.sh 30 2

echo "== criterion benchmark, smoke mode"
cargo bench --locked -p aivault-core --bench vault -- --test
cargo bench --locked -p aivault-core --bench broker -- --test
cargo bench --locked -p aivault-core --bench paired -- --test
cargo bench --locked -p aivault-core --bench proxy_ca -- --test
cargo bench --locked -p aivault-ffi --bench invoke -- --test

echo "== quickstart"
./scripts/quickstart.sh > /dev/null

echo "== release builds refuse the debug-only test hooks"
hooks_dir="$(mktemp -d)"
trap 'rm -rf "$hooks_dir"' EXIT
for hook in AIVAULT_DEV_RESOLVE=api.openai.com=127.0.0.1:9 AIVAULT_DEV_CA_CERT=/dev/null AIVAULT_DEV_STALL=any; do
  if env "$hook" AIVAULT_DIR="$hooks_dir/vault" "${CARGO_TARGET_DIR:-target}/release/aivault" status >/dev/null 2>"$hooks_dir/err"; then
    echo "FAIL: a release build ran with ${hook%%=*} set" >&2
    exit 1
  fi
  grep -q "release builds refuse" "$hooks_dir/err" || { cat "$hooks_dir/err" >&2; exit 1; }
done

echo "== all checks passed"
