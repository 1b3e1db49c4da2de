"""Tests for ganeti.rpc.encoding: compressed argument form, request and
response bodies, including malformed input.
"""

import base64
import json
import zlib

import pytest

from ganeti import constants, errors
from ganeti.rpc import encoding


def test_short_text_is_sent_raw():
    assert encoding.encode_compressed("hello") == [0, "hello"]
    assert encoding.encode_compressed(b"hello") == [0, "hello"]
    assert encoding.encode_compressed("") == [0, ""]


def test_threshold_is_counted_in_bytes():
    limit = constants.RPC_COMPRESS_MIN
    assert encoding.encode_compressed("a" * (limit - 1))[0] == 0
    assert encoding.encode_compressed("a" * limit)[0] == 1
    # 2 bytes per character in UTF-8: over the limit although shorter in chars
    assert encoding.encode_compressed("é" * (limit // 2))[0] == 1


def test_long_data_is_zlib_level3_base64():
    data = b"line of a config file\n" * 100
    value = encoding.encode_compressed(data)
    assert value == [1, base64.b64encode(zlib.compress(data, 3)).decode("ascii")]
    assert json.loads(json.dumps(value)) == value


def test_short_binary_data_is_compressed():
    value = encoding.encode_compressed(b"\xff\xfe\x00")
    assert value[0] == 1
    assert encoding.decode_compressed(value) == b"\xff\xfe\x00"


@pytest.mark.parametrize("data", ["", "x", "ünïcødé", "a" * 10000,
                                  b"\x00\x01" * 3000, bytes(range(256))])
def test_compressed_round_trip(data):
    raw = data.encode("utf-8") if isinstance(data, str) else data
    assert encoding.decode_compressed(encoding.encode_compressed(data)) == raw
    # After a JSON round trip, as on the wire (lists, not tuples)
    wire = json.loads(json.dumps(encoding.encode_compressed(data)))
    assert encoding.decode_compressed(wire) == raw


def test_decode_accepts_tuples():
    assert encoding.decode_compressed((0, "abc")) == b"abc"


@pytest.mark.parametrize("value, problem", [
    ("abc", "list of two"),
    ([0], "list of two"),
    ([0, "a", "b"], "list of two"),
    (None, "list of two"),
    ([2, "abc"], "Unknown data encoding"),
    ([-1, "abc"], "Unknown data encoding"),
    (["0", "abc"], "Invalid data encoding"),
    ([True, "abc"], "Invalid data encoding"),
    ([0, 123], "must be a string"),
    ([1, None], "must be a string"),
    ([1, "not base64!!"], "base64"),
    ([1, base64.b64encode(b"not zlib").decode()], "zlib"),
])
def test_decode_compressed_rejects_malformed(value, problem):
    with pytest.raises(errors.RpcError, match=problem):
        encoding.decode_compressed(value)


def test_request_round_trip():
    args = ["node1", {"a": [1, 2.5, None, True]}, [0, "x"], "ünï"]
    body = encoding.encode_request(args)
    assert isinstance(body, bytes)
    assert json.loads(body) == args
    assert encoding.decode_request(body) == args
    assert encoding.encode_request(()) == b"[]"


def test_encode_request_needs_a_list():
    with pytest.raises(errors.ProgrammerError):
        encoding.encode_request({"a": 1})


@pytest.mark.parametrize("body", [b"{}", b'"x"', b"1", b"null", b'{"a": [1]}'])
def test_decode_request_needs_a_json_list(body):
    with pytest.raises(errors.RpcError, match="Request body must be a JSON list"):
        encoding.decode_request(body)


@pytest.mark.parametrize("body", [b"", b"[1,", b"\xff\xfe", b"[1] x"])
def test_decode_request_rejects_bad_json(body):
    with pytest.raises(errors.RpcError, match="not valid JSON"):
        encoding.decode_request(body)


@pytest.mark.parametrize("success, payload", [
    (True, None), (True, [1, {"x": "y"}]), (False, "it broke"), (True, "ü"),
])
def test_response_round_trip(success, payload):
    body = encoding.encode_response(success, payload)
    assert json.loads(body) == [success, payload]
    assert encoding.decode_response(body) == (success, payload)


def test_response_tuple_payload_becomes_list():
    body = encoding.encode_response(True, ("a", 1))
    assert encoding.decode_response(body) == (True, ["a", 1])


def test_unencodable_payload_raises_type_error():
    with pytest.raises(TypeError):
        encoding.encode_response(True, {1, 2})


@pytest.mark.parametrize("body", [b"[1, 2]", b"[true]", b"[true, 1, 2]", b"{}",
                                  b'"ok"', b"[null, 1]", b'["true", 1]'])
def test_decode_response_validates_shape(body):
    with pytest.raises(errors.RpcError, match=r"\[bool, payload\]"):
        encoding.decode_response(body)


def test_decode_response_rejects_bad_json():
    with pytest.raises(errors.RpcError, match="not valid JSON"):
        encoding.decode_response(b"<html>oops</html>")
