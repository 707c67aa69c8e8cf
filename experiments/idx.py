"""The IDX file format of MNIST and Fashion-MNIST: read and write, gzipped or not.

An IDX file is a header and a C-ordered block of big-endian numbers::

    bytes 0-1   0x00 0x00          (the magic number's first half is always zero)
    byte  2     dtype code         0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32,
                                   0x0D float32, 0x0E float64
    byte  3     number of dims d
    4 bytes x d each dim's size, a big-endian uint32
    the data    prod(dims) * itemsize bytes

so MNIST's image file starts 00 00 08 03 (magic 2051) and its label file 00 00 08 01
(magic 2049). :func:`read_idx` checks every part of that and the exact length, so a
truncated or corrupt file raises :class:`IdxError` naming the file and what was
expected and found; it never returns a silently wrong array.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from gates._util import atomic_write_bytes

__all__ = ["IdxError", "read_idx", "write_idx", "IDX_DTYPES"]

#: IDX dtype code -> numpy dtype (big-endian, as stored in the file)
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder("="): code for code, dt in IDX_DTYPES.items()}
_GZIP_MAGIC = b"\x1f\x8b"


class IdxError(ValueError):
    """An IDX file is missing, truncated or corrupt; the message names the file."""


def _raw_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic (whatever its name)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise IdxError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if data[:2] != _GZIP_MAGIC:
        return data
    try:
        return gzip.decompress(data)
    except EOFError:
        raise IdxError(f"{path}: truncated gzip stream ({len(data)} bytes compressed); "
                       f"the file is incomplete, delete it and fetch it again") from None
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise IdxError(f"{path}: corrupt gzip data: {exc}") from None


def read_idx(path, *, shape: tuple | None = None, dtype=None) -> np.ndarray:
    """Read an IDX file (``.gz`` or not, detected from its first bytes) into an array.

    Returns a native-endian array of the header's dtype and shape, e.g. uint8
    (60000, 28, 28) for MNIST's training images and uint8 (60000,) for its labels.
    ``shape`` (``None`` entries match any size, e.g. ``(None, 28, 28)``) and ``dtype``
    say what the caller expects; a file that holds something else is an error.

    Raises :class:`IdxError` (a ValueError) naming the file when it cannot be read,
    its gzip stream is truncated or corrupt, the header is shorter than it says, the
    magic number does not start with two zero bytes, the dtype code is unknown, the
    data is shorter or longer than the dims require (expected vs found bytes), or the
    dims or dtype are not the ``shape`` and ``dtype`` asked for.
    """
    path = Path(path)
    data = _raw_bytes(path)
    if len(data) < 4:
        raise IdxError(f"{path}: too short for an IDX header: {len(data)} bytes, expected "
                       f"at least 4")
    zero, code, ndim = data[:2], data[2], data[3]
    if zero != b"\x00\x00":
        raise IdxError(f"{path}: bad magic number 0x{data[:4].hex()}: an IDX file starts with "
                       f"two zero bytes (e.g. 0x00000803 for images, 0x00000801 for labels)")
    if code not in IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in IDX_DTYPES)
        raise IdxError(f"{path}: unknown IDX dtype code 0x{code:02X} (known: {known})")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(f"{path}: truncated header: {ndim} dims need {header} bytes, "
                       f"the file has {len(data)}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    stored = IDX_DTYPES[code]
    native = stored.newbyteorder("=")
    if shape is not None and (len(shape) != ndim or any(
            want is not None and want != got for want, got in zip(shape, dims))):
        want = str(tuple("N" if n is None else n for n in shape)).replace("'", "")
        raise IdxError(f"{path}: wrong dims: expected {want}, the header says {dims}")
    if dtype is not None and np.dtype(dtype) != native:
        raise IdxError(f"{path}: wrong dtype: expected {np.dtype(dtype)}, the header says "
                       f"{native} (code 0x{code:02X})")
    expected = math.prod(dims) * stored.itemsize   # Python ints: huge dims cannot wrap
    found = len(data) - header
    if found != expected:
        what = "truncated" if found < expected else "has trailing bytes"
        size = " x ".join(map(str, dims)) or "a scalar"
        raise IdxError(f"{path}: {what}: the header says {size} of {native} = {expected} "
                       f"bytes of data, found {found}")
    return np.frombuffer(data, dtype=stored, offset=header).reshape(dims).astype(native)


def write_idx(path, array, *, compress: bool | None = None) -> Path:
    """Write ``array`` as an IDX file at ``path``; gzipped when ``compress`` (default: the
    name ends in ``.gz``). The write is atomic: a temporary file renamed into place.

    Raises :class:`IdxError` for a dtype IDX cannot hold (only uint8, int8, int16, int32,
    float32, float64) or more than 255 dims.
    """
    path = Path(path)
    array = np.asarray(array)
    code = _CODES.get(array.dtype.newbyteorder("="))
    if code is None:
        raise IdxError(f"{path}: IDX cannot store dtype {array.dtype} "
                       f"(uint8, int8, int16, int32, float32, float64 only)")
    if array.ndim > 255:
        raise IdxError(f"{path}: IDX allows at most 255 dims, got {array.ndim}")
    body = (struct.pack(f">BBBB{array.ndim}I", 0, 0, code, array.ndim, *array.shape)
            + np.ascontiguousarray(array, dtype=IDX_DTYPES[code]).tobytes())
    if path.name.endswith(".gz") if compress is None else compress:
        body = gzip.compress(body, mtime=0)
    atomic_write_bytes(path, body)
    return path
