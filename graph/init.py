"""Weight initialisation: He for relu layers, Xavier (Glorot) for linear/tanh layers.

Both keep the variance of the signal roughly constant from layer to layer, so a deep
stack of gates neither blows the activations up nor shrinks them to zero at the start.
"""

from __future__ import annotations

import numpy as np

__all__ = ["he", "xavier", "zeros"]


def he(fan_in: int, fan_out: int, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """He (Kaiming) normal init for a weight W of shape (fan_in, fan_out) before a relu:
    W_ij ~ N(0, 2 / fan_in). A relu zeroes half its inputs on average, and the factor 2
    makes up for that, so Var(x W) ~ Var(x) through the layer.

    Raises ValueError when ``fan_in`` or ``fan_out`` is not positive.
    """
    _check(fan_in, fan_out)
    w = rng.standard_normal((fan_in, fan_out)) * np.sqrt(2.0 / fan_in)
    return w.astype(dtype)


def xavier(fan_in: int, fan_out: int, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """Xavier (Glorot) uniform init for a weight W of shape (fan_in, fan_out):
    W_ij ~ U(-a, a) with a = sqrt(6 / (fan_in + fan_out)), so Var(W_ij) =
    2 / (fan_in + fan_out): the average of what the forward pass (1 / fan_in) and the
    backward pass (1 / fan_out) each want.

    Raises ValueError when ``fan_in`` or ``fan_out`` is not positive.
    """
    _check(fan_in, fan_out)
    a = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-a, a, size=(fan_in, fan_out)).astype(dtype)


def zeros(size: int, dtype=np.float32) -> np.ndarray:
    """A bias vector of ``size`` zeros: biases need no symmetry breaking, the weights do it."""
    return np.zeros(size, dtype=dtype)


def _check(fan_in, fan_out):
    if fan_in < 1 or fan_out < 1:
        raise ValueError(f"a weight needs positive fan_in and fan_out, got ({fan_in}, {fan_out})")
