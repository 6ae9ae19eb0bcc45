"""Shared pieces of the Python client's tests: the real built probed and probectl on temporary
sockets, and Python worker processes that import probe_client from Sources/python.

The products come from `swift build` (.build/debug, or $PROBE_PRODUCTS); Tools/test.sh builds
them before it runs these tests.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "Sources" / "python"
sys.path.insert(0, str(PACKAGE))  # the tests in this process import probe_client from the tree


def products() -> Path:
    path = Path(os.environ.get("PROBE_PRODUCTS", ROOT / ".build" / "debug"))
    for name in ("probed", "probectl"):
        if not (path / name).exists():
            pytest.fail(f"{path / name} is missing: run `swift build` first (Tools/test.sh does)", pytrace=False)
    return path


class Daemon:
    """A real probed on a temporary socket; `stop()` (SIGTERM) or `kill()` (SIGKILL)."""

    def __init__(self, directory: Path, arguments: List[str], socket: Optional[str] = None,
                 environment: Optional[Dict[str, str]] = None) -> None:
        self.socket = socket or str(directory / "probed.sock")
        self.log = directory / f"probed-{time.monotonic_ns()}.log"
        config = directory / "probed.conf"
        config.write_text("")  # never this machine's /etc/probed.conf
        self.process = subprocess.Popen(
            [str(products() / "probed"), "--socket", self.socket, "--config", str(config), "--log-level", "debug"]
            + arguments, stdout=subprocess.DEVNULL, stderr=self.log.open("w"),
            env=None if environment is None else {**os.environ, **environment})
        deadline = time.monotonic() + 20
        while not self.live():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"probed did not start on {self.socket}: {self.log.read_text()}")
            time.sleep(0.01)

    def live(self) -> bool:
        import socket as s

        probe = s.socket(s.AF_UNIX, s.SOCK_SEQPACKET)
        try:
            probe.connect(self.socket)
            return True
        except OSError:
            return False
        finally:
            probe.close()

    @property
    def pid(self) -> int:
        return self.process.pid

    def probectl(self, *arguments: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(products() / "probectl"), "--socket", self.socket, *arguments],
                              capture_output=True, text=True, timeout=60)

    def json(self, *arguments: str) -> Dict[str, Any]:
        out = self.probectl(*arguments, "--json")
        assert out.returncode == 0, f"probectl {' '.join(arguments)} failed ({out.returncode}): {out.stderr}"
        return json.loads(out.stdout)

    def status(self) -> Dict[str, Any]:
        """`probectl status --json`, asked again while probed says it is behind its clients."""
        deadline = time.monotonic() + 60
        while True:
            report = self.json("status")
            if report.get("up_to_date") is not False or time.monotonic() > deadline:
                return report
            time.sleep(0.05)

    def process_row(self, pid: int) -> Dict[str, Any]:
        rows = [p for p in self.status()["processes"] if p["pid"] == pid]
        assert rows, f"probed has no process {pid}: {self.status()['processes']}"
        return rows[-1]

    def stats(self, service: str, operation: str, pid: Optional[int] = None) -> Dict[str, Any]:
        """The lifetime stats row of (service, operation) for `pid`, or the merged row (pid None;
        the retired row of exited processes has pid None too, and `merged` false)."""
        rows = [r for r in self.json("stats")["operations"]
                if r["service"] == service and r["operation"] == operation and r["pid"] == pid
                and (pid is not None or r.get("merged", True))]
        assert len(rows) == 1, f"expected one row for {service}/{operation} pid {pid}, got {rows}"
        return rows[0]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        self.process.kill()
        self.process.wait()


@pytest.fixture
def tmp_dir():
    # Short paths: a Unix socket path is at most 107 bytes.
    with tempfile.TemporaryDirectory(prefix="probe-py-") as d:
        yield Path(d)


@pytest.fixture
def daemon_factory(tmp_dir):
    started: List[Daemon] = []

    def start(*arguments: str, socket: Optional[str] = None, environment: Optional[Dict[str, str]] = None) -> Daemon:
        d = Daemon(tmp_dir, list(arguments), socket, environment)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


@pytest.fixture
def daemon(daemon_factory):
    return daemon_factory()


def python_env(**extra: str) -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(PACKAGE) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("PROBE_BUFFER_EVENTS", None)
    env.pop("PROBED_SOCKET", None)
    env.update(extra)
    return env


def run_python(code: str, *args: str, timeout: float = 120, **env: str) -> subprocess.CompletedProcess:
    """Runs `code` in a fresh interpreter that imports probe_client from the tree."""
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                         timeout=timeout, env=python_env(**env))
    assert out.returncode == 0, f"worker failed ({out.returncode}):\n{out.stdout}\n{out.stderr}"
    return out


def popen_python(code: str, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=python_env(**env))


def last_json(text: str) -> Any:
    return json.loads(text.strip().splitlines()[-1])


def nearest_rank(sorted_values: List[int], q: float) -> int:
    """The nearest-rank q-quantile (probed's definition): the ceil(q * n)-th smallest value."""
    import math

    return sorted_values[max(1, math.ceil(q * len(sorted_values))) - 1]
