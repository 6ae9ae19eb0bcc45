"""A Python worker shows up in probed's other views exactly like a Swift one: `probectl procs`
(memory sampled from /proc by pid), `probectl top` and the Prometheus endpoint."""

import socket
import time
import urllib.request

from conftest import last_json, popen_python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_pythonWorker_inProcsTopAndMetrics(daemon_factory):
    port = free_port()
    daemon = daemon_factory("--metrics-listen", f"127.0.0.1:{port}", "--sample-interval", "100ms")
    p = popen_python("""
        import json, os, sys
        from probe_client import Probe

        probe = Probe("viewed", sys.argv[1])

        @probe.measure("predict")
        def predict(x):
            return x

        for i in range(25):
            predict(i)
        probe.flush(30)
        print(json.dumps({"pid": os.getpid()}), flush=True)
        sys.stdin.readline()  # stay connected while the test looks
    """, daemon.socket)
    pid = last_json(p.stdout.readline())["pid"]
    try:
        deadline = time.monotonic() + 30
        while True:
            rows = [r for r in daemon.json("procs")["processes"] if r["pid"] == pid]
            if rows and rows[0]["rss_bytes"] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert rows and rows[0]["service"] == "viewed" and rows[0]["state"] == "connected", rows
        assert rows[0]["rss_bytes"] > 1 << 20 and rows[0]["events_received"] == 25
        top = daemon.probectl("top", "--iterations", "1")
        assert top.returncode == 0 and "predict" in top.stdout and str(pid) in top.stdout, top.stdout
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
        calls = [line for line in metrics.splitlines()
                 if line.startswith("probe_calls_total{") and 'service="viewed"' in line and 'operation="predict"' in line]
        assert calls and calls[0].split()[-1] == "25", calls or metrics[:2000]
    finally:
        p.communicate(input="\n", timeout=30)
