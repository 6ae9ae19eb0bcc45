#!/usr/bin/env bash
# Runs every test of the project: builds all products (the integration tests start the real
# probed, probectl and client processes), then the Swift Testing suites, then each fuzz target.
# It prints one line per step and ends with one summary line (tests passed or failed, fuzz
# targets run, time); the tools' own output (compiler, linker, test runner, libFuzzer) goes to
# the log file the summary names, and what failed is shown from it.
set -euo pipefail
cd "$(dirname "$0")/.."

mkdir -p .build
log=.build/test.log
: > "$log"
started=$SECONDS
failed=""

# step DESCRIPTION COMMAND...: runs COMMAND with its output in the log; false when it fails.
step() {
    local what=$1; shift
    local began=$SECONDS rc=0
    echo "test.sh: $what" >&2
    echo "=== test.sh: $what: $*" >> "$log"
    "$@" >> "$log" 2>&1 || rc=$?
    echo "test.sh:   ... $((SECONDS - began)) s" >&2
    return $rc
}

# The lines of the log from the last step that say what went wrong.
show_failure() {
    local pattern=$1
    sed -n '/^=== test.sh: /h; /^=== test.sh: /!H; ${x;p}' "$log" | grep -E "$pattern" | head -40 >&2 || true
}

# The Prometheus tests run promtool and a real Prometheus server (Debian's prometheus package,
# ~20 s to install); they fail, naming this fix, when either is missing.
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    echo "test.sh: installing prometheus (promtool and the server) for the metrics tests" >&2
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update >> "$log" 2>&1
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus >> "$log" 2>&1
fi

# The service tests run systemd-analyze and systemd-socket-activate (systemd), script (bsdutils)
# for probectl top in a pseudo-terminal, and setpriv (util-linux) to run a client under another
# uid. `systemd-analyze verify` also checks that the unit's ExecReload= program, /bin/kill
# (procps, not in minimal Debian containers), exists.
# The package and systemd tests (Tests/systemd/run.sh) build the .deb with dpkg-deb and
# dpkg-shlibdeps (dpkg-dev), check it with lintian, and fetch /metrics with curl.
missing=""
{ command -v systemd-analyze && command -v systemd-socket-activate; } >/dev/null || missing="$missing systemd"
[ -x /bin/kill ] || missing="$missing procps"
command -v script >/dev/null || missing="$missing bsdutils"
command -v setpriv >/dev/null || missing="$missing util-linux"
command -v dpkg-shlibdeps >/dev/null || missing="$missing dpkg-dev"
command -v lintian >/dev/null || missing="$missing lintian"
command -v curl >/dev/null || missing="$missing curl"
if [ -n "$missing" ]; then
    echo "test.sh: installing$missing for the service and package tests" >&2
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update >> "$log" 2>&1
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >> "$log" 2>&1
fi

# The Prometheus rules operators load (Tools/prometheus): valid, and their unit tests (series in,
# recorded values and alerts out) pass.
if step "checking and unit-testing the Prometheus rules (promtool check rules, promtool test rules)" \
    sh -c 'promtool check rules Tools/prometheus/probe-rules.yml && promtool test rules Tools/prometheus/probe-rules.test.yml'; then
    rules="rules: promtool test rules passed"
else
    failed="${failed:+$failed, }Prometheus rules"
    show_failure 'FAILED|rror|exp:|got:'
    rules="rules: promtool FAILED"
fi

if ! step "building the products and tests (swift build --build-tests)" swift build --build-tests; then
    show_failure 'error:'
    echo "test.sh: FAILED: the build failed; $((SECONDS - started)) s; the compiler's output is in $log" >&2
    exit 1
fi

# Swift Testing ends with "✔ Test run with N tests in M suites passed after S seconds." or
# "✘ Test run with N tests in M suites failed after S seconds with K issues."; failures start with ✘.
run_line() {
    grep -E '^[^ ]+ Test run with [0-9]+ tests? ' "$log" | tail -1 | sed -E 's/^[^ ]+ Test run with //; s/ after [0-9.]+ seconds//; s/\.$//' || true
}
if step "running the Swift tests (swift test; a few minutes)" swift test --skip-build; then
    tests=$(run_line)
    [ -n "$tests" ] || tests="swift test passed"
