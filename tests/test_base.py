"""The contract itself: the registry, example inputs, unbroadcast, and student-style gates."""

import inspect

import numpy as np
import pytest

import gates
from gates import ALL_GATES, Gate, GateError, unbroadcast

pytestmark = pytest.mark.filterwarnings("error")


def test_the_registry_holds_every_gate_of_the_lecture():
    names = {cls.__name__ for cls in ALL_GATES}
    assert len(ALL_GATES) >= 24
    assert {"AddGate", "SubtractGate", "MultiplyGate", "DivideGate", "ScaleGate", "PowerGate",
            "NegateGate", "MaxGate", "ReLUGate", "SigmoidGate", "TanhGate", "SinGate",
            "CosGate", "TanGate", "ExpGate", "LogGate", "SumGate", "MeanGate", "L2Gate",
            "MatVecGate", "MatMulGate", "AffineGate", "SoftmaxGate",
            "SoftmaxCrossEntropyGate"} <= names


@pytest.mark.parametrize("cls", ALL_GATES, ids=lambda c: c.__name__)
def test_every_gate_makes_valid_examples_and_follows_the_contract(cls):
    assert isinstance(cls.kinks, bool)
    assert cls.__doc__ and cls.__doc__.strip(), f"{cls.__name__} needs a docstring"
    for seed in range(5):
        rng = np.random.default_rng(seed)
        gate = cls.example_gate()
        inputs = cls.example_inputs(rng)
        assert len(inputs) == gate.arity
        out = gate.forward(*inputs)
        assert np.all(np.isfinite(out))
        grads = gate.backward(np.ones(np.shape(out)))
        assert len(grads) == gate.arity
        for x, g, differentiable in zip(inputs, grads, gate.differentiable_inputs()):
            if differentiable:
                assert g.shape == np.shape(x) and np.all(np.isfinite(g))
            else:
                assert g is None
        tangents = [np.ones(np.shape(x)) if d else None
                    for x, d in zip(inputs, gate.differentiable_inputs())]
        assert np.shape(gate.jvp(*tangents)) == np.shape(out)


@pytest.mark.parametrize("cls", ALL_GATES, ids=lambda c: c.__name__)
def test_misuse_is_always_a_gate_error(cls):
    gate = cls.example_gate()
    with pytest.raises(GateError, match=cls.__name__):
        gate.backward(1.0)
    with pytest.raises(GateError, match=cls.__name__):
        gate.jvp(*([None] * gate.arity))
    with pytest.raises(GateError, match=cls.__name__):
        gate.forward(*([np.ones(2)] * (gate.arity + 1)))
    out = gate.forward(*cls.example_inputs(np.random.default_rng(0)))
    with pytest.raises(GateError, match="upstream gradient has shape"):
        gate.backward(np.ones(np.shape(out) + (2,)))


def test_unbroadcast_sums_leading_and_size_one_axes():
    g = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(unbroadcast(g, (4,)), g.sum(axis=(0, 1)))
    np.testing.assert_array_equal(unbroadcast(g, (3, 1)), g.sum(axis=(0, 2))[:, None])
    np.testing.assert_array_equal(unbroadcast(g, ()), g.sum())
    assert unbroadcast(g, (2, 3, 4)) is g


def test_the_design_card_multiply_gate_written_by_a_student_works_as_is():
    class MultiplyGate:                       # no base class, exactly the slide
        def forward(self, x, y):
            self.dzdx = y
            self.dzdy = x
            return x * y

        def backward(self, dz):
            return self.dzdx * dz, self.dzdy * dz

    student, ours = MultiplyGate(), gates.MultiplyGate()
    assert student.forward(3, -4) == ours.forward(3, -4) == -12
    assert student.backward(2) == ours.backward(2) == (-8, 6)


def test_every_public_gate_function_is_documented():
    for name in gates.__all__:
        obj = getattr(gates, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__doc__, name
    assert issubclass(gates.GateShapeError, ValueError) and issubclass(gates.GateArityError, TypeError)
    assert Gate.needs_input_grad is None
