"""Protocol v1 codec (Protocol/PROTOCOL.md): every message's encoder and a checking decoder.

The client itself encodes HELLO, DEFINE, EVENTS, MEMORY_DELTAS and CALL_DETAIL and decodes
WELCOME, ERROR, ACK and THRESHOLD; the other directions are here so that the tests can check
every vector in Protocol/vectors/ both ways. Integers are little-endian, as on the wire.
Pure functions, no I/O.
"""

from __future__ import annotations

import struct
from typing import Any, Dict, Iterable, List, Sequence, Tuple

VERSION = 1
HEADER_SIZE = 8
MAX_MESSAGE_BYTES = 65536
MAX_NAME_BYTES = 128
MAX_OPERATIONS = 4096
EVENT_RECORD_SIZE = 32
EVENTS_PREFIX_SIZE = 24
MAX_EVENTS_PER_MESSAGE = (MAX_MESSAGE_BYTES - EVENTS_PREFIX_SIZE) // EVENT_RECORD_SIZE  # 2047
MEMORY_RECORD_SIZE = 16
MAX_MEMORY_DELTAS_PER_MESSAGE = (MAX_MESSAGE_BYTES - EVENTS_PREFIX_SIZE) // MEMORY_RECORD_SIZE  # 4094
MAX_CONTROL_REQUEST_BYTES = 4096

# Message types (§4).
HELLO, DEFINE, EVENTS, MEMORY_DELTAS, CALL_DETAIL, CONTROL_REQUEST = 0x01, 0x02, 0x03, 0x04, 0x05, 0x10
WELCOME, ERROR, ACK, THRESHOLD, CONTROL_RESPONSE = 0x81, 0x82, 0x83, 0x84, 0x90
TYPE_NAMES = {
    HELLO: "hello", DEFINE: "define", EVENTS: "events", MEMORY_DELTAS: "memory_deltas",
    CALL_DETAIL: "call_detail", CONTROL_REQUEST: "control_request", WELCOME: "welcome",
    ERROR: "error", ACK: "ack", THRESHOLD: "threshold", CONTROL_RESPONSE: "control_response",
}

# DEFINE kinds; EVENTS record flags; WELCOME features; CALL_DETAIL flags.
KIND_OPERATION, KIND_ERROR_TYPE = 1, 2
KIND_NAMES = {KIND_OPERATION: "operation", KIND_ERROR_TYPE: "error_type"}
EVENT_FAILED, EVENT_DEVICE_SYNCHRONIZED = 1 << 0, 1 << 1
FEATURE_MEMORY_DELTAS, FEATURE_CALL_DETAILS, FEATURE_OPERATION_FLAGS = 1 << 0, 1 << 1, 1 << 2
# DEFINE flags (byte 13, operations only; sent only when WELCOME lists FEATURE_OPERATION_FLAGS).
DEFINE_NO_DEVICE_WORK, DEFINE_WARMUP_PER_ITEMS = 1 << 0, 1 << 1
DEFINE_KNOWN_FLAGS = DEFINE_NO_DEVICE_WORK | DEFINE_WARMUP_PER_ITEMS
DETAIL_FAILED, DETAIL_SLOW, DETAIL_TRUNCATED = 1 << 0, 1 << 1, 1 << 2

# CALL_DETAIL limits (§7).
MAX_ERROR_BYTES = 512
MAX_ATTRIBUTES = 16
MAX_KEY_BYTES = 64
MAX_VALUE_BYTES = 256

# Error codes (§9): stable, appended only.
CODE_NAMES = {
    1: "malformed", 2: "oversized", 3: "unknown_type", 4: "unsupported_version",
    5: "out_of_order", 6: "unknown_operation", 7: "bad_name", 8: "limit_exceeded",
    9: "reserved_nonzero", 10: "bad_control_request", 11: "redefinition", 12: "refused",
}
MALFORMED, OVERSIZED, UNKNOWN_TYPE, UNSUPPORTED_VERSION = 1, 2, 3, 4
LIMIT_EXCEEDED, BAD_NAME, RESERVED_NONZERO, BAD_CONTROL_REQUEST = 8, 7, 9, 10


class WireError(Exception):
    """A message that breaks protocol v1, or an ERROR the daemon sent: a code (§9) and a sentence."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    @property
    def name(self) -> str:
        """The code's name, e.g. `malformed`; `code N` for a code this client does not know."""
        return CODE_NAMES.get(self.code, f"code {self.code}")

    def __str__(self) -> str:
        return f"{self.name} ({self.code}): {self.message}"


