"""Elementwise nonlinear gates: closed-form local gradients, kinks, stability, domains."""

import numpy as np
import pytest

from gates import (CosGate, ExpGate, GateDomainError, LogGate, MaxGate, ReLUGate, SigmoidGate,
                   SinGate, TanGate, TanhGate)

pytestmark = pytest.mark.filterwarnings("error")  # a numpy warning is a failure here

rng = np.random.default_rng(99)
x = rng.uniform(-1.2, 1.2, size=(3, 4))
u = rng.standard_normal((3, 4))
t = rng.standard_normal((3, 4))

# gate, forward f(x), local derivative f'(x) in the lecture's form
CLOSED_FORMS = [
    (SigmoidGate, lambda x: 1 / (1 + np.exp(-x)),
     lambda x: (1 - 1 / (1 + np.exp(-x))) / (1 + np.exp(-x))),      # (1 - z) z
    (TanhGate, np.tanh, lambda x: 1 - np.tanh(x) ** 2),
    (SinGate, np.sin, np.cos),
    (CosGate, np.cos, lambda x: -np.sin(x)),
    (TanGate, np.tan, lambda x: 1 / np.cos(x) ** 2),
    (ExpGate, np.exp, np.exp),
    (ReLUGate, lambda x: np.maximum(x, 0), lambda x: (x > 0).astype(float)),
]


@pytest.mark.parametrize("cls, f, df", CLOSED_FORMS, ids=[c[0].__name__ for c in CLOSED_FORMS])
def test_forward_backward_and_jvp_match_the_closed_form(cls, f, df):
    gate = cls()
    np.testing.assert_allclose(gate.forward(x), f(x), rtol=1e-12)
    (dx,) = gate.backward(u)
    np.testing.assert_allclose(dx, df(x) * u, rtol=1e-12)
    np.testing.assert_allclose(gate.jvp(t), df(x) * t, rtol=1e-12)


def test_sigmoid_backward_is_one_minus_z_times_z_times_upstream():
    gate = SigmoidGate()
    z = gate.forward(0.0)
    assert z == 0.5
    assert gate.backward(1.0) == (0.25,)     # (1 - 0.5) * 0.5
    z = gate.forward(1.0)
    assert z == pytest.approx(0.7310585786)
    assert gate.backward(2.0)[0] == pytest.approx(2 * (1 - z) * z)


def test_sigmoid_of_plus_minus_1e4_is_exact_and_silent():
    gate = SigmoidGate()
    z = gate.forward(np.array([1e4, -1e4], dtype=np.float32))
    np.testing.assert_array_equal(z, [1.0, 0.0])
    assert z.dtype == np.float32
    np.testing.assert_array_equal(gate.backward(np.ones(2, np.float32))[0], [0.0, 0.0])


def test_log_closed_form_and_domain():
    gate = LogGate()
    xs = np.array([0.5, 1.0, np.e])
    np.testing.assert_allclose(gate.forward(xs), [np.log(0.5), 0.0, 1.0])
    np.testing.assert_allclose(gate.backward(np.ones(3))[0], 1 / xs)
    with pytest.raises(GateDomainError, match=r"LogGate.forward: log of a non-positive number: x is -1.0 at index \(1,\)"):
        gate.forward(np.array([1.0, -1.0]))
    with pytest.raises(GateDomainError, match="non-positive"):
        gate.forward(0)
    with pytest.raises(GateDomainError):
        gate.forward(np.nan)


def test_exp_overflow_is_an_error_not_inf():
    assert ExpGate().forward(709.0) < np.inf
    with pytest.raises(GateDomainError, match="exp overflows float64"):
        ExpGate().forward(710.0)
    with pytest.raises(GateDomainError, match="exp overflows float32"):
        ExpGate().forward(np.array([1.0, 100.0], np.float32))


def test_max_routes_the_gradient_to_the_larger_input():
    gate = MaxGate()
    assert gate.forward(2, -1) == 2            # max(z, w) at z=2, w=-1 from the lecture
    assert gate.backward(2.0) == (2.0, 0.0)
    gate.forward(np.array([1.0, 5.0]), np.array([3.0, 4.0]))
    dx, dy = gate.backward(np.array([10.0, 20.0]))
    np.testing.assert_array_equal(dx, [0.0, 20.0])
    np.testing.assert_array_equal(dy, [10.0, 0.0])


def test_max_tie_sends_everything_to_the_first_input():
    gate = MaxGate()
    gate.forward(1.5, 1.5)
    assert gate.backward(3.0) == (3.0, 0.0)


def test_max_broadcasts():
    gate = MaxGate()
    out = gate.forward(np.array([[0.0], [2.0]]), np.array([1.0, -1.0, 3.0]))
    np.testing.assert_array_equal(out, [[1, 0, 3], [2, 2, 3]])
    dx, dy = gate.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(dx, [[1.0], [2.0]])
    np.testing.assert_array_equal(dy, [1.0, 0.0, 2.0])   # y = 3 wins in both rows


def test_relu_at_zero_has_gradient_zero():
    gate = ReLUGate()
    out = gate.forward(np.array([-2.0, 0.0, 3.0]))
    np.testing.assert_array_equal(out, [0.0, 0.0, 3.0])
    np.testing.assert_array_equal(gate.backward(np.array([5.0, 5.0, 5.0]))[0], [0.0, 0.0, 5.0])


def test_kink_flags():
    assert MaxGate.kinks and ReLUGate.kinks
    assert not SigmoidGate.kinks and not TanhGate.kinks


@pytest.mark.parametrize("cls", [SigmoidGate, TanhGate, SinGate, CosGate, TanGate, ExpGate,
                                 LogGate, ReLUGate])
def test_float32_stays_float32(cls):
    xs = np.array([0.5, 1.0], np.float32)
    gate = cls()
    out = gate.forward(xs)
    assert out.dtype == np.float32
    assert gate.backward(np.ones(2, np.float32))[0].dtype == np.float32
