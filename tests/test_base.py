"""The contract itself: the registry, example inputs, unbroadcast, student-style gates, and
the plumbing Gate applies once around every gate's own math."""

import inspect
import textwrap

import numpy as np
import pytest

import gates
from gates import (ALL_GATES, Gate, GateArityError, GateError, GateShapeError, GateStateError,
                   GateTypeError, unbroadcast)

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


# -- the plumbing: applied once, by Gate, around each gate's own math -----------------

def _own(cls, name):
    """A method as its class wrote it (under Gate's wrapper, if it has one)."""
    method = cls.__dict__[name]
    return getattr(method, "__wrapped__", method)


@pytest.mark.parametrize("cls", ALL_GATES, ids=lambda c: c.__name__)
def test_every_gate_writes_its_own_forward_backward_and_jvp_with_named_inputs(cls):
    for name in ("forward", "backward", "jvp"):
        assert name in cls.__dict__, f"{cls.__name__} inherits {name}"
    params = lambda name: list(inspect.signature(_own(cls, name)).parameters)
    assert params("forward") == ["self", *cls.input_names]
    assert params("backward") == ["self", "dz"]     # the lecture's name for the upstream
    assert len(params("jvp")) == 1 + len(cls.input_names)
    assert "*" not in str(inspect.signature(_own(cls, "jvp")))


def test_the_multiply_gate_is_the_slide():
    source = "".join(inspect.getsource(_own(gates.MultiplyGate, name))
                     for name in ("forward", "backward", "jvp"))
    assert textwrap.dedent(source) == textwrap.dedent("""\
        def forward(self, x, y):
            self.dzdx = y            # local gradients, cached for backward
            self.dzdy = x
            return x * y
        def backward(self, dz):
            return self.dzdx * dz, self.dzdy * dz
        def jvp(self, tx, ty):
            return self.dzdx * tx + self.dzdy * ty
        """)


class TwiceProduct(Gate):
    """z = 2 x y, written like the slide and nothing else."""

    def forward(self, x, y):
        self.dzdx = 2 * y
        self.dzdy = 2 * x
        return 2 * x * y

    def backward(self, dz):
        return self.dzdx * dz, self.dzdy * dz

    def jvp(self, tx, ty):
        return self.dzdx * tx + self.dzdy * ty


def test_a_slide_style_gate_gets_conversion_dtypes_and_unbroadcasting_for_free():
    gate = TwiceProduct()
    assert gate.input_names == ("x", "y") and gate.arity == 2
    x, y = np.ones((3, 4), np.float32), np.arange(4, dtype=np.float32)
    out = gate.forward(x, y)
    assert out.dtype == np.float32 and out.shape == (3, 4)
    dx, dy = gate.backward(np.ones((3, 4)))           # a float64 upstream is cast
    assert dx.dtype == dy.dtype == np.float32
    assert dy.shape == (4,)                            # summed over the 3 broadcast rows
    np.testing.assert_array_equal(dy, [6, 6, 6, 6])
    np.testing.assert_array_equal(gate.jvp(None, np.ones(4)), np.full((3, 4), 2.0))
    assert gate.jvp(None, None).dtype == np.float32    # None is a zero tangent
    # integers and lists become float64; a Python number beside float32 stays float32
    assert gate.forward([1, 2], 3).dtype == np.float64
    assert gate.forward(x, 3).dtype == np.float32
    # float32 beside float64: computed in float64, each gradient in its input's dtype
    gate.forward(x, np.ones(4))
    dx, dy = gate.backward(np.ones((3, 4)))
    assert dx.dtype == np.float32 and dy.dtype == np.float64
    # a 0-d result is a numpy scalar, as numpy's own ufuncs give
    assert type(gate.forward(np.array(2.0), np.array(3.0))) is np.float64


