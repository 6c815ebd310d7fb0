#!/usr/bin/env bash
# Runs every property test of aivault-core (`aivault-core/tests/props_*.rs`) for SECONDS
# seconds each, JOBS at a time (default 1), with fresh random cases in batches of 500 until
# the time is up. Prints one line per property ("N cases, 0 failures") and fails on the first
# counterexample, which proptest shrinks and saves next to the test file
# (`*.proptest-regressions`; commit it: later runs replay it first).
#
#   scripts/fuzz.sh 30         # the short run scripts/test.sh makes
#   scripts/fuzz.sh 600 4      # ten minutes each, four at a time
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:?usage: scripts/fuzz.sh SECONDS [JOBS]}"
jobs="${2:-1}"
case "$seconds$jobs" in *[!0-9]*) echo "SECONDS and JOBS are whole numbers" >&2; exit 2 ;; esac

# Build once, then run the test binaries themselves (from the package directory, as cargo
# does), so editing sources during a long run does not rebuild under it.
targets=()
for file in aivault-core/tests/props_*.rs; do
    targets+=("$(basename "$file" .rs)")
done
# shellcheck disable=SC2046
built="$(cargo test -p aivault-core $(printf -- '--test %s ' "${targets[@]}") --no-run 2>&1)" ||
    { echo "$built" >&2; exit 1; }
binary() {
    echo "$built" | sed -n "s|.*Executable tests/$1\.rs (\(.*\))|\1|p" | tail -n 1
}

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
properties=()
for target in "${targets[@]}"; do
    bin="$(binary "$target")"
    [ -x "$bin" ] || { echo "no test binary for $target" >&2; exit 1; }
    while read -r name; do
        properties+=("$target $PWD/$bin $name")
    done < <("$bin" --list 2>/dev/null | sed -n 's/: test$//p')
done

run_one() {
    local target="$1" bin="$2" name="$3" log="$logs/$1.$3.log"
    if (cd aivault-core && AIVAULT_FUZZ_SECONDS="$seconds" "$bin" --exact "$name" --nocapture) \
        >"$log" 2>&1; then
        grep -h '^property ' "$log" || echo "$target::$name: ok (not a timed property)"
    else
        echo "FAILED: $target::$name"
        cat "$log"
        return 1
    fi
}

failed=0
running=0
pids=()
for entry in "${properties[@]}"; do
    # shellcheck disable=SC2086
    run_one $entry &
    pids+=($!)
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || failed=1
        running=$((running - 1))
    fi
done
while [ "$running" -gt 0 ]; do
    wait -n || failed=1
    running=$((running - 1))
done
if [ "$failed" -ne 0 ]; then
    echo "fuzz: a property failed (see above)" >&2
    exit 1
fi
echo "fuzz: ${#properties[@]} properties, ${seconds}s each, 0 failures"