_HEADER = struct.Struct("<BBHI")
_BATCH_PREFIX = struct.Struct("<BBHIIIQ")  # EVENTS and MEMORY_DELTAS: header, count, reserved, dropped_total
_EVENT = struct.Struct("<IIQQII")
_MEMORY_DELTA = struct.Struct("<IIq")
_DETAIL_FIXED = struct.Struct("<BBHIIIQQQIIH")  # header .. error_length (50 bytes)


def _header(type_: int, length: int, flags: int = 0) -> bytes:
    return _HEADER.pack(type_, VERSION, flags, length)


# MARK: Names and text


def sanitized_name(name: str, limit: int = MAX_NAME_BYTES) -> bytes:
    """`name` as a valid wire name (§1): control characters become spaces, an empty name becomes
    `unnamed`, unencodable characters (lone surrogates) become `?`, and it is cut to `limit`
    UTF-8 bytes at a character boundary. The same rule as the Swift client's."""
    cleaned = "".join(" " if (ord(c) < 0x20 or ord(c) == 0x7F) else c for c in name) or "unnamed"
    return clamp_utf8(cleaned.encode("utf-8", "replace"), limit)


def clamp_utf8(data: bytes, limit: int) -> bytes:
    """Cuts valid UTF-8 `data` to at most `limit` bytes without splitting a character."""
    if len(data) <= limit:
        return data
    end = limit
    while end > 0 and (data[end] & 0xC0) == 0x80:  # a continuation byte: step back to the start
        end -= 1
    return data[:end]


def is_name(data: bytes) -> bool:
    """Whether `data` is a name (§1): 1..128 bytes of valid UTF-8 without 0x00-0x1F or 0x7F."""
    if not 1 <= len(data) <= MAX_NAME_BYTES or any(b < 0x20 or b == 0x7F for b in data):
        return False
    try:
        data.decode("utf-8")  # strict: rejects overlong forms, surrogates and values past U+10FFFF
    except UnicodeDecodeError:
        return False
    return True


# MARK: Encoders (one complete message each, header included)


def encode_hello(pid: int, service: bytes, min_version: int = VERSION, max_version: int = VERSION) -> bytes:
    return _header(HELLO, 18 + len(service)) + struct.pack("<HHIH", min_version, max_version, pid, len(service)) + service


def encode_define(definition_id: int, kind: int, name: bytes, flags: int = 0) -> bytes:
    """DEFINE binds `definition_id` to `name` (already a valid name, see `sanitized_name`) on this
    connection; `kind` is KIND_OPERATION or KIND_ERROR_TYPE. `flags` (byte 13: DEFINE_NO_DEVICE_WORK,
    DEFINE_WARMUP_PER_ITEMS) is for operations, and only for a daemon whose WELCOME lists
    FEATURE_OPERATION_FLAGS; 0 otherwise."""
    return _header(DEFINE, 16 + len(name)) + struct.pack("<IBBH", definition_id, kind, flags, len(name)) + name


def events_prefix(count: int, dropped_total: int) -> bytes:
    """The first 24 bytes of an EVENTS message of `count` 32-byte records, which follow it."""
    return _BATCH_PREFIX.pack(EVENTS, VERSION, 0, EVENTS_PREFIX_SIZE + EVENT_RECORD_SIZE * count, count, 0, dropped_total)


def encode_events(dropped_total: int, records: Sequence[Tuple[int, int, int, int, int, int]]) -> bytes:
    """EVENTS from (operation_id, flags, start_ns, duration_ns, items, error_type_id) records."""
    return events_prefix(len(records), dropped_total) + b"".join(_EVENT.pack(*r) for r in records)


def memory_deltas_prefix(count: int, dropped_total: int) -> bytes:
    """The first 24 bytes of a MEMORY_DELTAS message of `count` 16-byte records."""
    return _BATCH_PREFIX.pack(
        MEMORY_DELTAS, VERSION, 0, EVENTS_PREFIX_SIZE + MEMORY_RECORD_SIZE * count, count, 0, dropped_total)


