"""The flusher thread: connect (with backoff), announce the service and its names, ship batches,
notice probed leaving, start again. Everything here runs on that one thread (PROTOCOL.md §11).
"""

from __future__ import annotations

import os
import random
import socket
import stat
import struct
import sys
import time
from array import array
from itertools import chain, compress, repeat, starmap
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from . import _core, _wire
from ._core import NEVER, log

if TYPE_CHECKING:
    from ._core import Core

_SWAP = sys.byteorder != "little"  # the wire is little-endian; array() packs in native order
_EMPTY = array("Q")
_DRAIN_SLICE = 8192  # events converted per C call
#: Seconds a connection must stay up before a drop restarts the backoff at 50 ms.
STABLE_CONNECTION = 5.0


def socket_path(explicit: Optional[str]) -> str:
    """The path a client connects to now (PROTOCOL.md §2): the explicit one, `$PROBED_SOCKET`,
    the first of /run/probed/probed.sock, `$XDG_RUNTIME_DIR`/probed.sock, /tmp/probed-<uid>.sock
    that is a socket, else the last of them."""
    if explicit:
        return explicit
    env = os.environ.get("PROBED_SOCKET")
    if env:
        return env
    candidates = ["/run/probed/probed.sock"]
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        candidates.append(xdg + "/probed.sock")
    candidates.append(f"/tmp/probed-{os.getuid()}.sock")
    for path in candidates:
        try:
            if stat.S_ISSOCK(os.stat(path).st_mode):
                return path
        except OSError:
            pass
    return candidates[-1]


def _timeval(seconds: float) -> bytes:
    return struct.pack("@ll", int(seconds), int((seconds % 1) * 1_000_000))


