#!/usr/bin/env python3
"""Writes the protocol v1 test vectors in this directory from the layouts in ../PROTOCOL.md.

Run it from anywhere: `python3 Protocol/vectors/generate.py`. It deletes the vector files it
owns (NN-*.hex, NN-*.json, NNN-*.hex and NNN-*.json) and writes them again, so the output is deterministic. It is an
implementation of PROTOCOL.md independent of the Swift codec: the Swift tests check that the
codec agrees with it. See README.md in this directory for the file format.
"""

import json
import re
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent

# Message types and error codes (PROTOCOL.md §4 and §9).
HELLO, DEFINE, EVENTS, MEMORY_DELTAS, CALL_DETAIL, CONTROL_REQUEST = 0x01, 0x02, 0x03, 0x04, 0x05, 0x10
WELCOME, ERROR, ACK, THRESHOLD, CONTROL_RESPONSE = 0x81, 0x82, 0x83, 0x84, 0x90
CODES = {
    "malformed": 1, "oversized": 2, "unknown_type": 3, "unsupported_version": 4,
    "out_of_order": 5, "unknown_operation": 6, "bad_name": 7, "limit_exceeded": 8,
    "reserved_nonzero": 9, "bad_control_request": 10, "redefinition": 11, "refused": 12,
}
FAILED, DEVICE_SYNCHRONIZED = 1 << 0, 1 << 1
FEATURE_MEMORY_DELTAS = 1 << 0  # WELCOME features bit 0
FEATURE_CALL_DETAILS = 1 << 1  # WELCOME features bit 1
FEATURE_OPERATION_FLAGS = 1 << 2  # WELCOME features bit 2
NO_DEVICE_WORK, WARMUP_PER_ITEMS = 1 << 0, 1 << 1  # DEFINE flags (byte 13)
DETAIL_FAILED, DETAIL_SLOW, DETAIL_TRUNCATED = 1 << 0, 1 << 1, 1 << 2  # CALL_DETAIL flags
UNKNOWN_TYPE = 0x7E  # a type value no version defines yet


def u8(v): return struct.pack("<B", v)
def u16(v): return struct.pack("<H", v)
def u32(v): return struct.pack("<I", v)
def u64(v): return struct.pack("<Q", v)
def i64(v): return struct.pack("<q", v)


class Message:
    """A message as a list of (bytes, comment) fields, so the .hex file explains itself."""

    def __init__(self):
        self.fields = []

    def add(self, data, comment):
        self.fields.append((bytes(data), comment))
        return self

    def bytes(self):
        return b"".join(d for d, _ in self.fields)


def header(m, type_, length, version=1, flags=0):
    names = {HELLO: "HELLO", DEFINE: "DEFINE", EVENTS: "EVENTS", MEMORY_DELTAS: "MEMORY_DELTAS",
             CALL_DETAIL: "CALL_DETAIL", CONTROL_REQUEST: "CONTROL_REQUEST", WELCOME: "WELCOME",
             ERROR: "ERROR", ACK: "ACK", THRESHOLD: "THRESHOLD", CONTROL_RESPONSE: "CONTROL_RESPONSE"}
    m.add(u8(type_), f"type 0x{type_:02x} ({names.get(type_, 'unknown')})")
    m.add(u8(version), f"version {version}")
    m.add(u16(flags), f"flags 0x{flags:04x}")
    m.add(u32(length), f"length {length}")


def hello(min_v, max_v, pid, service, name_length=None, **hdr):
    name = service if isinstance(service, bytes) else service.encode()
    n = len(name) if name_length is None else name_length
    m = Message()
    header(m, HELLO, hdr.pop("length", 18 + len(name)), **hdr)
    m.add(u16(min_v), f"min_version {min_v}")
    m.add(u16(max_v), f"max_version {max_v}")
    m.add(u32(pid), f"pid {pid}")
    m.add(u16(n), f"service_length {n}")
    m.add(name, "service (UTF-8)")
    return m


def define(id_, kind, name, flags=0, name_length=None, **hdr):
    data = name if isinstance(name, bytes) else name.encode()
    n = len(data) if name_length is None else name_length
    m = Message()
    header(m, DEFINE, hdr.pop("length", 16 + len(data)), **hdr)
    m.add(u32(id_), f"id {id_}")
    m.add(u8(kind), f"kind {kind}")
    m.add(u8(flags), f"flags 0x{flags:02x}")
    m.add(u16(n), f"name_length {n}")
    m.add(data, "name (UTF-8)")
    return m


def record(op, flags, start, duration, items, error_type):
    return dict(operation_id=op, flags=flags, start_ns=start, duration_ns=duration,
                items=items, error_type_id=error_type)