def encode_memory_deltas(dropped_total: int, records: Sequence[Tuple[int, int, int]]) -> bytes:
    """MEMORY_DELTAS from (operation_id, flags, rss_delta_bytes) records."""
    return memory_deltas_prefix(len(records), dropped_total) + b"".join(_MEMORY_DELTA.pack(*r) for r in records)


def encode_call_detail(
    operation_id: int, flags: int, start_ns: int, start_wall_ns: int, duration_ns: int, items: int,
    error_type_id: int, error: bytes, attributes: Sequence[Tuple[bytes, bytes]],
) -> bytes:
    """CALL_DETAIL with `error` and `attributes` ((key, value) UTF-8 pairs) already within the
    limits of §7 (see `limited_detail`)."""
    body = [struct.pack("<B", len(attributes))]
    for key, value in attributes:
        body.append(struct.pack("<H", len(key)) + key + struct.pack("<H", len(value)) + value)
    rest = b"".join(body)
    length = 50 + len(error) + len(rest)
    fixed = _DETAIL_FIXED.pack(CALL_DETAIL, VERSION, 0, length, operation_id, flags, start_ns, start_wall_ns,
                               duration_ns, items, error_type_id, len(error))
    return fixed + error + rest


def limited_detail(error: str, attributes: Iterable[Tuple[Any, Any]]) -> Tuple[bytes, List[Tuple[bytes, bytes]], bool]:
    """Applies CALL_DETAIL's limits like the Swift client: attributes sorted by key, at most 16,
    an empty key becomes `_`, keys cut to 64 bytes and values to 256, a key repeated after cutting
    dropped, the error cut to 512 bytes. Returns (error, attributes, truncated)."""
    cut = False
    pairs = sorted((str(k), str(v)) for k, v in attributes)
    if len(pairs) > MAX_ATTRIBUTES:
        pairs = pairs[:MAX_ATTRIBUTES]
        cut = True
    out: List[Tuple[bytes, bytes]] = []
    seen = set()
    for k, v in pairs:
        key = (k or "_").encode("utf-8", "replace")
        value = v.encode("utf-8", "replace")
        if len(key) > MAX_KEY_BYTES:
            key, cut = clamp_utf8(key, MAX_KEY_BYTES), True
        if len(value) > MAX_VALUE_BYTES:
            value, cut = clamp_utf8(value, MAX_VALUE_BYTES), True
        if key in seen:
            cut = True
            continue
        seen.add(key)
        out.append((key, value))
    text = error.encode("utf-8", "replace")
    if len(text) > MAX_ERROR_BYTES:
        text, cut = clamp_utf8(text, MAX_ERROR_BYTES), True
    return text, out, cut


def encode_control_request(text: str) -> bytes:
    body = text.encode("utf-8")
    return _header(CONTROL_REQUEST, HEADER_SIZE + len(body)) + body


def encode_welcome(version: int, max_message_bytes: int, max_operations: int, max_name_bytes: int, features: int) -> bytes:
    return _header(WELCOME, 24) + struct.pack("<HHIIHH", version, 0, max_message_bytes, max_operations, max_name_bytes, features)


def encode_error(code: int, text: str) -> bytes:
    body = clamp_utf8(text.encode("utf-8", "replace"), 1024)
    return _header(ERROR, 12 + len(body)) + struct.pack("<HH", code, len(body)) + body


def encode_ack(events_accepted: int) -> bytes:
    return _header(ACK, 16) + struct.pack("<Q", events_accepted)


def encode_threshold(operation_id: int, threshold_ns: int) -> bytes:
    return _header(THRESHOLD, 24) + struct.pack("<IIQ", operation_id, 0, threshold_ns)


def encode_control_response(final: bool, chunk: bytes) -> bytes:
    return _header(CONTROL_RESPONSE, HEADER_SIZE + len(chunk), flags=1 if final else 0) + chunk


