"""The API as a service uses it, in this process, against a real probed: what each form
records, what it evaluates, and what it leaves exactly as it was (return values, exceptions)."""

import asyncio
import threading
import time
import traceback

import pytest

from probe_client import Probe


class ModelError(Exception):
    pass


@pytest.fixture
def probe(daemon):
    p = Probe("api", daemon.socket)
    yield p
    p.close()


def flushed(probe):
    assert probe.flush(30), f"not delivered: {probe.buffered_events} buffered, {probe.dropped_events} dropped"


def test_exception_isRecordedWithTypeAndMessage_andPropagatesUnchanged(daemon, probe):
    @probe.measure("predict")
    def predict(x):
        raise error

    error = ModelError("input contains NaN at index 7")
    with pytest.raises(ModelError) as raised:
        predict(1)
    assert raised.value is error
    assert raised.value.__context__ is None and raised.value.__cause__ is None
    frames = traceback.extract_tb(raised.value.__traceback__)
    assert [f.name for f in frames][-1] == "predict" and frames[-1].line == "raise error"
    assert [f.name for f in frames] == ["test_exception_isRecordedWithTypeAndMessage_andPropagatesUnchanged",
                                         "wrapper", "predict"]  # one frame more, the decorator's
    assert predict.__name__ == "predict" and predict.__wrapped__ is not None

    flushed(probe)
    row = daemon.stats("api", "predict", daemon.status()["processes"][0]["pid"])
    name = f"{ModelError.__module__}.ModelError"
    assert (row["calls"], row["errors"], row["error_types"]) == (1, 1, {name: 1})
    [entry] = daemon.json("errors")["errors"]
    assert (entry["error_type"], entry["message"], entry["failed"]) == (name, "input contains NaN at index 7", True)


def test_interruptions_propagate_andRecordNothing(daemon, probe):
    @probe.measure("interrupted")
    def interrupted(kind):
        raise kind()

    @probe.measure("cancelled")
    async def cancelled():
        await asyncio.sleep(10)

    for kind in (KeyboardInterrupt, SystemExit):
        with pytest.raises(kind):
            interrupted(kind)

    async def cancel_one():
        task = asyncio.ensure_future(cancelled())
        await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_one())
    probe.record("marker", nanoseconds=1)
    flushed(probe)
    counts = {r["operation"]: (r["calls"], r["errors"]) for r in daemon.json("stats")["operations"] if r["pid"]}
    assert counts == {"interrupted": (0, 0), "cancelled": (0, 0), "marker": (1, 0)}, counts


def test_attributes_areEvaluatedOnlyForSlowOrFailedCalls(daemon, probe):
    evaluated = []

    def attributes(batch, fail=False):
        evaluated.append(len(batch))
        return {"batch": len(batch), "shape": f"{len(batch)}x3"}

    @probe.measure("predict", items=lambda batch, fail=False: len(batch), attributes=attributes, slow_threshold=0.040)
    def predict(batch, fail=False):
        if fail:
            raise ValueError("bad input")
        if len(batch) == 32:
            time.sleep(0.060)
        return sum(batch)

    for _ in range(1000):
        assert predict([1, 2, 3]) == 6
    assert evaluated == []
    predict(list(range(32)))
    with pytest.raises(ValueError):
        predict([1] * 4, fail=True)
    assert evaluated == [32, 4]

    flushed(probe)
    slow = daemon.json("slow")["slow_calls"]
    assert [(s["items"], s["attributes"]) for s in slow] == [(32, {"batch": "32", "shape": "32x3"})]
    assert slow[0]["duration_ns"] >= 60_000_000 and not slow[0]["failed"]
    [failed] = daemon.json("errors")["errors"]
    assert (failed["items"], failed["attributes"], failed["error_type"]) == (
        4, {"batch": "4", "shape": "4x3"}, "builtins.ValueError")
    row = daemon.stats("api", "predict", daemon.status()["processes"][0]["pid"])
    assert (row["calls"], row["items"], row["slow_calls"]) == (1002, 3000 + 32 + 4, 1)


def test_sync_isCalledTwicePerCall_andEventsSayDeviceSynchronised(daemon, probe):
    calls = []

    @probe.measure("infer", sync=lambda: calls.append(time.perf_counter_ns()))
    def infer(x):
        calls.append("body")
        return x + 1

    for i in range(100):
        assert infer(i) == i + 1
    assert len(calls) == 300 and calls[:3] == [calls[0], "body", calls[2]]

    failures = iter([None, RuntimeError("device lost")])

    def failing_sync():
        error = next(failures)
        if error:
            raise error

    @probe.measure("infer_fault", sync=failing_sync)
    def infer_fault():
        return 1

    with pytest.raises(RuntimeError):
        infer_fault()  # the sync after the body fails: the call failed with the device's error

    flushed(probe)
    pid = daemon.status()["processes"][0]["pid"]
    row = daemon.stats("api", "infer", pid)
    assert (row["calls"], row["synchronized_calls"], row["device_synchronized"]) == (100, 100, True)
    assert daemon.stats("api", "infer_fault", pid)["error_types"] == {"builtins.RuntimeError": 1}