def events(dropped, records, count=None, reserved=0, **hdr):
    n = len(records) if count is None else count
    m = Message()
    header(m, EVENTS, hdr.pop("length", 24 + 32 * len(records)), **hdr)
    m.add(u32(n), f"count {n}")
    m.add(u32(reserved), f"reserved {reserved}")
    m.add(u64(dropped), f"dropped_total {dropped}")
    for i, r in enumerate(records):
        m.add(u32(r["operation_id"]), f"record {i} +0: operation_id {r['operation_id']}")
        m.add(u32(r["flags"]), f"record {i} +4: flags 0x{r['flags']:x}")
        m.add(u64(r["start_ns"]), f"record {i} +8: start_ns {r['start_ns']}")
        m.add(u64(r["duration_ns"]), f"record {i} +16: duration_ns {r['duration_ns']}")
        m.add(u32(r["items"]), f"record {i} +24: items {r['items']}")
        m.add(u32(r["error_type_id"]), f"record {i} +28: error_type_id {r['error_type_id']}")
    return m


def delta(op, rss_delta, flags=0):
    return dict(operation_id=op, flags=flags, rss_delta_bytes=rss_delta)


def memory_deltas(dropped, records, count=None, reserved=0, **hdr):
    n = len(records) if count is None else count
    m = Message()
    header(m, MEMORY_DELTAS, hdr.pop("length", 24 + 16 * len(records)), **hdr)
    m.add(u32(n), f"count {n}")
    m.add(u32(reserved), f"reserved {reserved}")
    m.add(u64(dropped), f"dropped_total {dropped}")
    for i, r in enumerate(records):
        m.add(u32(r["operation_id"]), f"record {i} +0: operation_id {r['operation_id']}")
        m.add(u32(r["flags"]), f"record {i} +4: flags 0x{r['flags']:x}")
        m.add(i64(r["rss_delta_bytes"]), f"record {i} +8: rss_delta_bytes {r['rss_delta_bytes']}")
    return m


def _utf8(text):
    return text if isinstance(text, bytes) else text.encode()


def call_detail(op, flags, start, wall, duration, items=1, error_type=0, error_text="", attributes=(),
                error_length=None, attribute_count=None, trailing=b"", **hdr):
    """CALL_DETAIL; `attributes` is a list of (key, value) pairs, each str or raw bytes."""
    err = _utf8(error_text)
    attrs = [(_utf8(k), _utf8(v)) for k, v in attributes]
    e = len(err) if error_length is None else error_length
    n = len(attrs) if attribute_count is None else attribute_count
    size = 50 + len(err) + 1 + sum(4 + len(k) + len(v) for k, v in attrs) + len(trailing)
    m = Message()
    header(m, CALL_DETAIL, hdr.pop("length", size), **hdr)
    m.add(u32(op), f"operation_id {op}")
    m.add(u32(flags), f"flags 0x{flags:x}")
    m.add(u64(start), f"start_ns {start} (CLOCK_MONOTONIC)")
    m.add(u64(wall), f"start_wall_ns {wall} (CLOCK_REALTIME)")
    m.add(u64(duration), f"duration_ns {duration}")
    m.add(u32(items), f"items {items}")
    m.add(u32(error_type), f"error_type_id {error_type}")
    m.add(u16(e), f"error_length {e}")
    m.add(err, "error (UTF-8)")
    m.add(u8(n), f"attribute_count {n}")
    for i, (k, v) in enumerate(attrs):
        m.add(u16(len(k)), f"attribute {i}: key_length {len(k)}")
        m.add(k, f"attribute {i}: key (UTF-8)")
        m.add(u16(len(v)), f"attribute {i}: value_length {len(v)}")
        m.add(v, f"attribute {i}: value (UTF-8)")
    if trailing:
        m.add(trailing, "trailing bytes")
    return m


def call_detail_meaning(op, flags, start, wall, duration, items=1, error_type=0, error_text="", attributes=()):
    return {"type": "call_detail", "operation_id": op, "flags": flags, "start_ns": start,
            "start_wall_ns": wall, "duration_ns": duration, "items": items, "error_type_id": error_type,
            "error": error_text, "attributes": [[k, v] for k, v in attributes]}


def threshold(op, ns, reserved=0, length=24):
    m = Message()
    header(m, THRESHOLD, length)
    m.add(u32(op), f"operation_id {op}")
    m.add(u32(reserved), f"reserved {reserved}")
    m.add(u64(ns), f"threshold_ns {ns}" + (" (none)" if ns == 0 else ""))
    return m


def text_message(type_, body, flags=0, **hdr):
    data = body if isinstance(body, bytes) else body.encode()
    m = Message()
    header(m, type_, hdr.pop("length", 8 + len(data)), flags=flags, **hdr)
    m.add(data, "body (UTF-8)")
    return m


