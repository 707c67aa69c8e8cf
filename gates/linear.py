"""Linear gates: matrix-vector, matrix-matrix, and affine (x W + b over a batch)."""

from __future__ import annotations

import numpy as np

from .base import Gate, GateShapeError, shape_text


class _LinearGate(Gate):
    """Shared checks of the matrix gates: each input has a fixed number of dimensions,
    and each gradient comes back in its input's dtype."""

    def _take(self, inputs, ndims):
        arrays = self._accept(inputs)
        for name, a, ndim in zip(self.input_names, arrays, ndims):
            if a.ndim != ndim:
                self._require(name, a.shape, ndim)
        return arrays

    def _inner_mismatch(self, left, lshape, right, rshape, axis_text):
        return self._error(
            GateShapeError, "forward",
            f"input '{left}' of shape {shape_text(lshape)} and input '{right}' of shape "
            f"{shape_text(rshape)} do not match: {axis_text}")

    def _wanted(self):
        return self.needs_input_grad or (True,) * len(self.input_names)

    def _cast(self, grads):
        if all(g is None or g.dtype == a.dtype for g, a in zip(grads, self._seen)):
            return grads
        return tuple(g if g is None or g.dtype == a.dtype else g.astype(a.dtype)
                     for g, a in zip(grads, self._seen))


class MatVecGate(_LinearGate):
    """z = W x for a matrix W (M, D) and a vector x (D,); z has shape (M,).

    Local gradients: dz/dx = W, so dL/dx = W^T u; dz_i/dW_ij = x_j, so dL/dW = u x^T
    (an outer product) for the upstream gradient u of shape (M,).
    """

    input_names = ("W", "x")

    def forward(self, *inputs):
        W, x = self._take(inputs, (2, 1))
        if W.shape[1] != x.shape[0]:
            raise self._inner_mismatch("W", W.shape, "x", x.shape,
                                       f"W has {W.shape[1]} columns, x has {x.shape[0]} entries")
        self.W, self.x = W, x
        return self._remember_output(W @ x, W, x)

    def backward(self, dz):
        u = self._upstream(dz)
        want_W, want_x = self._wanted()
        return self._cast((np.outer(u, self.x) if want_W else None,
                           self.W.T @ u if want_x else None))

    def jvp(self, *tangents):
        tW, tx = self._tangents(tangents)
        out = self._zero_tangent()
        if tW is not None:
            out = out + tW @ self.x
        if tx is not None:
            out = out + self.W @ tx
        return out

    @classmethod
    def example_inputs(cls, rng):
        return rng.standard_normal((3, 4)), rng.standard_normal(4)


class MatMulGate(_LinearGate):
    """Z = A B for matrices A (M, K) and B (K, N); Z has shape (M, N).

    For the upstream gradient U of shape (M, N): dL/dA = U B^T and dL/dB = A^T U,
    the lecture's rule that the shapes alone tell where the transposes go.
    """

    input_names = ("A", "B")

    def forward(self, *inputs):
        A, B = self._take(inputs, (2, 2))
        if A.shape[1] != B.shape[0]:
            raise self._inner_mismatch("A", A.shape, "B", B.shape,
                                       f"A has {A.shape[1]} columns, B has {B.shape[0]} rows")
        self.A, self.B = A, B
        return self._remember_output(A @ B, A, B)

    def backward(self, dz):
        U = self._upstream(dz)
        want_A, want_B = self._wanted()
        return self._cast((U @ self.B.T if want_A else None,
                           self.A.T @ U if want_B else None))

    def jvp(self, *tangents):
        tA, tB = self._tangents(tangents)
        out = self._zero_tangent()
        if tA is not None:
            out = out + tA @ self.B
        if tB is not None:
            out = out + self.A @ tB
        return out

    @classmethod
    def example_inputs(cls, rng):
        return rng.standard_normal((3, 4)), rng.standard_normal((4, 2))


class AffineGate(_LinearGate):
    """Z = x W + b for a batch x (N, D), weights W (D, M) and bias b (M,); Z is (N, M).

    For the upstream gradient U (N, M): dL/dx = U W^T, dL/dW = x^T U, and
    dL/db = the sum of U over the batch (b was added to every row).
    """

    input_names = ("x", "W", "b")

    def forward(self, *inputs):
        x, W, b = self._take(inputs, (2, 2, 1))
        if x.shape[1] != W.shape[0]:
            raise self._inner_mismatch("x", x.shape, "W", W.shape,
                                       f"x has {x.shape[1]} features, W has {W.shape[0]} rows")
        if b.shape[0] != W.shape[1]:
            raise self._inner_mismatch("W", W.shape, "b", b.shape,
                                       f"W has {W.shape[1]} columns, b has {b.shape[0]} entries")
        self.x, self.W = x, W
        return self._remember_output(x @ W + b, x, W, b)

    def backward(self, dz):
        U = self._upstream(dz)
        want_x, want_W, want_b = self._wanted()
        return self._cast((U @ self.W.T if want_x else None,
                           self.x.T @ U if want_W else None,
                           U.sum(axis=0) if want_b else None))

    def jvp(self, *tangents):
        tx, tW, tb = self._tangents(tangents)
        out = self._zero_tangent()
        if tx is not None:
            out = out + tx @ self.W
        if tW is not None:
            out = out + self.x @ tW
        if tb is not None:
            out = out + tb
        return out

    @classmethod
    def example_inputs(cls, rng):
        return rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