def encode(message: Dict[str, Any]) -> bytes:
    """Encodes a message given as in the vectors' JSON (Protocol/vectors/README.md)."""
    m, t = message, message["type"]
    if t == "hello":
        return encode_hello(m["pid"], m["service"].encode(), m["min_version"], m["max_version"])
    if t == "define":
        kind = KIND_OPERATION if m["kind"] == "operation" else KIND_ERROR_TYPE
        return encode_define(m["id"], kind, m["name"].encode(), m["flags"])
    if t == "events":
        keys = ("operation_id", "flags", "start_ns", "duration_ns", "items", "error_type_id")
        return encode_events(m["dropped_total"], [tuple(r[k] for k in keys) for r in m["records"]])
    if t == "memory_deltas":
        return encode_memory_deltas(
            m["dropped_total"], [(r["operation_id"], r["flags"], r["rss_delta_bytes"]) for r in m["records"]])
    if t == "call_detail":
        return encode_call_detail(
            m["operation_id"], m["flags"], m["start_ns"], m["start_wall_ns"], m["duration_ns"], m["items"],
            m["error_type_id"], m["error"].encode(), [(k.encode(), v.encode()) for k, v in m["attributes"]])
    if t == "control_request":
        return encode_control_request(m["text"])
    if t == "welcome":
        return encode_welcome(m["version"], m["max_message_bytes"], m["max_operations"], m["max_name_bytes"], m["features"])
    if t == "error":
        return encode_error(m["code"], m["message"])
    if t == "ack":
        return encode_ack(m["events_accepted"])
    if t == "threshold":
        return encode_threshold(m["operation_id"], m["threshold_ns"])
    if t == "control_response":
        return encode_control_response(m["final"], m["chunk"].encode())
    raise ValueError(f"unknown message type {t!r}")


# MARK: Decoder


def decode(packet: bytes) -> Dict[str, Any]:
    """Decodes one packet into a dict shaped like the vectors' JSON, checking it in the order of
    §8 steps 1-7; raises WireError with the first check that fails."""
    b = bytes(packet)
    if len(b) < HEADER_SIZE:
        raise WireError(MALFORMED, f"message of {len(b)} bytes is shorter than the 8-byte header")
    if len(b) > MAX_MESSAGE_BYTES:
        raise WireError(OVERSIZED, f"message of {len(b)} bytes exceeds the limit of {MAX_MESSAGE_BYTES}")
    type_, version, flags, length = _HEADER.unpack_from(b)
    if length != len(b):
        raise WireError(MALFORMED, f"header says {length} bytes but the message has {len(b)}")
    if version != VERSION:
        raise WireError(UNSUPPORTED_VERSION, f"message version {version}; this client speaks version {VERSION}")
    if type_ not in TYPE_NAMES:
        raise WireError(UNKNOWN_TYPE, f"unknown message type 0x{type_:02x}")
    if flags & ~(1 if type_ == CONTROL_RESPONSE else 0):
        raise WireError(RESERVED_NONZERO, f"flags 0x{flags:x} set on a {TYPE_NAMES[type_]} message")
    return _DECODERS[type_](b, flags)


def _need(b: bytes, n: int, what: str) -> None:
    if len(b) < n:
        raise WireError(MALFORMED, f"{what} needs at least {n} bytes, got {len(b)}")


def _exact(b: bytes, n: int, what: str) -> None:
    if len(b) != n:
        raise WireError(MALFORMED, f"{what} must be {n} bytes, got {len(b)}")


def _name(data: bytes, what: str) -> str:
    if not is_name(data):
        raise WireError(BAD_NAME, f"{what} is not a name (1 to 128 bytes of UTF-8 without control characters)")
    return data.decode("utf-8")


def _hello(b: bytes, _flags: int) -> Dict[str, Any]:
    _need(b, 18, "HELLO")
    min_v, max_v, pid, n = struct.unpack_from("<HHIH", b, 8)
    _exact(b, 18 + n, "HELLO")
    return {"type": "hello", "min_version": min_v, "max_version": max_v, "pid": pid, "service": _name(b[18:], "service")}


def _define(b: bytes, _flags: int) -> Dict[str, Any]:
    _need(b, 16, "DEFINE")
    id_, kind, flags, n = struct.unpack_from("<IBBH", b, 8)
    _exact(b, 16 + n, "DEFINE")
    if flags & ~DEFINE_KNOWN_FLAGS:
        raise WireError(RESERVED_NONZERO, f"DEFINE flags 0x{flags:02x} set a bit v1 does not define")
    if kind not in KIND_NAMES:
        raise WireError(MALFORMED, f"DEFINE kind {kind} is neither 1 (operation) nor 2 (error type)")
    if kind == KIND_ERROR_TYPE and flags:
        raise WireError(RESERVED_NONZERO, f"DEFINE of an error type with flags 0x{flags:02x}; flags are for operations")
    if id_ >= MAX_OPERATIONS:
        raise WireError(LIMIT_EXCEEDED, f"id {id_} is over the limit of {MAX_OPERATIONS - 1}")
    if kind == KIND_ERROR_TYPE and id_ == 0:
        raise WireError(MALFORMED, 'error type id 0 is reserved for "no error type"')
    return {"type": "define", "id": id_, "kind": KIND_NAMES[kind], "flags": flags, "name": _name(b[16:], "name")}


