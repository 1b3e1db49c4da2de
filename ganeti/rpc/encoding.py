"""Node RPC wire encoding (pure, no I/O): request and response bodies and the
``[encoding, data]`` form used for large arguments such as file contents.
"""

import base64
import binascii
import json
import zlib

from ganeti import constants, errors


def encode_compressed(data: str | bytes) -> list:
    """Encode a large argument as ``[0, text]`` or ``[1, base64(zlib(data))]``.

    Short data goes as plain text; bytes that are not valid UTF-8 cannot travel
    as JSON text and are therefore always compressed.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    if len(raw) < constants.RPC_COMPRESS_MIN:
        if isinstance(data, str):
            return [constants.RPC_ENCODING_NONE, data]
        try:
            return [constants.RPC_ENCODING_NONE, raw.decode("utf-8")]
        except UnicodeDecodeError:
            pass
    packed = base64.b64encode(zlib.compress(raw, 3)).decode("ascii")
    return [constants.RPC_ENCODING_ZLIB_BASE64, packed]


def decode_compressed(value) -> bytes:
    """Decode either form produced by :func:`encode_compressed`."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise errors.RpcError("Compressed data must be a list of two elements,"
                              f" got {type(value).__name__}")
    encoding, content = value
    if isinstance(encoding, bool) or not isinstance(encoding, int):
        raise errors.RpcError(f"Invalid data encoding {encoding!r}")
    if not isinstance(content, str):
        raise errors.RpcError("Compressed data content must be a string,"
                              f" got {type(content).__name__}")
    if encoding == constants.RPC_ENCODING_NONE:
        return content.encode("utf-8")
    if encoding == constants.RPC_ENCODING_ZLIB_BASE64:
        try:
            return zlib.decompress(base64.b64decode(content, validate=True))
        except (binascii.Error, ValueError) as err:
            raise errors.RpcError(f"Invalid base64 in compressed data: {err}") from err
        except zlib.error as err:
            raise errors.RpcError(
                f"Invalid zlib data in compressed data: {err}") from err
    raise errors.RpcError(f"Unknown data encoding {encoding!r}")


def _dump(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _load(body: bytes, what: str):
    try:
        if isinstance(body, (bytes, bytearray, memoryview)):
            body = bytes(body).decode("utf-8")
        return json.loads(body)
    except (UnicodeDecodeError, ValueError) as err:
        raise errors.RpcError(f"{what} body is not valid JSON: {err}") from err
    except RecursionError:
        raise errors.RpcError(f"{what} body is nested too deeply") from None


def encode_request(args: list) -> bytes:
    """Body of a node RPC request: the JSON array of positional arguments."""
    if not isinstance(args, (list, tuple)):
        raise errors.ProgrammerError("RPC arguments must be a list,"
                                     f" got {type(args).__name__}")
    return _dump(list(args))


def decode_request(body: bytes) -> list:
    args = _load(body, "Request")
    if not isinstance(args, list):
        raise errors.RpcError("Request body must be a JSON list")
    return args


def encode_response(success: bool, payload) -> bytes:
    """Body of a node RPC answer, ``[true, payload]`` or ``[false, message]``.

    Raises TypeError/ValueError if the payload cannot be represented in JSON.
    """
    return _dump([bool(success), payload])


def decode_response(body: bytes) -> tuple[bool, object]:
    value = _load(body, "Response")
    if (not isinstance(value, list) or len(value) != 2
            or not isinstance(value[0], bool)):
        raise errors.RpcError("Response body must be a JSON list [bool, payload]")
    return value[0], value[1]
