"""Arithmetic gates: add, subtract, multiply, divide, scale, power, negate.

The two-input gates broadcast like numpy; their ``backward`` sums the upstream
gradient back to each input's shape (:func:`gates.base.unbroadcast`).
"""

from __future__ import annotations

import numpy as np

from .base import Gate, GateDomainError, GateTypeError, unbroadcast


def finite_parameter(gate: str, name: str, value) -> float:
    """A gate's constructor parameter as a float, or GateTypeError if it is not a finite
    real number (a NaN scale would turn every output into NaN without a word)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise GateTypeError(f"{gate}: parameter {name} must be a real number, "
                            f"got {value!r}") from None
    if not np.isfinite(number):
        raise GateTypeError(f"{gate}: parameter {name} must be finite, got {number}")
    return number


def _normal(rng, shape):
    return rng.standard_normal(shape)


class BinaryGate(Gate):
    """Shared plumbing of elementwise two-input gates: ``forward(x, y)`` broadcasts.

    A subclass's ``forward`` caches the local gradients ``self.dzdx`` and
    ``self.dzdy`` (as in the lecture's ``MultiplyGate``); ``backward`` multiplies them
    by the upstream gradient and sums each back to its input's shape, and ``jvp``
    adds the tangents times the same local gradients.
    """

    input_names = ("x", "y")

    def _take(self, inputs):
        x, y = self._accept(inputs)
        if x.shape != y.shape:
            self._broadcast("forward", x, y)
        return x, y

    def _grads(self, gx, gy):
        x, y = self._seen
        gx = unbroadcast(gx, x.shape)
        gy = unbroadcast(gy, y.shape)
        # a float32 input beside a float64 one still gets a float32 gradient
        if gx.dtype != x.dtype:
            gx = gx.astype(x.dtype)
        if gy.dtype != y.dtype:
            gy = gy.astype(y.dtype)
        return gx, gy

    def backward(self, dz):
        dz = self._upstream(dz)
        return self._grads(self.dzdx * dz, self.dzdy * dz)

    def jvp(self, *tangents):
        tx, ty = self._tangents(tangents)
        out = self._zero_tangent()
        if tx is not None:
            out = out + self.dzdx * tx
        if ty is not None:
            out = out + self.dzdy * ty
        return out

    @classmethod
    def example_inputs(cls, rng):
        # different shapes on purpose: the backward must sum over broadcast axes
        return _normal(rng, (3, 4)), _normal(rng, (4,))


class AddGate(BinaryGate):
    """z = x + y. Local gradients dz/dx = 1, dz/dy = 1: the add gate *distributes*
    the upstream gradient unchanged to both inputs."""

    def forward(self, *inputs):
        x, y = self._take(inputs)
        return self._remember_output(x + y, x, y)

    def backward(self, dz):
        dz = self._upstream(dz)
        return self._grads(dz, dz)

    def jvp(self, *tangents):
        tx, ty = self._tangents(tangents)
        out = self._zero_tangent()
        if tx is not None:
            out = out + tx
        if ty is not None:
            out = out + ty
        return out


class SubtractGate(BinaryGate):
    """z = x - y. Local gradients dz/dx = 1, dz/dy = -1."""

    def forward(self, *inputs):
        x, y = self._take(inputs)
        return self._remember_output(x - y, x, y)

    def backward(self, dz):
        dz = self._upstream(dz)
        return self._grads(dz, -dz)

    def jvp(self, *tangents):
        tx, ty = self._tangents(tangents)
        out = self._zero_tangent()
        if tx is not None:
            out = out + tx
        if ty is not None:
            out = out - ty
        return out


class MultiplyGate(BinaryGate):
    """z = x * y. Local gradients dz/dx = y, dz/dy = x: the multiply gate *switches*
    the inputs, so each input's gradient is the other input times the upstream.

    ``MultiplyGate().forward(3, -4)`` is -12 and ``backward(2)`` is (-8, 6).
    """

    def forward(self, *inputs):
        x, y = self._take(inputs)
        self.dzdx = y
        self.dzdy = x
        return self._remember_output(x * y, x, y)


class DivideGate(BinaryGate):
    """z = x / y. Local gradients dz/dx = 1/y, dz/dy = -x/y**2 = -z/y.

    Raises GateDomainError when any entry of the divisor ``y`` is 0 (or NaN).
    """

    def forward(self, *inputs):
        x, y = self._take(inputs)
        if not np.all(np.abs(y) > 0):
            bad = np.argwhere(~(np.abs(np.asarray(y)) > 0))[0]
            where = tuple(int(i) for i in bad)
            raise self._error(GateDomainError, "forward",
                              f"division by zero: divisor 'y' is {np.asarray(y)[where]} "
                              f"at index {where} (shape {np.shape(y)})")
        z = x / y
        self.dzdx = 1.0 / y
        self.dzdy = -z * self.dzdx
        return self._remember_output(z, x, y)

    @classmethod
    def example_inputs(cls, rng):
        # divisor kept away from 0: magnitude in [0.5, 2], random sign
        y = rng.uniform(0.5, 2.0, size=(4,)) * rng.choice([-1.0, 1.0], size=(4,))
        return _normal(rng, (3, 4)), y


class UnaryGate(Gate):
    """Shared plumbing of one-input gates whose local gradient is cached as ``self.dzdx``."""

    input_names = ("x",)

    def _take(self, inputs):
        (x,) = self._accept(inputs)
        return x

    def backward(self, dz):
        dz = self._upstream(dz)
        return (self.dzdx * dz,)

    def jvp(self, *tangents):
        (tx,) = self._tangents(tangents)
        if tx is None:
            return self._zero_tangent()
        return self.dzdx * tx

    @classmethod
    def example_inputs(cls, rng):
        return (_normal(rng, (3, 4)),)


class ScaleGate(UnaryGate):
    """z = k * x for a fixed number k. Local gradient dz/dx = k: the scale gate
    *amplifies* the upstream gradient by k."""

    def __init__(self, k: float):
        self.k = finite_parameter("ScaleGate", "k", k)

    def __repr__(self):
        return f"ScaleGate(k={self.k!r})"

    @classmethod
    def example_gate(cls):
        return cls(-2.5)

    def forward(self, *inputs):
        x = self._take(inputs)
        out = self.k * x
        self.dzdx = out.dtype.type(self.k)
        return self._remember_output(out, x)


class NegateGate(UnaryGate):
    """z = -x. Local gradient dz/dx = -1."""

    def forward(self, *inputs):
        x = self._take(inputs)
        out = -x
        self.dzdx = out.dtype.type(-1)
        return self._remember_output(out, x)


class PowerGate(UnaryGate):
    """z = x ** n for a fixed real exponent n. Local gradient dz/dx = n * x ** (n - 1).

    Raises GateDomainError for a negative base with a non-integer exponent (the result
    is not real) and for a zero base where the derivative is infinite (n < 1, n != 0).
    """

    def __init__(self, n: float):
        self.n = finite_parameter("PowerGate", "n", n)

    def __repr__(self):
        return f"PowerGate(n={self.n!r})"

    @classmethod
    def example_gate(cls):
        return cls(2.5)

    @classmethod
    def example_inputs(cls, rng):
        # positive base, so the non-integer exponent of example_gate is defined
        return (rng.uniform(0.5, 2.0, size=(3, 4)),)

    def forward(self, *inputs):
        x = self._take(inputs)
        n = self.n
        if not float(n).is_integer() and not np.all(x >= 0):
            raise self._error(GateDomainError, "forward",
                              f"negative base in x ** {n}: the result is not real "
                              f"(min x = {np.min(x)}, shape {np.shape(x)})")
        if n < 1 and n != 0 and not np.all(x != 0):
            raise self._error(GateDomainError, "forward",
                              f"zero base in x ** {n}: the derivative n * x ** (n - 1) is "
                              f"infinite there (shape {np.shape(x)})")
        out = x ** n
        self.dzdx = n * x ** (n - 1) if n != 0 else np.zeros_like(out)
        return self._remember_output(out, x)
