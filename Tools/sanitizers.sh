#!/usr/bin/env bash
# The test suites under AddressSanitizer and ThreadSanitizer. CI runs it after the test command
# (.ci/run); by hand: Tools/sanitizers.sh [address|thread|all] (default all).
#
# Each sanitizer has its own debug build of everything (scratch paths .build-asan/ and
# .build-tsan/, ignored by git), so the probed, probectl and client processes that the integration
# tests start run under the sanitizer too: the daemon's threads (ingest loop, store actor, control
# sessions, samplers) and the client's (recording threads, flusher) are checked end to end, not
# only the code the test runner links.
#
# What runs under each, and why: every suite, under both, but for the three tests that measure
# cost rather than behaviour (bytes per series with every window full; the time to render 64
# processes' full memory windows). They push tens of millions of calls through one thread, so a
# sanitizer has nothing to find there and multiplies their time: on the 2-core machine they took
# 290 of TSan's 500 s for the unit suites, which ran in 211 s without them (integration suites
# 317 s). Their figures would be the sanitizer allocator's anyway; Tools/test.sh runs them.
# Memory errors and races are the same whichever test finds them. Leak detection is on in every process under ASan;
# `--disable-xctest` runs Swift Testing only, so XCTest's own leaks do not count (DESIGN.md,
# toolchain facts). Suppressions, each documented in its file: Tools/lsan-suppressions.txt (two
# leaks inside the toolchain's Foundation, reached by the test runner's harness; probed and the
# clients report none) and Tools/tsan-suppressions.txt (one false race inside
# Synchronization.Mutex).
#
# Every process writes its sanitizer reports to files under a temporary directory (log_path): a
# child process's stderr goes to a test's temporary log and would be lost. Any report fails the
# run, and is printed. PROBE_SANITIZER tells the tests which sanitizer they run under: the few
# assertions about resident memory are skipped (ASan's quarantine and TSan's shadow memory make
# RSS growth meaningless). SWIFT_BACKTRACE=enable=no keeps Swift's crash handler out of the way.
set -euo pipefail
cd "$(dirname "$0")/.."

which=${1:-all}
export SWIFT_BACKTRACE=enable=no
reports=$(mktemp -d /tmp/probe-sanitizers.XXXXXX)
chmod 755 "$reports"  # AccessPolicyTests run clients as nobody: they must reach their report directory
failed=0

# run NAME FLAG OPTIONS_VARIABLE OPTIONS [swift test arguments...]
run() {
    local name=$1 flag=$2 variable=$3 options=$4
    shift 4
    local start end
    echo "sanitizers.sh: building for $name" >&2
    start=$(date +%s)
    swift build --build-tests --sanitize="$flag" --scratch-path ".build-$name"
    end=$(date +%s)
    echo "sanitizers.sh: $name build took $((end - start)) s; running the tests" >&2
    mkdir -p "$reports/$name"
    chmod 1777 "$reports/$name"
    start=$(date +%s)
    if ! env PROBE_SANITIZER="$flag" "$variable=$options:log_path=$reports/$name/report" \
        timeout -s KILL 1200 swift test --skip-build --sanitize="$flag" --scratch-path ".build-$name" \
        --disable-xctest "$@"; then
        echo "sanitizers.sh: FAIL: tests failed under $name" >&2
        failed=1
    fi
    end=$(date +%s)
    echo "sanitizers.sh: $name tests took $((end - start)) s" >&2
    # A process whose only findings were suppressed still writes its "Suppressions used" table.
    local found
    found=$(grep -l -E '^(==[0-9]+==ERROR|WARNING: ThreadSanitizer)' "$reports/$name"/* 2>/dev/null || true)
    if [ -n "$found" ]; then
        echo "sanitizers.sh: FAIL: $name reports from $(echo "$found" | wc -l) processes:" >&2
        cat $found >&2
        failed=1
    fi
}

# The cost measurements (see above), by suite or test name.
cost='SeriesFootprintTests|memoryPerSeries_withEveryWindowFull|sixtyFourProcessesWithFullMemoryWindows'

if [ "$which" = all ] || [ "$which" = address ]; then
    export LSAN_OPTIONS="suppressions=$PWD/Tools/lsan-suppressions.txt"  # LSan reads its own variable
    run asan address ASAN_OPTIONS "detect_leaks=1" --skip "$cost"
fi
if [ "$which" = all ] || [ "$which" = thread ]; then
    run tsan thread TSAN_OPTIONS "suppressions=$PWD/Tools/tsan-suppressions.txt:second_deadlock_stack=1" --skip "$cost"
fi

if [ $failed -eq 0 ]; then
    echo "sanitizers.sh: PASS ($which)" >&2
    rm -rf "$reports"
fi
exit $failed