def welcome(version=1, max_message=65536, max_ops=4096, max_name=128, features=0, length=24):
    m = Message()
    header(m, WELCOME, length)
    m.add(u16(version), f"version {version}")
    m.add(u16(0), "reserved 0")
    m.add(u32(max_message), f"max_message_bytes {max_message}")
    m.add(u32(max_ops), f"max_operations {max_ops}")
    m.add(u16(max_name), f"max_name_bytes {max_name}")
    m.add(u16(features), f"features 0x{features:04x}")
    return m


def error(code, text, text_length=None):
    data = text.encode()
    n = len(data) if text_length is None else text_length
    m = Message()
    header(m, ERROR, 12 + len(data))
    m.add(u16(code), f"code {code}")
    m.add(u16(n), f"text_length {n}")
    m.add(data, "text (UTF-8)")
    return m


def ack(accepted):
    m = Message()
    header(m, ACK, 16)
    m.add(u64(accepted), f"events_accepted {accepted}")
    return m


def raw(data, comment):
    return Message().add(data, comment)


# ---------------------------------------------------------------------------------------------
# The vectors. Valid ones carry their decoded meaning; invalid ones the error code expected.

SAMPLE_RECORDS = [
    record(0, 0, 86_400_000_000_000, 2_500_000, 1, 0),
    record(0, FAILED, 86_400_003_000_000, 750_000, 1, 1),
    record(1, DEVICE_SYNCHRONIZED, 86_400_005_000_000, 12_000_000, 32, 0),
    record(1, FAILED | DEVICE_SYNCHRONIZED, 9_007_199_254_740_991, 4_000_000_000, 8, 2),
]
SAMPLE_DELTAS = [
    delta(0, 16 << 20),
    delta(1, -4096),
    delta(0, 0),
    delta(4095, -9_007_199_254_740_991),
]
LONG_NAME = "é" * 64  # 128 bytes of UTF-8: the longest legal name
# start_wall_ns values stay below 2^53 (so any JSON parser reads them exactly), which puts them in
# 1970; a real CLOCK_REALTIME reading is larger and travels the same way.
SLOW_DETAIL = (0, DETAIL_SLOW, 86_400_000_000_000, 9_007_199_254_740_991, 250_000_000, 32,
               [("batch", "32"), ("shape", "32x3x224x224")])
FAILED_DETAIL = (1, DETAIL_FAILED, 86_400_003_000_000, 1_234_567_890_123_456, 750_000, 1, 1,
                 "ValueError: input contains NaN at index 7 — « rejeté »")
TRUNCATED_DETAIL = (4095, DETAIL_FAILED | DETAIL_SLOW | DETAIL_TRUNCATED, 5, 0, 9_007_199_254_740_991, 4_294_967_295,
                    0, "x" * 510 + "é",
                    [("k" * 64, "é" * 128), ("empty", "")] + [(f"a{i:02}", str(i)) for i in range(14)])

