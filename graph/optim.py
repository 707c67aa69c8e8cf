"""Optimizers: SGD, SGD with momentum, and Adam, updating a graph's parameter nodes.

After ``graph.backward(loss)`` every parameter node holds its gradient ``.grad``
(dL/dw, the same shape as ``.value``); ``optimizer.step()`` moves each value against
its gradient. Each step *assigns a new array* to ``node.value`` instead of editing the
old one in place, so an array a caller still holds (or one the graph stores read-only)
is never changed behind its back. Learning rates and betas are Python floats, which
numpy treats as weakly typed: float32 parameters stay float32.

Usage::

    opt = Adam(g.params, lr=1e-3)     # g.params: name -> parameter node
    for xb, yb in minibatches(x, y, 64, rng):
        g.forward(x=xb, y=yb)
        g.backward(loss)
        opt.step()
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["Optimizer", "SGD", "Momentum", "Adam", "OPTIMIZERS", "make_optimizer"]


class Optimizer:
    """Base class: holds the parameter nodes and steps each one that has a gradient.

    ``params`` is a graph's ``params`` mapping (name -> node), a graph itself (its
    ``params`` are used), or any iterable of nodes with ``.value`` and ``.grad``.
    Subclasses implement ``_update(i, w, g) -> new w`` for the i-th parameter.

    Raises ValueError for a learning rate that is not positive or no parameters.
    """

    def __init__(self, params, lr: float):
        if hasattr(params, "params") and not isinstance(params, dict):
            params = params.params
        if isinstance(params, dict):
            params = params.values()
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: no parameters to optimize")
        if not lr > 0:
            raise ValueError(f"{type(self).__name__}: learning rate must be positive, got {lr}")
        self.lr = float(lr)
        self.steps = 0

    def step(self) -> None:
        """Update every parameter whose ``.grad`` is set (a parameter the loss does not
        reach has no gradient and stays as it is).

        Raises ValueError naming the parameter when a gradient's shape differs from its
        value's.
        """
        self.steps += 1
        for i, node in enumerate(self.params):
            g = node.grad
            if g is None:
                continue
            # the plain array (a parameter's value is shown through a read-only view)
            w = np.asarray(node.value)
            # runs for every parameter at every step: attribute lookups, not np.shape
            if getattr(g, "shape", ()) != getattr(w, "shape", ()):
                raise ValueError(f"{type(self).__name__}.step: parameter "
                                 f"'{getattr(node, 'name', i)}' has shape {np.shape(w)} but "
                                 f"its gradient has shape {np.shape(g)}")
            node.value = self._update(i, w, g)

    def _update(self, i: int, w: np.ndarray, g: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lr={self.lr:g}, {len(self.params)} params)"


class SGD(Optimizer):
    """Plain stochastic gradient descent: w <- w - lr * dL/dw."""

    def _update(self, i, w, g):
        step = g * self.lr      # a Python float keeps float32 arrays float32
        return np.subtract(w, step, out=step)   # one new array per step, no temporaries


class Momentum(Optimizer):
    """SGD with momentum (CS231n form): v <- mu v - lr dL/dw; w <- w + v.

    The velocity v starts at zero and remembers past steps, so the update speeds up
    along directions where the gradient keeps its sign and damps oscillations where it
    flips. ``momentum`` mu lies in [0, 1); mu = 0 is plain SGD.
    """

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.9):
        super().__init__(params, lr)
        if not 0 <= momentum < 1:
            raise ValueError(f"Momentum: momentum must lie in [0, 1), got {momentum}")
        self.momentum = float(momentum)
        self.velocity = [None] * len(self.params)

    def _update(self, i, w, g):
        v = self.velocity[i]
        if v is None:
            v = self.velocity[i] = np.zeros_like(w)
        v *= self.momentum          # the optimizer's own array: updated in place
        v -= self.lr * g
        return w + v


class Adam(Optimizer):
    """Adam (Kingma & Ba): per-parameter step sizes from running moments of the gradient.

    m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2      (both start at zero)
    m_hat = m / (1 - b1^t);  v_hat = v / (1 - b2^t)        (undo the bias towards zero)
    w <- w - lr m_hat / (sqrt(v_hat) + eps)

    On the first step m_hat = g and v_hat = g^2, so every weight moves by lr * sign(g)
    (almost exactly): the step size is lr whatever the gradient's scale.
    """

    def __init__(self, params, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
                 eps: float = 1e-8):
        super().__init__(params, lr)
        for name, b in (("beta1", beta1), ("beta2", beta2)):
            if not 0 <= b < 1:
                raise ValueError(f"Adam: {name} must lie in [0, 1), got {b}")
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)
        self.m = [None] * len(self.params)
        self.v = [None] * len(self.params)

    def _update(self, i, w, g):
        b1, b2 = self.beta1, self.beta2
        if self.m[i] is None:
            self.m[i] = np.zeros_like(w)
            self.v[i] = np.zeros_like(w)
        m, v = self.m[i], self.v[i]     # the optimizer's own arrays: updated in place
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * (g * g)
        # lr * m_hat / (sqrt(v_hat) + eps) with both bias corrections folded into scalars
        c1 = 1 - b1 ** self.steps
        c2 = 1 - b2 ** self.steps
        step = np.sqrt(v)
        step *= 1 / math.sqrt(c2)
        step += self.eps
        np.divide(m, step, out=step)
        step *= self.lr / c1
        return np.subtract(w, step, out=step)


OPTIMIZERS = {"sgd": SGD, "momentum": Momentum, "adam": Adam}


def make_optimizer(name: str, params, lr: float, **options) -> Optimizer:
    """The optimizer called ``name`` ("sgd", "momentum" or "adam") over ``params``.

    Raises ValueError for an unknown name.
    """
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; choose from "
                         f"{', '.join(OPTIMIZERS)}") from None
    return cls(params, lr=lr, **options)
