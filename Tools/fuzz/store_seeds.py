#!/usr/bin/env python3
"""Writes seed scripts for the `store` fuzz target (Tools/fuzz/StoreFuzz.swift) into a directory.

    python3 Tools/fuzz/store_seeds.py DIR

A script is one settings byte (the warm-up), then steps: an op byte (low 3 bits the action, bits
3-4 the connection) and its operands. The messages are encoded with the Python client's codec
(Sources/python/probe_client/_wire.py), so the seeds speak the protocol as a real client does.
"""

import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "Sources" / "python"))
from probe_client import _wire  # noqa: E402

MESSAGE, RAW, CLOCK, CLOSE, MEMORY, GPU, RESET, RENDER = range(8)


def raw(conn, packet):
    return bytes([RAW | conn << 3]) + struct.pack("<I", len(packet))[:3] + packet


def clock(ms10):
    return bytes([CLOCK]) + struct.pack("<H", ms10)


def memory(flags_and_figures):
    out = bytes([MEMORY])
    for flag, figures in flags_and_figures:
        out += bytes([flag]) + struct.pack("<QQQQ", *figures)
    return out


def gpu(entries):
    out = bytes([GPU])
    for flag, value in entries:
        out += bytes([flag]) + struct.pack("<Q", value)
    return out


def hello(conn, service="svc"):
    return raw(conn, _wire.encode_hello(1234, service.encode()))


def define(conn, op_id, name, kind=_wire.KIND_OPERATION):
    return raw(conn, _wire.encode_define(op_id, kind, name.encode()))


def events(conn, records, dropped=0):
    return raw(conn, _wire.encode_events(dropped, records))


WRAPPED = (1 << 64) - 1024  # -1,024 ns cast to unsigned


def session(warmup=10):
    s = bytes([warmup])
    s += hello(0) + define(0, 0, "predict") + define(0, 1, "tokenize") + define(0, 1, "ValueError", _wire.KIND_ERROR_TYPE)
    s += events(0, [(0, 0, 1_000 * i, 1_000_000, 1 + i % 4, 0) for i in range(10)])
    s += events(0, [(0, 0, 20_000, WRAPPED, 4_294_967_295, 0), (1, 1, 30_000, 500, 1, 1), (1, 1, 31_000, 500, 1, 0)])
    s += raw(0, _wire.encode_memory_deltas((1 << 64) - 1, [(0, 0, (1 << 63) - 1), (0, 0, (1 << 63) - 1), (1, 0, -(1 << 63))]))
    s += raw(0, _wire.encode_call_detail(0, _wire.DETAIL_SLOW, 20_000, 1 << 62, WRAPPED, 7, 0, b"", [(b"batch", b"7")]))
    s += raw(0, _wire.encode_call_detail(1, _wire.DETAIL_FAILED, 30_000, 5, 500, 1, 1, "bad \x1b[2J".encode(), []))
    s += hello(3) + define(3, 0, "predict") + events(3, [(0, 0, 5, (1 << 64) - 1, 1, 0)] * 12, dropped=(1 << 64) - 1)
    s += clock(150) + memory([(7, (1 << 30, 1 << 31, 1 << 20, 0)), (1, ((1 << 64) - 1, 0, 0, 0))])
    s += gpu([(1, 1 << 30), (3, 0)]) + bytes([RENDER, 1]) + clock(6000) + events(0, [(0, 0, 9, 2_000_000, 1, 0)])
    s += bytes([CLOSE]) + bytes([RESET]) + hello(0, "other") + define(0, 0, "predict")
    return s


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    (out / "session").write_bytes(session())
    (out / "session-no-warmup").write_bytes(session(0))
    prefix = bytes([3]) + hello(0)
    for op in range(3):
        prefix += define(0, op, f"op{op}")
    for et in (1, 2):
        prefix += define(0, et, f"Error{et}", _wire.KIND_ERROR_TYPE)
    for hexfile in sorted((ROOT / "Protocol" / "vectors").glob("*.hex")):
        text = "".join(line.split("#", 1)[0] for line in hexfile.read_text().splitlines())
        packet = bytes.fromhex("".join(text.split()))
        (out / f"vector-{hexfile.stem}").write_bytes(prefix + raw(0, packet))


if __name__ == "__main__":
    main()