VALID = [
    ("01-hello", "HELLO from service \"ranker\", pid 4242, speaking version 1 only",
     hello(1, 1, 4242, "ranker"),
     {"type": "hello", "min_version": 1, "max_version": 1, "pid": 4242, "service": "ranker"}),
    ("02-hello-version-range", "HELLO offering versions 1..3 with a non-ASCII service name (the daemon picks 1)",
     hello(1, 3, 1, "détecteur"),
     {"type": "hello", "min_version": 1, "max_version": 3, "pid": 1, "service": "détecteur"}),
    ("03-define-operation", "DEFINE operation id 0 = \"predict\"",
     define(0, 1, "predict"),
     {"type": "define", "id": 0, "kind": "operation", "flags": 0, "name": "predict"}),
    ("04-define-error-type", "DEFINE error type id 1 = \"ValueError\" (kind 2)",
     define(1, 2, "ValueError"),
     {"type": "define", "id": 1, "kind": "error_type", "flags": 0, "name": "ValueError"}),
    ("05-define-limits", "DEFINE at both limits: id 4095 and a 128-byte name (64 x U+00E9)",
     define(4095, 1, LONG_NAME),
     {"type": "define", "id": 4095, "kind": "operation", "flags": 0, "name": LONG_NAME}),
    ("06-events", "EVENTS with 4 records: plain; failed with error type 1; device-synchronised "
                  "batch of 32; failed and device-synchronised batch of 8 with error type 2",
     events(3, SAMPLE_RECORDS),
     {"type": "events", "dropped_total": 3, "records": SAMPLE_RECORDS}),
    ("07-events-drops-only", "EVENTS with no records, reporting 17 dropped events",
     events(17, []),
     {"type": "events", "dropped_total": 17, "records": []}),
    ("08-control-request", "CONTROL_REQUEST {\"command\":\"stats\"}",
     text_message(CONTROL_REQUEST, '{"command":"stats"}'),
     {"type": "control_request", "text": '{"command":"stats"}'}),
    ("09-welcome", "WELCOME: version 1, the daemon's limits and features 3: bit 0 (it accepts MEMORY_DELTAS) "
                   "and bit 1 (it accepts CALL_DETAIL and sends THRESHOLD)",
     welcome(features=FEATURE_MEMORY_DELTAS | FEATURE_CALL_DETAILS),
     {"type": "welcome", "version": 1, "max_message_bytes": 65536, "max_operations": 4096,
      "max_name_bytes": 128, "features": 3}),
    ("10-error", "ERROR bad_name (7) with its text",
     error(7, "operation name is empty"),
     {"type": "error", "code": 7, "code_name": "bad_name", "message": "operation name is empty"}),
    ("11-control-response-partial", "CONTROL_RESPONSE chunk, not final (flags 0)",
     text_message(CONTROL_RESPONSE, '{"schema_version":1,'),
     {"type": "control_response", "final": False, "chunk": '{"schema_version":1,'}),
    ("12-control-response-final", "CONTROL_RESPONSE last chunk (flags bit 0 set)",
     text_message(CONTROL_RESPONSE, '"ok":true}', flags=1),
     {"type": "control_response", "final": True, "chunk": '"ok":true}'}),
    ("13-control-response-empty-final", "CONTROL_RESPONSE final chunk with no bytes",
     text_message(CONTROL_RESPONSE, b"", flags=1),
     {"type": "control_response", "final": True, "chunk": ""}),
    ("14-memory-deltas", "MEMORY_DELTAS with 4 records: +16 MiB, -4096 (two's complement), 0, and "
                         "-(2^53 - 1) for operation 4095; 5 deltas dropped so far",
     memory_deltas(5, SAMPLE_DELTAS),
     {"type": "memory_deltas", "dropped_total": 5, "records": SAMPLE_DELTAS}),
    ("15-memory-deltas-drops-only", "MEMORY_DELTAS with no records, reporting 9 dropped memory deltas",
     memory_deltas(9, []),
     {"type": "memory_deltas", "dropped_total": 9, "records": []}),
    ("16-welcome-no-features", "WELCOME with features 0: a daemon that accepts no MEMORY_DELTAS",
     welcome(),
     {"type": "welcome", "version": 1, "max_message_bytes": 65536, "max_operations": 4096,
      "max_name_bytes": 128, "features": 0}),
    ("17-ack", "ACK: the daemon has accepted 123456789 event records on this connection",
     ack(123456789),
     {"type": "ack", "events_accepted": 123456789}),
    ("18-call-detail-slow", "CALL_DETAIL of a slow call of operation 0: a batch of 32 that took 250 ms, "
                            "with attributes batch = 32 and shape = 32x3x224x224",
     call_detail(*SLOW_DETAIL[:6], attributes=SLOW_DETAIL[6]),
     call_detail_meaning(*SLOW_DETAIL[:6], attributes=SLOW_DETAIL[6])),
    ("19-call-detail-failed", "CALL_DETAIL of a failed call of operation 1 with error type 1, its error "
                              "description and no attributes",
     call_detail(*FAILED_DETAIL),
     call_detail_meaning(*FAILED_DETAIL)),
    ("20-call-detail-truncated", "CALL_DETAIL of a failed and slow call without an error type, cut by the client "
                                 "(truncated flag) to the limits: a 512-byte error, 16 attributes, one with a 64-byte "
                                 "key and a 256-byte value, one with an empty value",
     call_detail(*TRUNCATED_DETAIL[:8], attributes=TRUNCATED_DETAIL[8]),
     call_detail_meaning(*TRUNCATED_DETAIL[:8], attributes=TRUNCATED_DETAIL[8])),
    ("21-threshold", "THRESHOLD: calls of the client's operation 2 that take longer than 50 ms are slow",
     threshold(2, 50_000_000),
     {"type": "threshold", "operation_id": 2, "threshold_ns": 50_000_000}),
    ("22-threshold-none", "THRESHOLD 0 for operation 4095: the daemon's threshold was removed (none)",
     threshold(4095, 0),
     {"type": "threshold", "operation_id": 4095, "threshold_ns": 0}),
    ("23-define-operation-no-device-work", "DEFINE operation id 3 = \"tokenize\" with flags 0x01 (no_device_work: it "
                                           "launches no GPU work, so probed never warns about unsynchronised timings)",
     define(3, 1, "tokenize", flags=NO_DEVICE_WORK),
     {"type": "define", "id": 3, "kind": "operation", "flags": 1, "name": "tokenize"}),
    ("24-define-operation-warmup-per-items", "DEFINE operation id 0 = \"predict\" with flags 0x02 (warmup_per_items: "
                                             "the first N calls of each items value are warm-up)",
     define(0, 1, "predict", flags=WARMUP_PER_ITEMS),
     {"type": "define", "id": 0, "kind": "operation", "flags": 2, "name": "predict"}),
    ("25-define-operation-both-flags", "DEFINE operation id 7 = \"embed\" with flags 0x03: no device work, warm-up per items value",
     define(7, 1, "embed", flags=NO_DEVICE_WORK | WARMUP_PER_ITEMS),
     {"type": "define", "id": 7, "kind": "operation", "flags": 3, "name": "embed"}),
    ("26-welcome-all-features", "WELCOME with features 7: MEMORY_DELTAS, CALL_DETAIL (and THRESHOLD) and DEFINE flags",
     welcome(features=FEATURE_MEMORY_DELTAS | FEATURE_CALL_DETAILS | FEATURE_OPERATION_FLAGS),
     {"type": "welcome", "version": 1, "max_message_bytes": 65536, "max_operations": 4096,
      "max_name_bytes": 128, "features": 7}),
]

