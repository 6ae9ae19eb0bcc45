#!/usr/bin/env bash
# Runs every test of the project: builds all products (the integration tests start the real
# probed, probectl and client processes), then the Swift Testing suites.
set -euo pipefail
cd "$(dirname "$0")/.."

swift build --build-tests
swift test --skip-build