class Flusher:
    """The connection's state machine; only the flusher thread touches it."""

    def __init__(self, core: "Core") -> None:
        self.core = core
        self.sock: Optional[socket.socket] = None
        self.path = ""
        self.defined_operations = 0
        self.defined_error_types = 0
        self.reported_dropped = -1
        # Drained events not yet accepted by the kernel: 4 words per record, as on the wire.
        self.pending = _EMPTY
        self.pending_view = memoryview(b"")
        self.pending_count = 0
        self.pending_sent = 0
        self.last_drained = 0
        self.memory_records = array("q")  # operation id, rss delta: one 16-byte record each
        self.memory_count = 0
        self.memory_sent = 0
        self.memory_accepted = False
        self.memory_reported = -1
        self.details: List[Tuple[Any, ...]] = []
        self.details_sent = 0
        self.details_accepted = False
        # Whether this connection's probed takes DEFINE flags, the flags each defined id was sent
        # with, and the core's flags_version then.
        self.flags_accepted = False
        self.sent_flags: Dict[int, int] = {}
        self.sent_flags_version = 0
        self.backoff = 0.05
        self.connected_at = 0.0
        self.next_attempt = 0.0
        self.last_refusal = ""
        self.sent_on_connection = 0
        self.acked_on_connection = 0
        self.last_send = 0.0

    # MARK: Loop

    def run(self) -> None:
        core = self.core
        failures = 0
        while True:
            if core.flush_requested > core.flush_completed:
                wait = 0.001  # someone waits in flush(): poll for ACKs
            elif self.last_drained > core.capacity // 2:
                # A fast caller: come back before the buffer fills (the recording side never
                # signals; that would cost every call a check), yet seldom: each wake-up takes
                # the GIL from the service's threads.
                wait = max(0.002, core.flush_interval * (core.capacity // 2) / self.last_drained)
            else:
                wait = core.flush_interval
            core.wake.wait(wait)
            core.wake.clear()
            request = core.flush_requested
            exiting = core.exiting
            try:
                self.cycle(final=exiting or core.stopping)
                failures = 0
            except Exception:
                # A bug here must not end delivery for good: log once, start over.
                failures += 1
                core.warn_once("flusher", "probe: flusher error; reconnecting", exc_info=True)
                self.disconnect()
            with core.cond:
                if self.sock is not None and self.all_delivered():
                    core.flush_completed = request
                    core.cond.notify_all()
                elif exiting and self.sock is None:
                    core.gave_up = True  # no probed at exit: don't wait for one
                    core.cond.notify_all()
            if core.stopping:
                self.release()
                return
            if failures > 3:
                time.sleep(0.1)

    def cycle(self, final: bool) -> None:
        """One pass: (re)connect if due, read what probed sent, drain, define names, send."""
        core = self.core
        if self.sock is None and (time.monotonic() >= self.next_attempt or final):
            self.connect()
        if self.sock is None:
            return
        if not self.read_incoming():
            self.disconnect()
            return
        if self.pending_sent >= self.pending_count:
            self.drain_events()
        self.drain_memory()
        self.drain_details()
        if not self.send_definitions():
            return
        sent_any = False
        while self.pending_sent < self.pending_count:
            n = min(self.pending_count - self.pending_sent, _wire.MAX_EVENTS_PER_MESSAGE)
            dropped = core.dropped_total()
            view = self.pending_view[self.pending_sent * 32:(self.pending_sent + n) * 32]
            if not self.send([_wire.events_prefix(n, dropped), view], final):
                return
            self.pending_sent += n
            self.sent_on_connection += n
            self.reported_dropped = dropped
            sent_any = True
        if sent_any:  # all of it is with the kernel: let the batch's memory go now, not next drain
            self.pending, self.pending_view, self.pending_count, self.pending_sent = _EMPTY, memoryview(b""), 0, 0
        dropped = core.dropped_total()
        # An empty EVENTS reports a grown drop count, or asks for an ACK that has not come.
        awaiting_ack = self.acked_on_connection < self.sent_on_connection and time.monotonic() - self.last_send > 0.05
        if not sent_any and (dropped != self.reported_dropped or awaiting_ack):
            if self.send([_wire.events_prefix(0, dropped)], final):
                self.reported_dropped = dropped
        if not self.send_memory(final):
            return
        self.send_details(final)

    def all_delivered(self) -> bool:
        core = self.core
        return (self.pending_sent >= self.pending_count and not core.events
                and self.acked_on_connection == self.sent_on_connection
                and self.reported_dropped == core.dropped_total()
                and self.memory_sent >= self.memory_count and not core.memory
                and (not self.memory_accepted or self.memory_reported == core.memory_dropped_total())
                and self.details_sent >= len(self.details) and not core.details)

    # MARK: Draining (the only consumer of the core's deques)

    def drain_events(self) -> None:
        core = self.core
        n = self.last_drained = len(core.events)
        if n == 0:
            self.pending, self.pending_view, self.pending_count, self.pending_sent = _EMPTY, memoryview(b""), 0, 0
            return
        # Every step at C speed: pop exactly n tuples, flatten, convert to 64-bit words. In
        # slices, so that the GIL is never held for long in one C call (a recording thread
        # waits for it at most one switch interval, 5 ms, while the flusher holds it).
        words = array("Q")
        popleft = core.events.popleft
        for taken in range(0, n, _DRAIN_SLICE):
            k = min(_DRAIN_SLICE, n - taken)
            words.extend(array("Q", list(chain.from_iterable(starmap(popleft, repeat((), k))))))
        if core.flusher_threshold < NEVER and max(words[2::4]) > core.flusher_threshold:
            self.detect_slow(words)
        if _SWAP:
            words.byteswap()
        self.pending = words
        self.pending_view = memoryview(words).cast("B")
        self.pending_count = n
        self.pending_sent = 0

    def detect_slow(self, words: "array[int]") -> None:
        """Queues a detail for each successful call over its threshold whose operation has no
        attributes (those the recording side checks itself, with the call's arguments)."""
        core = self.core
        thresholds, operations = core.thresholds, core.operations
        now_wall, now = time.time_ns(), _core.clock()
        # Candidates at C speed: the records longer than the smallest threshold in force.
        over = compress(range(0, len(words), 4), map(core.flusher_threshold.__lt__, words[2::4]))
        for i in over:
            word, duration = words[i], words[i + 2]
            op = word & 0xFFFFFFFF
            if duration > thresholds[op] and not (word >> 32) & _wire.EVENT_FAILED and not operations[op].reports_slow:
                if len(core.details) >= _core.DETAIL_QUEUE:
                    next(core.detail_drops)
                    continue
                start = words[i + 1]
                core.details.append((op, _wire.DETAIL_SLOW, start, now_wall - (now - start), duration,
                                     words[i + 3] & 0xFFFFFFFF, 0, "", []))

    def drain_memory(self) -> None:
        core = self.core
        if self.memory_sent < self.memory_count:
            if self.memory_accepted:
                return
            # Left over from a connection whose probed accepted them; this one does not.
            self.count_memory_dropped(self.memory_count - self.memory_sent)
        n = len(core.memory)
        records = array("q")
        page = core.page_size
        for op, before, after in starmap(core.memory.popleft, repeat((), n)):
            try:
                delta = (int(after.split(None, 2)[1]) - int(before.split(None, 2)[1])) * page
            except (IndexError, ValueError):
                continue  # a read failed: no delta for this call
            records.append(op)
            records.append(delta)
        self.memory_records, self.memory_count, self.memory_sent = records, len(records) // 2, 0
        if not self.memory_accepted and self.memory_count:
            self.count_memory_dropped(self.memory_count)
            self.memory_sent = self.memory_count

    def count_memory_dropped(self, n: int) -> None:
        for _ in range(n):
            next(self.core.memory_drops)

    def drain_details(self) -> None:
        core = self.core
        if self.details_sent < len(self.details):
            if self.details_accepted:
                return
            self.count_details_dropped(len(self.details) - self.details_sent)
        n = len(core.details)
        self.details = list(starmap(core.details.popleft, repeat((), n)))
        self.details_sent = 0
        if not self.details_accepted and self.details:
            self.count_details_dropped(len(self.details))
            self.details_sent = len(self.details)

    def count_details_dropped(self, n: int) -> None:
        for _ in range(n):
            next(self.core.detail_drops)

    # MARK: Sending

    def send_definitions(self) -> bool:
        """DEFINE for every operation used since the last call (all of them after a reconnect),
        and again for a defined one whose flags changed (when probed takes flags)."""
        core = self.core
        if self.flags_accepted and core.flags_version != self.sent_flags_version:
            version = core.flags_version
            for op in core.used[:self.defined_operations]:
                flags = core.flags_of(op)
                if flags != self.sent_flags.get(op.id, 0):
                    if not self.send([_wire.encode_define(op.id, _wire.KIND_OPERATION, op.wire_name, flags)], False):
                        return False
                    self.sent_flags[op.id] = flags
            self.sent_flags_version = version
        for op in core.used[self.defined_operations:]:
            flags = core.flags_of(op) if self.flags_accepted else 0
            if not self.send([_wire.encode_define(op.id, _wire.KIND_OPERATION, op.wire_name, flags)], False):
                return False
            self.sent_flags[op.id] = flags
            self.defined_operations += 1
        for name in core.error_types[self.defined_error_types:]:
            if not self.send([_wire.encode_define(self.defined_error_types + 1, _wire.KIND_ERROR_TYPE, name)], False):
                return False
            self.defined_error_types += 1
        return True

    def send_memory(self, final: bool) -> bool:
        if not self.memory_accepted:
            return True
        core = self.core
        sent_any = False
        while self.memory_sent < self.memory_count:
            n = min(self.memory_count - self.memory_sent, _wire.MAX_MEMORY_DELTAS_PER_MESSAGE)
            dropped = core.memory_dropped_total()
            chunk = self.memory_records[2 * self.memory_sent:2 * (self.memory_sent + n)]
            if _SWAP:
                chunk.byteswap()
            if not self.send([_wire.memory_deltas_prefix(n, dropped), chunk], final):
                return False
            self.memory_sent += n
            self.memory_reported = dropped
            sent_any = True
        dropped = core.memory_dropped_total()
        if not sent_any and dropped != self.memory_reported:
            if not self.send([_wire.memory_deltas_prefix(0, dropped)], final):
                return False
            self.memory_reported = dropped
        return True

    def send_details(self, final: bool) -> bool:
        if not self.details_accepted:
            return True
        while self.details_sent < len(self.details):
            op, flags, start, wall, duration, items, error_type, text, pairs = self.details[self.details_sent]
            error, attributes, cut = _wire.limited_detail(text, pairs)
            message = _wire.encode_call_detail(
                op, flags | (_wire.DETAIL_TRUNCATED if cut else 0), start, max(0, wall), duration, items,
                error_type, error, attributes)
            if not self.send([message], final):
                return False
            self.details_sent += 1
        return True

    def send(self, buffers: List[Any], nonblocking: bool) -> bool:
        """Sends one message (its parts gathered into one packet). A full socket keeps the
        connection and retries later; any other failure means probed is gone."""
        assert self.sock is not None
        try:
            self.sock.sendmsg(buffers, (), socket.MSG_DONTWAIT if nonblocking else 0)
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            self.disconnect()
            return False
        self.last_send = time.monotonic()
        return True

    # MARK: Connection

    def connect(self) -> None:
        core = self.core
        self.path = socket_path(core.explicit_path)
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            s.setblocking(False)
            s.connect(self.path)
            # Blocking from here on, with timeouts: this thread may wait, the service never does.
            s.setblocking(True)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _timeval(0.2))
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _timeval(1.0))
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
            except OSError:
                pass
            s.send(_wire.encode_hello(os.getpid() & 0xFFFFFFFF, core.service))
            reply = s.recv(2048)
            message = _wire.decode(reply)
        except (OSError, _wire.WireError):
            s.close()
            self.schedule_retry()
            return
        if message["type"] == "error":
            self.refused(message)
            s.close()
            self.schedule_retry()
            return
        if message["type"] != "welcome":
            s.close()
            self.schedule_retry()
            return
        features = message["features"]
        self.sock = s
        self.memory_accepted = bool(features & _wire.FEATURE_MEMORY_DELTAS)
        self.memory_reported = -1  # report the memory drop count on the first batch
        self.details_accepted = bool(features & _wire.FEATURE_CALL_DETAILS)
        self.flags_accepted = bool(features & _wire.FEATURE_OPERATION_FLAGS)
        self.sent_flags = {}
        self.sent_flags_version = core.flags_version
        core.clear_daemon_thresholds()
        self.defined_operations = 0
        self.defined_error_types = 0
        self.sent_on_connection = 0
        self.acked_on_connection = 0
        self.reported_dropped = -1  # report the drop count on the first batch
        core.delivered_by_connection.append(0)
        # The backoff is not reset here: a peer that answers WELCOME and closes at once would
        # otherwise have this client reconnect every 50 ms forever. See disconnect().
        self.connected_at = time.monotonic()
        core.connected = True

    def disconnect(self) -> None:
        core = self.core
        if self.sock is not None:
            # ACKs probed sent before it went are still queued: count them first. What was sent
            # beyond the last ACK was not acknowledged: it is counted as dropped.
            try:
                self.read_incoming()
            except Exception:
                pass
            if self.sent_on_connection > self.acked_on_connection:
                core.lost_in_transit += self.sent_on_connection - self.acked_on_connection
            self.sent_on_connection = self.acked_on_connection = 0
            self.sock.close()
            self.sock = None
            if time.monotonic() - self.connected_at >= STABLE_CONNECTION:
                self.backoff = 0.05  # it was up long enough: the next drop is a new incident
        core.connected = False
        self.schedule_retry()

    def schedule_retry(self) -> None:
        """Exponential backoff from 50 ms to 2 s, plus up to 25 % jitter so many clients do not
        retry in step. The delay goes back to 50 ms only when a connection had stayed up for
        STABLE_CONNECTION seconds (PROTOCOL.md §11.6)."""
        self.next_attempt = time.monotonic() + self.backoff * (1 + random.random() / 4)
        self.backoff = min(self.backoff * 2, 2.0)

    def read_incoming(self) -> bool:
        """Reads every queued message (ACK, THRESHOLD, ERROR); False at end of stream or ERROR."""
        core = self.core
        while self.sock is not None:
            try:
                data = self.sock.recv(_wire.MAX_MESSAGE_BYTES, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return True
            except OSError:
                return False
            if not data:
                return False
            try:
                message = _wire.decode(data)
            except _wire.WireError:
                continue
            kind = message["type"]
            if kind == "ack":
                accepted = message["events_accepted"]
                # Cumulative; an older or impossible count is ignored.
                if self.acked_on_connection < accepted <= self.sent_on_connection:
                    core.delivered += accepted - self.acked_on_connection
                    self.acked_on_connection = accepted
                    core.delivered_by_connection[-1] = accepted
            elif kind == "threshold":
                if message["operation_id"] < _wire.MAX_OPERATIONS:
                    core.set_daemon_threshold(message["operation_id"], message["threshold_ns"])
            elif kind == "error":
                self.refused(message)
                return False
        return False

    def refused(self, message: Dict[str, Any]) -> None:
        text = (f"probe: probed at {self.path} refused service {self.core.service.decode()}: "
                f"{message['code_name']} ({message['code']}): {message['message']}")
        if text != self.last_refusal:
            self.last_refusal = text
            log.warning("%s", text)

    def forget_after_fork(self) -> None:
        """In a fork's child: close this process's copy of the parent's socket, send nothing."""
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def release(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.core.connected = False

