"""Reduction gates: sum, mean, and L2 (the sum of squares of a whole tensor).

Sum and mean reduce over ``axis`` (None = every axis); their ``backward`` spreads the
upstream gradient back over the reduced axes, so each entry of x gets the gradient of
the sum (or mean) it went into. :class:`Gate` wraps each gate's ``forward``,
``backward`` and ``jvp`` with the conversion and the checks (see gates.base.Gate).
"""

from __future__ import annotations

import math

import numpy as np

from .base import Gate, GateShapeError, GateTypeError, shape_text


def _normalise_axis(axis):
    if axis is None:
        return None
    if isinstance(axis, (int, np.integer)):
        return (int(axis),)
    try:
        axes = tuple(int(a) for a in axis)
    except TypeError:
        raise GateTypeError(f"axis must be None, an int or a tuple of ints, got {axis!r}") from None
    if len(set(axes)) != len(axes):
        raise GateShapeError(f"axis {axis!r} repeats an axis")
    return axes


class _Reduction(Gate):
    """What sum and mean share besides their math: the ``axis`` parameter and its
    checks against the input's shape."""

    def __init__(self, axis=None):
        self.axis = _normalise_axis(axis)

    def __repr__(self):
        axis = self.axis if self.axis is None or len(self.axis) > 1 else self.axis[0]
        return f"{type(self).__name__}(axis={axis!r})"

    def _axes(self, x) -> tuple[int, ...]:
        """The reduced axes of ``x``, each in [0, x.ndim)."""
        if self.axis is None:
            return tuple(range(x.ndim))
        return tuple(a % x.ndim for a in self.axis)

    def check_inputs(self, x):
        for a in self.axis or ():
            if not -x.ndim <= a < x.ndim:
                raise self._error(GateShapeError, "forward",
                                  f"axis {a} is out of range for input 'x' of shape "
                                  f"{shape_text(x.shape)}")
        axes = self._axes(x)
        if len(set(axes)) != len(axes):      # axis (0, -2) of a 2-D x names axis 0 twice
            raise self._error(GateShapeError, "forward",
                              f"axis {self.axis} names an axis twice for shape {x.shape}")

    @classmethod
    def example_inputs(cls, rng):
        return (rng.standard_normal((3, 4, 2)),)


class SumGate(_Reduction):
    """z = sum of x over ``axis`` (None: every entry). Local gradient dz/dx_i = 1, so
    backward copies the upstream gradient to every entry that was summed.

    Raises GateShapeError for an axis out of range of the input.
    """

    def forward(self, x):
        self.axes = self._axes(x)
        self.x_shape = x.shape
        return x.sum(axis=self.axes)

    def backward(self, dz):
        return (np.broadcast_to(np.expand_dims(dz, self.axes), self.x_shape).copy(),)

    def jvp(self, tx):
        return tx.sum(axis=self.axes)

    @classmethod
    def example_gate(cls):
        return cls(axis=1)


class MeanGate(_Reduction):
    """z = mean of x over ``axis`` (None: every entry). Local gradient dz/dx_i = 1/n,
    with n the number of entries averaged together.

    Raises GateShapeError for an axis out of range or a mean over zero entries.
    """

    def forward(self, x):
        self.axes = self._axes(x)
        self.x_shape = x.shape
        self.dzdx = 1 / math.prod(x.shape[a] for a in self.axes)
        return x.sum(axis=self.axes) * self.dzdx

    def backward(self, dz):
        spread = np.expand_dims(dz * self.dzdx, self.axes)
        return (np.broadcast_to(spread, self.x_shape).copy(),)

    def jvp(self, tx):
        return tx.sum(axis=self.axes) * self.dzdx

    def check_inputs(self, x):
        super().check_inputs(x)
        if math.prod(x.shape[a] for a in self._axes(x)) == 0:
            raise self._error(GateShapeError, "forward",
                              f"mean over an empty axis of input 'x' of shape {x.shape}")

    @classmethod
    def example_gate(cls):
        return cls(axis=(0, 2))


class L2Gate(Gate):
    """z = sum_i x_i**2 over every entry of x, of any shape (a scalar out).
    Local gradient dz/dx = 2x, so backward is 2x * upstream."""

    def forward(self, x):
        self.dzdx = 2 * x
        flat = x.reshape(-1)
        return flat @ flat

    def backward(self, dz):
        return (self.dzdx * dz,)

    def jvp(self, tx):
        return np.sum(self.dzdx * tx)

    @classmethod
    def example_inputs(cls, rng):
        return (rng.standard_normal((3, 4)),)
