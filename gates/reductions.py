"""Reduction gates: sum, mean, and L2 (the sum of squares of a whole tensor)."""

from __future__ import annotations

import numpy as np

from .arithmetic import UnaryGate
from .base import GateShapeError, GateTypeError, shape_text


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


class _ReductionGate(UnaryGate):
    """Sums or averages over ``axis`` (None = every axis); backward spreads the upstream
    gradient back over the reduced axes."""

    def __init__(self, axis=None):
        self.axis = _normalise_axis(axis)

    def __repr__(self):
        axis = self.axis if self.axis is None or len(self.axis) > 1 else self.axis[0]
        return f"{type(self).__name__}(axis={axis!r})"

    def _axes_for(self, x):
        if self.axis is None:
            return tuple(range(x.ndim))
        axes = []
        for a in self.axis:
            if not -x.ndim <= a < x.ndim:
                raise self._error(GateShapeError, "forward",
                                  f"axis {a} is out of range for input 'x' of shape "
                                  f"{shape_text(x.shape)}")
            axes.append(a % x.ndim)
        if len(set(axes)) != len(axes):
            raise self._error(GateShapeError, "forward",
                              f"axis {self.axis} names an axis twice for shape {x.shape}")
        return tuple(axes)

    def _reduce(self, inputs, scale_by_count):
        x = self._take(inputs)
        axes = self._axes_for(x)
        count = int(np.prod([x.shape[a] for a in axes], dtype=np.int64))
        if scale_by_count and count == 0:
            raise self._error(GateShapeError, "forward",
                              f"mean over an empty axis of input 'x' of shape {x.shape}")
        factor = x.dtype.type(1 / count) if scale_by_count else x.dtype.type(1)
        out = x.sum(axis=axes)
        if scale_by_count:
            out = out * factor
        self._axes, self._factor = axes, factor
        return self._remember_output(out, x)

    def backward(self, dz):
        dz = self._upstream(dz)
        spread = np.expand_dims(dz * self._factor, self._axes)
        return (np.broadcast_to(spread, self._seen[0].shape).copy(),)

    def jvp(self, *tangents):
        (tx,) = self._tangents(tangents)
        if tx is None:
            return self._zero_tangent()
        return tx.sum(axis=self._axes) * self._factor

    @classmethod
    def example_inputs(cls, rng):
        return (rng.standard_normal((3, 4, 2)),)


class SumGate(_ReductionGate):
    """z = sum of x over ``axis`` (None: every entry). Local gradient dz/dx_i = 1, so
    backward copies the upstream gradient to every entry that was summed.

    Raises GateShapeError for an axis out of range of the input.
    """

    @classmethod
    def example_gate(cls):
        return cls(axis=1)

    def forward(self, *inputs):
        return self._reduce(inputs, scale_by_count=False)


class MeanGate(_ReductionGate):
    """z = mean of x over ``axis`` (None: every entry). Local gradient dz/dx_i = 1/n,
    with n the number of entries averaged together.

    Raises GateShapeError for an axis out of range or a mean over zero entries.
    """

    @classmethod
    def example_gate(cls):
        return cls(axis=(0, 2))

    def forward(self, *inputs):
        return self._reduce(inputs, scale_by_count=True)


class L2Gate(UnaryGate):
    """z = sum_i x_i**2 over every entry of x, of any shape (a scalar out).
    Local gradient dz/dx = 2x, so backward is 2x * upstream."""

    def forward(self, *inputs):
        x = self._take(inputs)
        self.dzdx = 2 * x
        flat = x.reshape(-1)
        return self._remember_output(x.dtype.type(flat @ flat), x)

    def jvp(self, *tangents):
        (tx,) = self._tangents(tangents)
        if tx is None:
            return self._zero_tangent()
        return self._out_dtype.type(np.sum(self.dzdx * tx))
