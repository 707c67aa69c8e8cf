"""Matrix-vector, matrix-matrix and affine gates: the shapes tell where the transposes go."""

import numpy as np
import pytest

from gates import AffineGate, GateShapeError, L2Gate, MatMulGate, MatVecGate

pytestmark = pytest.mark.filterwarnings("error")

rng = np.random.default_rng(3)


def test_the_lecture_example_l2_of_w_times_x():
    W = np.array([[0.1, 0.5], [-0.3, 0.8]])
    x = np.array([0.2, 0.4])
    matvec, l2 = MatVecGate(), L2Gate()
    q = matvec.forward(W, x)
    np.testing.assert_allclose(q, [0.22, 0.26])
    assert l2.forward(q) == pytest.approx(0.116)
    (dq,) = l2.backward(1.0)
    np.testing.assert_allclose(dq, [0.44, 0.52])
    dW, dx = matvec.backward(dq)
    np.testing.assert_allclose(dW, [[0.088, 0.176], [0.104, 0.208]])
    np.testing.assert_allclose(dx, [-0.112, 0.636])


def test_matmul_backward_is_upstream_times_b_transposed_and_a_transposed_times_upstream():
    A, B = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    U = rng.standard_normal((3, 2))
    gate = MatMulGate()
    np.testing.assert_allclose(gate.forward(A, B), A @ B)
    dA, dB = gate.backward(U)
    np.testing.assert_allclose(dA, U @ B.T)
    np.testing.assert_allclose(dB, A.T @ U)
    tA, tB = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    np.testing.assert_allclose(gate.jvp(tA, tB), tA @ B + A @ tB)


def test_affine_bias_gradient_is_summed_over_the_batch():
    x, W, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    U = rng.standard_normal((5, 3))
    gate = AffineGate()
    np.testing.assert_allclose(gate.forward(x, W, b), x @ W + b)
    dx, dW, db = gate.backward(U)
    np.testing.assert_allclose(dx, U @ W.T)
    np.testing.assert_allclose(dW, x.T @ U)
    np.testing.assert_allclose(db, U.sum(axis=0))
    tx, tW, tb = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    np.testing.assert_allclose(gate.jvp(tx, tW, tb), tx @ W + x @ tW + tb)
    np.testing.assert_allclose(gate.jvp(None, None, tb), np.broadcast_to(tb, (5, 3)))


def test_a_caller_may_ask_for_fewer_gradients():
    x, W, b = rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3)
    gate = AffineGate()
    gate.forward(x, W, b)
    gate.needs_input_grad = (False, True, True)   # the data x needs no gradient
    dx, dW, db = gate.backward(np.ones((5, 3)))
    assert dx is None and dW.shape == (4, 3) and db.shape == (3,)


def test_float32_network_layer_stays_float32():
    x = rng.standard_normal((8, 4)).astype(np.float32)
    W = rng.standard_normal((4, 3)).astype(np.float32)
    b = np.zeros(3, np.float32)
    gate = AffineGate()
    assert gate.forward(x, W, b).dtype == np.float32
    assert all(g.dtype == np.float32 for g in gate.backward(np.ones((8, 3), np.float32)))


def test_shape_mismatches_name_both_inputs():
    with pytest.raises(GateShapeError, match=r"MatMulGate.forward: input 'A' of shape \(3, 4\) and input 'B' of shape \(5, 2\) do not match: A has 4 columns, B has 5 rows"):
        MatMulGate().forward(np.ones((3, 4)), np.ones((5, 2)))
    with pytest.raises(GateShapeError, match=r"input 'x' must be 1-D, got shape \(2, 1\)"):
        MatVecGate().forward(np.ones((3, 2)), np.ones((2, 1)))
    with pytest.raises(GateShapeError, match="W has 3 columns, b has 4 entries"):
        AffineGate().forward(np.ones((2, 4)), np.ones((4, 3)), np.ones(4))
    with pytest.raises(GateShapeError, match="x has 5 features, W has 4 rows"):
        AffineGate().forward(np.ones((2, 5)), np.ones((4, 3)), np.ones(3))
