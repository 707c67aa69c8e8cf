"""Softmax and the fused softmax + cross-entropy: the Jacobian, p - y, and stability."""

import numpy as np
import pytest

from gates import (GateArityError, GateDomainError, GateShapeError, GateTypeError,
                   SoftmaxCrossEntropyGate, SoftmaxGate)

pytestmark = pytest.mark.filterwarnings("error")

rng = np.random.default_rng(5)


def softmax_jacobian(p):
    """p_i (1 - p_i) on the diagonal, -p_i p_j off it (the lecture's form)."""
    return np.diag(p) - np.outer(p, p)


def test_softmax_backward_is_the_jacobian_applied_to_the_upstream():
    x = np.array([[1.0, 2.0, 3.0], [0.5, -1.0, 0.0]])
    u = rng.standard_normal((2, 3))
    gate = SoftmaxGate()
    p = gate.forward(x)
    np.testing.assert_allclose(p[0], np.exp([1, 2, 3]) / np.exp([1, 2, 3]).sum())
    np.testing.assert_allclose(p.sum(axis=1), [1.0, 1.0])
    (dx,) = gate.backward(u)
    for row in range(2):
        J = softmax_jacobian(p[row])
        assert J[0, 0] == pytest.approx(p[row, 0] * (1 - p[row, 0]))
        assert J[0, 1] == pytest.approx(-p[row, 0] * p[row, 1])
        np.testing.assert_allclose(dx[row], J.T @ u[row])
        np.testing.assert_allclose(gate.jvp(u)[row], J @ u[row])


def test_softmax_of_huge_logits_is_finite():
    gate = SoftmaxGate()
    p = gate.forward(np.array([[1e4, -1e4, 0.0]], np.float32))
    np.testing.assert_array_equal(p, [[1.0, 0.0, 0.0]])
    assert p.dtype == np.float32
    assert np.all(np.isfinite(gate.backward(np.ones((1, 3), np.float32))[0]))


def test_cross_entropy_gradient_is_p_minus_y_over_n():
    logits = rng.standard_normal((4, 3))
    labels = np.array([0, 2, 1, 2])
    gate = SoftmaxCrossEntropyGate()
    loss = gate.forward(logits, labels)
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert loss == pytest.approx(-np.mean(np.log(p[np.arange(4), labels])))
    onehot = np.eye(3)[labels]
    dlogits, dlabels = gate.backward(1.0)
    np.testing.assert_allclose(dlogits, (p - onehot) / 4)
    assert dlabels is None
    np.testing.assert_allclose(gate.backward(2.0)[0], 2 * (p - onehot) / 4)
    t = rng.standard_normal((4, 3))
    assert gate.jvp(t, None) == pytest.approx(np.sum((p - onehot) / 4 * t))


def test_labels_may_come_as_whole_floats():
    gate = SoftmaxCrossEntropyGate()
    logits = rng.standard_normal((3, 4))
    assert gate.forward(logits, np.array([0.0, 3.0, 1.0])) == gate.forward(logits, [0, 3, 1])


def test_uniform_logits_give_log_c():
    gate = SoftmaxCrossEntropyGate()
    assert gate.forward(np.zeros((2, 10)), [3, 7]) == pytest.approx(np.log(10))


def test_cross_entropy_with_logits_of_1e4_is_finite():
    gate = SoftmaxCrossEntropyGate()
    loss = gate.forward(np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]]), np.array([1, 1]))
    assert loss == pytest.approx(1e4)   # one row is off by 2e4, the other right: mean 1e4
    (dlogits, _) = gate.backward(1.0)
    np.testing.assert_allclose(dlogits, [[0.5, -0.5, 0.0], [0.0, 0.0, 0.0]])


def test_cross_entropy_keeps_float32():
    gate = SoftmaxCrossEntropyGate()
    loss = gate.forward(np.zeros((2, 3), np.float32), np.array([0, 1], np.uint8))
    assert loss.dtype == np.float32
    assert gate.backward(np.float32(1))[0].dtype == np.float32


def test_bad_labels_are_named():
    gate = SoftmaxCrossEntropyGate()
    logits = np.zeros((3, 4))
    with pytest.raises(GateDomainError, match=r"input 'labels' holds class 4, outside \[0, 4\)"):
        gate.forward(logits, [0, 4, 1])
    with pytest.raises(GateShapeError, match=r"input 'labels' has shape \(2,\) but input 'logits' of shape \(3, 4\) needs \(3,\)"):
        gate.forward(logits, [0, 1])
    with pytest.raises(GateDomainError, match=r"holds class -1, outside \[0, 4\)"):
        gate.forward(logits, np.array([0, -1, 1]))
    with pytest.raises(GateDomainError, match="holds class -1,"):
        gate.forward(logits, np.array([0.0, -1.0, 1.0]))
    with pytest.raises(GateTypeError, match="whole class numbers"):
        gate.forward(logits, [0.5, 1, 2])
    with pytest.raises(GateShapeError, match="must be 2-D"):
        gate.forward(np.zeros(4), [1])
    with pytest.raises(GateShapeError, match="empty"):
        gate.forward(np.zeros((0, 4)), np.zeros(0, int))
    with pytest.raises(GateArityError):
        gate.forward(logits)


def test_softmax_needs_an_axis_to_normalise_over():
    with pytest.raises(GateShapeError, match=r"must be at least 1-D, got shape \(\) \(a scalar\)"):
        SoftmaxGate().forward(1.0)
    with pytest.raises(GateShapeError, match="empty last axis"):
        SoftmaxGate().forward(np.ones((2, 0)))
