"""The state one Probe shares between the threads that record and its flusher thread.

Hand-off rule: recording threads only ever append one tuple per call to the right of three
deques (events, memory deltas, call details) and bump `itertools.count` objects when something
is dropped; the flusher only pops from the left, exactly as many items as `len` showed.
`deque.append`, `deque.popleft` and `next(count)` are each one C call that runs without
releasing the GIL, so no record is lost or torn however the threads interleave (swapping in a
fresh list, by contrast, loses an append from a thread that had already looked up the old one).
Nothing on the recording path takes a lock, so a signal handler that records a call cannot
deadlock.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
import weakref
from collections import deque
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from . import _wire

log = logging.getLogger("probe_client")

#: The clock of every measurement: CLOCK_MONOTONIC, integer nanoseconds. Read by the wrappers
#: when they are built (tests replace it before decorating to feed known durations).
clock: Callable[[], int] = time.perf_counter_ns

#: "No threshold": larger than any duration.
NEVER = 1 << 64
#: How many call details may wait for the flusher (as in the Swift client).
DETAIL_QUEUE = 256
MAX_ITEMS = 0xFFFFFFFF


def count_value(counter: "itertools.count[int]") -> int:
    """The next value `counter` would return, read without advancing it."""
    return int(repr(counter)[6:-1])  # "count(N)"


def clamp_items(n: int) -> int:
    """A batch size as an event's `items`: at least 1, at most 2^32 - 1."""
    return 1 if n < 1 else (n if n <= MAX_ITEMS else MAX_ITEMS)


def error_type_name(cls: type) -> str:
    """`module.QualName` of an exception class, e.g. `builtins.ValueError`, `torch.OutOfMemoryError`."""
    return f"{getattr(cls, '__module__', None) or '?'}.{getattr(cls, '__qualname__', cls.__name__)}"


def describe(error: BaseException) -> str:
    """`str(error)`; never raises (an exception whose `__str__` fails is described by its type)."""
    try:
        return str(error)
    except Exception:
        return f"<unprintable {type(error).__name__}>"


class Operation:
    """One operation id of this process: ids are positions in `Core.operations`, stable for the
    life of the process and DEFINEd again on every connection."""

    __slots__ = ("id", "name", "wire_name", "reports_slow", "used")

    def __init__(self, op_id: int, name: str, reports_slow: bool) -> None:
        self.id = op_id
        self.name = name
        self.wire_name = _wire.sanitized_name(name)
        #: True when the recording side checks this id's calls against the threshold itself
        #: (its calls carry attributes only the caller can evaluate); else the flusher does.
        self.reports_slow = reports_slow
        #: Called (or recorded) in this process: only those are DEFINEd, so a process that
        #: decorates but never calls (a gunicorn --preload master) adds no empty series.
        self.used = False


