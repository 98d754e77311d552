"""The sans-I/O Wyoming reader, fed plain byte strings: split anywhere, oversized, malformed."""

from __future__ import annotations

import json

import pytest
from wyoming.event import Event
from wyoming.version import __version__ as wyoming_version

from wyoming_truebar.config.errors import ClientProtocolError
from wyoming_truebar.server.wyoming_io import HEADER_LIMIT, EventParser, encode_event

CHUNK_DATA = {"rate": 16000, "width": 2, "channels": 1}


def ha_chunk(payload: bytes) -> bytes:
    """An audio-chunk exactly as Home Assistant's wyoming 1.5.4 writes it."""
    data = json.dumps(CHUNK_DATA).encode()
    header = {
        "type": "audio-chunk",
        "version": "1.5.4",
        "data_length": len(data),
        "payload_length": len(payload),
    }
    return json.dumps(header).encode() + b"\n" + data + payload


STREAM = [
    Event("describe"),
    Event("transcribe", {"language": "en-US"}),
    Event("audio-start", CHUNK_DATA),
    *(Event("audio-chunk", CHUNK_DATA, bytes([i]) * 320) for i in range(5)),
    Event("audio-chunk", {"rate": 16000, "width": 2, "channels": 1, "timestamp": 50}, b"\1\2"),
    Event("audio-stop"),
    Event("unknown-event-of-the-future", {"x": [1, 2]}, b"payload"),
]
WIRE = b"".join(encode_event(e) for e in STREAM)


def parse(pieces: list[bytes], max_bytes: int = 1 << 20) -> list[Event]:
    parser = EventParser(max_bytes)
    return [event for piece in pieces for event in parser.feed(piece)]


def test_whole_stream_in_one_piece() -> None:
    assert parse([WIRE]) == STREAM


def test_split_at_every_byte_boundary_gives_the_same_events() -> None:
    for cut in range(1, len(WIRE)):
        assert parse([WIRE[:cut], WIRE[cut:]]) == STREAM, cut


def test_byte_by_byte_and_in_odd_pieces() -> None:
    assert parse([WIRE[i : i + 1] for i in range(len(WIRE))]) == STREAM
    assert parse([WIRE[i : i + 7] for i in range(0, len(WIRE), 7)]) == STREAM


def test_a_piece_may_end_exactly_between_events() -> None:
    parser = EventParser(1 << 20)
    first = encode_event(STREAM[0])
    assert parser.feed(first) == [STREAM[0]]
    assert parser.feed(b"") == []
    assert parser.feed(encode_event(STREAM[1])) == [STREAM[1]]


def test_home_assistant_chunks_share_one_parse_of_their_data() -> None:
    events = parse([ha_chunk(b"\0" * 320), ha_chunk(b"\1" * 320)])
    assert [e.payload for e in events] == [b"\0" * 320, b"\1" * 320]
    assert events[0].data == CHUNK_DATA
    # Same bytes, same (never modified) parse: the handler checks the format once.
    assert events[0].data is events[1].data


def test_inline_data_of_older_clients_is_merged() -> None:
    body = b'{"name":"KALD"}'
    header = {"type": "transcribe", "data": {"language": "sl", "name": "x"}}
    wire = json.dumps({**header, "data_length": len(body)}).encode() + b"\n" + body
    assert parse([wire]) == [Event("transcribe", {"language": "sl", "name": "KALD"})]


def test_oversized_event_is_refused_from_its_header_alone() -> None:
    parser = EventParser(4096)
    header = json.dumps({"type": "audio-chunk", "payload_length": 200_000_000}).encode()
    with pytest.raises(ClientProtocolError, match="larger than the limit"):
        parser.feed(header + b"\n")  # nothing of the body was sent, nothing is buffered


def test_header_without_newline_is_refused_past_the_limit() -> None:
    parser = EventParser(1 << 20)
    assert parser.feed(b"{" + b" " * (HEADER_LIMIT - 1)) == []
    with pytest.raises(ClientProtocolError, match="too long"):
        parser.feed(b"  ")


@pytest.mark.parametrize(
    ("wire", "message"),
    [
        (b"this is not json\n", "header is not JSON"),
        (b"\xff\xfe\x00garbage\n", "header is not JSON"),
        (b"[1, 2, 3]\n", "header is not an object"),
        (b'{"data": {}}\n', "no type"),
        (b'{"type": 5}\n', "no type"),
        (b'{"type": "describe", "data_length": -5}\n', "invalid data_length"),
        (b'{"type": "describe", "payload_length": "many"}\n', "invalid payload_length"),
        (b'{"type": "describe", "data_length": true}\n', "invalid data_length"),
        (b'{"type": "describe", "data": [1]}\n', "data is not an object"),
        (b'{"type": "x", "data_length": 3}\n[1]', "data is not an object"),
        (b'{"type": "audio-chunk", "data_length": 3}\n{1]', "data is not JSON"),
        (b"\n", "header is not JSON"),
    ],
)
def test_malformed_input_is_a_client_protocol_error(wire: bytes, message: str) -> None:
    with pytest.raises(ClientProtocolError, match=message):
        EventParser(1 << 20).feed(wire)


def test_the_parser_notes_the_clients_wyoming_version() -> None:
    parser = EventParser(1 << 20)
    assert parser.version is None
    start = {"type": "audio-start", "version": "1.5.4", "data_length": 2}
    parser.feed(json.dumps(start).encode() + b"\n{}")
    assert parser.version == "1.5.4"
    parser.feed(ha_chunk(b"\0\0"))  # audio-chunks are parsed on the fast path: not read
    assert parser.version == "1.5.4"
    parser.feed(json.dumps({"type": "audio-stop"}).encode() + b"\n")  # none said: kept
    assert parser.version == "1.5.4"
    parser.feed(encode_event(Event("describe")))
    assert parser.version == wyoming_version
