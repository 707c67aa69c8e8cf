"""A graph's parameters to and from ``.npz`` files, without pickle.

Saving writes a temporary file beside the target and renames it over the target
(``os.replace``), so a crash never leaves a half-written file. Loading reads and checks
every parameter (names, shapes, dtypes, finite values) before changing any, and a
file it cannot read is an error naming the file and, where it can, the parameter.
"""

from __future__ import annotations

import os
import zipfile

import numpy as np

from gates._util import atomic_path

from .errors import GraphFileError, GraphShapeError

__all__ = ["save_params", "load_params"]


def save_params(graph, path) -> None:
    """Write every parameter of ``graph`` to the ``.npz`` file ``path`` (one array per
    parameter, keyed by its name, readable with ``np.load``). Raises OSError if the
    directory does not exist or is not writable."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"save_params {path}: the folder {folder} does not exist")
    # the members are written here rather than by np.savez(f, **params), whose own
    # keywords would swallow parameters named 'file' or 'allow_pickle'
    with atomic_path(path, suffix=".npz") as tmp, zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
        for name, node in graph.params.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, np.asarray(node.value), allow_pickle=False)


def load_params(graph, path) -> None:
    """Set the parameters of ``graph`` from the ``.npz`` file ``path``.

    The file must hold exactly the graph's parameters with the same shapes and
    dtypes; otherwise GraphShapeError names the parameter. A file that is not an
    ``.npz`` archive, a damaged member, pickled Python objects or a NaN or infinite
    entry raise GraphFileError (a ValueError) naming the file and the parameter.
    Nothing is changed unless every parameter can be loaded. A missing file raises
    FileNotFoundError.
    """
    path = os.fspath(path)
    params = graph.params
    arrays = _read(path)
    missing = [n for n in params if n not in arrays]
    extra = [n for n in arrays if n not in params]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing parameter(s) {', '.join(map(repr, missing))}")
        if extra:
            parts.append(f"unknown parameter(s) {', '.join(map(repr, extra))}")
        raise GraphShapeError(f"load_params {path}: {'; '.join(parts)}")
    for name, node in params.items():
        arr, want = arrays[name], node.value
        if arr.shape != want.shape or arr.dtype != want.dtype:
            raise GraphShapeError(
                f"load_params {path}: parameter '{name}' is {arr.dtype} {arr.shape} in the "
                f"file but {want.dtype} {want.shape} in the graph")
        bad = arr.size - np.count_nonzero(np.isfinite(arr))
        if bad:
            raise GraphFileError(f"load_params {path}: parameter '{name}' has {bad} NaN or "
                                 f"infinite value(s); a diverged run saved it?")
    for name, node in params.items():
        node.value = arrays[name]


def _read(path) -> dict:
    """Every array in the ``.npz`` file ``path``, by name; GraphFileError if unreadable."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"load_params {path}: no such file")
    if os.path.isdir(path):
        raise GraphFileError(f"load_params {path}: is a folder, not an .npz file")
    if not zipfile.is_zipfile(path):
        raise GraphFileError(f"load_params {path}: not an .npz file (no zip archive; "
                             f"write one with g.save_params)")
    arrays = {}
    name = None
    try:
        with np.load(path, allow_pickle=False) as data:
            for name in data.files:
                arrays[name] = data[name]
    except ValueError as exc:
        if "pickle" in str(exc):
            why = "holds Python objects (pickled data), which are never loaded"
        else:
            why = f"cannot be read ({exc})"
        where = f"parameter '{name}'" if name is not None else "the archive"
        raise GraphFileError(f"load_params {path}: {where} {why}") from exc
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        where = f"parameter '{name}'" if name is not None else "the archive"
        raise GraphFileError(f"load_params {path}: {where} cannot be read "
                             f"(damaged file: {exc})") from exc
    for name, arr in arrays.items():
        if not isinstance(arr, np.ndarray):     # a zip member that is not a .npy file
            raise GraphFileError(f"load_params {path}: member '{name}' is not a numpy "
                                 f"array (.npy); is this a parameter file?")
        if arr.dtype.kind not in "fiub":
            raise GraphFileError(f"load_params {path}: parameter '{name}' has dtype "
                                 f"{arr.dtype}, not numbers")
    return arrays
