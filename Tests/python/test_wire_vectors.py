"""probe_client's codec against every vector in Protocol/vectors/: each valid message encodes to
exactly its bytes and decodes to its meaning; each invalid one is rejected with its error code."""

import json

import pytest
from conftest import ROOT

from probe_client import _wire

VECTORS = ROOT / "Protocol" / "vectors"


def packet(name: str) -> bytes:
    text = "\n".join(line.split("#", 1)[0] for line in (VECTORS / f"{name}.hex").read_text().splitlines())
    return bytes.fromhex("".join(text.split()))


def vectors(valid: bool):
    out = []
    for path in sorted(VECTORS.glob("*.json"), key=lambda p: int(p.name.split("-")[0])):
        meaning = json.loads(path.read_text())
        meaning.pop("note", None)
        if ("type" in meaning) == valid:
            out.append(pytest.param(path.stem, meaning, id=path.stem))
    return out


def test_vectorsCoverEveryMessageType():
    types = {m["type"] for _, m, *_ in (p.values for p in vectors(True))}
    assert types == set(_wire.TYPE_NAMES.values())
    assert len(vectors(False)) >= 60


@pytest.mark.parametrize("name,meaning", vectors(True))
def test_validVector_encodesByteForByte_andDecodesToItsMeaning(name, meaning):
    assert _wire.encode(meaning) == packet(name)
    assert _wire.decode(packet(name)) == meaning


@pytest.mark.parametrize("name,meaning", vectors(False))
def test_invalidVector_isRejectedWithItsCode(name, meaning):
    with pytest.raises(_wire.WireError) as raised:
        _wire.decode(packet(name))
    assert (raised.value.code, raised.value.name) == (meaning["code"], meaning["error"]), str(raised.value)


def test_callDetailLimits_cutAtCharacterBoundaries_andMarkTruncated():
    attributes = [(f"k{i:02}", "v") for i in range(20)] + [("é" * 40, "é" * 200), ("", "empty key")]
    error, pairs, cut = _wire.limited_detail("x" * 511 + "é", attributes)
    assert cut and len(error) == 511  # the 2-byte é would pass 512: cut before it
    assert len(pairs) == 16 and pairs[0] == (b"_", b"empty key")  # sorted by key; "" became "_"
    message = _wire.encode_call_detail(0, _wire.DETAIL_SLOW | _wire.DETAIL_TRUNCATED, 1, 2, 3, 1, 0, error, pairs)
    assert _wire.decode(message)["attributes"][0] == ["_", "empty key"]
    _, pairs, cut = _wire.limited_detail("", [("é" * 40, "é" * 200)])
    assert cut and len(pairs[0][0]) == 64 and len(pairs[0][1]) == 256
    assert _wire.limited_detail("ok", [("a", 1)]) == (b"ok", [(b"a", b"1")], False)


def test_sanitizedName_isAlwaysAValidName():
    for name in ["", "a\tb\x7f", "é" * 100, "\ud800broken", "x" * 500]:
        assert _wire.is_name(_wire.sanitized_name(name)), name
    assert _wire.sanitized_name("a\tb") == b"a b"
    assert _wire.sanitized_name("") == b"unnamed"
