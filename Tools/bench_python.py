#!/usr/bin/env python3
"""Cost of probe_client's decorator beside a bare timing decorator, prometheus_client and a print.

    python3 Tools/bench_python.py [--rounds 21] [--calls 100000] [--probed PATH] [--no-venv]

Prints a table of nanoseconds per call of an empty function, each row the median over
interleaved rounds (one round runs every row once, so a noisy neighbour hits them all alike):

- floor: a plain decorator that reads `time.perf_counter_ns()` before and after the call;
- probe: `@probe.measure("op")`, with a real probed running (built by `swift build`; the
  benchmark starts one on a temporary socket), so its flusher thread's share of the GIL
  (draining, packing, sending) is inside the figure;
- prometheus_client: `@Histogram.time()`, installed by this script into a throwaway venv;
- print: the decorator ML code often starts with, `print(f"{name} took {t:.6f}s")` to /dev/null.

Then the same with two threads calling at once (ns per call = wall time / all calls), and the
memory each call leaves behind (tracemalloc, after a flush: 0 means nothing grows).
Figures only: no assertion, the machine may be busy. The budget (DESIGN.md) is probe <= 2x floor.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


# MARK: The decorators compared


def floor_decorator(fn):
    clock = time.perf_counter_ns

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        start = clock()
        result = fn(*args, **kwargs)
        end = clock()  # noqa: F841 - the floor reads the clock twice and keeps the reading
        return result

    return wrapper


def floor_async_decorator(fn):
    clock = time.perf_counter_ns

    @functools.wraps(fn)
    async def wrapper(*args, **kwargs):
        start = clock()
        result = await fn(*args, **kwargs)
        end = clock()  # noqa: F841
        return result

    return wrapper


def print_decorator(out):
    def decorate(fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            result = fn(*args, **kwargs)
            print(f"{fn.__name__} took {time.perf_counter() - start:.6f}s", file=out)
            return result

        return wrapper

    return decorate


def body(x):
    return x


async def async_body(x):
    return x


# MARK: Measuring


ARGUMENT = [1, 2, 3]  # every row's function is called with this one argument (a "batch")


def per_call_ns(fn, calls: int) -> tuple:
    """Per call: (the calling thread's CPU ns, this process's CPU ns, wall ns). The thread's
    figure is the decorator's own cost; the process's adds the flusher thread's share (draining,
    packing, sending); wall adds waiting for a CPU that another process holds (a shared machine)."""
    x = ARGUMENT
    thread, process, wall = time.thread_time_ns(), time.process_time_ns(), time.perf_counter_ns()
    for _ in range(calls):
        fn(x)
    return ((time.thread_time_ns() - thread) / calls, (time.process_time_ns() - process) / calls,
            (time.perf_counter_ns() - wall) / calls)


def per_call_ns_two_threads(fn, calls: int) -> float:
    barrier = threading.Barrier(3)

    def run():
        x = ARGUMENT
        barrier.wait()
        for _ in range(calls):
            fn(x)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter_ns()
    for t in threads:
        t.join()
    return (time.perf_counter_ns() - start) / (2 * calls)


def per_call_ns_async(fn, calls: int) -> float:
    async def loop():
        x = ARGUMENT
        start = time.perf_counter_ns()
        for _ in range(calls):
            await fn(x)
        return (time.perf_counter_ns() - start) / calls

    return asyncio.run(loop())


def growth_per_call(fn, calls: int, settle) -> float:
    """Bytes still allocated per call after `calls` calls and `settle()` (a flush)."""
    import gc
    import tracemalloc

    x = ARGUMENT
    for _ in range(1000):
        fn(x)
    settle()
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for _ in range(calls):
        fn(x)
    settle()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / calls


def worker(args) -> None:
    sys.path.insert(0, str(ROOT / "Sources" / "python"))
    from probe_client import Probe

    # A buffer four times the default: two threads calling flat out can starve the flusher of
    # the GIL for a while, and a dropped call (cheaper) would flatter the figures.
    probe = Probe("bench", args.socket, buffer_events=262_144)
    deadline = time.monotonic() + 5
    while args.socket and not probe.connected and time.monotonic() < deadline:
        time.sleep(0.01)
    devnull = open(os.devnull, "w")

    rows = {
        "floor: two perf_counter_ns around the call": floor_decorator(body),
        "probe: @probe.measure(\"op\")": probe.measure("op")(body),
        "probe: items=len, attributes=..., slow_threshold=1.0": probe.measure(
            "op_batch", items=len, attributes=lambda b: {"n": len(b)}, slow_threshold=1.0)(body),
    }

    def with_block(x):
        with probe.measure("block"):
            return x

    rows["probe: with probe.measure(\"op\"): around the call"] = with_block
    prometheus_error = None
    try:
        from prometheus_client import CollectorRegistry, Histogram

        histogram = Histogram("bench_seconds", "bench", registry=CollectorRegistry())
        rows["prometheus_client: @Histogram.time()"] = histogram.time()(body)
    except ImportError as e:
        prometheus_error = str(e)
    rows["print to /dev/null: f\"{name} took {t:.6f}s\""] = print_decorator(devnull)(body)
    async_rows = {
        "floor, async def: two perf_counter_ns around the await": floor_async_decorator(async_body),
        "probe, async def: @probe.measure(\"op\")": probe.measure("op_async")(async_body),
    }

    caller = {name: [] for name in rows}
    cpu = {name: [] for name in rows}
    results = {name: [] for name in rows}
    two = {name: [] for name in rows}
    async_results = {name: [] for name in async_rows}
    for name, fn in rows.items():  # warm up (3.11+ specialises the bytecode)
        per_call_ns(fn, 2000)
    for _ in range(args.rounds):
        for name, fn in rows.items():
            own, used, wall = per_call_ns(fn, args.calls)
            caller[name].append(own)
            cpu[name].append(used)
            results[name].append(wall)
        for name, fn in async_rows.items():
            async_results[name].append(per_call_ns_async(fn, args.calls // 2))
    for _ in range(max(3, args.rounds // 3)):
        for name, fn in rows.items():
            two[name].append(per_call_ns_two_threads(fn, args.calls // 2))
    growth = {name: growth_per_call(fn, 50_000, lambda: probe.flush(5.0)) for name, fn in rows.items()}
    probe.flush(5.0)

    def median(table, name):
        return statistics.median(table[name])

    floor_name = "floor: two perf_counter_ns around the call"
    print(f"Python {platform.python_version()} ({platform.python_implementation()}), {platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}; "
          f"{args.rounds} interleaved rounds of {args.calls:,} calls; probed "
          f"{'running, ' + str(probe.delivered_events) + ' events delivered, ' + str(probe.dropped_events) + ' dropped' if args.socket else 'NOT running (events dropped and counted)'}")
    print()
    width = max(len(n) for n in list(rows) + list(async_rows))
    print(f"| {'ns per call of an empty function (median)':<{width}} | calling thread CPU | x floor "
          f"| process CPU (+ flusher) | x floor | wall | x floor | 2 threads, wall | x floor | bytes kept per call |")
    print(f"|{'-' * (width + 2)}|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in rows:
        cells = []
        for table in (caller, cpu, results, two):
            value = median(table, name)
            cells += [f"{value:,.0f}", f"{value / median(table, floor_name):.2f}"]
        print(f"| {name:<{width}} | {' | '.join(cells)} | {growth[name]:+.2f} |")
    async_floor = median(async_results, "floor, async def: two perf_counter_ns around the await")
    for name in async_rows:
        m = median(async_results, name)
        print(f"| {name:<{width}} | | | | | {m:,.0f} | {m / async_floor:.2f} | | | |")
    if prometheus_error:
        print(f"\nprometheus_client row missing: {prometheus_error}")
    probe_name = "probe: @probe.measure(\"op\")"
    ratios = [median(t, probe_name) / median(t, floor_name) for t in (caller, cpu, results)]
    print(f"\nbudget: probe's decorator <= 2.00x the floor, single thread: {ratios[0]:.2f}x on the calling thread, "
          f"{ratios[1]:.2f}x with the flusher's share, {ratios[2]:.2f}x wall")


# MARK: Orchestration: a throwaway venv with prometheus_client, a probed on a temporary socket


def find_probed(explicit: str | None) -> str | None:
    if explicit:
        return explicit
    for build in ("release", "debug"):
        path = ROOT / ".build" / build / "probed"
        if path.exists():
            return str(path)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--probed", help="probed binary (default: .build/release/probed, else .build/debug/probed)")
    parser.add_argument("--no-venv", action="store_true", help="use this interpreter as it is (no prometheus_client install)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--socket", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    with tempfile.TemporaryDirectory(prefix="probe-bench-") as tmp:
        python = sys.executable
        if not args.no_venv:
            venv = Path(tmp) / "venv"
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            python = str(venv / "bin" / "python")
            pip = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                                  "prometheus_client"], capture_output=True, text=True)
            if pip.returncode != 0:
                print(f"bench_python: could not install prometheus_client ({pip.stderr.strip()[-300:]}); "
                      "its row will be missing", file=sys.stderr)
        probed = find_probed(args.probed)
        daemon = None
        socket = ""
        if probed:
            socket = str(Path(tmp) / "probed.sock")
            config = Path(tmp) / "probed.conf"
            config.write_text("")
            daemon = subprocess.Popen([probed, "--socket", socket, "--config", str(config)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 20
            while not os.path.exists(socket) and time.monotonic() < deadline:
                time.sleep(0.02)
        else:
            print("bench_python: no probed binary (run `swift build`); measuring without one", file=sys.stderr)
        try:
            command = [python, str(Path(__file__).resolve()), "--worker", "--rounds", str(args.rounds),
                       "--calls", str(args.calls)] + (["--socket", socket] if socket else [])
            subprocess.run(command, check=True)
        finally:
            if daemon is not None:
                daemon.terminate()
                daemon.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