def test_a_slide_style_gate_gets_the_errors_for_free():
    gate = TwiceProduct()
    with pytest.raises(GateStateError, match=r"^TwiceProduct\.backward: called before forward"):
        gate.backward(1.0)
    with pytest.raises(GateArityError, match=r"^TwiceProduct\.forward: takes 2 input\(s\) "
                                             r"\(x, y\), got 1"):
        gate.forward(1.0)
    with pytest.raises(GateShapeError, match=r"input 'x' of shape \(2,\) and input 'y' of "
                                             r"shape \(3,\) do not broadcast together"):
        gate.forward(np.ones(2), np.ones(3))
    with pytest.raises(GateTypeError, match="input 'y' has dtype complex128"):
        gate.forward(1.0, np.ones(2, complex))
    gate.forward(np.ones(2), np.ones(2))
    with pytest.raises(GateShapeError, match=r"upstream gradient has shape \(3,\) but the "
                                             r"output has shape \(2,\)"):
        gate.backward(np.ones(3))
    with pytest.raises(GateArityError, match=r"takes 2 tangent\(s\) \(x, y\), got 1"):
        gate.jvp(np.ones(2))
    with pytest.raises(GateShapeError, match="tangent for 'y' has shape"):
        gate.jvp(None, np.ones(5))


def test_a_forward_that_raises_leaves_the_previous_cache_whole():
    class FragileGate(Gate):
        def forward(self, x):                  # writes its cache, then fails
            self.dzdx = 2 * x
            if np.any(x > 10):
                raise FloatingPointError("too large")
            return x * x

        def backward(self, dz):
            return (self.dzdx * dz,)

    gate = FragileGate()
    gate.forward(3.0)
    with pytest.raises(FloatingPointError):
        gate.forward(np.array([1.0, 20.0]))
    assert gate.backward(1.0) == (6.0,)        # the cache of forward(3.0)


def test_a_gate_that_takes_star_inputs_does_its_own_checks():
    class Variadic(Gate):                      # like graph.blocks.GraphGate
        input_names = ("a", "b")

        def forward(self, *inputs):
            return len(inputs)

        def backward(self, upstream):
            return "as written"

    gate = Variadic()
    assert gate.forward(1, 2, 3) == 3 and gate.backward(None) == "as written"
    assert not hasattr(Variadic.forward, "__wrapped__")


def test_a_subclass_of_a_built_in_gate_gets_the_plumbing_for_the_methods_it_writes():
    class MyMultiply(gates.MultiplyGate):
        def backward(self, dz):               # the slide again, no super(), no summing
            return dz * self.dzdx, dz * self.dzdy

    class Three(gates.AddGate):
        def forward(self, x, y):              # no super(), and a Python int out
            self.dzdx = self.dzdy = 1
            return 3

    class CountingAdd(gates.AddGate):         # forward(*inputs): the inputs of AddGate's
        def forward(self, *inputs):
            return super().forward(*inputs)

    gate = MyMultiply()
    gate.forward(np.ones((3, 4)), np.full(4, 2.0))
    dx, dy = gate.backward(np.ones((3, 4)))
    np.testing.assert_array_equal(dy, [3, 3, 3, 3])      # summed back over the 3 rows
    three = Three()
    assert type(three.forward(1.0, np.float32(2))) is np.float32
    assert three.backward(1.0) == (1.0, 1.0)
    with pytest.raises(GateArityError, match=r"^CountingAdd\.forward: takes 2 input\(s\) "
                                             r"\(x, y\), got 3"):
        CountingAdd().forward(1.0, 2.0, 3.0)


def test_plumbing_false_lets_a_wrong_gate_show_its_mistakes_to_a_checker():
    # the checker's mutants rely on it: a wrong gradient must not be "repaired"
    class BiasNotSummed(gates.AffineGate):
        plumbing = False

        def backward(self, dz):
            dx, dW, _ = super().backward(dz)   # AffineGate's own backward keeps its wrapper
            return dx, dW, dz

    class Float64Out(gates.SigmoidGate):
        plumbing = False

        def forward(self, x):
            return super().forward(np.asarray(x, dtype=np.float64))

    gate = BiasNotSummed()
    gate.forward(np.ones((5, 2)), np.ones((2, 3)), np.ones(3))
    assert gate.backward(np.ones((5, 3)))[2].shape == (5, 3)
    assert Float64Out().forward(np.ones(2, np.float32)).dtype == np.float64
    assert not hasattr(BiasNotSummed.backward, "__wrapped__")


