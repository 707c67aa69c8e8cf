"""Arithmetic gates: add, subtract, multiply, divide, scale, power, negate.

Each gate caches its local gradients in ``forward`` (``self.dzdx``, ``self.dzdy``);
``backward`` multiplies them by the upstream gradient ``dz`` and ``jvp`` by the
tangents. :class:`Gate` wraps these three methods with the conversion, the checks and
the summing back (see gates.base.Gate): the two-input gates broadcast like numpy, and
``Gate`` sums each gradient back to its input's shape.
"""

from __future__ import annotations

import numpy as np

from .base import Gate, GateDomainError, finite_parameter


def _pair(rng):
    # different shapes on purpose: backward must sum over the broadcast axis
    return rng.standard_normal((3, 4)), rng.standard_normal(4)


class AddGate(Gate):
    """z = x + y. Local gradients dz/dx = 1, dz/dy = 1: the add gate *distributes*
    the upstream gradient unchanged to both inputs.

    An input that was broadcast (y of shape (4,) beside x of shape (3, 4)) gets dz
    summed back to its shape: ``Gate`` does that around ``backward`` (``unbroadcast``),
    for every gate.
    """

    def forward(self, x, y):
        self.dzdx = 1
        self.dzdy = 1
        return x + y

    def backward(self, dz):
        return self.dzdx * dz, self.dzdy * dz

    def jvp(self, tx, ty):
        return self.dzdx * tx + self.dzdy * ty

    @classmethod
    def example_inputs(cls, rng):
        return _pair(rng)


class SubtractGate(Gate):
    """z = x - y. Local gradients dz/dx = 1, dz/dy = -1."""

    def forward(self, x, y):
        self.dzdx = 1
        self.dzdy = -1
        return x - y

    def backward(self, dz):
        return self.dzdx * dz, self.dzdy * dz

    def jvp(self, tx, ty):
        return self.dzdx * tx + self.dzdy * ty

    @classmethod
    def example_inputs(cls, rng):
        return _pair(rng)


class MultiplyGate(Gate):
    """z = x * y. Local gradients dz/dx = y, dz/dy = x: the multiply gate *switches*
    the inputs, so each input's gradient is the other input times the upstream.

    ``MultiplyGate().forward(3, -4)`` is -12 and ``backward(2)`` is (-8, 6).
    """

    def forward(self, x, y):
        self.dzdx = y            # local gradients, cached for backward
        self.dzdy = x
        return x * y

    def backward(self, dz):
        return self.dzdx * dz, self.dzdy * dz

    def jvp(self, tx, ty):
        return self.dzdx * tx + self.dzdy * ty

    @classmethod
    def example_inputs(cls, rng):
        return _pair(rng)


class DivideGate(Gate):
    """z = x / y. Local gradients dz/dx = 1/y, dz/dy = -x/y**2 = -z/y.

    Raises GateDomainError when any entry of the divisor ``y`` is 0 (or NaN).
    """

    def forward(self, x, y):
        z = x / y
        self.dzdx = 1 / y
        self.dzdy = -z / y
        return z

    def backward(self, dz):
        return self.dzdx * dz, self.dzdy * dz

    def jvp(self, tx, ty):
        return self.dzdx * tx + self.dzdy * ty

    def check_inputs(self, x, y):
        if not np.all(np.abs(y) > 0):
            where = tuple(int(i) for i in np.argwhere(~(np.abs(np.asarray(y)) > 0))[0])
            raise self._error(GateDomainError, "forward",
                              f"division by zero: divisor 'y' is {np.asarray(y)[where]} "
                              f"at index {where} (shape {np.shape(y)})")

    @classmethod
    def example_inputs(cls, rng):
        # divisor kept away from 0: magnitude in [0.5, 2], random sign
        y = rng.uniform(0.5, 2.0, size=(4,)) * rng.choice([-1.0, 1.0], size=(4,))
        return rng.standard_normal((3, 4)), y


class ScaleGate(Gate):
    """z = k * x for a fixed number k. Local gradient dz/dx = k: the scale gate
    *amplifies* the upstream gradient by k."""

    def __init__(self, k: float):
        self.k = finite_parameter("ScaleGate", "k", k)

    def __repr__(self):
        return f"ScaleGate(k={self.k!r})"

    def forward(self, x):
        self.dzdx = self.k
        return self.k * x

    def backward(self, dz):
        return (self.dzdx * dz,)

    def jvp(self, tx):
        return self.dzdx * tx

    @classmethod
    def example_gate(cls):
        return cls(-2.5)

    @classmethod
    def example_inputs(cls, rng):
        return (rng.standard_normal((3, 4)),)


class PowerGate(Gate):
    """z = x ** n for a fixed real exponent n. Local gradient dz/dx = n * x ** (n - 1).

    Raises GateDomainError for a negative base with a non-integer exponent (the result
    is not real) and for a zero base where the derivative is infinite (n < 1, n != 0).
    """

    def __init__(self, n: float):
        self.n = finite_parameter("PowerGate", "n", n)

    def __repr__(self):
        return f"PowerGate(n={self.n!r})"

    def forward(self, x):
        n = self.n
        # x ** -1 at x = 0 would be inf, and 0 * inf is not 0: n = 0 is a constant
        self.dzdx = n * x ** (n - 1) if n != 0 else np.zeros_like(x)
        return x ** n

    def backward(self, dz):
        return (self.dzdx * dz,)

    def jvp(self, tx):
        return self.dzdx * tx

    def check_inputs(self, x):
        n = self.n
        if not n.is_integer() and not np.all(x >= 0):
            raise self._error(GateDomainError, "forward",
                              f"negative base in x ** {n}: the result is not real "
                              f"(min x = {np.min(x)}, shape {np.shape(x)})")
        if n < 1 and n != 0 and not np.all(x != 0):
            raise self._error(GateDomainError, "forward",
                              f"zero base in x ** {n}: the derivative n * x ** (n - 1) is "
                              f"infinite there (shape {np.shape(x)})")

    @classmethod
    def example_gate(cls):
        return cls(2.5)

    @classmethod
    def example_inputs(cls, rng):
        # positive base, so the non-integer exponent of example_gate is defined
        return (rng.uniform(0.5, 2.0, size=(3, 4)),)


class NegateGate(Gate):
    """z = -x. Local gradient dz/dx = -1."""

    def forward(self, x):
        self.dzdx = -1
        return -x

    def backward(self, dz):
        return (self.dzdx * dz,)

    def jvp(self, tx):
        return self.dzdx * tx

    @classmethod
    def example_inputs(cls, rng):
        return (rng.standard_normal((3, 4)),)
