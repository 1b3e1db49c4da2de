"""JSON (de)serialisation used for config.data, job files, luxi and RPC."""

import json


def dump_json(data, indent: bool = False) -> str:
    """Serialise to JSON text; sorted keys keep files diffable and stable."""
    if indent:
        return json.dumps(data, indent=2, sort_keys=True) + "\n"
    return json.dumps(data, separators=(",", ":"), sort_keys=True)


def load_json(text):
    if isinstance(text, (bytes, bytearray)):
        text = text.decode("utf-8")
    return json.loads(text)


dumps = dump_json
loads = load_json