def test_input_names_that_forward_does_not_take_are_refused_when_the_class_is_defined():
    with pytest.raises(TypeError, match=r"^OneName: input_names \('x',\) names 1 input\(s\) "
                                        r"but forward takes 2 \(x, y\)"):
        class OneName(gates.MultiplyGate):
            input_names = ("x",)

    with pytest.raises(TypeError, match=r"^ThreeNames: .* but forward takes 1 \(x\)"):
        class ThreeNames(Gate):
            input_names = ("a", "b", "c")

            def forward(self, x):
                return x


def test_a_backward_may_return_a_list_and_is_summed_back_all_the_same():
    class ListAdd(Gate):
        def forward(self, x, y):
            return x + y

        def backward(self, dz):
            return [dz, dz]

    gate = ListAdd()
    gate.forward(np.ones((3, 4), np.float32), np.ones(4, np.float32))
    grads = gate.backward(np.ones((3, 4)))
    assert type(grads) is tuple
    dx, dy = grads
    assert dx.shape == (3, 4) and dy.shape == (4,) and dy.dtype == np.float32
    np.testing.assert_array_equal(dy, [3, 3, 3, 3])


def test_labels_are_taken_as_integers_and_get_no_gradient():
    gate = gates.SoftmaxCrossEntropyGate()
    gate.forward(np.zeros((2, 3)), [1.0, 2.0])
    assert gate.backward(1.0)[1] is None
    assert gate.jvp(None, None) == 0.0


def test_plumbing_false_with_its_own_forward_runs_the_inherited_backward_as_written():
    class RawMul(gates.MultiplyGate):
        plumbing = False

        def forward(self, x, y):            # no super(): nothing records the run
            self.dzdx, self.dzdy = y, x
            return x * y

    gate = RawMul()
    assert gate.forward(3.0, -4.0) == -12.0
    assert gate.backward(2.0) == (-8.0, 6.0)             # the slide's numbers
    assert gate.jvp(1.0, 0.0) == -4.0


def test_a_subclass_that_changes_forwards_inputs_must_write_what_depends_on_them():
    with pytest.raises(TypeError, match=r"^NoBias: input_ndims \(2, 2, 1\) has 3 entries "
                                        r"but forward takes 2 \(x, W\)"):
        class NoBias(gates.AffineGate):
            input_names = ("x", "W")

            def forward(self, x, W):
                return super().forward(x, W, np.zeros(W.shape[1]))

    with pytest.raises(TypeError, match=r"^Square: forward takes 1 input\(s\) \(x\) but jvp, "
                                        r"inherited from MultiplyGate, takes 2 \(tx, ty\); "
                                        r"write jvp for Square too"):
        class Square(gates.MultiplyGate):
            input_names = ("x",)

            def forward(self, x):
                return super().forward(x, x)

            def backward(self, dz):
                return (2 * self.dzdx * dz,)


def test_the_wrappers_name_inputs_as_input_names_does():
    class Renamed(gates.Gate):
        input_names = ("p", "q")

        def forward(self, x, y):
            return x + y

    with pytest.raises(GateShapeError, match=r"input 'p' of shape \(2,\) and input 'q' of "
                                             r"shape \(3,\) do not broadcast"):
        Renamed().forward(np.ones(2), np.ones(3))


def test_a_gate_without_a_method_says_which():
    class OnlyForward(gates.Gate):
        def forward(self, x):
            return x

    with pytest.raises(NotImplementedError, match="OnlyForward does not define jvp"):
        OnlyForward().jvp(1.0)
