"""Forked worker processes, as gunicorn --preload and multiprocessing make them: the Probe is
created in the parent before the fork, every child ships its own calls, and probed's per-process
and merged figures are exact."""

import json
import random

from conftest import last_json, nearest_rank, run_python

WORKERS = 4
CALLS = 10_005
FAIL_EVERY = 101  # call i fails when i % 101 == 50


def known_durations(worker: int):
    rng = random.Random(1000 + worker)
    return [int(10_000 * 5_000 ** rng.random()) for _ in range(CALLS)]  # 10 us .. 50 ms, log-uniform


def test_fourForkedWorkers_knownDurations_perProcessAndMergedFiguresExact(daemon_factory, tmp_dir):
    daemon = daemon_factory("--warmup", "5")
    plan = [known_durations(w) for w in range(WORKERS)]
    (tmp_dir / "plan.json").write_text(json.dumps(plan))
    out = run_python("""
        import json, os, sys
        import probe_client._core as core
        from probe_client import Probe

        probe = Probe("workers", sys.argv[1])          # in the parent, before the fork
        now = [10**12]
        core.clock = lambda: now[0]                     # a clock the body advances: known durations

        @probe.measure("infer")
        def infer(duration, fail):
            now[0] += duration
            if fail:
                raise RuntimeError("model failed")

        pids = []
        for durations in json.load(open(sys.argv[2])):
            pid = os.fork()
            if pid == 0:
                code = 4
                try:
                    for i, d in enumerate(durations):
                        try:
                            infer(d, i % 101 == 50)
                        except RuntimeError:
                            pass
                    code = 0 if probe.flush(60) and probe.dropped_events == 0 else 3
                finally:
                    os._exit(code)
            pids.append(pid)
        codes = [os.waitpid(pid, 0)[1] for pid in pids]
        print(json.dumps({"pids": pids, "codes": codes, "parent": os.getpid()}))
    """, daemon.socket, str(tmp_dir / "plan.json"))
    result = last_json(out.stdout)
    assert result["codes"] == [0] * WORKERS, f"a worker did not deliver everything: {result}"
    assert result["parent"] not in result["pids"]

    merged_counted = []
    for pid, durations in zip(result["pids"], plan):
        row = daemon.stats("workers", "infer", pid)
        failed = [i % FAIL_EVERY == 50 for i in range(CALLS)]
        counted = sorted(d for i, d in enumerate(durations) if i >= 5 and not failed[i])
        merged_counted += counted
        assert (row["calls"], row["warmup"], row["errors"], row["counted"]) == (CALLS, 5, sum(failed), len(counted))
        assert row["error_types"] == {"builtins.RuntimeError": sum(failed)}
        for key, q in (("p50_ns", 0.50), ("p99_ns", 0.99)):
            exact = nearest_rank(counted, q)
            assert abs(row[key] - exact) <= 0.01 * exact, f"pid {pid} {key} {row[key]} vs exact {exact}"
        assert row["min_ns"] == counted[0] and row["max_ns"] == counted[-1]
        assert daemon.process_row(pid)["events_received"] == CALLS
        assert daemon.process_row(pid)["dropped_events"] == 0

    merged = daemon.stats("workers", "infer")
    merged_counted.sort()
    errors = WORKERS * sum(i % FAIL_EVERY == 50 for i in range(CALLS))
    assert (merged["calls"], merged["warmup"], merged["errors"], merged["processes"]) == (
        WORKERS * CALLS, WORKERS * 5, errors, WORKERS)
    for key, q in (("p50_ns", 0.50), ("p99_ns", 0.99)):
        exact = nearest_rank(merged_counted, q)
        assert abs(merged[key] - exact) <= 0.01 * exact, f"merged {key} {merged[key]} vs exact {exact}"
    # The parent recorded nothing and never re-sent its children's events.
    assert all(r["pid"] in result["pids"] or r["pid"] is None
               for r in daemon.json("stats")["operations"] if r["service"] == "workers")


def test_twentyShortLivedWorkers_oneAfterAnother_mergedCountsExact(daemon):
    # multiprocessing's fork children leave through os._exit, skipping atexit: the exit flush
    # must still run (threading's exit hook), within its 300 ms bound.
    out = run_python("""
        import json, multiprocessing, sys
        from probe_client import Probe

        probe = Probe("recycled", sys.argv[1])

        @probe.measure("handle")
        def handle(i):
            return i * 2

        def worker(n):
            for i in range(n):
                handle(i)          # no flush: the worker just ends, as a recycled one does

        context = multiprocessing.get_context("fork")
        pids = []
        for _ in range(20):
            p = context.Process(target=worker, args=(300,))
            p.start()
            p.join()
            assert p.exitcode == 0, p.exitcode
            pids.append(p.pid)
        print(json.dumps(pids))
    """, daemon.socket)
    pids = last_json(out.stdout)
    assert len(set(pids)) == 20
    merged = daemon.stats("recycled", "handle")
    assert merged["calls"] == 20 * 300, merged
    assert merged["errors"] == 0
    for pid in pids:
        row = daemon.process_row(pid)
        assert (row["events_received"], row["dropped_events"]) == (300, 0), row
