"""What a Python service declares about its operations (issue 17 items 6 and 8), and the
client's reconnect backoff against a peer that welcomes and closes (item 5)."""

import socket
import subprocess
import threading
import time

from conftest import ROOT, last_json, popen_python, run_python

from probe_client import Probe, _wire

DEVICE = "device 0 NVIDIA_H200 GPU-11111111-2222-3333-4444-555555555555 150754820096 5368709120 145386110976 37 12 45 123456\n"


def test_cpuOnlyOperation_declaredWithDeviceWorkFalse_isNeverWarned_theOtherIsToldHow(daemon_factory, tmp_dir):
    library = tmp_dir / "libfake-nvml.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-O1", str(ROOT / "Tests" / "Fixtures" / "FakeNVML" / "fake_nvml.c"),
                    "-o", str(library)], check=True, timeout=120)
    script = tmp_dir / "nvml-script.txt"
    script.write_text(DEVICE)
    daemon = daemon_factory("--nvml-library", str(library), "--sample-interval", "100ms", "--warmup", "0",
                            environment={"FAKE_NVML_SCRIPT": str(script)})
    p = popen_python("""
        import json, os, sys, time
        from probe_client import Probe

        probe = Probe("gpu-py", sys.argv[1])

        @probe.measure("tokenize", device_work=False)   # CPU only: a 1 ms sleep, as on the H200
        def tokenize(x):
            time.sleep(0.001)
            return x

        @probe.measure("launch")                        # launches kernels, timed without sync
        def launch(x):
            return x

        for i in range(10):
            tokenize(i)
            launch(i)
        assert probe.flush(30)
        print(json.dumps({"pid": os.getpid()}), flush=True)
        sys.stdin.readline()
    """, daemon.socket)
    pid = last_json(p.stdout.readline())["pid"]
    try:
        script.write_text(DEVICE + f"process 0 {pid} 5368709120\n")  # 5 GiB of device memory
        deadline = time.monotonic() + 30
        while True:
            rows = {r["operation"]: r for r in daemon.json("stats")["operations"] if r["pid"] == pid}
            if rows["launch"]["warnings"] or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert len(rows["launch"]["warnings"]) == 1, rows["launch"]
        assert "device_work=False" in rows["launch"]["warnings"][0] and "deviceWork: false" in rows["launch"]["warnings"][0]
        assert rows["tokenize"]["warnings"] == [] and rows["tokenize"]["calls"] == 10, rows["tokenize"]
    finally:
        p.communicate(input="\n", timeout=30)


def test_warmupPerItems_keepsTheFirstCallsOfEachBatchSizeOut(daemon_factory):
    daemon = daemon_factory("--warmup", "2")
    out = run_python("""
        import json, os, sys, time
        from probe_client import Probe

        probe = Probe("batched", sys.argv[1])
        seen = {}

        @probe.measure("predict", items=len, warmup_per_items=True)
        def predict(batch):
            seen[len(batch)] = seen.get(len(batch), 0) + 1
            if seen[len(batch)] <= 2:
                time.sleep(0.05)   # compiled for this batch size on its first calls
            return batch

        for i in range(30):
            predict([0] * (1, 8, 32)[i % 3])
        assert probe.flush(30)
        print(json.dumps({"pid": os.getpid()}))
    """, daemon.socket)
    pid = last_json(out.stdout)["pid"]
    row = daemon.stats("batched", "predict", pid)
    assert row["warmup"] == 6 and row["counted"] == 24, row
    assert row["max_ns"] < 50_000_000, row  # no warm-up call in the figures


def test_aPeerThatWelcomesThenCloses_isRetriedWithAGrowingDelay(tmp_dir):
    path = str(tmp_dir / "fake.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(16)
    listener.settimeout(0.2)
    arrivals = []
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                c, _ = listener.accept()
            except socket.timeout:
                continue
            arrivals.append(time.monotonic())
            with c:
                c.settimeout(1)
                try:
                    if _wire.decode(c.recv(4096))["type"] == "hello":
                        c.send(_wire.encode_welcome(1, 65536, 4096, 128, 7))
                except (OSError, _wire.WireError):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    probe = Probe("backoff", path)
    try:
        probe.record("op", 1_000)  # something to deliver: the client keeps trying
        time.sleep(4)
    finally:
        stop.set()
        thread.join()
        probe.close(0.1)
        listener.close()
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    print(f"reconnects over 4 s: {len(arrivals)}; gaps: {[round(g, 2) for g in gaps]}")
    # 50 ms doubling to 2 s fits at most 7 connections in 4 s; a reset on every WELCOME made ~60.
    assert 3 <= len(arrivals) <= 8, gaps
    assert all(g >= min(0.05 * 2 ** i, 2.0) * 0.9 for i, g in enumerate(gaps)), gaps


def test_recordOfADurationPast64Bits_isClampedAndDelivered_notLostWithItsBatch(daemon_factory):
    daemon = daemon_factory("--warmup", "0")
    out = run_python("""
        import json, os, sys
        from probe_client import Probe

        probe = Probe("huge", sys.argv[1])
        probe.record("op", 1_000)
        probe.record("op", 2 ** 70)          # a caller's bug: more than 64 bits of nanoseconds
        probe.record("op", -1_024)           # and a negative one
        assert probe.flush(30)
        print(json.dumps({"pid": os.getpid(), "delivered": probe.delivered_events, "dropped": probe.dropped_events}))
    """, daemon.socket)
    report = last_json(out.stdout)
    assert (report["delivered"], report["dropped"]) == (3, 0), report
    row = daemon.stats("huge", "op", report["pid"])
    assert row["calls"] == 3 and row["max_ns"] == 2 ** 64 - 1 and row["min_ns"] == 0, row


class RecordingPeer:
    """Welcomes with `features`, keeps the connection, acknowledges events, records DEFINEs."""

    def __init__(self, path: str, features: int) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.listener.bind(path)
        self.listener.listen(4)
        self.listener.settimeout(5)
        self.features = features
        self.defines = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        c, _ = self.listener.accept()
        c.settimeout(0.5)
        accepted = 0
        with c:
            while True:
                try:
                    data = c.recv(65536)
                except socket.timeout:
                    continue
                except OSError:
                    return
                if not data:
                    return
                m = _wire.decode(data)
                if m["type"] == "hello":
                    c.send(_wire.encode_welcome(1, 65536, 4096, 128, self.features))
                elif m["type"] == "define" and m["kind"] == "operation":
                    self.defines.append((m["name"], m["flags"]))
                elif m["type"] == "events":
                    accepted += len(m["records"])
                    c.send(_wire.encode_ack(accepted))


def test_declarations_travelInDefine_againWhenTheyChange_andNeverToADaemonWithoutTheFeature(tmp_dir):
    for features, want in ((7, [("predict", 2), ("predict", 3)]), (3, [("predict", 0)])):
        path = str(tmp_dir / f"fake-{features}.sock")
        peer = RecordingPeer(path, features)
        probe = Probe("flags", path)
        try:
            probe.measure("predict", items=8, warmup_per_items=True)(lambda: None)()
            assert probe.flush(10)
            probe.measure("predict", device_work=False)(lambda: None)()
            assert probe.flush(10)
        finally:
            probe.close(0.5)
            peer.thread.join(5)
            peer.listener.close()
        assert sorted(set(peer.defines)) == want, (features, peer.defines)