else
    failed="${failed:+$failed, }Swift tests"
    show_failure '^[^ ]+ (Test|Suite) .*(recorded an issue at|failed after)|: error: |Fatal error'
    tests=$(run_line)
    [ -n "$tests" ] || tests="swift test failed before its summary"
fi

# The Python client's tests (Tests/python, pytest) against the probed and probectl just built.
# The first python3 on PATH with pytest runs them; else Debian's python3 with python3-pytest
# (installed here), plus python3-venv where its venv lacks pip (the install test makes one).
PY=python3
if ! python3 -m pytest --version >/dev/null 2>&1; then
    PY=/usr/bin/python3
    if ! $PY -m pytest --version >/dev/null 2>&1; then
        echo "test.sh: installing python3-pytest for the Python client's tests" >&2
        SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        $SUDO apt-get update >> "$log" 2>&1
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-pytest >> "$log" 2>&1
    fi
fi
if ! $PY -c 'import ensurepip, venv' >/dev/null 2>&1; then
    echo "test.sh: installing python3-venv for the Python client's install test" >&2
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update >> "$log" 2>&1
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv >> "$log" 2>&1
fi
# pytest ends with "N passed in S s" (or "K failed, N passed …").
pytest_line() {
    grep -E '^=* ?[0-9]+ (passed|failed|errors?)\b.* in [0-9.]+s' "$log" | tail -1 | sed -E 's/^=+ //; s/ =+$//; s/ in [0-9.]+s.*//' || true
}
if step "running the Python client's tests (pytest Tests/python)" env PYTHONDONTWRITEBYTECODE=1 $PY -m pytest -q -p no:cacheprovider Tests/python; then
    python="Python: $(pytest_line)"
    [ "$python" != "Python: " ] || python="Python: pytest passed"
else
    failed="${failed:+$failed, }Python tests"
    show_failure '^(FAILED|ERROR) |Error'
    python="Python: $(pytest_line): FAILED"
fi

# The Debian package (a static release build and xz, ~2.5 min on 2 cores), then the package and
# service tests: the .deb installed with dpkg into a throwaway machine run by a real systemd,
# without Swift (Tests/systemd/run.sh, ~1 min; needs root, as CI runs).
# Only one namespaced systemd at a time on a machine (DESIGN.md): concurrent runs of this command
# (several checkouts on one machine) wait for each other here rather than boot two.
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
if step "building the Debian package (Tools/package.sh: static release build, xz; a few minutes)" \
        bash -c 'bash Tools/package.sh && swift build -c release --static-swift-stdlib --product probe-fixture' \
   && step "running the package and systemd tests (Tests/systemd/run.sh, as root)" \
        $SUDO env "PATH=$PATH" flock /tmp/probe-systemd-tests.lock bash Tests/systemd/run.sh; then
    service="$(grep -E '^systemd tests: ' "$log" | tail -1)"
else
    failed="${failed:+$failed, }package and systemd tests"
    show_failure '^FAIL |FAILED|ns_fail|error'
    service="$(grep -E '^systemd tests: ' "$log" | tail -1): FAILED"
    [ "$service" != ": FAILED" ] || service="package build FAILED"
fi

# Every libFuzzer target briefly (20 s each, under two minutes in all, plus building them), so each change is fuzzed;
# Tools/fuzz.sh TARGET SECONDS runs one for longer. A crash fails the test command.
if step "fuzzing each parser and the ingest path for 20 s (Tools/fuzz.sh all 20)" bash Tools/fuzz.sh all 20; then
    fuzz="$(grep -c '^fuzz.sh: running' "$log" || true) fuzz targets × 20 s"
    runs=$(grep -E '^stat::number_of_executed_units:' "$log" | awk '{ n += $2 } END { print n + 0 }' || true)
    fuzz="$fuzz ($runs inputs, no crash)"
else
    failed="${failed:+$failed, }fuzzing"
    show_failure '^(==[0-9]+==|SUMMARY|artifact_prefix|Test unit written|fuzz.sh|error:)'
    fuzz="fuzzing FAILED (the crashing input is in .build-fuzz/crash-*)"
fi

elapsed=$((SECONDS - started))
summary="Swift: $tests; $python; $rules; $service; $fuzz; $((elapsed / 60))m$((elapsed % 60))s; the tools' output is in $log"
if [ -n "$failed" ]; then
    echo "test.sh: FAILED ($failed): $summary" >&2
    exit 1
fi
echo "test.sh: passed: $summary"
