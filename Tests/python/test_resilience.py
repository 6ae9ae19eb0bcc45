"""The client under everything probed can do to it (absent, late, killed and restarted), under
many threads, and across fork: the ledger stays exact, delivered + dropped = recorded."""

import json
import time

from conftest import last_json, popen_python, run_python


def test_noProbed_callReturnsItsValue_andProcessExitsWithinHalfASecond(tmp_dir):
    p = popen_python("""
        import sys, time
        from probe_client import Probe

        probe = Probe("lonely", sys.argv[1])

        @probe.measure("predict")
        def predict(x):
            return x * 2

        assert predict(21) == 42
        print(time.time(), flush=True)
    """, str(tmp_dir / "absent.sock"))
    line = p.stdout.readline()
    p.wait(timeout=30)
    exited = time.time()
    assert p.returncode == 0, p.stderr.read()
    took = exited - float(line)
    print(f"no probed: exited {took * 1000:.0f} ms after its last statement")
    assert took < 0.5


def test_fullBuffer_dropsAndCounts_neverBlocks_andDropsReachProbed(daemon_factory, tmp_dir):
    socket = str(tmp_dir / "late.sock")
    p = popen_python("""
        import json, sys, time
        from probe_client import Probe

        probe = Probe("bounded", sys.argv[1])

        @probe.measure("predict")
        def predict(x):
            return x

        slowest = 0
        for i in range(150):
            start = time.perf_counter_ns()
            predict(i)
            slowest = max(slowest, time.perf_counter_ns() - start)
        print(json.dumps({"buffered": probe.buffered_events, "dropped": probe.dropped_events}), flush=True)
        sys.stdin.readline()  # the test starts probed now
        flushed = probe.flush(30)
        print(json.dumps({"flushed": flushed, "delivered": probe.delivered_events, "dropped": probe.dropped_events,
                          "slowest_ns": slowest, "pid": __import__("os").getpid()}), flush=True)
    """, socket, PROBE_BUFFER_EVENTS="100")
    before = json.loads(p.stdout.readline())
    assert before == {"buffered": 100, "dropped": 50}
    daemon = daemon_factory(socket=socket)
    out, err = p.communicate(input="\n", timeout=60)
    assert p.returncode == 0, err
    after = last_json(out)
    assert after["flushed"] and (after["delivered"], after["dropped"]) == (100, 50), after
    assert after["slowest_ns"] < 1_000_000_000  # never waited for a probed (generous: a busy machine)
    row = daemon.process_row(after["pid"])
    assert (row["events_received"], row["dropped_events"]) == (100, 50)
    assert daemon.stats("bounded", "predict", after["pid"])["calls"] == 100


def test_manyThreads_everyCallDeliveredOrCountedExactly(daemon):
    out = run_python("""
        import json, sys, threading
        from probe_client import Probe

        probe = Probe("threads", sys.argv[1])

        @probe.measure("predict")
        def predict(x):
            return x

        def work():
            for i in range(5000):
                predict(i)

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        print(json.dumps({"flushed": probe.flush(60), "delivered": probe.delivered_events,
                          "dropped": probe.dropped_events, "pid": __import__("os").getpid()}))
    """, daemon.socket, PROBE_BUFFER_EVENTS="2000")  # small: drops race the appends too
    r = last_json(out.stdout)
    print(f"8 threads x 5,000 calls: delivered {r['delivered']}, dropped {r['dropped']}")
    assert r["flushed"] and r["delivered"] + r["dropped"] == 40_000, r
    assert r["delivered"] > 0 and r["dropped"] > 0  # both sides of the hand-off raced
    row = daemon.process_row(r["pid"])
    assert (row["events_received"], row["dropped_events"]) == (r["delivered"], r["dropped"])
    assert daemon.stats("threads", "predict", r["pid"])["calls"] == r["delivered"]


