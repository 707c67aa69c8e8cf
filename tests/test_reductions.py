"""Sum, mean and L2: the local gradient spreads the upstream back over what was reduced."""

import numpy as np
import pytest

from gates import GateShapeError, L2Gate, MeanGate, SumGate

pytestmark = pytest.mark.filterwarnings("error")

rng = np.random.default_rng(7)


def test_l2_is_the_sum_of_squares_and_its_gradient_is_2x():
    gate = L2Gate()
    x = np.array([[0.22], [0.26]])
    assert gate.forward(x) == pytest.approx(0.116)           # 0.22**2 + 0.26**2
    (dx,) = gate.backward(1.0)
    np.testing.assert_allclose(dx, [[0.44], [0.52]])          # 2x
    (dx,) = gate.backward(3.0)
    np.testing.assert_allclose(dx, 2 * x * 3.0)
    t = rng.standard_normal((2, 1))
    assert gate.jvp(t) == pytest.approx(float(np.sum(2 * x * t)))


def test_l2_of_any_shape_gives_a_scalar():
    x = rng.standard_normal((2, 3, 4))
    gate = L2Gate()
    assert np.shape(gate.forward(x)) == ()
    assert gate.backward(1.0)[0].shape == (2, 3, 4)


def test_sum_over_everything_copies_the_upstream():
    gate = SumGate()
    x = np.arange(6.0).reshape(2, 3)
    assert gate.forward(x) == 15
    np.testing.assert_array_equal(gate.backward(2.0)[0], np.full((2, 3), 2.0))


def test_sum_over_an_axis():
    gate = SumGate(axis=1)
    x = rng.standard_normal((3, 4, 2))
    np.testing.assert_allclose(gate.forward(x), x.sum(axis=1))
    u = rng.standard_normal((3, 2))
    (dx,) = gate.backward(u)
    np.testing.assert_allclose(dx, np.broadcast_to(u[:, None, :], (3, 4, 2)))
    t = rng.standard_normal((3, 4, 2))
    np.testing.assert_allclose(gate.jvp(t), t.sum(axis=1))


def test_mean_divides_the_gradient_by_the_count():
    gate = MeanGate(axis=(0, 2))
    x = rng.standard_normal((3, 4, 2))
    np.testing.assert_allclose(gate.forward(x), x.mean(axis=(0, 2)))
    u = rng.standard_normal(4)
    (dx,) = gate.backward(u)
    np.testing.assert_allclose(dx, np.broadcast_to(u[None, :, None] / 6, (3, 4, 2)))
    whole = MeanGate()
    assert whole.forward(np.array([1.0, 2.0, 6.0])) == 3
    np.testing.assert_allclose(whole.backward(1.0)[0], [1 / 3] * 3)


def test_negative_axis_and_float32():
    gate = SumGate(axis=-1)
    x = np.ones((2, 5), np.float32)
    out = gate.forward(x)
    assert out.dtype == np.float32 and out.shape == (2,)
    assert gate.backward(np.ones(2, np.float32))[0].dtype == np.float32


def test_bad_axes():
    with pytest.raises(GateShapeError, match=r"SumGate.forward: axis 2 is out of range for input 'x' of shape \(2, 3\)"):
        SumGate(axis=2).forward(np.ones((2, 3)))
    with pytest.raises(GateShapeError, match="mean over an empty axis"):
        MeanGate(axis=0).forward(np.ones((0, 3)))
    with pytest.raises(GateShapeError, match="repeats"):
        SumGate(axis=(1, 1))
