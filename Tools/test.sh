#!/usr/bin/env bash
# Runs every test of the project: builds all products (the integration tests start the real
# probed, probectl and client processes), then the Swift Testing suites.
set -euo pipefail
cd "$(dirname "$0")/.."

# The Prometheus tests run promtool and a real Prometheus server (Debian's prometheus package,
# ~20 s to install); they fail, naming this fix, when either is missing.
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
    echo "test.sh: installing prometheus (promtool and the server) for the metrics tests" >&2
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus
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
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing
fi

swift build --build-tests
swift test --skip-build

# The Python client's tests (Tests/python, pytest) against the probed and probectl just built.
# The first python3 on PATH with pytest runs them; else Debian's python3 with python3-pytest
# (installed here), plus python3-venv where its venv lacks pip (the install test makes one).
PY=python3
if ! python3 -m pytest --version >/dev/null 2>&1; then
    PY=/usr/bin/python3
    if ! $PY -m pytest --version >/dev/null 2>&1; then
        echo "test.sh: installing python3-pytest for the Python client's tests" >&2
        SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
        $SUDO apt-get update
        $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-pytest
    fi
fi
if ! $PY -c 'import ensurepip, venv' >/dev/null 2>&1; then
    echo "test.sh: installing python3-venv for the Python client's install test" >&2
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    $SUDO apt-get update
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3-venv
fi
PYTHONDONTWRITEBYTECODE=1 $PY -m pytest -q -p no:cacheprovider Tests/python

# The Debian package (a static release build and xz, ~2.5 min on 2 cores), then the package and
# service tests: the .deb installed with dpkg into a throwaway machine run by a real systemd,
# without Swift (Tests/systemd/run.sh, ~1 min; needs root, as CI runs).
bash Tools/package.sh
swift build -c release --static-swift-stdlib --product probe-fixture
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO env "PATH=$PATH" bash Tests/systemd/run.sh

# Every libFuzzer target briefly (20 s each, about a minute in all), so each change is fuzzed;
# Tools/fuzz.sh TARGET SECONDS runs one for longer. A crash fails the test command.
bash Tools/fuzz.sh all 20
