"""probe_client: time a Python service's calls and ship them to probed, out of process.

    from probe_client import Probe

    probe = Probe("ranker")

    @probe.measure("predict", items=len, attributes=lambda batch: {"batch": len(batch)}, slow_threshold=0.050)
    def predict(batch): ...

Pure standard library, CPython >= 3.9 on Linux; speaks probe's protocol v1 (Protocol/PROTOCOL.md).
Warm-up, percentiles, windows, memory sampling and GPU attribution stay in probed: see
`probectl stats`, `procs`, `slow`, `errors`, `top` and `/metrics`.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Dict, Mapping, Optional, Union

from . import _core, _wire
from ._core import Core, clamp_items
from ._measure import ItemsArg, Measure, SyncArg

__all__ = ["Probe", "Measure"]
__version__ = "0.1.0"

#: Events a probe buffers when nothing says otherwise (`PROBE_BUFFER_EVENTS` overrides).
DEFAULT_BUFFER_EVENTS = 65_536


class Probe:
    """The handle a service keeps to report its calls to probed.

    Creating one never raises and never waits: it connects in the background (one daemon thread
    per process) and reconnects, with backoff, whenever probed comes back. Calls are recorded
    into a bounded buffer that the background thread ships every 50 ms; when probed is absent
    or slow the buffer fills, then further events are dropped *and counted*, and the count
    reaches probed (delivered + dropped = recorded). Fork-safe: a child of `os.fork` (gunicorn
    `--preload`, multiprocessing's fork) starts its own connection, buffer and thread, and never
    sends the parent's events. Thread-safe and asyncio-safe.

    - `service`: the service's name in probed (cut to 128 bytes of UTF-8; control characters
      become spaces).
    - `socket_path`: probed's socket; None resolves it like every probe program
      (`$PROBED_SOCKET`, /run/probed/probed.sock, `$XDG_RUNTIME_DIR`/probed.sock,
      /tmp/probed-<uid>.sock), again at every reconnect.
    - `buffer_events`: events buffered before new ones are dropped (default 65,536, about 6 MiB;
      the environment variable `PROBE_BUFFER_EVENTS` overrides it).
    """

    def __init__(self, service: str, socket_path: Optional[str] = None, *, buffer_events: Optional[int] = None) -> None:
        capacity = DEFAULT_BUFFER_EVENTS
        if isinstance(buffer_events, int) and buffer_events > 0:
            capacity = buffer_events
        env = os.environ.get("PROBE_BUFFER_EVENTS", "")
        if env.strip().isdigit() and int(env) > 0:
            capacity = int(env)
        self._core = Core(str(service), str(socket_path) if socket_path else None, max(capacity, 64), 0.05)
        self._plain: Dict[str, Measure] = {}
        self._core.start()

    def measure(self, operation: str, *, items: ItemsArg = None,
                attributes: Union[Callable[..., Mapping[str, Any]], Mapping[str, Any], None] = None,
                slow_threshold: Optional[float] = None, sync: SyncArg = None, track_memory: bool = False,
                device_work: Optional[bool] = None, warmup_per_items: Optional[bool] = None) -> Measure:
        """Times calls of `operation`: use the result as a decorator (on a function or an
        `async def` function, which is awaited) or as a context manager (`with`, `async with`).

        - `items`: the batch's size, an int or a callable given the call's arguments (e.g.
          `len`), evaluated before the clock starts; for items per second and latency per item.
        - `attributes`: a callable given the call's arguments that returns a dict describing the
          input (e.g. `{"shape": str(tuple(x.shape))}`), evaluated ONLY for slow or failed calls;
          values are shown with `str`. At most 16 attributes, keys up to 64 bytes, values up to
          256 (longer ones are cut, and the call is marked truncated).
        - `slow_threshold`: seconds; a call that takes longer is sent to probed with its
          attributes (`probectl slow`). probed's own threshold (`probectl threshold OP 50ms`)
          applies too: the smaller wins. The threshold belongs to the operation name.
        - `sync`: `"cuda"` (or `"cuda:N"`) calls `torch.cuda.synchronize()` right before starting
          and right before stopping the clock, so GPU work is timed, not just its launch; or any
          callable that waits for the device. The events say they are device-synchronised.
          A sync that raises before the call records nothing; after it, fails the call.
        - `track_memory`: also records the change in this process's resident memory across the
          call (two reads of a kept-open /proc/self/statm, ~2 us; other threads' allocations
          during the call count too).
        - `device_work=False`: the operation launches no GPU work (tokenising, decoding JSON,
          post-processing): probed never warns that its timings are not device-synchronised,
          even in a process that holds GPU memory. `True` withdraws the declaration.
        - `warmup_per_items=True`: probed keeps the first N calls of each `items` value (batch
          size) out of the latency figures, not only the first N of the operation — for a model
          compiled, tuned or given an engine profile per input shape (N is probed's `--warmup`;
          up to 64 distinct values per process, more get no warm-up of their own).
          These two declarations belong to the operation name (like `slow_threshold`) and reach
          probed in DEFINE; None (the default) leaves them as they are.

        A call that raises an `Exception` is recorded as failed with the exception's type
        (`module.QualName`) and `str(e)`, and the same exception propagates with its traceback.
        `KeyboardInterrupt`, `SystemExit` and `asyncio.CancelledError` (any BaseException that is
        not an Exception) propagate and record nothing: the call neither completed nor failed.
        """
        core = self._core
        if device_work is not None:
            core.set_operation_flag(str(operation), _wire.DEFINE_NO_DEVICE_WORK, not device_work)
        if warmup_per_items is not None:
            core.set_operation_flag(str(operation), _wire.DEFINE_WARMUP_PER_ITEMS, bool(warmup_per_items))
        if items is None and attributes is None and slow_threshold is None and sync is None and not track_memory:
            # The plain form, often written inline (`with probe.measure("x"):`): one Measure per
            # name, safe to share between threads and tasks.
            plain = self._plain.get(operation)
            if plain is None:
                plain = self._plain[operation] = Measure(self._core, operation, None, None, None, None, False)
            return plain
        return Measure(self._core, operation, items, attributes, slow_threshold, sync, track_memory)

    def record(self, operation: str, nanoseconds: int, failed: bool = False, items: int = 1,
               attributes: Optional[Mapping[str, Any]] = None) -> None:
        """Records a call measured elsewhere, which ended now and lasted `nanoseconds`. A failed
        one is reported with its attributes (no error type); a successful one when it is slow."""
        core = self._core
        try:
            op = core.operation_id(str(operation), True)
            if op is None:
                next(core.drops)
                return
            core.use(op)
            # A 64-bit field: a larger value would make the flusher's packing raise and lose the batch.
            duration = min(max(0, int(nanoseconds)), 0xFFFF_FFFF_FFFF_FFFF)
            start = max(0, _core.clock() - duration)
            n = clamp_items(int(items))
            flags = _wire.EVENT_FAILED if failed else 0
            if len(core.events) < core.events_limit:
                core.events.append((op | flags << 32, start, duration, n))
            else:
                next(core.drops)
            slow = duration > core.thresholds[op]
            if failed or slow:
                detail = (_wire.DETAIL_FAILED if failed else 0) | (_wire.DETAIL_SLOW if slow else 0)
                core.queue_detail(op, detail, start, duration, n, 0, "", attributes, (), {})
        except Exception:
            core.warn_once("record", "probe: could not record a call of %r", operation, exc_info=True)

    def flush(self, timeout: float = 1.0) -> bool:
        """Waits up to `timeout` seconds until everything recorded so far has been acknowledged
        by probed (or dropped, and that count reported). Returns True when it was; False when
        the time ran out first (probed absent or slow). Called automatically at interpreter
        exit, bounded to 300 ms and never waiting for a probed that is not there."""
        return self._core.flush(timeout)

    def close(self, timeout: float = 0.5) -> None:
        """Flushes within `timeout` seconds, then stops the background thread; later calls are
        buffered, then dropped and counted."""
        self._core.stop(timeout)

    @property
    def buffered_events(self) -> int:
        """Events recorded and not yet sent to probed."""
        core = self._core
        flusher = core.flusher
        pending = 0 if flusher is None else max(0, flusher.pending_count - flusher.pending_sent)
        return len(core.events) + pending

    @property
    def dropped_events(self) -> int:
        """Events dropped and counted since this process started recording (also reported to
        probed): the buffer was full, the operation was past the 4,096-name limit, or they were
        sent on a connection that ended before probed acknowledged them."""
        return self._core.dropped_total()

    @property
    def delivered_events(self) -> int:
        """Events probed acknowledged. Once `flush` returns True, delivered + dropped is every
        event recorded."""
        return self._core.delivered

    @property
    def dropped_memory_deltas(self) -> int:
        """Memory deltas (track_memory) dropped: buffer full, or probed predates them."""
        return self._core.memory_dropped_total()

    @property
    def dropped_call_details(self) -> int:
        """Details of slow or failed calls dropped because their queue (256) was full, or
        probed predates them. Their events were recorded as always."""
        return self._core.detail_dropped_total()

    @property
    def connected(self) -> bool:
        """Whether the probe is connected to probed right now."""
        return self._core.connected

    def slow_threshold(self, operation: str) -> Optional[float]:
        """The threshold that applies to `operation` now, in seconds (this client's or probed's,
        whichever is smaller); None when its calls are never reported as slow."""
        return self._core.threshold_seconds(operation)

    def __repr__(self) -> str:
        return f"Probe({self._core.service.decode()!r}, connected={self.connected})"

