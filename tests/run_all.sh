#!/usr/bin/env bash
# Runs every test of a build and prints ONE final line "N passed, M failed[, K skipped]".
#
#   tests/run_all.sh BUILD_DIR [unit|integration]
#
# unit:        every BUILD_DIR/bin/*_tests GoogleTest binary, each writing JUnit XML.
# integration: pytest over tests/integration against BUILD_DIR/bin/sluice (SLUICE_BIN).
# Both by default. Exits non-zero if any test failed, if a binary or pytest ended without a
# usable report (counted as a failure and named), or if no test ran at all.
#
# Environment: SLUICE_TEST_RESULTS=DIR keeps the XML reports and logs in DIR (default: a
# temporary directory, removed at exit). PYTEST_ARGS adds arguments to pytest (e.g. -k).
set -uo pipefail

usage() { echo "usage: $0 BUILD_DIR [unit|integration]" >&2; exit 2; }
[[ $# -ge 1 && $# -le 2 ]] || usage
mode=${2:-all}
[[ $mode == all || $mode == unit || $mode == integration ]] || usage

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$(cd "$1" 2>/dev/null && pwd) || { echo "run_all: no build directory $1" >&2; exit 2; }
py=/usr/bin/python3  # Debian's interpreter: the one with pika, kombu, aio-pika and pytest

if [[ -n ${SLUICE_TEST_RESULTS:-} ]]; then
  results=$SLUICE_TEST_RESULTS
  mkdir -p "$results"
  rm -f "$results"/*.xml
else
  results=$(mktemp -d "${TMPDIR:-/tmp}/sluice-tests.XXXXXX")
  trap 'rm -rf "$results"' EXIT
fi

# Per-binary and whole-run limits, so a hung test cannot stall CI.
unit_timeout=${SLUICE_UNIT_TIMEOUT:-300}
integration_timeout=${SLUICE_INTEGRATION_TIMEOUT:-900}

crashed=()
reports=()

run_unit() {
  local found=0 bin name xml log rc
  for bin in "$build"/bin/*_tests; do
    [[ -x $bin ]] || continue
    found=1
    name=$(basename "$bin")
    xml=$results/$name.xml
    log=$results/$name.log
    echo "== $name"
    (cd "$repo" && timeout -k 10 "$unit_timeout" "$bin" --gtest_output="xml:$xml" \
      </dev/null >"$log" 2>&1)
    rc=$?
    if [[ ! -s $xml ]]; then
      cat "$log"
      crashed+=("$name:exited with code $rc without writing its XML report (crash or hang)")
      continue
    fi
    reports+=("$xml")
    if [[ $rc -ne 0 ]]; then
      cat "$log"
      if ! grep -q "<failure" "$xml"; then
        crashed+=("$name:exited with code $rc although its report shows no failure")
      fi
    else
      tail -n 1 "$log"
    fi
  done
  if [[ $found -eq 0 ]]; then
    echo "run_all: no unit test binaries in $build/bin (*_tests)"
  fi
}

run_integration() {
  local xml=$results/integration.xml rc extra=()
  echo "== integration (pytest, SLUICE_BIN=$build/bin/sluice)"
  if "$py" -c 'import pytest_timeout' 2>/dev/null; then
    extra+=(--timeout=180)
  fi
  # A client thread that dies of an exception is a failure of its test, not a warning.
  extra+=(-W error::pytest.PytestUnhandledThreadExceptionWarning)
  # shellcheck disable=SC2086
  (cd "$repo" && SLUICE_BIN="$build/bin/sluice" timeout -k 10 "$integration_timeout" \
    "$py" -m pytest tests/integration -p no:cacheprovider -q -rfE \
    --junitxml="$xml" "${extra[@]}" ${PYTEST_ARGS:-} </dev/null)
  rc=$?
  # 0: all passed, 1: some failed, 5: none collected (the summary then says none ran).
  if [[ ! -s $xml ]]; then
    crashed+=("integration:pytest exited with code $rc without writing its XML report")
    return
  fi
  reports+=("$xml")
  if [[ $rc -ne 0 && $rc -ne 1 && $rc -ne 5 ]] && ! grep -q -e "<failure" -e "<error" "$xml"; then
    crashed+=("integration:pytest exited with code $rc although its report shows no failure")
  fi
}

[[ $mode == all || $mode == unit ]] && run_unit
[[ $mode == all || $mode == integration ]] && run_integration

args=()
for c in "${crashed[@]+"${crashed[@]}"}"; do
  args+=(--crashed "$c")
done
echo
"$py" "$repo/tests/summarize.py" "${args[@]+"${args[@]}"}" "${reports[@]+"${reports[@]}"}"
