#!/usr/bin/env bash
# tests/run-all.sh: the project's test command (README "Quick start", and
# what CI runs through .ci/run).
#
# SPDX-License-Identifier: LGPL-2.1-or-later
#
#   sudo bash tests/run-all.sh        (as root it installs what is missing)
#
# Three builds, each in a fresh build directory at the top of the tree:
#   1. _build        gcc, -Dwerror=true, introspection and Vala bindings (and
#                    docs and examples when the tree has them): every default
#                    suite (unit, integration, bindings, ...)
#   2. _build-asan   gcc, -Db_sanitize=address,undefined, introspection off
#                    (g-ir-scanner cannot run ASan-instrumented code): the C
#                    suites "unit" and "integration" under ASan, UBSan and
#                    LeakSanitizer (suppressions: tests/lsan.supp)
#   3. _build-fuzz   clang, -Dfuzzing=true: the "fuzz" suite (libFuzzer,
#                    60 s per target)
# Set SMTPCLIENT_VALGRIND=1 to also run "unit" and "integration" of build 1
# under `meson test --setup valgrind` (slower; off by default).
#
# The last line it prints is "N passed, N failed" (", N skipped" follows
# when something was skipped); it exits non-zero when anything failed.
# Counting: a TAP test (all GTest and Python suites) counts each of its
# subtests ("ok"/"not ok" lines): "ok" passes, "not ok" fails, "# SKIP" is
# skipped, "# TODO" (g_test_incomplete) is skipped when it fails and a
# failure when it passes.  A TAP program that meson judged failed (crash,
# sanitizer report at exit, timeout, missing subtests) without a failed
# subtest adds one failure.  Any other test (e.g. the fuzzer) counts once,
# by meson's result.  A build that fails to configure or compile counts as
# one failure.  Skipped tests never count as passed.

set -uo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." || exit 1
ROOT=$PWD
PYTHON=/usr/bin/python3

start_all=$(date +%s)

section() {
  echo
  echo "=================================================================="
  echo "== $*"
  echo "=================================================================="
}

# Per-phase results, filled by run_phase / count_results.
declare -a SUMMARY=()
total_passed=0
total_failed=0
total_skipped=0

# count_results BUILDDIR LABEL MESON_TEST_STATUS: add the tests in
# BUILDDIR/meson-logs/testlog.json to the totals.
count_results() {
  local builddir=$1 label=$2 status=$3 counts
  counts=$("$PYTHON" - "$builddir/meson-logs/testlog.json" "$status" <<'EOF'
import json
import re
import sys

path, status = sys.argv[1], int(sys.argv[2])
passed = failed = skipped = 0
failed_names = []
TAP_LINE = re.compile(r'^(not ok|ok)\b([^#]*)(#\s*(\w+))?', re.IGNORECASE)

try:
    with open(path, encoding='utf-8', errors='replace') as f:
        records = [json.loads(line) for line in f if line.strip()]
except FileNotFoundError:
    records = []

for rec in records:
    result = rec.get('result', 'ERROR')
    meson_failed = result in ('FAIL', 'TIMEOUT', 'ERROR', 'UNEXPECTEDPASS')
    stdout = rec.get('stdout') or ''
    lines = stdout.splitlines()
    tap = [m for m in (TAP_LINE.match(l) for l in lines) if m]
    is_tap = bool(tap) or any(re.match(r'^1\.\.\d+', l) for l in lines)
    if is_tap:
        p = f = s = 0
        for m in tap:
            ok = m.group(1).lower() == 'ok'
            directive = (m.group(4) or '').upper()
            if directive == 'SKIP':
                s += 1
            elif directive == 'TODO':
                if ok:
                    f += 1
                else:
                    s += 1
            elif ok:
                p += 1
            else:
                f += 1
        if any(l.startswith('Bail out!') for l in lines):
            f += 1
        if meson_failed and f == 0:
            f = 1
        if not tap and result == 'SKIP':
            s = 1
    else:
        p = 1 if result in ('OK', 'EXPECTEDFAIL') else 0
        f = 1 if meson_failed else 0
        s = 1 if result == 'SKIP' else 0
    passed += p
    failed += f
    skipped += s
    if f:
        failed_names.append('%s (%s)' % (rec.get('name', '?'), result))

if status != 0 and failed == 0:
    # meson test failed without a failed test: it could not run them.
    failed += 1
    failed_names.append('meson test itself (exit status %d)' % status)

print(passed, failed, skipped, len(records))
for name in failed_names:
    print(name)
EOF
)
  local p f s n
  read -r p f s n <<<"$(head -n1 <<<"$counts")"
  total_passed=$((total_passed + p))
  total_failed=$((total_failed + f))
  total_skipped=$((total_skipped + s))
  SUMMARY+=("$(printf '%-28s %3d tests: %4d passed, %3d failed, %3d skipped' \
                "$label" "$n" "$p" "$f" "$s")")
  local failed_list failed_test
  failed_list=$(tail -n +2 <<<"$counts")
  if [ -n "$failed_list" ]; then
    while IFS= read -r failed_test; do
      SUMMARY+=("    FAILED: $failed_test")
    done <<<"$failed_list"
  fi
}

