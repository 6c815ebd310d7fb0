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

echo "== cargo test"
cargo test --workspace --locked

echo "== criterion benchmark, smoke mode"
cargo bench --locked -p aivault-core --bench vault -- --test

echo "== quickstart"
./scripts/quickstart.sh > /dev/null

echo "== all checks passed"
