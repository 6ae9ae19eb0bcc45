#!/usr/bin/env bash
# Runs the whole test suite under AddressSanitizer, then ThreadSanitizer. CI runs it after the
# test command (.ci/run); by hand: Tools/sanitizers.sh [address|thread].
#
# - address: `swift test --sanitize=address`, with ASAN_OPTIONS=detect_leaks=0 because XCTest's
#   own allocations are reported as leaks (DESIGN.md, toolchain facts); memory errors still fail.
# - thread: `swift test --sanitize=thread`, with Tools/tsan-suppressions.txt, which suppresses
#   exactly the known false race in Synchronization.Mutex's slow path and nothing else.
# Each builds into its own scratch path (.build-asan/, .build-tsan/; ignored), a debug build of a
# few minutes each. SWIFT_BACKTRACE=enable=no keeps Swift's crash handler out of the sanitizers' way.
set -euo pipefail
cd "$(dirname "$0")/.."

which=${1:-all}
export SWIFT_BACKTRACE=enable=no

if [ "$which" = all ] || [ "$which" = address ]; then
    echo "sanitizers.sh: the suite under AddressSanitizer" >&2
    swift build --build-tests --sanitize=address --scratch-path .build-asan
    ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 \
        timeout -s KILL 1500 swift test --skip-build --sanitize=address --scratch-path .build-asan
fi
if [ "$which" = all ] || [ "$which" = thread ]; then
    echo "sanitizers.sh: the suite under ThreadSanitizer" >&2
    swift build --build-tests --sanitize=thread --scratch-path .build-tsan
    TSAN_OPTIONS="suppressions=$PWD/Tools/tsan-suppressions.txt:halt_on_error=1:second_deadlock_stack=1" \
        timeout -s KILL 1500 swift test --skip-build --sanitize=thread --scratch-path .build-tsan
fi
