"""Linear gates: matrix-vector, matrix-matrix, and affine (x W + b over a batch).

The lecture's rule: the shapes alone tell where the transposes go. :class:`Gate` wraps
each gate's ``forward``, ``backward`` and ``jvp`` with the conversion and the checks
(see gates.base.Gate): each input has a fixed rank (``input_ndims``), and each gate's
``check_inputs``, after its math, says which sizes must agree.
"""

from __future__ import annotations

import numpy as np

from .base import Gate, GateShapeError, shape_text


def _mismatch(gate, left, lshape, right, rshape, sizes):
    return gate._error(GateShapeError, "forward",
                       f"input '{left}' of shape {shape_text(lshape)} and input '{right}' "
                       f"of shape {shape_text(rshape)} do not match: {sizes}")


class MatVecGate(Gate):
    """z = W x for a matrix W (M, D) and a vector x (D,); z has shape (M,).

    Local gradients: dz/dx = W, so dL/dx = W^T dz; dz_i/dW_ij = x_j, so dL/dW = dz x^T
    (an outer product) for the upstream gradient dz of shape (M,).
    """

    input_ndims = (2, 1)

    def forward(self, W, x):
        self.W = W
        self.x = x
        return W @ x

    def backward(self, dz):
        return np.outer(dz, self.x), self.W.T @ dz

    def jvp(self, tW, tx):
        return tW @ self.x + self.W @ tx

    def check_inputs(self, W, x):
        if W.shape[1] != x.shape[0]:
            raise _mismatch(self, "W", W.shape, "x", x.shape,
                            f"W has {W.shape[1]} columns, x has {x.shape[0]} entries")

    @classmethod
    def example_inputs(cls, rng):
        return rng.standard_normal((3, 4)), rng.standard_normal(4)


class MatMulGate(Gate):
    """Z = A B for matrices A (M, K) and B (K, N); Z has shape (M, N).

    For the upstream gradient dz of shape (M, N): dL/dA = dz B^T and dL/dB = A^T dz,
    the lecture's rule that the shapes alone tell where the transposes go.
    """

    input_ndims = (2, 2)

    def forward(self, A, B):
        self.A = A
        self.B = B
        return A @ B

    def backward(self, dz):
        return dz @ self.B.T, self.A.T @ dz

    def jvp(self, tA, tB):
        return tA @ self.B + self.A @ tB

    def check_inputs(self, A, B):
        if A.shape[1] != B.shape[0]:
            raise _mismatch(self, "A", A.shape, "B", B.shape,
                            f"A has {A.shape[1]} columns, B has {B.shape[0]} rows")

    @classmethod
    def example_inputs(cls, rng):
        return rng.standard_normal((3, 4)), rng.standard_normal((4, 2))


class AffineGate(Gate):
    """Z = x W + b for a batch x (N, D), weights W (D, M) and bias b (M,); Z is (N, M).

    For the upstream gradient dz (N, M): dL/dx = dz W^T, dL/dW = x^T dz, and
    dL/db = the sum of dz over the batch (b was added to every row).
    """

    input_ndims = (2, 2, 1)

    def forward(self, x, W, b):
        self.x = x
        self.W = W
        return x @ W + b

    def backward(self, dz):
        # a graph's data batch x needs no gradient (needs_input_grad says so): skipping
        # dz W^T saves a third of the layer's backward, which the MLP benchmark needs
        want_x = self.needs_input_grad is None or self.needs_input_grad[0]
        dx = dz @ self.W.T if want_x else None
        return dx, self.x.T @ dz, dz.sum(axis=0)

    def jvp(self, tx, tW, tb):
        return tx @ self.W + self.x @ tW + tb

    def check_inputs(self, x, W, b):
        if x.shape[1] != W.shape[0]:
            raise _mismatch(self, "x", x.shape, "W", W.shape,
                            f"x has {x.shape[1]} features, W has {W.shape[0]} rows")
        if b.shape[0] != W.shape[1]:
            raise _mismatch(self, "W", W.shape, "b", b.shape,
                            f"W has {W.shape[1]} columns, b has {b.shape[0]} entries")

    @classmethod
    def example_inputs(cls, rng):
        return rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
