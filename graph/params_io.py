"""A graph's parameters to and from ``.npz`` files, without pickle.

Saving writes a temporary file beside the target and renames it over the target
(``os.replace``), so a crash never leaves a half-written file. Loading checks the
names, shapes and dtypes of every parameter before changing any.
"""

from __future__ import annotations

import os
import tempfile

import numpy as np

from .errors import GraphShapeError

__all__ = ["save_params", "load_params"]


def save_params(graph, path) -> None:
    """Write every parameter of ``graph`` to the ``.npz`` file ``path`` (one array per
    parameter, keyed by its name). Raises OSError if the directory is not writable."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".params-", suffix=".npz.tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **{name: node.value for name, node in graph.params.items()})
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_params(graph, path) -> None:
    """Set the parameters of ``graph`` from the ``.npz`` file ``path``.

    The file must hold exactly the graph's parameters with the same shapes and
    dtypes; otherwise GraphShapeError names the parameter (and no parameter is
    changed). Pickled objects are refused (ValueError from numpy).
    """
    path = os.fspath(path)
    params = graph.params
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
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
    for name, node in params.items():
        node.value = arrays[name]
