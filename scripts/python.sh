#!/usr/bin/env bash
# The Python binding (aivault-py, package `aivault`): builds it into <repo>/.venv with maturin,
# runs its tests (pytest, warnings are errors) and checks the hand-written stubs against the
# module (mypy.stubtest); then runs the drop-in test again with `openai<3` (built on httpx)
# in <repo>/.venv-openai2. Everything it needs is installed here, from the package registry,
# into those two virtualenvs: a fresh clone needs only python3 (>= 3.9) and cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$(pwd)"
python="${PYTHON:-python3}"

venv() { # venv DIR PACKAGES...: creates DIR if missing and installs the packages in it
  local dir="$1"
  shift
  [ -x "$dir/bin/python" ] || "$python" -m venv "$dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@"
}

echo "== python: virtualenv .venv (maturin, pytest, mypy, httpx, httpx2, openai latest, mcp, requests)"
# mcp: the client the `aivault mcp` test drives (aivault-cli/tests/mcp_cli.rs); requests: a
# tool `aivault run` runs unchanged (aivault-cli/tests/run_cli.rs).
venv .venv "maturin>=1.9.4,<2" "pytest>=8,<10" "mypy>=1.10" "httpx>=0.27,<1" "httpx2>=2,<3" \
  "openai>=3" "mcp>=1.10" "requests>=2.31,<3"

echo "== python: the aivault CLI (the concurrency and drop-in tests run it)"
cargo build --locked -q -p aivault-cli

echo "== python: maturin develop (debug build of aivault-py into .venv)"
VIRTUAL_ENV="$repo/.venv" .venv/bin/maturin develop --locked -q -m aivault-py/Cargo.toml

echo "== python: pytest"
.venv/bin/python -m pytest aivault-py/tests -q -p no:cacheprovider

echo "== python: stubtest of aivault._aivault"
.venv/bin/python -m mypy.stubtest aivault._aivault
.venv/bin/python -m mypy --cache-dir /dev/null aivault-py/python/aivault examples/python

echo "== python: the drop-in test with openai<3 (httpx) in .venv-openai2"
venv .venv-openai2 "openai<3" "pytest>=8,<10"
# The same build: the abi3 module maturin placed in aivault-py/python/aivault, by path.
site="$(.venv-openai2/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$repo/aivault-py/python" > "$site/aivault-dev.pth"
.venv-openai2/bin/python -m pytest aivault-py/tests/test_openai.py -q -p no:cacheprovider