class Core:
    """Buffers, names, thresholds and the delivery ledger of one Probe."""

    def __init__(self, service: str, socket_path: Optional[str], capacity: int, flush_interval: float) -> None:
        self.service = _wire.sanitized_name(service)
        self.explicit_path = socket_path
        self.capacity = capacity
        self.flush_interval = flush_interval
        # One 4-tuple of ints per event: (operation id | wire flags << 32, start_ns, duration_ns,
        # items | error type id << 32), the record's four 64-bit words; the flusher packs them.
        self.events: deque[Tuple[int, int, int, int]] = deque()
        self.events_limit = capacity
        self.drops = itertools.count()
        # (operation id, statm before, statm after): parsed by the flusher.
        self.memory: deque[Tuple[int, bytes, bytes]] = deque()
        self.memory_drops = itertools.count()
        # (operation id, detail flags, start_ns, start_wall_ns, duration_ns, items, error type id, text, attributes)
        self.details: deque[Tuple[Any, ...]] = deque()
        self.detail_drops = itertools.count()
        # Interning only, never on the recording path; reentrant, so a signal handler that makes a
        # first call while its thread is interning another name cannot deadlock.
        self.lock = threading.RLock()
        self.operations: List[Operation] = []
        self.used: List[Operation] = []  # in the order of first use: the order of DEFINE
        self.operation_ids: Dict[Tuple[str, bool], int] = {}
        self.error_types: List[bytes] = []  # error type id i + 1 is error_types[i]
        self.error_type_ids: Dict[type, int] = {}
        self.client_thresholds: Dict[str, int] = {}
        #: What the service declared about each operation name (DEFINE flags, `_wire.DEFINE_*`),
        #: and a counter bumped whenever they change, so the flusher DEFINEs the ids again.
        self.operation_flags: Dict[str, int] = {}
        self.flags_version = 0
        self.daemon_thresholds: Dict[int, int] = {}  # the current connection's, by id
        #: Effective threshold per operation id (the smaller of the client's and probed's), ns.
        self.thresholds: List[int] = [NEVER] * _wire.MAX_OPERATIONS
        #: The smallest threshold among ids the flusher checks: a batch whose longest call is
        #: shorter needs no look at each call.
        self.flusher_threshold = NEVER
        self.statm = -2  # /proc/self/statm descriptor: -2 not opened yet, -1 unreadable
        self.page_size = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
        self.warned: Set[str] = set()
        self.reset_ledger()

    def reset_ledger(self) -> None:
        """Counters, flush handshake and flusher of a process that starts recording afresh."""
        self.drops_base = count_value(self.drops)
        self.memory_drops_base = count_value(self.memory_drops)
        self.detail_drops_base = count_value(self.detail_drops)
        self.delivered = 0  # event records acknowledged, over every connection
        self.lost_in_transit = 0  # sent on connections that ended before acknowledging them
        self.delivered_by_connection: List[int] = []
        self.cond = threading.Condition()
        self.wake = threading.Event()
        self.flush_requested = 0
        self.flush_completed = 0
        self.exiting = False  # the exit flush: one prompt connection attempt, then give up
        self.gave_up = False
        self.stopping = False
        self.connected = False
        self.flusher: Any = None
        self.thread: Optional[threading.Thread] = None

    # MARK: Names

    def operation_id(self, name: str, reports_slow: bool) -> Optional[int]:
        """The id of `name` (its own id for calls that report slowness on the caller's side);
        None past the 4096 ids a connection allows: those calls are dropped and counted."""
        key = (name, reports_slow)
        op = self.operation_ids.get(key)
        if op is not None:
            return op
        with self.lock:
            op = self.operation_ids.get(key)
            if op is None:
                if len(self.operations) >= _wire.MAX_OPERATIONS:
                    self.warn_once("operations", "probe: service %s has more than %d operation ids; calls of %r "
                                   "are dropped and counted", self.service.decode(), _wire.MAX_OPERATIONS, name)
                    return None
                op = len(self.operations)
                self.operations.append(Operation(op, name, reports_slow))
                self.operation_ids[key] = op
                self.update_threshold(op)
        return op

    def use(self, op: int) -> bool:
        """Marks `op` used; called before its first event is queued, so that the flusher, which
        drains events before it reads this list, DEFINEs every id it sends."""
        operation = self.operations[op]
        if not operation.used:
            with self.lock:
                if not operation.used:
                    operation.used = True
                    self.used.append(operation)
        return True

    def error_type_id(self, cls: type) -> int:
        """The error type id of exception class `cls`, defined on first use; 0 past the limit."""
        n = self.error_type_ids.get(cls)
        if n is not None:
            return n
        with self.lock:
            n = self.error_type_ids.get(cls)
            if n is None:
                if len(self.error_types) >= _wire.MAX_OPERATIONS - 1:
                    return 0
                self.error_types.append(_wire.sanitized_name(error_type_name(cls)))
                n = self.error_type_ids[cls] = len(self.error_types)
        return n

    def set_operation_flag(self, name: str, flag: int, on: bool) -> None:
        """Declares (or withdraws) DEFINE flag `flag` for every id of operation `name`."""
        with self.lock:
            before = self.operation_flags.get(name, 0)
            after = before | flag if on else before & ~flag
            if after != before:
                self.operation_flags[name] = after
                self.flags_version += 1

    def flags_of(self, op: Operation) -> int:
        """The DEFINE flags declared for `op`'s name."""
        return self.operation_flags.get(op.name, 0)

    # MARK: Thresholds

    def set_client_threshold(self, name: str, nanoseconds: Optional[int]) -> None:
        """This client's own threshold for every id of `name`; None removes it."""
        with self.lock:
            if nanoseconds is None:
                self.client_thresholds.pop(name, None)
            else:
                self.client_thresholds[name] = max(1, nanoseconds)
            for op in self.operations:
                if op.name == name:
                    self.update_threshold(op.id)

    def set_daemon_threshold(self, op_id: int, nanoseconds: int) -> None:
        """probed's THRESHOLD for `op_id` on this connection; 0 removes it (flusher thread)."""
        if op_id >= len(self.operations):
            return
        if nanoseconds:
            self.daemon_thresholds[op_id] = nanoseconds
        else:
            self.daemon_thresholds.pop(op_id, None)
        with self.lock:
            self.update_threshold(op_id)

    def clear_daemon_thresholds(self) -> None:
        """A new connection: the daemon sends its thresholds again after DEFINE."""
        ids = list(self.daemon_thresholds)
        self.daemon_thresholds.clear()
        with self.lock:
            for op_id in ids:
                self.update_threshold(op_id)

    def update_threshold(self, op_id: int) -> None:
        op = self.operations[op_id]
        self.thresholds[op_id] = min(self.client_thresholds.get(op.name, NEVER), self.daemon_thresholds.get(op_id, NEVER))
        self.flusher_threshold = min(
            (self.thresholds[o.id] for o in self.operations if not o.reports_slow), default=NEVER)

    def threshold_seconds(self, name: str) -> Optional[float]:
        """The threshold that applies to `name` now, in seconds; None when none does."""
        ids = [op.id for op in self.operations if op.name == name]
        ns = min((self.thresholds[i] for i in ids), default=NEVER)
        return None if ns >= NEVER else ns / 1e9

    # MARK: The recording side's slow paths (failures, slow calls, memory)

    def failed(self, opw: int, start: int, duration: int, items: int, error: BaseException,
               attributes: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> None:
        """A call raised `error` (an Exception): its event, marked failed with the error's type,
        and its detail. Never raises."""
        try:
            op = opw & 0xFFFFFFFF
            self.use(op)
            error_type = self.error_type_id(type(error))
            if len(self.events) < self.events_limit:
                self.events.append((opw | _wire.EVENT_FAILED << 32, start, duration, items | error_type << 32))
            else:
                next(self.drops)
            flags = _wire.DETAIL_FAILED | (_wire.DETAIL_SLOW if duration > self.thresholds[op] else 0)
            self.queue_detail(op, flags, start, duration, items, error_type, describe(error), attributes, args, kwargs)
        except Exception:
            self.warn_once("failed", "probe: could not record a failed call", exc_info=True)

    def slow(self, op: int, start: int, duration: int, items: int, attributes: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> None:
        """A successful call over its threshold (the event is already recorded). Never raises."""
        try:
            self.queue_detail(op, _wire.DETAIL_SLOW, start, duration, items, 0, "", attributes, args, kwargs)
        except Exception:
            self.warn_once("slow", "probe: could not record a slow call", exc_info=True)

    def queue_detail(self, op: int, flags: int, start: int, duration: int, items: int, error_type: int,
                     text: str, attributes: Any, args: Tuple[Any, ...], kwargs: Dict[str, Any]) -> None:
        """Evaluates `attributes` (the only place it is) and queues the call's CALL_DETAIL."""
        if len(self.details) >= DETAIL_QUEUE:
            next(self.detail_drops)
            return
        pairs: List[Tuple[Any, Any]] = []
        if attributes is not None:
            try:
                values = attributes(*args, **kwargs) if callable(attributes) else attributes
                pairs = list(values.items())
            except Exception as e:
                pairs = [("attributes_error", f"{error_type_name(type(e))}: {describe(e)}")]
        wall = time.time_ns() - (clock() - start)  # the wall clock read now, off the fast path
        self.details.append((op, flags, start, wall, duration, items, error_type, text, pairs))

    def read_rss(self) -> bytes:
        """/proc/self/statm's text, from the kept-open descriptor; b"" when unreadable."""
        try:
            return os.pread(self.statm, 64, 0)
        except OSError:
            return b""

    def memory_delta(self, op: int, before: bytes) -> None:
        """Queues one call's resident-memory change (parsed by the flusher)."""
        if len(self.memory) < self.capacity:
            self.memory.append((op, before, self.read_rss()))
        else:
            next(self.memory_drops)

    def prepare_memory(self) -> bool:
        """Opens /proc/self/statm once; False when it cannot be read (no /proc)."""
        if self.statm == -2:
            with self.lock:
                if self.statm == -2:
                    try:
                        self.statm = os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC)
                    except OSError:
                        self.statm = -1
                        self.warn_once("statm", "probe: /proc/self/statm cannot be read; track_memory records nothing")
        return self.statm >= 0

    # MARK: Counters

    def dropped_total(self) -> int:
        """Events dropped since this process started recording: buffer full, operation over the
        limit, or sent on a connection that ended before probed acknowledged them."""
        return count_value(self.drops) - self.drops_base + self.lost_in_transit

    def memory_dropped_total(self) -> int:
        return count_value(self.memory_drops) - self.memory_drops_base

    def detail_dropped_total(self) -> int:
        return count_value(self.detail_drops) - self.detail_drops_base

    def warn_once(self, key: str, message: str, *args: Any, **kwargs: Any) -> None:
        if key not in self.warned:
            self.warned.add(key)
            log.warning(message, *args, **kwargs)

    # MARK: Lifecycle

    def start(self) -> None:
        """Starts the flusher thread; without one, events are buffered, then dropped and counted."""
        from ._flusher import Flusher

        self.flusher = Flusher(self)
        try:
            self.thread = threading.Thread(target=self.flusher.run, name="probe-flusher", daemon=True)
            self.thread.start()
        except Exception:  # e.g. RuntimeError: can't start new thread
            self.thread = None
            self.warn_once("thread", "probe: could not start the flusher thread; events are dropped and counted",
                           exc_info=True)
            return
        _live.add(self)

    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def flush(self, timeout: float, exiting: bool = False) -> bool:
        """Waits until every event recorded so far is acknowledged by probed, or dropped and that
        count reported; False when `timeout` (seconds) passes first or no flusher runs."""
        if not self.running() or threading.current_thread() is self.thread:
            return False
        deadline = time.monotonic() + max(0.0, timeout)
        with self.cond:
            if exiting:
                self.exiting = True
                self.gave_up = False
            self.flush_requested += 1
            target = self.flush_requested
            self.wake.set()
            while self.flush_completed < target:
                left = deadline - time.monotonic()
                if left <= 0 or (exiting and self.gave_up) or not self.running():
                    return False
                self.cond.wait(min(left, 0.05))
        return True

    def stop(self, timeout: float) -> None:
        """Flushes within `timeout`, then ends the flusher thread and closes the connection."""
        _live.discard(self)
        if not self.running():
            return
        self.flush(timeout)
        self.stopping = True
        self.wake.set()
        if self.thread is not None:
            self.thread.join(timeout=1.0)

    def before_fork(self) -> None:
        self.lock.acquire()

    def after_fork_in_parent(self) -> None:
        self.lock.release()

    def after_fork_in_child(self) -> None:
        """The child of a fork starts afresh: its own connection, buffers and flusher; the
        parent's events are never sent again, and its counts start at 0."""
        self.lock.release()
        old = self.flusher
        if old is not None:
            old.forget_after_fork()  # the inherited socket: closes this process's copy only
        self.events.clear()
        self.memory.clear()
        self.details.clear()
        self.daemon_thresholds.clear()
        for op in self.operations:
            self.update_threshold(op.id)
        if self.statm >= 0:
            # The inherited descriptor still reads the parent's statm ("self" was resolved at
            # open): open the child's onto the same number, which the wrappers hold.
            try:
                fd = os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC)
                os.dup2(fd, self.statm, inheritable=False)
                os.close(fd)
            except OSError:
                pass
        self.reset_ledger()
        self.start()


