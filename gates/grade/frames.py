"""The child's results, read as hostile data: frames from a pipe, never files.

The runner (:mod:`.runner`) writes one frame per step to a pipe the grader made::

    b"CGR1" | uint32 json length | uint64 data length | JSON | array bytes

The JSON is ``{"step": name, "info": {...}, "arrays": [[key, dtype, shape], ...]}``;
the data is the arrays' raw bytes, one after the other, in that order. The submission
can write into the same pipe, so every frame is checked before it is believed: a step
name the runner writes (no other), JSON no deeper than the runner nests it, dtypes of
real numbers only (``<f8``, ``|b1``...; never objects, so nothing is unpickled), shapes
whose bytes add up to exactly the data length. The grader reads at most one byte
budget per child (:func:`read_frames`'s caller drops the rest), so no claim in a header
can make it allocate more. The first malformed frame ends the reading; what came
before it is kept. The first frame of a step counts; later ones are ignored.
"""

from __future__ import annotations

import json
import math
import re
import struct

import numpy as np

MAGIC = b"CGR1"
HEADER = struct.Struct(">4sIQ")

#: The steps the runner writes; any other name is ignored.
STEP_NAME = re.compile(r"(ready|import|done|c\d{1,3}_(forward|backward|jvp))")

#: Array dtypes accepted: booleans, integers and floats that numpy has, little-endian.
DTYPE = re.compile(r"\|(b1|i1|u1)|<(i2|i4|i8|u2|u4|u8|f2|f4|f8|f16)")

#: The runner's descriptions are a few levels deep; deeper JSON is forged.
MAX_NESTING = 8
MAX_JSON = 1 << 20
MAX_ARRAYS = 64


def _nesting(value, depth=0) -> int:
    """How deeply lists and dicts nest in ``value`` (stops counting past the limit)."""
    if depth > MAX_NESTING or not isinstance(value, (dict, list)):
        return depth
    items = value.values() if isinstance(value, dict) else value
    return max([_nesting(v, depth + 1) for v in items], default=depth + 1)


def _valid_text(value):
    """``value`` with every string made valid UTF-8: JSON can carry lone surrogates
    (``"\\ud800"`` in an exception message), which no file or terminal can encode."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list):
        return [_valid_text(v) for v in value]
    if isinstance(value, dict):
        return {_valid_text(k): _valid_text(v) for k, v in value.items()}
    return value


def _arrays(layout, data: bytes) -> dict | None:
    """The arrays a frame's layout describes over ``data``, or None if it does not fit."""
    if not isinstance(layout, list) or len(layout) > MAX_ARRAYS:
        return None
    arrays, offset = {}, 0
    for entry in layout:
        if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)
                and isinstance(entry[1], str) and DTYPE.fullmatch(entry[1])
                and isinstance(entry[2], list) and len(entry[2]) <= 32
                and all(type(n) is int and 0 <= n <= len(data) for n in entry[2])):
            return None
        key, dtype, shape = entry[0], np.dtype(entry[1]), tuple(entry[2])
        size = math.prod(shape) * dtype.itemsize
        if offset + size > len(data):
            return None
        try:
            arrays[key] = np.frombuffer(data, dtype=dtype, count=math.prod(shape),
                                        offset=offset).reshape(shape).copy()
        except (TypeError, ValueError, OverflowError, MemoryError):
            return None   # whatever numpy refuses is malformed, not the grader's failure
        offset += size
    return arrays if offset == len(data) else None


def read_frames(buffer: bytes) -> dict:
    """``step -> (arrays, info)`` for every well-formed frame at the start of ``buffer``."""
    steps, pos = {}, 0
    view = memoryview(buffer)
    while pos + HEADER.size <= len(buffer):
        magic, json_len, data_len = HEADER.unpack_from(buffer, pos)
        end = pos + HEADER.size + json_len + data_len
        if magic != MAGIC or json_len > MAX_JSON or end > len(buffer):
            break
        start = pos + HEADER.size
        try:
            meta = json.loads(bytes(view[start:start + json_len]).decode("utf-8"))
        except (ValueError, RecursionError):
            break
        if not isinstance(meta, dict) or _nesting(meta) > MAX_NESTING:
            break
        step, info = meta.get("step"), meta.get("info")
        arrays = _arrays(meta.get("arrays"), bytes(view[start + json_len:end]))
        if not (isinstance(step, str) and STEP_NAME.fullmatch(step)
                and isinstance(info, dict) and arrays is not None):
            break
        steps.setdefault(step, (arrays, _valid_text(info)))
        pos = end
    return steps