_big = Message()
header(_big, EVENTS, 65537)
_big.add(bytes(65537 - 8), "65529 zero bytes: one more than fits")

OK_RECORD = record(0, 0, 1000, 10, 1, 0)
OK_DELTA = delta(0, 4096)
OK_DETAIL = (0, DETAIL_SLOW, 1000, 2000, 10)  # operation_id, flags, start_ns, start_wall_ns, duration_ns

INVALID = [
    ("50-bad-empty-packet", "a packet of 0 bytes", raw(b"", "nothing"), "malformed"),
    ("51-bad-truncated-header", "5 bytes: shorter than the 8-byte header",
     raw(bytes([0x01, 0x01, 0x00, 0x00, 0x12]), "type, version, flags, 1 byte of length"), "malformed"),
    ("52-bad-length-mismatch", "HELLO whose length field says 25 in a 24-byte packet",
     hello(1, 1, 4242, "ranker", length=25), "malformed"),
    ("53-bad-length-header-only", "HELLO whose length field says 8 (the header alone) in a 24-byte packet",
     hello(1, 1, 4242, "ranker", length=8), "malformed"),
    ("54-bad-oversized", "a 65537-byte EVENTS packet: one byte over the 65536 limit",
     _big, "oversized"),
    ("55-bad-unknown-type", "type 0x7e is not defined in v1",
     raw(bytes([UNKNOWN_TYPE, 0x01, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00]), "header only: type 0x7e, version 1, flags 0, length 8"),
     "unknown_type"),
    ("56-bad-type-zero", "type 0x00 is not defined",
     raw(bytes([0x00, 0x01, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00]), "header only: type 0x00, version 1, flags 0, length 8"),
     "unknown_type"),
    ("57-bad-version-byte", "HELLO with header version byte 2",
     hello(1, 2, 4242, "ranker", version=2), "unsupported_version"),
    ("58-bad-version-zero", "EVENTS with header version byte 0",
     events(0, [OK_RECORD], version=0), "unsupported_version"),
    ("59-bad-header-flags", "HELLO with header flags 0x0001 (only CONTROL_RESPONSE may set bit 0)",
     hello(1, 1, 4242, "ranker", flags=1), "reserved_nonzero"),
    ("60-bad-control-response-flags", "CONTROL_RESPONSE with flags 0x0002 (only bit 0 is defined)",
     text_message(CONTROL_RESPONSE, "{}", flags=2), "reserved_nonzero"),
    ("61-bad-hello-short", "HELLO of 16 bytes: shorter than its 18-byte fixed part",
     raw(bytes([0x01, 0x01, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00]) + u16(1) + u16(1) + u32(4242),
         "header (length 16), min_version, max_version, pid; no service_length"), "malformed"),
    ("62-bad-hello-name-length", "HELLO whose service_length (7) disagrees with the 6 bytes present",
     hello(1, 1, 4242, "ranker", name_length=7), "malformed"),
    ("63-bad-hello-empty-service", "HELLO with an empty service name",
     hello(1, 1, 4242, ""), "bad_name"),
    ("64-bad-define-empty-name", "DEFINE with an empty name",
     define(0, 1, ""), "bad_name"),
    ("65-bad-define-name-129", "DEFINE with a 129-byte name",
     define(0, 1, "a" + LONG_NAME), "bad_name"),
    ("66-bad-define-name-invalid-utf8", "DEFINE whose name contains the byte 0xFF",
     define(0, 1, b"op\xff"), "bad_name"),
    ("67-bad-define-name-surrogate", "DEFINE whose name encodes a UTF-16 surrogate (ED A0 80), invalid in UTF-8",
     define(0, 1, b"op\xed\xa0\x80"), "bad_name"),
    ("68-bad-define-name-truncated-utf8", "DEFINE whose name ends in the middle of a 3-byte character (E2 82)",
     define(0, 1, b"cost\xe2\x82"), "bad_name"),
    ("69-bad-define-name-tab", "DEFINE whose name contains a tab (0x09), a control character",
     define(0, 1, "a\tb"), "bad_name"),
    ("70-bad-define-name-del", "DEFINE whose name contains DEL (0x7F)",
     define(0, 1, "a\x7fb"), "bad_name"),
    ("71-bad-define-reserved", "DEFINE with flag bit 7 set (byte 13, reserved before DEFINE flags; bits 2-7 still are)",
     define(0, 1, "predict", flags=0x80), "reserved_nonzero"),
    ("72-bad-define-kind-3", "DEFINE of kind 3 (only 1 and 2 exist)",
     define(0, 3, "predict"), "malformed"),
    ("73-bad-define-kind-0", "DEFINE of kind 0",
     define(0, 0, "predict"), "malformed"),
    ("74-bad-define-error-type-id-0", "DEFINE of error type id 0, which means \"none\"",
     define(0, 2, "ValueError"), "malformed"),
    ("75-bad-define-id-4096", "DEFINE of operation id 4096, one over the limit",
     define(4096, 1, "predict"), "limit_exceeded"),
    ("76-bad-events-items-0", "EVENTS whose record has items 0",
     events(0, [record(0, 0, 1000, 10, 0, 0)]), "malformed"),
    ("77-bad-events-unknown-flag", "EVENTS whose record sets flag bit 2, unknown in v1",
     events(0, [record(0, 1 << 2, 1000, 10, 1, 0)]), "reserved_nonzero"),
    ("78-bad-events-reserved", "EVENTS with reserved field 1",
     events(0, [OK_RECORD], reserved=1), "reserved_nonzero"),
    ("79-bad-events-count-over-limit", "EVENTS claiming 2048 records (limit 2047); checked before the size",
     events(0, [], count=2048), "oversized"),
    ("80-bad-events-count-mismatch", "EVENTS claiming 2 records but carrying 1",
     events(0, [OK_RECORD], count=2), "malformed"),
    ("81-bad-events-short", "EVENTS of 16 bytes: shorter than its 24-byte prefix",
     raw(bytes([0x03, 0x01, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00]) + u32(0) + u32(0),
         "header (length 16), count 0, reserved 0; no dropped_total"), "malformed"),
    ("82-bad-control-request-oversized", "CONTROL_REQUEST with a 4097-byte body (limit 4096)",
     text_message(CONTROL_REQUEST, "x" * 4097), "oversized"),
    ("83-bad-control-request-invalid-utf8", "CONTROL_REQUEST whose text is not UTF-8",
     text_message(CONTROL_REQUEST, b'{"command":"\xc3"}'), "bad_control_request"),
    ("84-bad-welcome-short", "WELCOME of 22 bytes (must be 24)",
     raw(welcome(length=22).bytes()[:22], "WELCOME without its features field"), "malformed"),
    ("85-bad-error-text-length", "ERROR whose text_length (10) disagrees with the 5 bytes present",
     error(1, "short", text_length=10), "malformed"),
    ("86-bad-order-length-before-version", "version byte 2 and a wrong length: the length is checked first",
     hello(1, 1, 4242, "ranker", version=2, length=99), "malformed"),
    ("87-bad-order-version-before-type", "unknown type 0x7e with version byte 2: the version is checked first",
     raw(bytes([UNKNOWN_TYPE, 0x02, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00]), "header only: type 0x7e, version 2"),
     "unsupported_version"),
    ("88-bad-order-type-before-flags", "unknown type 0x7e with flags 1: the type is checked first",
     raw(bytes([UNKNOWN_TYPE, 0x01, 0x01, 0x00, 0x08, 0x00, 0x00, 0x00]), "header only: type 0x7e, flags 1"),
     "unknown_type"),
    ("89-bad-order-reserved-before-kind", "DEFINE with undefined flag bit 7 and kind 3: the flags are checked first",
     define(0, 3, "predict", flags=0x80), "reserved_nonzero"),
    ("90-bad-order-kind-before-id", "DEFINE with kind 3 and id 5000: the kind is checked first",
     define(5000, 3, "predict"), "malformed"),
    ("91-bad-order-id-before-name", "DEFINE with id 4096 and an empty name: the id is checked first",
     define(4096, 1, ""), "limit_exceeded"),
    ("92-bad-order-flags-before-items", "record with flag bit 2 and items 0: flags are checked first",
     events(0, [record(0, 1 << 2, 1000, 10, 0, 0)]), "reserved_nonzero"),
    ("93-bad-order-first-record-wins", "record 0 has items 0, record 1 an unknown flag: record 0's error is reported",
     events(0, [record(0, 0, 1000, 10, 0, 0), record(0, 1 << 3, 1000, 10, 1, 0)]), "malformed"),
    ("94-bad-order-size-before-name", "HELLO with service_length 0 and one stray byte: the size is checked first",
     hello(1, 1, 4242, b"x", name_length=0), "malformed"),
    ("95-bad-memory-deltas-reserved", "MEMORY_DELTAS with reserved field 1",
     memory_deltas(0, [OK_DELTA], reserved=1), "reserved_nonzero"),
    ("96-bad-memory-deltas-flags", "MEMORY_DELTAS whose second record has flags 1 (v1 defines no record flag)",
     memory_deltas(0, [OK_DELTA, delta(0, -1, flags=1)]), "reserved_nonzero"),
    ("97-bad-memory-deltas-count-mismatch", "MEMORY_DELTAS claiming 2 records but carrying 1",
     memory_deltas(0, [OK_DELTA], count=2), "malformed"),
    ("98-bad-memory-deltas-count-over-limit", "MEMORY_DELTAS claiming 4095 records (limit 4094); checked before the size",
     memory_deltas(0, [], count=4095), "oversized"),
    ("99-bad-order-memory-reserved-before-count", "MEMORY_DELTAS with reserved field 1 and count 4095: reserved is checked first",
     memory_deltas(0, [], count=4095, reserved=1), "reserved_nonzero"),
    # 100 and up: the 50-99 range is full.
    ("100-bad-call-detail-neither-failed-nor-slow", "CALL_DETAIL with flags 0x4 (truncated only): a detail is "
                                                     "sent only for a failed or slow call",
     call_detail(0, DETAIL_TRUNCATED, 1000, 2000, 10), "malformed"),
    ("101-bad-call-detail-items-0", "CALL_DETAIL with items 0",
     call_detail(*OK_DETAIL, items=0), "malformed"),
    ("102-bad-call-detail-error-513", "CALL_DETAIL with a 513-byte error description (limit 512)",
     call_detail(0, DETAIL_FAILED, 1000, 2000, 10, error_text="x" * 513), "oversized"),
    ("103-bad-call-detail-17-attributes", "CALL_DETAIL with 17 attributes (limit 16)",
     call_detail(*OK_DETAIL, attributes=[(f"a{i:02}", "1") for i in range(17)]), "oversized"),
    ("104-bad-call-detail-key-65", "CALL_DETAIL whose attribute key is 65 bytes (limit 64)",
     call_detail(*OK_DETAIL, attributes=[("k" * 65, "1")]), "oversized"),
    ("105-bad-call-detail-duplicate-key", "CALL_DETAIL with the key \"batch\" twice",
     call_detail(*OK_DETAIL, attributes=[("batch", "32"), ("shape", "1x3"), ("batch", "64")]), "malformed"),
    ("106-bad-call-detail-trailing-byte", "CALL_DETAIL with one byte after its last attribute",
     call_detail(*OK_DETAIL, attributes=[("batch", "32")], trailing=b"\x00"), "malformed"),
    ("107-bad-call-detail-unknown-flag", "CALL_DETAIL with flag bit 3 set besides slow (bits 3-31 are reserved)",
     call_detail(0, DETAIL_SLOW | 1 << 3, 1000, 2000, 10), "reserved_nonzero"),
    ("108-bad-call-detail-short", "CALL_DETAIL of 50 bytes: its fixed part without the attribute count",
     raw(call_detail(*OK_DETAIL).bytes()[:4] + u32(50) + call_detail(*OK_DETAIL).bytes()[8:50],
         "header (length 50), the fixed fields, error_length 0; no attribute_count"), "malformed"),
    ("109-bad-call-detail-empty-key", "CALL_DETAIL whose attribute has an empty key",
     call_detail(*OK_DETAIL, attributes=[("", "32")]), "malformed"),
    ("110-bad-call-detail-value-257", "CALL_DETAIL whose attribute value is 257 bytes (limit 256)",
     call_detail(*OK_DETAIL, attributes=[("batch", "v" * 257)]), "oversized"),
    ("111-bad-call-detail-error-invalid-utf8", "CALL_DETAIL whose error description contains the byte 0xFF",
     call_detail(0, DETAIL_FAILED, 1000, 2000, 10, error_text=b"bad \xff"), "malformed"),
    ("112-bad-call-detail-error-past-end", "CALL_DETAIL whose error_length (40) runs past the end of the message",
     call_detail(0, DETAIL_FAILED, 1000, 2000, 10, error_text="timeout", error_length=40), "malformed"),
    ("113-bad-call-detail-attribute-missing", "CALL_DETAIL whose attribute_count (2) promises more attributes than it carries",
     call_detail(*OK_DETAIL, attributes=[("batch", "32")], attribute_count=2), "malformed"),
    ("114-bad-call-detail-key-invalid-utf8", "CALL_DETAIL whose attribute key ends in the middle of a character (C3)",
     call_detail(*OK_DETAIL, attributes=[(b"shape\xc3", "1")]), "malformed"),
    ("115-bad-order-call-detail-flags-before-items", "CALL_DETAIL with an unknown flag bit and items 0: flags are checked first",
     call_detail(0, DETAIL_SLOW | 1 << 31, 1000, 2000, 10, items=0), "reserved_nonzero"),
    ("116-bad-order-call-detail-items-before-error-length", "CALL_DETAIL with items 0 and a 513-byte error: items are checked first",
     call_detail(0, DETAIL_FAILED, 1000, 2000, 10, items=0, error_text="x" * 513), "malformed"),
    ("117-bad-order-call-detail-count-before-attributes", "CALL_DETAIL with 17 attributes, the first with an empty key: "
                                                          "the count is checked first",
     call_detail(*OK_DETAIL, attributes=[("", "1")] + [(f"a{i:02}", "1") for i in range(16)]), "oversized"),
    ("118-bad-threshold-short", "THRESHOLD of 16 bytes (must be 24)",
     raw(threshold(0, 1, length=16).bytes()[:16], "header (length 16), operation_id, reserved; no threshold_ns"),
     "malformed"),
    ("119-bad-threshold-long", "THRESHOLD of 25 bytes (must be 24)",
     threshold(0, 1, length=25).add(b"\x00", "one extra byte"), "malformed"),
    ("120-bad-threshold-reserved", "THRESHOLD with reserved field 1",
     threshold(0, 50_000_000, reserved=1), "reserved_nonzero"),
    ("121-bad-define-unknown-flag", "DEFINE of an operation with flag bit 2, which is not defined",
     define(0, 1, "predict", flags=1 << 2), "reserved_nonzero"),
    ("122-bad-define-error-type-flags", "DEFINE of an error type with flags 0x01: flags are for operations only",
     define(1, 2, "ValueError", flags=NO_DEVICE_WORK), "reserved_nonzero"),
    ("123-bad-order-kind-before-error-type-flags", "DEFINE of kind 3 with flags 0x01: the kind is checked before "
                                                   "whether its kind may have flags",
     define(0, 3, "predict", flags=NO_DEVICE_WORK), "malformed"),
]