# Every core whose flusher runs, for the fork hooks and the exit flush.
_live: "weakref.WeakSet[Core]" = weakref.WeakSet()

#: The exit flush's bound, for all probes together.
EXIT_FLUSH_SECONDS = 0.3


def _before_fork() -> None:
    for core in list(_live):
        core.before_fork()


def _after_fork_in_parent() -> None:
    for core in list(_live):
        core.after_fork_in_parent()


def _after_fork_in_child() -> None:
    for core in list(_live):
        try:
            core.after_fork_in_child()
        except Exception:
            log.warning("probe: could not restart after fork", exc_info=True)


def _exit_flush() -> None:
    """At interpreter exit (and at the end of a multiprocessing child, which skips atexit):
    delivers what it can within 300 ms, never waiting for a probed that is not there."""
    deadline = time.monotonic() + EXIT_FLUSH_SECONDS
    for core in list(_live):
        left = deadline - time.monotonic()
        if left > 0:
            core.flush(left, exiting=True)
        core.stopping = True
        core.wake.set()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_in_parent,
                        after_in_child=_after_fork_in_child)

# threading's exit hooks run at interpreter exit before atexit's, and also at the end of a
# multiprocessing child (which leaves through os._exit, skipping atexit); private but present
# since 3.9. atexit is the fallback.
_register = getattr(threading, "_register_atexit", None)
try:
    if _register is None:
        raise RuntimeError
    _register(_exit_flush)
except Exception:
    import atexit

    atexit.register(_exit_flush)
