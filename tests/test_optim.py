"""Optimizers on a tiny quadratic whose minimum we know, through a real Graph.

L(w) = sum((w - c)^2) / 2 has gradient dL/dw = w - c and its minimum at w = c.
"""

import numpy as np
import pytest

import graph
from graph.optim import SGD, Adam, Momentum, make_optimizer

C = np.array([1.0, -2.0, 3.0])


def quadratic(w0):
    """L = 0.5 * l2(w - c) as gates; returns (graph, w, loss)."""
    g = graph.Graph()
    w = g.param("w", np.array(w0, dtype=float))
    loss = graph.scale(graph.l2(graph.subtract(w, C)), 0.5)
    return g, w, loss


def descend(opt_cls, steps, **options):
    g, w, loss = quadratic([0.0, 0.0, 0.0])
    opt = opt_cls(g.params, **options)
    losses = []
    for _ in range(steps):
        losses.append(float(g.forward(outputs=loss)))
        g.backward(loss)
        opt.step()
    return w.value, losses


def test_sgd_shrinks_the_error_by_1_minus_lr_each_step():
    # w_k - c = (1 - lr)^k (w_0 - c): with lr 0.1, after 2 steps 0.81 of the error is left
    w, losses = descend(SGD, 2, lr=0.1)
    np.testing.assert_allclose(w, C - 0.81 * C)
    assert losses[0] == pytest.approx(0.5 * (1 + 4 + 9))     # L(0) = 7
    w, _ = descend(SGD, 200, lr=0.1)
    np.testing.assert_allclose(w, C, atol=1e-8)


def test_momentum_by_hand_for_two_steps():
    # v1 = -lr g0 = 0.1 c; w1 = 0.1 c.  g1 = w1 - c = -0.9 c;
    # v2 = 0.9 v1 - lr g1 = 0.09 c + 0.09 c = 0.18 c; w2 = w1 + v2 = 0.28 c
    w, _ = descend(Momentum, 2, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(w, 0.28 * C)
    w, _ = descend(Momentum, 300, lr=0.1, momentum=0.9)
    np.testing.assert_allclose(w, C, atol=1e-6)


def test_adam_first_step_moves_every_weight_by_lr_whatever_the_gradient_scale():
    # m_hat = g and v_hat = g^2 on step 1, so the step is lr * g / |g| = lr * sign(g)
    w, _ = descend(Adam, 1, lr=0.1)
    np.testing.assert_allclose(w, 0.1 * np.sign(C), rtol=1e-6)
    w, losses = descend(Adam, 500, lr=0.05)
    np.testing.assert_allclose(w, C, atol=1e-3)
    assert losses[-1] < 1e-5 < losses[0]


def test_steps_assign_new_arrays_and_keep_float32():
    g = graph.Graph()
    w = g.param("w", np.ones(3, np.float32))
    loss = graph.l2(w)
    for cls in (SGD, Momentum, Adam):
        opt = cls([w], lr=0.01)
        g.forward(outputs=loss)
        g.backward(loss)
        before = w.value
        opt.step()
        assert w.value is not before and w.value.dtype == np.float32
        assert np.all(w.value < before)          # d(sum w^2)/dw = 2w > 0: every w falls


def test_a_parameter_without_gradient_is_left_alone():
    g = graph.Graph()
    used, unused = g.param("used", np.ones(2)), g.param("unused", np.ones(2))
    loss = graph.l2(used)
    g.forward(outputs=loss)
    g.backward(loss)
    SGD(g, lr=0.5).step()                       # a graph works too: its params are used
    np.testing.assert_allclose(used.value, [0, 0])   # 1 - 0.5 * 2
    np.testing.assert_allclose(unused.value, [1, 1])


def test_bad_settings_are_errors():
    g, w, _ = quadratic([0.0])
    with pytest.raises(ValueError, match="learning rate must be positive"):
        SGD(g.params, lr=0)
    with pytest.raises(ValueError, match="momentum must lie in"):
        Momentum(g.params, lr=0.1, momentum=1.0)
    with pytest.raises(ValueError, match="beta2 must lie in"):
        Adam(g.params, beta2=1.5)
    with pytest.raises(ValueError, match="no parameters"):
        SGD({}, lr=0.1)
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'; choose from sgd, "
                                         "momentum, adam"):
        make_optimizer("rmsprop", g.params, lr=0.1)
    assert isinstance(make_optimizer("momentum", g.params, lr=0.1), Momentum)