# build BUILDDIR LABEL [meson setup options...]: configure a fresh build
# directory and compile it.  Returns non-zero (and counts one failure) when
# either step fails.
build() {
  local builddir=$1 label=$2
  shift 2
  rm -rf "$builddir"
  if ! meson setup "$builddir" "$@"; then
    total_failed=$((total_failed + 1))
    SUMMARY+=("$(printf '%-28s FAILED: meson setup' "$label")")
    return 1
  fi
  if ! meson compile -C "$builddir"; then
    total_failed=$((total_failed + 1))
    SUMMARY+=("$(printf '%-28s FAILED: compile' "$label")")
    return 1
  fi
}

# run_tests BUILDDIR LABEL [meson test options...]
run_tests() {
  local builddir=$1 label=$2 status=0
  shift 2
  rm -f "$builddir/meson-logs/testlog.json" \
        "$builddir/meson-logs/testlog-"*.json
  meson test -C "$builddir" --print-errorlogs "$@" || status=$?
  local log="$builddir/meson-logs/testlog.json"
  local setup_log
  # With --setup NAME meson writes testlog-NAME.json.
  setup_log=$(ls "$builddir"/meson-logs/testlog-*.json 2>/dev/null | head -n1)
  if [ -n "$setup_log" ]; then
    cp "$setup_log" "$log"
  fi
  count_results "$builddir" "$label" "$status"
}

declare -a TIMES=()
time_phase() {
  local phase_name=$1 phase_t0 phase_t1
  shift
  phase_t0=$(date +%s)
  "$@"
  phase_t1=$(date +%s)
  TIMES+=("$(printf '%-28s %4d s' "$phase_name" $((phase_t1 - phase_t0)))")
}

# ---------------------------------------------------------------------------
phase_deps() {
  section "Dependencies (tests/install-deps.sh)"
  if ! bash "$ROOT/tests/install-deps.sh"; then
    echo "run-all: the dependencies are not there; stopping" >&2
    echo "0 passed, 1 failed"
    exit 1
  fi
}

phase_default() {
  local opts=(-Dwerror=true -Dtests=true
              -Dintrospection=enabled -Dvapi=enabled)
  # The API reference and the examples, when the tree has them.
  [ -f "$ROOT/docs/meson.build" ] && opts+=(-Ddocs=true)
  [ -f "$ROOT/examples/meson.build" ] && opts+=(-Dexamples=true)
  section "1/3 Default build (gcc, ${opts[*]}): all default suites"
  build _build "1 default" "${opts[@]}" || return 0
  run_tests _build "1 default (all suites)"
  if [ "${SMTPCLIENT_VALGRIND:-0}" = 1 ]; then
    section "1/3 Default build under valgrind"
    run_tests _build "1 valgrind (unit, integ.)" \
      --setup valgrind --suite unit --suite integration
  fi
}

phase_asan() {
  section "2/3 ASan + UBSan build (gcc): suites unit and integration"
  build _build-asan "2 asan+ubsan" \
    -Dwerror=true \
    -Db_sanitize=address,undefined -Db_lundef=false \
    -Dintrospection=disabled -Dvapi=disabled \
    -Ddocs=false -Dexamples=false || return 0
  run_tests _build-asan "2 asan+ubsan (unit, integ.)" \
    --suite unit --suite integration --timeout-multiplier 3
}

phase_fuzz() {
  section "3/3 libFuzzer build (clang, -Dfuzzing=true): suite fuzz"
  CC=clang CXX=clang++ build _build-fuzz "3 fuzz" \
    -Dfuzzing=true -Dintrospection=disabled -Dvapi=disabled \
    -Ddocs=false -Dexamples=false || return 0
  run_tests _build-fuzz "3 fuzz" --suite fuzz
}

time_phase "dependencies" phase_deps
time_phase "1 default build + tests" phase_default
time_phase "2 asan+ubsan build + tests" phase_asan
time_phase "3 fuzz build + fuzzing" phase_fuzz

end_all=$(date +%s)
TIMES+=("$(printf '%-28s %4d s' "total" $((end_all - start_all)))")

section "Summary"
printf '%s\n' "${SUMMARY[@]}"
echo
echo "Time per phase:"
printf '  %s\n' "${TIMES[@]}"
echo
line="$total_passed passed, $total_failed failed"
if [ "$total_skipped" -gt 0 ]; then
  line="$line, $total_skipped skipped"
fi
echo "$line"

[ "$total_failed" -eq 0 ]
