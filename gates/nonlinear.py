"""Elementwise nonlinear gates: max, relu, sigmoid, tanh, sin, cos, tan, exp, log.

Each ``forward`` caches the local gradient ``self.dzdx`` (for max also ``self.dzdy``);
``backward`` multiplies it by the upstream gradient ``dz``, ``jvp`` by the tangent.
:class:`Gate` wraps these three methods with the conversion, the checks and the
summing back (see gates.base.Gate).
"""

from __future__ import annotations

import numpy as np

from .base import Gate, GateDomainError


def _normal(rng):
    return (rng.standard_normal((3, 4)),)


class MaxGate(Gate):
    """z = max(x, y), elementwise and broadcasting like numpy.

    Local gradients: dz/dx = 1 where x >= y, else 0; dz/dy = 1 where y > x, else 0.
    The max gate *routes* the whole upstream gradient to the larger input.
    At a tie (x == y) the derivative does not exist; by convention the gradient goes
    to the first input ``x`` only, which is a valid subgradient (each share lies
    between the one-sided derivatives 0 and 1).
    """

    kinks = True

    def forward(self, x, y):
        # boolean masks: mask * dz keeps the upstream's dtype
        self.dzdx = x >= y
        self.dzdy = ~self.dzdx
        return np.maximum(x, y)

    def backward(self, dz):
        return self.dzdx * dz, self.dzdy * dz

    def jvp(self, tx, ty):
        return self.dzdx * tx + self.dzdy * ty

    @classmethod
    def example_inputs(cls, rng):
        # different shapes on purpose: backward must sum over the broadcast axis
        return rng.standard_normal((3, 4)), rng.standard_normal(4)


class ReLUGate(Gate):
    """z = max(0, x). Local gradient dz/dx = 1 where x > 0, else 0.

    At the kink x = 0 the derivative does not exist; by convention the gradient there
    is 0 (the left derivative), as in most frameworks.
    """

    kinks = True

    def forward(self, x):
        self.dzdx = x > 0   # a boolean mask: dzdx * dz keeps the upstream's dtype
        return np.maximum(x, 0)

    def backward(self, dz):
        return (self.dzdx * dz,)

    def jvp(self, tx):
        return self.dzdx * tx

    @classmethod
    def example_inputs(cls, rng):
        return _normal(rng)


class SigmoidGate(Gate):
    """z = sigma(x) = 1 / (1 + exp(-x)). Local gradient dz/dx = (1 - z) * z.

    Computed from exp(-|x|), which never overflows, so sigma(+-1e4) is exactly 1 and 0
    with no warning.
    """

    def forward(self, x):
        e = np.exp(-np.abs(x))
        z = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        self.dzdx = (1 - z) * z
        return z

    def backward(self, dz):
        return (self.dzdx * dz,)

    def jvp(self, tx):
        return self.dzdx * tx

    @classmethod
    def example_inputs(cls, rng):
        return _normal(rng)


class TanhGate(Gate):
    """z = tanh(x). Local gradient dz/dx = 1 - z**2."""

    def forward(self, x):
        z = np.tanh(x)
        self.dzdx = 1 - z * z
        return z

    def backward(self, dz):
        return (self.dzdx * dz,)

    def jvp(self, tx):
        return self.dzdx * tx

    @classmethod
    def example_inputs(cls, rng):
        return _normal(rng)


class SinGate(Gate):
    """z = sin(x). Local gradient dz/dx = cos(x)."""

    def forward(self, x):
        self.dzdx = np.cos(x)
        return np.sin(x)

    def backward(self, dz):
        return (self.dzdx * dz,)

    def jvp(self, tx):
        return self.dzdx * tx

    @classmethod
    def example_inputs(cls, rng):
        return _normal(rng)


class CosGate(Gate):
    """z = cos(x). Local gradient dz/dx = -sin(x)."""

    def forward(self, x):
        self.dzdx = -np.sin(x)
        return np.cos(x)

    def backward(self, dz):
        return (self.dzdx * dz,)

    def jvp(self, tx):
        return self.dzdx * tx

    @classmethod
    def example_inputs(cls, rng):
        return _normal(rng)


class TanGate(Gate):
    """z = tan(x). Local gradient dz/dx = 1 / cos(x)**2 = 1 + z**2.

    tan has poles at pi/2 + k*pi; near them both z and the gradient are huge.
    """

    def forward(self, x):
        z = np.tan(x)
        self.dzdx = 1 + z * z
        return z

    def backward(self, dz):
        return (self.dzdx * dz,)

    def jvp(self, tx):
        return self.dzdx * tx

    @classmethod
    def example_inputs(cls, rng):
        # within (-1.2, 1.2): at least 0.37 away from the poles at +-pi/2
        return (rng.uniform(-1.2, 1.2, size=(3, 4)),)


#: the largest x whose exp is finite, per dtype size (float32, float64)
_EXP_LIMIT = {4: float(np.log(np.finfo(np.float32).max)),
              8: float(np.log(np.finfo(np.float64).max))}


class ExpGate(Gate):
    """z = exp(x). Local gradient dz/dx = exp(x) = z.

    Raises GateDomainError when exp(x) would overflow the dtype (x > 709.78 in
    float64, x > 88.72 in float32) instead of returning inf.
    """

    def forward(self, x):
        z = np.exp(x)
        self.dzdx = z
        return z

    def backward(self, dz):
        return (self.dzdx * dz,)

    def jvp(self, tx):
        return self.dzdx * tx

    def check_inputs(self, x):
        limit = _EXP_LIMIT[x.dtype.itemsize]
        if np.any(x > limit):
            raise self._error(GateDomainError, "forward",
                              f"exp overflows {x.dtype}: max x = {np.max(x)} > {limit:.2f} "
                              f"(shape {x.shape})")

    @classmethod
    def example_inputs(cls, rng):
        return _normal(rng)


class LogGate(Gate):
    """z = ln(x). Local gradient dz/dx = 1 / x.

    Raises GateDomainError when any entry of x is 0, negative or NaN.
    """

    def forward(self, x):
        self.dzdx = 1 / x
        return np.log(x)

    def backward(self, dz):
        return (self.dzdx * dz,)

    def jvp(self, tx):
        return self.dzdx * tx

    def check_inputs(self, x):
        if not np.all(x > 0):
            where = tuple(int(i) for i in np.argwhere(~(np.asarray(x) > 0))[0])
            raise self._error(GateDomainError, "forward",
                              f"log of a non-positive number: x is {np.asarray(x)[where]} "
                              f"at index {where} (shape {x.shape})")

    @classmethod
    def example_inputs(cls, rng):
        return (rng.uniform(0.2, 3.0, size=(3, 4)),)
