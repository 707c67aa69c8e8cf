"""Softmax, and softmax fused with the cross-entropy loss."""

from __future__ import annotations

import numpy as np

from .base import Gate, GateArityError, GateDomainError, GateShapeError, GateTypeError, shape_text


class SoftmaxGate(Gate):
    """p = softmax(x) over the last axis: p_i = exp(x_i) / sum_j exp(x_j).

    Local gradient (the Jacobian of one row): dp_i/dx_i = p_i (1 - p_i) on the
    diagonal and dp_i/dx_j = -p_i p_j off it, so backward is
    p * (u - sum_j u_j p_j) for the upstream u, row by row.
    The row maximum is subtracted before exp, so logits of +-1e4 are safe.
    """

    input_names = ("x",)

    def forward(self, *inputs):
        (x,) = self._accept(inputs)
        x = np.asarray(x)
        self._require("x", x.shape, tuple(range(1, 33)))
        if x.shape[-1] == 0:
            raise self._error(GateShapeError, "forward",
                              f"softmax over an empty last axis (input 'x' of shape {x.shape})")
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        self.p = e / e.sum(axis=-1, keepdims=True)
        return self._remember_output(self.p, x)

    def backward(self, dp):
        u = self._upstream(dp)
        p = self.p
        return (p * (u - (u * p).sum(axis=-1, keepdims=True)),)

    def jvp(self, *tangents):
        (t,) = self._tangents(tangents)
        if t is None:
            return self._zero_tangent()
        p = self.p
        return p * (t - (t * p).sum(axis=-1, keepdims=True))

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

    def forward(self, *inputs):
        if len(inputs) != 2:
            raise self._error(GateArityError, "forward",
                              f"takes 2 inputs (logits, labels), got {len(inputs)}")
        (logits,) = self._accept(inputs[:1], names=("logits",))
        logits = np.asarray(logits)
        labels = self._labels(inputs[1], logits.shape)
        n = logits.shape[0]
        rows = np.arange(n)
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        total = e.sum(axis=1, keepdims=True)
        # -log p[label] = log(total) - shifted[label], averaged over the batch
        loss = (np.log(total).sum() - shifted[rows, labels].sum()) / n
        dlogits = e / total
        dlogits[rows, labels] -= 1
        dlogits *= 1 / n
        self.dlogits = dlogits
        return self._remember_output(logits.dtype.type(loss), logits, labels)

    def _labels(self, labels, logits_shape):
        if len(logits_shape) != 2:
            raise self._error(GateShapeError, "forward",
                              f"input 'logits' must be 2-D (N, C), got shape "
                              f"{shape_text(logits_shape)}")
        n, c = logits_shape
        if n == 0 or c == 0:
            raise self._error(GateShapeError, "forward",
                              f"input 'logits' of shape {logits_shape} is empty")
        labels = np.asarray(labels)
        if labels.dtype.kind == "f":
            if not np.all(np.isfinite(labels)) or not np.all(labels == np.round(labels)):
                raise self._error(GateTypeError, "forward",
                                  "input 'labels' must hold whole class numbers, got "
                                  "fractional or non-finite values")
            labels = labels.astype(np.intp)
        elif labels.dtype.kind not in "iu":
            raise self._error(GateTypeError, "forward",
                              f"input 'labels' must be integer classes, got dtype {labels.dtype}")
        if labels.shape != (n,):
            raise self._error(GateShapeError, "forward",
                              f"input 'labels' has shape {shape_text(labels.shape)} but "
                              f"input 'logits' of shape {logits_shape} needs ({n},)")
        # one pass finds labels below 0 too: as unsigned numbers they are huge
        as_unsigned = labels if labels.dtype.kind == "u" else labels.astype(np.uintp)
        if as_unsigned.max() >= c:
            bad = labels[(labels < 0) | (labels >= c)][0]
            raise self._error(GateDomainError, "forward",
                              f"input 'labels' holds class {bad}, outside [0, {c}) for "
                              f"logits with {c} classes")
        return labels

    def backward(self, dloss):
        u = self._upstream(dloss)
        return self.dlogits * u, None

    def jvp(self, *tangents):
        t, _ = self._tangents(tangents)
        if t is None:
            return self._zero_tangent()
        return self._out_dtype.type(np.sum(self.dlogits * t))

    @classmethod
    def example_inputs(cls, rng):
        return 3 * rng.standard_normal((5, 4)), rng.integers(0, 4, size=5)
