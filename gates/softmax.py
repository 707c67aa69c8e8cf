"""Softmax, and softmax fused with the cross-entropy loss.

:class:`Gate` wraps each gate's ``forward``, ``backward`` and ``jvp`` with the
conversion and the checks (see gates.base.Gate).
"""

from __future__ import annotations

import numpy as np

from .base import Gate, GateDomainError, GateShapeError, shape_text


class SoftmaxGate(Gate):
    """p = softmax(x) over the last axis: p_i = exp(x_i) / sum_j exp(x_j).

    Local gradient (the Jacobian of one row): dp_i/dx_i = p_i (1 - p_i) on the
    diagonal and dp_i/dx_j = -p_i p_j off it, so backward is
    p * (dz - sum_j dz_j p_j) for the upstream dz, row by row.
    The row maximum is subtracted before exp, so logits of +-1e4 are safe.
    """

    def forward(self, x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        self.p = e / e.sum(axis=-1, keepdims=True)
        return self.p

    def backward(self, dz):
        p = self.p
        return (p * (dz - (dz * p).sum(axis=-1, keepdims=True)),)

    def jvp(self, tx):
        p = self.p
        return p * (tx - (tx * p).sum(axis=-1, keepdims=True))

    def check_inputs(self, x):
        if x.ndim == 0:
            raise self._error(GateShapeError, "forward",
                              f"input 'x' must be at least 1-D, got shape {shape_text(x.shape)}")
        if x.shape[-1] == 0:
            raise self._error(GateShapeError, "forward",
                              f"softmax over an empty last axis (input 'x' of shape {x.shape})")

    @classmethod
    def example_inputs(cls, rng):
        return (rng.standard_normal((3, 5)),)


class SoftmaxCrossEntropyGate(Gate):
    """L = mean over the batch of -log softmax(logits)[label].

    Inputs: logits (N, C) of floats and labels (N,) of integer classes in [0, C).
    Local gradient: dL/dlogits = (p - onehot(labels)) / N with p = softmax(logits);
    the labels are not differentiable, so their gradient is ``None``. Computed with
    the log-sum-exp trick, so logits of +-1e4 give a finite loss and gradient.

    Raises GateShapeError for an empty batch or labels that do not match the logits,
    GateTypeError for labels that are not whole numbers, and GateDomainError for a
    label outside [0, C).
    """

    input_names = ("logits", "labels")
    differentiable = (True, False)
    input_ndims = (2, None)      # labels of any rank here: check_inputs wants (N,)

    def forward(self, logits, labels):
        n = logits.shape[0]
        rows = np.arange(n)
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        total = e.sum(axis=1, keepdims=True)
        # dL/dlogits = (p - onehot(labels)) / N, with p = e / total
        self.dlogits = e / total
        self.dlogits[rows, labels] -= 1
        self.dlogits *= 1 / n
        # -log p[label] = log(total) - shifted[label], averaged over the batch
        return (np.log(total).sum() - shifted[rows, labels].sum()) / n

    def backward(self, dz):
        return self.dlogits * dz, None

    def jvp(self, tlogits, tlabels):
        return np.sum(self.dlogits * tlogits)

    def check_inputs(self, logits, labels):
        n, c = logits.shape
        if n == 0 or c == 0:
            raise self._error(GateShapeError, "forward",
                              f"input 'logits' of shape {logits.shape} is empty")
        if labels.shape != (n,):
            raise self._error(GateShapeError, "forward",
                              f"input 'labels' has shape {shape_text(labels.shape)} but "
                              f"input 'logits' of shape {logits.shape} needs ({n},)")
        # one pass finds labels below 0 too: as unsigned numbers they are huge
        as_unsigned = labels if labels.dtype.kind == "u" else labels.astype(np.uintp)
        if as_unsigned.max() >= c:
            bad = labels[(labels < 0) | (labels >= c)][0]
            raise self._error(GateDomainError, "forward",
                              f"input 'labels' holds class {bad}, outside [0, {c}) for "
                              f"logits with {c} classes")

    @classmethod
    def example_inputs(cls, rng):
        return 3 * rng.standard_normal((5, 4)), rng.integers(0, 4, size=5)
