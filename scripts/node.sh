#!/usr/bin/env bash
# The Node binding (aivault-node, npm package `aivault`): installs the pinned napi CLI and the
# test packages into aivault-node/node_modules (npm ci, from package-lock.json), builds the
# addon (debug), fails when the committed index.js / index.d.ts drift from what the pinned CLI
# generates, builds the CLI the concurrency test runs beside the binding, and runs node --test.
set -euo pipefail
cd "$(dirname "$0")/../aivault-node"

echo "== node: npm ci"
npm ci --no-audit --no-fund --loglevel=error

echo "== node: napi build"
npx napi build --platform -- --locked

echo "== node: generated index.js / index.d.ts match the committed ones"
if ! git diff --exit-code -- index.js index.d.ts; then
  echo "FAIL: index.js / index.d.ts drifted from what @napi-rs/cli generates: commit the regenerated files" >&2
  exit 1
fi

echo "== node: the CLI the concurrency test runs"
(cd .. && cargo build --locked -p aivault-cli)

echo "== node: node --test"
node --test __test__/