def _batch(b: bytes, what: str, record_size: int, limit: int) -> Tuple[int, int]:
    _need(b, EVENTS_PREFIX_SIZE, what)
    count, reserved, dropped = struct.unpack_from("<IIQ", b, 8)
    if reserved:
        raise WireError(RESERVED_NONZERO, f"{what} reserved field is not zero")
    if count > limit:
        raise WireError(OVERSIZED, f"{what} count {count} exceeds {limit}")
    _exact(b, EVENTS_PREFIX_SIZE + record_size * count, f"{what} with {count} records")
    return count, dropped


def _events(b: bytes, _flags: int) -> Dict[str, Any]:
    count, dropped = _batch(b, "EVENTS", EVENT_RECORD_SIZE, MAX_EVENTS_PER_MESSAGE)
    records = []
    for i, (op, flags, start, duration, items, error_type) in enumerate(_EVENT.iter_unpack(b[EVENTS_PREFIX_SIZE:])):
        if flags & ~(EVENT_FAILED | EVENT_DEVICE_SYNCHRONIZED):
            raise WireError(RESERVED_NONZERO, f"record {i} has unknown flag bits 0x{flags:x}")
        if items == 0:
            raise WireError(MALFORMED, f"record {i} has items 0; a call processes at least 1")
        records.append({"operation_id": op, "flags": flags, "start_ns": start, "duration_ns": duration,
                        "items": items, "error_type_id": error_type})
    return {"type": "events", "dropped_total": dropped, "records": records}


def _memory_deltas(b: bytes, _flags: int) -> Dict[str, Any]:
    count, dropped = _batch(b, "MEMORY_DELTAS", MEMORY_RECORD_SIZE, MAX_MEMORY_DELTAS_PER_MESSAGE)
    records = []
    for i, (op, flags, delta) in enumerate(_MEMORY_DELTA.iter_unpack(b[EVENTS_PREFIX_SIZE:])):
        if flags:
            raise WireError(RESERVED_NONZERO, f"memory record {i} has flags 0x{flags:x}; v1 defines none")
        records.append({"operation_id": op, "flags": flags, "rss_delta_bytes": delta})
    return {"type": "memory_deltas", "dropped_total": dropped, "records": records}


