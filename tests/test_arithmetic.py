"""The arithmetic gates: the slide's numbers, closed-form gradients, broadcasting, dtypes."""

import numpy as np
import pytest

from gates import (AddGate, DivideGate, GateArityError, GateDomainError, GateShapeError,
                   GateStateError, GateTypeError, MultiplyGate, NegateGate, PowerGate,
                   ScaleGate, SubtractGate)

pytestmark = pytest.mark.filterwarnings("error")  # a numpy warning is a failure here

rng = np.random.default_rng(1234)


def test_multiply_gate_from_the_slide():
    gate = MultiplyGate()
    assert gate.forward(3, -4) == -12
    dx, dy = gate.backward(2)
    # the multiply gate switches: dx = y * upstream, dy = x * upstream
    assert (dx, dy) == (-8, 6)


def test_backward_can_be_called_twice_with_the_same_answer():
    gate = MultiplyGate()
    gate.forward(3, -4)
    assert gate.backward(2) == gate.backward(2) == (-8, 6)


def test_add_distributes_subtract_negates():
    assert AddGate().forward(2, 1) == 3
    add = AddGate()
    add.forward(2, 1)
    assert add.backward(5) == (5, 5)
    sub = SubtractGate()
    assert sub.forward(2, 1) == 1
    assert sub.backward(5) == (5, -5)


def test_divide_closed_form():
    x, y = rng.standard_normal((2, 3)), rng.uniform(1, 2, size=(2, 3))
    u = rng.standard_normal((2, 3))
    gate = DivideGate()
    np.testing.assert_allclose(gate.forward(x, y), x / y)
    dx, dy = gate.backward(u)
    np.testing.assert_allclose(dx, u / y)
    np.testing.assert_allclose(dy, -x / y**2 * u)
    tx, ty = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    np.testing.assert_allclose(gate.jvp(tx, ty), tx / y - x / y**2 * ty)


def test_scale_amplifies_and_negate_flips():
    gate = ScaleGate(2)
    assert gate.forward(-10) == -20
    assert gate.backward(1.0) == (2,)
    neg = NegateGate()
    assert neg.forward(4) == -4
    assert neg.backward(3) == (-3,)
    assert neg.jvp(1.0) == -1


@pytest.mark.parametrize("n", [2, 3, 0.5, -1, 2.5])
def test_power_closed_form(n):
    x = rng.uniform(0.5, 2, size=(4,))
    u = rng.standard_normal(4)
    gate = PowerGate(n)
    np.testing.assert_allclose(gate.forward(x), x**n)
    np.testing.assert_allclose(gate.backward(u)[0], n * x ** (n - 1) * u)
    np.testing.assert_allclose(gate.jvp(u), n * x ** (n - 1) * u)


def test_power_of_a_negative_base():
    assert PowerGate(2).forward(-3) == 9          # integer exponent: fine
    with pytest.raises(GateDomainError, match="negative base"):
        PowerGate(0.5).forward(np.array([1.0, -4.0]))
    with pytest.raises(GateDomainError, match="zero base"):
        PowerGate(-1).forward(np.array([0.0, 1.0]))


def test_broadcast_backward_sums_back_to_each_input_shape():
    x = rng.standard_normal((3, 4))
    b = rng.standard_normal(4)          # a bias row, broadcast over 3 rows
    c = rng.standard_normal((3, 1))     # a column, broadcast over 4 columns
    u = rng.standard_normal((3, 4))
    add = AddGate()
    add.forward(x, b)
    dx, db = add.backward(u)
    assert dx.shape == (3, 4) and db.shape == (4,)
    np.testing.assert_allclose(db, u.sum(axis=0))
    mul = MultiplyGate()
    mul.forward(c, x)
    dc, dx = mul.backward(u)
    assert dc.shape == (3, 1)
    np.testing.assert_allclose(dc, (x * u).sum(axis=1, keepdims=True))
    np.testing.assert_allclose(dx, c * u)


def test_multiply_jvp_is_the_product_rule():
    x, y = rng.standard_normal(5), rng.standard_normal(5)
    tx, ty = rng.standard_normal(5), rng.standard_normal(5)
    gate = MultiplyGate()
    gate.forward(x, y)
    np.testing.assert_allclose(gate.jvp(tx, ty), tx * y + x * ty)
    np.testing.assert_allclose(gate.jvp(tx, None), tx * y)
    np.testing.assert_allclose(gate.jvp(None, None), np.zeros(5))