def test_thousandConcurrentCoroutines_areEachTimedFromStartToEnd(daemon, probe):
    @probe.measure("handler")
    async def handler(i):
        await asyncio.sleep(0.050)
        return i

    async def main():
        started = time.monotonic()
        results = await asyncio.gather(*(handler(i) for i in range(1000)))
        return results, time.monotonic() - started

    results, took = asyncio.run(main())
    assert results == list(range(1000))
    assert took < 20  # concurrent, not 1000 x 50 ms
    flushed(probe)
    row = daemon.stats("api", "handler", daemon.status()["processes"][0]["pid"])
    assert (row["calls"], row["errors"]) == (1000, 0)
    assert row["min_ns"] >= 49_000_000  # each call's own await, though 1,000 interleave


def test_contextManagers_andRecord(daemon, probe):
    with probe.measure("block", items=8):
        time.sleep(0.001)
    with pytest.raises(KeyError):
        with probe.measure("block"):
            raise KeyError("missing")

    async def blocks():
        async with probe.measure("async_block"):
            await asyncio.sleep(0.01)

    asyncio.run(blocks())
    shared = probe.measure("shared")  # one object timing blocks in several threads at once

    def timed():
        for _ in range(200):
            with shared:
                time.sleep(0.0001)

    threads = [threading.Thread(target=timed) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    probe.record("queue_wait", nanoseconds=1_500_000, failed=False, items=1)
    probe.record("queue_wait", nanoseconds=2_500_000, failed=True, items=3)
    flushed(probe)
    pid = daemon.status()["processes"][0]["pid"]
    assert daemon.stats("api", "block", pid)["calls"] == 2
    assert daemon.stats("api", "block", pid)["error_types"] == {"builtins.KeyError": 1}
    assert daemon.stats("api", "block", pid)["items"] == 9
    assert daemon.stats("api", "async_block", pid)["calls"] == 1
    assert daemon.stats("api", "shared", pid)["calls"] == 800
    assert daemon.stats("api", "shared", pid)["min_ns"] >= 100_000
    row = daemon.stats("api", "queue_wait", pid)
    assert (row["calls"], row["errors"], row["items"], row["max_ns"]) == (2, 1, 4, None)  # both in warm-up


def test_probedThreshold_appliesToo_andTheSmallerWins(daemon, probe):
    @probe.measure("rank", slow_threshold=1.0)
    def rank(seconds):
        time.sleep(seconds)

    rank(0)  # the first call DEFINEs "rank"; probed answers with its threshold
    out = daemon.probectl("threshold", "rank", "5ms")
    assert out.returncode == 0, out.stderr
    deadline = time.monotonic() + 10
    while probe.slow_threshold("rank") != 0.005 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert probe.slow_threshold("rank") == 0.005
    rank(0.020)
    rank(0)
    flushed(probe)
    slow = daemon.json("slow")["slow_calls"]
    assert len(slow) == 1 and slow[0]["operation"] == "rank" and slow[0]["duration_ns"] >= 20_000_000
    assert daemon.probectl("threshold", "rank", "off").returncode == 0
    deadline = time.monotonic() + 10
    while probe.slow_threshold("rank") != 1.0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert probe.slow_threshold("rank") == 1.0


def test_trackMemory_recordsResidentMemoryDeltas(daemon, probe):
    kept = []

    @probe.measure("load", track_memory=True)
    def load(mib):
        block = bytearray(mib << 20)
        block[::4096] = b"x" * len(block[::4096])  # touch every page
        kept.append(block)

    for _ in range(3):
        load(16)
    flushed(probe)
    row = daemon.stats("api", "load", daemon.status()["processes"][0]["pid"])
    assert row["mem_delta_calls"] == 3
    assert row["mem_delta_max_bytes"] >= 15 << 20, row
    assert probe.dropped_memory_deltas == 0


def test_badArguments_failAtDecoration_withTheFix(probe):
    with pytest.raises(TypeError, match="generator"):
        probe.measure("stream")(lambda: (yield 1))
    with pytest.raises(ValueError, match="cuda"):
        probe.measure("x", sync="gpu")
    with pytest.raises(ValueError, match="slow_threshold"):
        probe.measure("x", slow_threshold=-1)
    with pytest.raises(TypeError, match="items"):
        probe.measure("x", items="many")


def test_attributesThatRaise_andOperationsPastTheLimit_neverReachTheService(daemon, probe):
    @probe.measure("odd", attributes=lambda x: {"inverse": 1 / x}, slow_threshold=0.0)  # every call is slow
    def odd(x):
        return x

    assert odd(0) == 0  # its attributes raise: the call returns all the same, and says why
    flushed(probe)
    [slow] = daemon.json("slow")["slow_calls"]
    assert slow["attributes"] == {"attributes_error": "builtins.ZeroDivisionError: division by zero"}

    for i in range(4096 - len(probe._core.operations)):
        probe.measure(f"filler{i}")  # ids are taken at decoration; DEFINEd only when called

    @probe.measure("one_too_many")
    def one_too_many():
        return 7

    dropped = probe.dropped_events
    assert one_too_many() == 7
    assert probe.dropped_events == dropped + 1  # not timed: dropped and counted
    assert probe.flush(30)
    assert daemon.process_row(daemon.status()["processes"][0]["pid"])["dropped_events"] == dropped + 1


def test_steadyState_keepsNoMemoryPerCall(daemon, probe):
    import gc
    import tracemalloc

    @probe.measure("steady")
    def steady(x):
        return x

    for i in range(2000):
        steady(i)
    flushed(probe)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(50_000):
            steady(i)
        flushed(probe)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    print(f"memory kept after 50,000 calls and a flush: {grown} bytes")
    assert grown < 50_000 // 2, grown  # under half a byte per call: nothing per call stays