def _utf8(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise WireError(MALFORMED, f"{what} is not valid UTF-8") from None


def _call_detail(b: bytes, _flags: int) -> Dict[str, Any]:
    _need(b, 51, "CALL_DETAIL")
    (_, _, _, _, op, flags, start, wall, duration, items, error_type, e) = _DETAIL_FIXED.unpack_from(b)
    if flags & ~(DETAIL_FAILED | DETAIL_SLOW | DETAIL_TRUNCATED):
        raise WireError(RESERVED_NONZERO, f"CALL_DETAIL flags 0x{flags:x} has bits v1 does not define")
    if not flags & (DETAIL_FAILED | DETAIL_SLOW):
        raise WireError(MALFORMED, "CALL_DETAIL is neither failed nor slow")
    if items == 0:
        raise WireError(MALFORMED, "CALL_DETAIL has items 0; a call processes at least 1")
    if e > MAX_ERROR_BYTES:
        raise WireError(OVERSIZED, f"CALL_DETAIL error text of {e} bytes exceeds {MAX_ERROR_BYTES}")
    if 50 + e > len(b):
        raise WireError(MALFORMED, "CALL_DETAIL error text runs past the end")
    error = _utf8(b[50:50 + e], "CALL_DETAIL error text")
    at = 50 + e
    if at >= len(b):
        raise WireError(MALFORMED, "CALL_DETAIL has no byte left for attribute_count")
    count = b[at]
    at += 1
    if count > MAX_ATTRIBUTES:
        raise WireError(OVERSIZED, f"CALL_DETAIL has {count} attributes; at most {MAX_ATTRIBUTES}")
    attributes: List[List[str]] = []
    keys = set()
    for i in range(count):
        if at + 2 > len(b):
            raise WireError(MALFORMED, f"attribute {i} key_length runs past the end")
        (k,) = struct.unpack_from("<H", b, at)
        if k == 0:
            raise WireError(MALFORMED, f"attribute {i} has an empty key")
        if k > MAX_KEY_BYTES:
            raise WireError(OVERSIZED, f"attribute {i} key of {k} bytes exceeds {MAX_KEY_BYTES}")
        if at + 2 + k > len(b):
            raise WireError(MALFORMED, f"attribute {i} key runs past the end")
        key_bytes = b[at + 2:at + 2 + k]
        key = _utf8(key_bytes, f"attribute {i} key")
        at += 2 + k
        if at + 2 > len(b):
            raise WireError(MALFORMED, f"attribute {i} value_length runs past the end")
        (v,) = struct.unpack_from("<H", b, at)
        if v > MAX_VALUE_BYTES:
            raise WireError(OVERSIZED, f"attribute {i} value of {v} bytes exceeds {MAX_VALUE_BYTES}")
        if at + 2 + v > len(b):
            raise WireError(MALFORMED, f"attribute {i} value runs past the end")
        value = _utf8(b[at + 2:at + 2 + v], f"attribute {i} value")
        at += 2 + v
        if key_bytes in keys:
            raise WireError(MALFORMED, f"attribute {i} repeats the key {key!r}")
        keys.add(key_bytes)
        attributes.append([key, value])
    if at != len(b):
        raise WireError(MALFORMED, f"{len(b) - at} bytes after the last attribute")
    return {"type": "call_detail", "operation_id": op, "flags": flags, "start_ns": start, "start_wall_ns": wall,
            "duration_ns": duration, "items": items, "error_type_id": error_type, "error": error,
            "attributes": attributes}


def _control_request(b: bytes, _flags: int) -> Dict[str, Any]:
    if len(b) - HEADER_SIZE > MAX_CONTROL_REQUEST_BYTES:
        raise WireError(OVERSIZED, f"control request of {len(b) - HEADER_SIZE} bytes exceeds {MAX_CONTROL_REQUEST_BYTES}")
    try:
        return {"type": "control_request", "text": b[HEADER_SIZE:].decode("utf-8")}
    except UnicodeDecodeError:
        raise WireError(BAD_CONTROL_REQUEST, "control request is not valid UTF-8") from None


def _welcome(b: bytes, _flags: int) -> Dict[str, Any]:
    _exact(b, 24, "WELCOME")
    version, reserved, max_message, max_ops, max_name, features = struct.unpack_from("<HHIIHH", b, 8)
    if reserved:
        raise WireError(RESERVED_NONZERO, "WELCOME reserved field is not zero")
    return {"type": "welcome", "version": version, "max_message_bytes": max_message, "max_operations": max_ops,
            "max_name_bytes": max_name, "features": features}


def _error(b: bytes, _flags: int) -> Dict[str, Any]:
    _need(b, 12, "ERROR")
    code, n = struct.unpack_from("<HH", b, 8)
    _exact(b, 12 + n, "ERROR")
    return {"type": "error", "code": code, "code_name": CODE_NAMES.get(code, f"code {code}"),
            "message": b[12:].decode("utf-8", "replace")}


def _ack(b: bytes, _flags: int) -> Dict[str, Any]:
    _exact(b, 16, "ACK")
    return {"type": "ack", "events_accepted": struct.unpack_from("<Q", b, 8)[0]}


def _threshold(b: bytes, _flags: int) -> Dict[str, Any]:
    _exact(b, 24, "THRESHOLD")
    op, reserved, ns = struct.unpack_from("<IIQ", b, 8)
    if reserved:
        raise WireError(RESERVED_NONZERO, "THRESHOLD reserved field is not zero")
    return {"type": "threshold", "operation_id": op, "threshold_ns": ns}


def _control_response(b: bytes, flags: int) -> Dict[str, Any]:
    return {"type": "control_response", "final": bool(flags & 1), "chunk": b[HEADER_SIZE:].decode("utf-8", "replace")}


_DECODERS = {
    HELLO: _hello, DEFINE: _define, EVENTS: _events, MEMORY_DELTAS: _memory_deltas, CALL_DETAIL: _call_detail,
    CONTROL_REQUEST: _control_request, WELCOME: _welcome, ERROR: _error, ACK: _ack, THRESHOLD: _threshold,
    CONTROL_RESPONSE: _control_response,
}