@pytest.mark.parametrize("gate", [AddGate(), SubtractGate(), MultiplyGate(), DivideGate()])
def test_float32_stays_float32_and_gradients_follow_their_input(gate):
    x = np.ones((2, 3), np.float32)
    y = np.full(3, 2.0, np.float32)
    out = gate.forward(x, y)
    assert out.dtype == np.float32
    dx, dy = gate.backward(np.ones((2, 3), np.float32))
    assert dx.dtype == np.float32 and dy.dtype == np.float32
    # a Python number beside float32 is weakly typed, as in numpy
    assert gate.forward(x, 2.0).dtype == np.float32
    # float32 beside float64 computes in float64, but each gradient keeps its input's dtype
    out = gate.forward(x, np.full(3, 2.0))
    assert out.dtype == np.float64
    dx, dy = gate.backward(np.ones((2, 3)))
    assert dx.dtype == np.float32 and dy.dtype == np.float64


def test_integers_and_python_numbers_become_float64():
    out = MultiplyGate().forward(np.array([1, 2, 3]), 2)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, [2.0, 4.0, 6.0])
    assert np.asarray(AddGate().forward(2, 3)).dtype == np.float64
    assert AddGate().forward([1, 2], [[3], [4]]).shape == (2, 2)


def test_forward_does_not_change_its_inputs():
    x, y = rng.standard_normal((2, 3)), rng.standard_normal(3)
    x0, y0 = x.copy(), y.copy()
    gate = DivideGate()
    gate.forward(x, y + 3)
    gate.backward(np.ones((2, 3)))
    np.testing.assert_array_equal(x, x0)
    np.testing.assert_array_equal(y, y0)


def test_misuse_raises_gate_errors_naming_gate_input_and_shapes():
    with pytest.raises(GateArityError, match=r"MultiplyGate\.forward: takes 2 input\(s\) \(x, y\), got 1"):
        MultiplyGate().forward(1)
    with pytest.raises(GateShapeError, match=r"input 'x' of shape \(2, 3\) and input 'y' of shape \(4,\)"):
        AddGate().forward(np.ones((2, 3)), np.ones(4))
    with pytest.raises(GateStateError, match="MultiplyGate.backward: called before forward"):
        MultiplyGate().backward(1.0)
    with pytest.raises(GateStateError, match="jvp: called before forward"):
        AddGate().jvp(1.0, 1.0)
    gate = MultiplyGate()
    gate.forward(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(GateShapeError, match=r"upstream gradient has shape \(3,\) but the output has shape \(2, 3\)"):
        gate.backward(np.ones(3))
    with pytest.raises(GateShapeError, match="tangent for 'y'"):
        gate.jvp(None, np.ones(3))
    with pytest.raises(GateArityError, match="takes 2 tangent"):
        gate.jvp(np.ones((2, 3)))
    with pytest.raises(GateTypeError, match="input 'y'"):
        gate.forward(np.ones(3), "four")
    with pytest.raises(GateTypeError, match="complex"):
        gate.forward(np.ones(3), np.ones(3, complex))


def test_division_by_zero_names_the_divisor_and_where():
    with pytest.raises(GateDomainError, match=r"division by zero: divisor 'y' is 0.0 at index \(1,\)"):
        DivideGate().forward(np.ones(3), np.array([1.0, 0.0, 2.0]))
    with pytest.raises(GateDomainError, match="division by zero"):
        DivideGate().forward(1.0, np.nan)


def test_a_failed_forward_keeps_the_previous_cache_usable():
    gate = DivideGate()
    gate.forward(6.0, 3.0)
    with pytest.raises(GateDomainError):
        gate.forward(1.0, 0.0)
    dx, dy = gate.backward(1.0)
    assert dx == pytest.approx(1 / 3) and dy == pytest.approx(-6 / 9)


def test_constructor_parameters_must_be_finite_numbers():
    with pytest.raises(GateTypeError, match="ScaleGate: parameter k must be finite, got nan"):
        ScaleGate(float("nan"))
    with pytest.raises(GateTypeError, match="PowerGate: parameter n must be a real number"):
        PowerGate("two")
    assert ScaleGate(np.float32(2)).k == 2.0
