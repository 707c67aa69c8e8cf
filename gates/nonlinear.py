"""Elementwise nonlinear gates: max, relu, sigmoid, tanh, sin, cos, tan, exp, log."""

from __future__ import annotations

import numpy as np

from .arithmetic import BinaryGate, UnaryGate
from .base import GateDomainError


class MaxGate(BinaryGate):
    """z = max(x, y), elementwise and broadcasting like numpy.

    Local gradients: dz/dx = 1 where x >= y, else 0; dz/dy = 1 where y > x, else 0.
    The max gate *routes* the whole upstream gradient to the larger input.
    At a tie (x == y) the derivative does not exist; by convention the gradient goes
    to the first input ``x`` only, which is a valid subgradient (each share lies
    between the one-sided derivatives 0 and 1).
    """

    kinks = True

    def forward(self, *inputs):
        x, y = self._take(inputs)
        z = np.maximum(x, y)
        x_wins = x >= y
        self.dzdx = x_wins.astype(z.dtype)
        self.dzdy = (~x_wins).astype(z.dtype)
        return self._remember_output(z, x, y)


class ReLUGate(UnaryGate):
    """z = max(0, x). Local gradient dz/dx = 1 where x > 0, else 0.

    At the kink x = 0 the derivative does not exist; by convention the gradient there
    is 0 (the left derivative), as in most frameworks.
    """

    kinks = True

    def forward(self, *inputs):
        x = self._take(inputs)
        self.dzdx = x > 0   # a boolean mask: upstream * mask keeps the upstream's dtype
        return self._remember_output(np.maximum(x, 0), x)


class SigmoidGate(UnaryGate):
    """z = sigma(x) = 1 / (1 + exp(-x)). Local gradient dz/dx = (1 - z) * z.

    Computed from exp(-|x|), which never overflows, so sigma(+-1e4) is exactly 1 and 0
    with no warning.
    """

    def forward(self, *inputs):
        x = self._take(inputs)
        e = np.exp(-np.abs(x))
        z = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        self.dzdx = (1 - z) * z
        return self._remember_output(z if z.ndim else z[()], x)


class TanhGate(UnaryGate):
    """z = tanh(x). Local gradient dz/dx = 1 - z**2."""

    def forward(self, *inputs):
        x = self._take(inputs)
        z = np.tanh(x)
        self.dzdx = 1 - z * z
        return self._remember_output(z, x)


class SinGate(UnaryGate):
    """z = sin(x). Local gradient dz/dx = cos(x)."""

    def forward(self, *inputs):
        x = self._take(inputs)
        self.dzdx = np.cos(x)
        return self._remember_output(np.sin(x), x)


class CosGate(UnaryGate):
    """z = cos(x). Local gradient dz/dx = -sin(x)."""

    def forward(self, *inputs):
        x = self._take(inputs)
        self.dzdx = -np.sin(x)
        return self._remember_output(np.cos(x), x)


class TanGate(UnaryGate):
    """z = tan(x). Local gradient dz/dx = 1 / cos(x)**2 = 1 + z**2.

    tan has poles at pi/2 + k*pi; near them both z and the gradient are huge.
    """

    def forward(self, *inputs):
        x = self._take(inputs)
        z = np.tan(x)
        self.dzdx = 1 + z * z
        return self._remember_output(z, x)

    @classmethod
    def example_inputs(cls, rng):
        # within (-1.2, 1.2): at least 0.37 away from the poles at +-pi/2
        return (rng.uniform(-1.2, 1.2, size=(3, 4)),)


class ExpGate(UnaryGate):
    """z = exp(x). Local gradient dz/dx = exp(x) = z.

    Raises GateDomainError when exp(x) would overflow the dtype (x > 709.78 in
    float64, x > 88.72 in float32) instead of returning inf.
    """

    def forward(self, *inputs):
        x = self._take(inputs)
        limit = _EXP_LIMIT[x.dtype.itemsize]
        if np.any(x > limit):
            raise self._error(GateDomainError, "forward",
                              f"exp overflows {x.dtype}: max x = {np.max(x)} > {limit:.2f} "
                              f"(shape {x.shape})")
        z = np.exp(x)
        self.dzdx = z
        return self._remember_output(z, x)


_EXP_LIMIT = {4: float(np.log(np.finfo(np.float32).max)),
              8: float(np.log(np.finfo(np.float64).max))}


class LogGate(UnaryGate):
    """z = ln(x). Local gradient dz/dx = 1 / x.

    Raises GateDomainError when any entry of x is 0, negative or NaN.
    """

    def forward(self, *inputs):
        x = self._take(inputs)
        if not np.all(x > 0):
            bad = np.argwhere(~(np.asarray(x) > 0))[0]
            where = tuple(int(i) for i in bad)
            raise self._error(GateDomainError, "forward",
                              f"log of a non-positive number: x is {np.asarray(x)[where]} "
                              f"at index {where} (shape {x.shape})")
        self.dzdx = 1 / x
        return self._remember_output(np.log(x), x)

    @classmethod
    def example_inputs(cls, rng):
        return (rng.uniform(0.2, 3.0, size=(3, 4)),)