def render(title, message):
    lines = [f"# {title}", f"# {len(message.bytes())} bytes"]
    offset = 0
    for data, comment in message.fields:
        if len(data) <= 16:
            text = " ".join(f"{b:02x}" for b in data)
            lines.append(f"{text:<48}# @{offset}: {comment}" if data else f"# @{offset}: {comment} (0 bytes)")
        else:
            lines.append(f"# @{offset}: {comment}, {len(data)} bytes")
            step = 16 if len(data) <= 1024 else 32
            for i in range(0, len(data), step):
                chunk = data[i:i + step]
                lines.append((" " if step == 16 else "").join(f"{b:02x}" for b in chunk))
        offset += len(data)
    return "\n".join(lines) + "\n"


def main():
    for old in HERE.iterdir():
        if re.fullmatch(r"\d{2,3}-.*\.(hex|json)", old.name):
            old.unlink()
    names = set()
    for name, title, message, meaning in VALID:
        write(name, title, message, dict(meaning, note=title))
        names.add(name)
    for name, title, message, code in INVALID:
        write(name, title, message, {"error": code, "code": CODES[code], "note": title})
        names.add(name)
    assert len(names) == len(VALID) + len(INVALID), "duplicate vector name"
    def number(n):
        match = re.fullmatch(r"(\d{2,3})-(.+)", n)
        assert match, f"{n}: a vector name is NN-name or NNN-name"
        assert len(match[1]) == (2 if int(match[1]) < 100 else 3), f"{n}: numbers below 100 have 2 digits"
        return int(match[1]), match[2]
    assert len({number(n)[0] for n in names}) == len(names), "duplicate vector number"
    assert all(1 <= number(n)[0] <= 49 and not number(n)[1].startswith("bad-") for n, *_ in VALID), \
        "valid vectors are numbered 01-49"
    assert all((50 <= number(n)[0] <= 99 or 100 <= number(n)[0] <= 999) and number(n)[1].startswith("bad-")
               for n, *_ in INVALID), \
        "invalid vectors are numbered 50-99, then 100-999, and named NN-bad-... or NNN-bad-..."


def write(name, title, message, meaning):
    (HERE / f"{name}.hex").write_text(render(title, message))
    (HERE / f"{name}.json").write_text(json.dumps(meaning, ensure_ascii=False, indent=2) + "\n")


if __name__ == "__main__":
    main()