def test_probedKilledAndRestartedUnderLoad_deliveredPlusDroppedEqualsRecorded(daemon_factory):
    first = daemon_factory()
    p = popen_python("""
        import json, sys, time
        from probe_client import Probe

        probe = Probe("load", sys.argv[1])

        @probe.measure("predict")
        def predict(x):
            return x

        recorded = 0
        end = time.monotonic() + 3.0
        while time.monotonic() < end:  # about 50,000 calls a second, in bursts of 500
            for i in range(500):
                predict(i)
            recorded += 500
            time.sleep(0.01)
        flushed = probe.flush(30)
        core = probe._core
        print(json.dumps({"recorded": recorded, "flushed": flushed, "delivered": probe.delivered_events,
                          "dropped": probe.dropped_events, "connections": core.delivered_by_connection,
                          "pid": __import__("os").getpid()}), flush=True)
    """, first.socket)
    time.sleep(1.2)
    first.kill()  # under load: whatever sat unread in its socket is lost with it
    time.sleep(0.7)  # the client buffers meanwhile
    second = daemon_factory(socket=first.socket)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    r = last_json(out)
    print(f"SIGKILL: recorded {r['recorded']} delivered {r['delivered']} dropped {r['dropped']} "
          f"over connections {r['connections']}")
    assert r["flushed"]
    assert r["delivered"] + r["dropped"] == r["recorded"]
    assert len(r["connections"]) == 2 and sum(r["connections"]) == r["delivered"]
    row = second.process_row(r["pid"])
    assert (row["events_received"], row["dropped_events"]) == (r["connections"][-1], r["dropped"])
    assert r["connections"][-1] > r["recorded"] / 3  # the downtime's and the remaining second's calls


def test_forkedChild_startsAfresh_neverResendsTheParentsEvents(daemon_factory, tmp_dir):
    socket = str(tmp_dir / "late.sock")
    p = popen_python("""
        import json, os, sys
        from probe_client import Probe

        probe = Probe("forked", sys.argv[1])   # no probed yet: everything stays buffered

        @probe.measure("predict")
        def predict(x):
            return x

        for i in range(100):
            predict(i)                          # 64 buffered, 36 dropped (buffer of 64)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            counts = (probe.buffered_events, probe.dropped_events)
            for i in range(10):
                predict(i)
            os.read(read, 1)                    # wait for the test to start probed
            flushed = probe.flush(30)
            print(json.dumps({"who": "child", "pid": os.getpid(), "at_fork": counts, "flushed": flushed,
                              "delivered": probe.delivered_events, "dropped": probe.dropped_events}), flush=True)
            os._exit(0)
        print(json.dumps({"who": "ready"}), flush=True)
        sys.stdin.readline()
        os.write(write, b"x")
        flushed = probe.flush(30)
        os.waitpid(pid, 0)
        print(json.dumps({"who": "parent", "pid": os.getpid(), "flushed": flushed,
                          "delivered": probe.delivered_events, "dropped": probe.dropped_events}), flush=True)
    """, socket, PROBE_BUFFER_EVENTS="64")
    assert json.loads(p.stdout.readline()) == {"who": "ready"}
    daemon = daemon_factory(socket=socket)
    out, err = p.communicate(input="\n", timeout=60)
    assert p.returncode == 0, err
    reports = {r["who"]: r for r in map(json.loads, out.strip().splitlines())}
    child, parent = reports["child"], reports["parent"]
    assert child["at_fork"] == [0, 0]  # a fresh buffer and fresh counts
    assert (child["flushed"], child["delivered"], child["dropped"]) == (True, 10, 0)
    assert (parent["flushed"], parent["delivered"], parent["dropped"]) == (True, 64, 36)
    assert (daemon.process_row(child["pid"])["events_received"], daemon.process_row(child["pid"])["dropped_events"]) == (10, 0)
    assert (daemon.process_row(parent["pid"])["events_received"], daemon.process_row(parent["pid"])["dropped_events"]) == (64, 36)
    assert daemon.stats("forked", "predict")["calls"] == 74


def test_processThatExitsWithoutFlushing_deliversWithinItsBoundedExitFlush(daemon):
    started = time.monotonic()
    out = run_python("""
        import os, sys
        from probe_client import Probe

        probe = Probe("leaving", sys.argv[1])

        @probe.measure("predict")
        def predict(x):
            return x

        for i in range(5000):
            predict(i)
        print(os.getpid())                      # and exit at once: no flush() of its own
    """, daemon.socket)
    took = time.monotonic() - started
    row = daemon.process_row(int(out.stdout.split()[-1]))
    print(f"exit flush: probed received {row['events_received']} of 5,000, the process took {took:.2f} s")
    assert row["events_received"] + row["dropped_events"] == 5000
    assert row["events_received"] == 5000  # 300 ms is ample for one batch to a live probed
