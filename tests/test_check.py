"""The numerical checker: every built-in gate and block passes it, and wrong gates
("mutants") fail it with a verdict that names the wrong input."""

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import gates
from experiments.check_command import BLOCKS
from gates import (AddGate, AffineGate, MatMulGate, MaxGate, MultiplyGate, ReLUGate,
                   SigmoidGate, SoftmaxCrossEntropyGate)
from gates.check import check_all, check_example, check_gate, rel_error

TARGETS = list(gates.ALL_GATES) + list(BLOCKS)


@pytest.mark.parametrize("target", TARGETS, ids=[t.__name__ for t in TARGETS])
def test_every_builtin_gate_and_block_passes_on_its_example_inputs(target):
    # two seeds in float64, one in float32 (dtypes kept, float32 tolerances)
    for seed, float32 in [(0, False), (1, False), (2, True)]:
        report = check_example(target, seed, float32=float32)
        assert report is not None and report.ok, str(report)


# -- the lecture's numbers ------------------------------------------------------------

def test_sigmoid_at_1_has_gradient_0_1966_and_the_report_says_so():
    # sigma(1) = 0.731059, (1 - sigma(1)) sigma(1) = 0.196612
    report = check_gate(SigmoidGate(), np.array(1.0), upstream=1.0)
    assert report.ok
    grad = report.inputs[0].comparisons[0]
    assert grad.kind == "gradient" and grad.count == 1
    assert grad.max_abs_error < 1e-9


def test_multiply_gate_from_the_slide_passes_with_python_numbers():
    # forward(3, -4) = -12, backward(2) = (-8, 6)
    report = check_gate(MultiplyGate(), 3.0, -4.0, upstream=2.0)
    assert report.ok, str(report)
    assert [i.name for i in report.inputs] == ["x", "y"]


def test_rel_error_is_cs231n_with_a_floor():
    assert rel_error(1.0, 1.0) == 0.0
    assert rel_error(1.0, -1.0) == 1.0
    assert rel_error(0.2, 0.19) == pytest.approx(0.01 / 0.39)
    assert rel_error(0.0, 1e-12) == pytest.approx(1e-4)   # the floor 1e-8 keeps it finite


# -- mutants: each must fail, naming the wrong input ----------------------------------

class SigmoidMissingOneMinusZ(SigmoidGate):
    """dz/dx = z instead of (1 - z) z."""

    def forward(self, x):
        z = super().forward(x)
        self.dzdx = z
        return z


class MatMulMissingTranspose(MatMulGate):
    """dL/dA = U B instead of U B^T (the shapes agree when B is square)."""

    def backward(self, U):
        return U @ self.B, self.A.T @ U


class MatMulMissingTransposeOnB(MatMulGate):
    """dL/dB = U^T A instead of A^T U: a gradient of the wrong shape."""

    def backward(self, U):
        return U @ self.B.T, U.T @ self.A


class AffineBiasNotSummed(AffineGate):
    """dL/db = U, the whole batch, instead of U summed over the batch."""

    plumbing = False        # Gate's wrapper would sum U back over the batch: a repair

    def backward(self, U):
        dx, dW, _ = super().backward(U)
        return dx, dW, U


class AffineBiasFirstRowOnly(AffineGate):
    """dL/db = U[0]: the right shape, but only the first example of the batch."""

    def backward(self, U):
        dx, dW, _ = super().backward(U)
        return dx, dW, U[0]


class ReLULeaky(ReLUGate):
    """Lets the gradient through where x < 0."""

    def backward(self, dz):
        return (np.asarray(dz) * 1.0,)


class MultiplyJvpWrongSign(MultiplyGate):
    def jvp(self, *tangents):
        return -super().jvp(*tangents)


class ExpInPlace(gates.ExpGate):
    """Overwrites its input with the output (saves memory, breaks the caller)."""

    def forward(self, x):
        out = super().forward(x)
        x[...] = out
        return out


class AddOneGradientTooFew(AddGate):
    def backward(self, dz):
        return super().backward(dz)[:1]


rng = np.random.default_rng(7)
X34, Y4 = AddGate.example_inputs(rng)

MUTANTS = [
    (SigmoidMissingOneMinusZ(), (X34,), "x", "backward"),
    (MatMulMissingTranspose(), (rng.standard_normal((2, 3)), rng.standard_normal((3, 3))),
     "A", "backward"),
    (MatMulMissingTransposeOnB(), MatMulGate.example_inputs(rng), "B", "backward"),
    (AffineBiasNotSummed(), AffineGate.example_inputs(rng), "b", "backward"),
    (AffineBiasFirstRowOnly(), AffineGate.example_inputs(rng), "b", "backward"),
    (ReLULeaky(), (X34,), "x", "backward"),
    (MultiplyJvpWrongSign(), (X34, Y4), "x", "jvp"),
    (ExpInPlace(), (X34.copy(),), "x", "forward"),
    (AddOneGradientTooFew(), (X34, Y4), "y", "backward"),
]


@pytest.mark.parametrize("gate, inputs, wrong, method", MUTANTS,
                         ids=[type(m[0]).__name__ for m in MUTANTS])
def test_mutant_fails_naming_the_wrong_input(gate, inputs, wrong, method):
    report = check_gate(gate, *inputs)
    assert not report.ok
    assert report.failed_inputs[0] == wrong
    assert report.verdict.startswith(f"FAIL {gate!r} (float64, seed 0): input '{wrong}': "
                                     f"{method}:"), report.verdict
    assert f"input '{wrong}'" in str(report)


def test_sigmoid_mutant_report_shows_the_numbers_at_1():
    report = check_gate(SigmoidMissingOneMinusZ(), np.array(1.0), upstream=1.0)
    worst = report.inputs[0].comparisons[0].worst
    assert worst.where == "x"
    assert worst.numerical == pytest.approx(0.196612, abs=1e-6)
    assert worst.analytic == pytest.approx(0.731059, abs=1e-6)
    assert "numerical 0.196612, analytic 0.731059" in report.verdict


def test_leaky_relu_fails_at_a_clearly_negative_entry_with_gradient_0():
    x = np.array([-1.5, -0.5, 0.5, 2.0])
    report = check_gate(ReLULeaky(), x, upstream=np.ones(4))
    grad = report.inputs[0].comparisons[0]
    assert grad.failures == 2                     # x = -1.5 and -0.5
    assert grad.worst.numerical == 0 and grad.worst.analytic == 1
    assert grad.worst.index in [(0,), (1,)]


def test_only_the_jvp_mutant_fails_forward_mode():
    report = check_gate(MultiplyJvpWrongSign(), X34, Y4)
    assert {p.method for p in report.problems} == {"jvp"}
    assert report.failed_inputs == ["x", "y"]


def test_problems_carry_their_kind_and_are_listed_structure_first():
    class SloppyMultiply:
        def forward(self, x, y):
            self.x, self.y = x, y
            return x * y

        def backward(self, dz):                  # y's gradient forgets to sum back
            return self.y * dz, self.x * dz

        def jvp(self, tx, ty):                   # and forward mode has the wrong sign
            return -(tx * self.y + self.x * ty)

    report = check_gate(SloppyMultiply(), X34, Y4)
    kinds = [p.kind for p in report.problems]
    assert kinds == sorted(kinds, key=("structure", "gradient", "jvp", "adjoint").index)
    assert kinds[0] == "structure" and "jvp" in kinds
    assert report.problems[0].line().startswith("input 'y': backward: returned a gradient "
                                                "of shape (3, 4)")


# -- kinks ----------------------------------------------------------------------------

# distances from the kink: on it, within rounding, within the finite-difference step
# (0.05) and just outside it
NEAR_KINK = np.array([0.0, 1e-300, 1e-12, 1e-8, 1e-5, 1e-3, 0.01, 0.02, 0.049, 0.05,
                      0.051, 0.1])


def _near_kink(rng, n):
    return rng.choice(NEAR_KINK, n) * rng.choice([-1.0, 1.0], n)


def test_relu_at_and_near_its_kink_over_1000_seeds_has_no_false_failure():
    failures = []
    for seed in range(1000):
        x = _near_kink(np.random.default_rng(seed), 3)
        report = check_gate(ReLUGate(), x, seed=seed)
        if not report.ok:
            failures.append(str(report))
    assert not failures, failures[0]


def test_max_at_and_near_ties_over_1000_seeds_has_no_false_failure():
    failures = []
    for seed in range(1000):
        rng = np.random.default_rng(seed)
        y = rng.standard_normal(2)
        x = y + _near_kink(rng, 2)
        if seed % 2:
            x = np.stack([x, y])      # a tie broadcast over rows: y's gradient sums both
        report = check_gate(MaxGate(), x, y, seed=seed)
        if not report.ok:
            failures.append(str(report))
    assert not failures, failures[0]


def test_relu_exactly_at_0_accepts_the_subgradient_and_says_so():
    report = check_gate(ReLUGate(), np.array([0.0, 1.0]), upstream=np.ones(2))
    assert report.ok
    grad = report.inputs[0].comparisons[0]
    assert grad.subgradients == 1          # x = 0: one-sided derivatives 0 and 1
    assert any("subgradient" in note for note in report.notes)


def test_max_tie_gives_x_the_gradient_and_passes():
    report = check_gate(MaxGate(), np.array([2.0]), np.array([2.0]), upstream=np.ones(1))
    assert report.ok, str(report)
    assert report.inputs[0].comparisons[0].subgradients == 1


def test_an_undeclared_kink_is_found_not_reported_as_a_bug():
    class StudentReLU:                         # no kinks attribute
        def forward(self, x):
            self.mask = x > 0
            return np.maximum(x, 0)

        def backward(self, dz):
            return (dz * self.mask,)

    report = check_gate(StudentReLU(), np.array([0.0, 1e-3, -0.02, 1.0]))
    assert report.ok, str(report)
    assert any("does not declare kinks" in note for note in report.notes)


def test_a_leaky_student_relu_without_kinks_still_fails():
    class StudentLeakyReLU:
        def forward(self, x):
            return np.maximum(x, 0)

        def backward(self, dz):
            return (dz,)

    report = check_gate(StudentLeakyReLU(), np.array([0.0, -1.0, 1.0]))
    assert report.failed_inputs == ["x"]


# -- large inputs: sampled entries and random directions, never the full Jacobian ----

def test_large_matmul_is_checked_on_samples_and_directions():
    rng = np.random.default_rng(3)
    A, B = rng.standard_normal((64, 100)), rng.standard_normal((100, 32))
    report = check_gate(MatMulGate(), A, B)
    assert report.ok, str(report)
    assert report.inputs[0].probes == "6 sampled entries and 3 random directions of 6400"
    assert report.inputs[0].comparisons[0].count == 9


def test_large_matmul_with_a_slightly_wrong_gradient_fails_on_that_input():
    class MatMulOnePercentOff(MatMulGate):
        def backward(self, U):
            dA, dB = super().backward(U)
            return dA, dB * 1.01

    rng = np.random.default_rng(3)
    report = check_gate(MatMulOnePercentOff(), rng.standard_normal((64, 100)),
                        rng.standard_normal((100, 32)))
    assert report.failed_inputs == ["B"]


# -- structure, dtypes, broken gates -----------------------------------------------

def test_a_gate_that_raises_is_reported_never_crashes_the_checker():
    class Broken:
        def forward(self, x):
            return x * 2

        def backward(self, dz):
            raise IndexError("tuple index out of range")

    report = check_gate(Broken(), np.ones(3))
    assert not report.ok
    assert report.verdict.endswith("backward: raised IndexError: tuple index out of range")


def test_a_gate_without_jvp_passes_with_a_note_unless_jvp_is_required():
    class Square:
        def forward(self, x):
            self.x = x
            return x ** 2

        def backward(self, dz):
            return (2 * self.x * dz,)

    x = np.array([1.0, -2.0, 3.0])
    report = check_gate(Square(), x)
    assert report.ok and any("jvp" in note for note in report.notes)
    assert not check_gate(Square(), x, jvp=True).ok


def test_labels_must_get_None_and_a_gradient_for_them_fails():
    class LabelsGetZeros(SoftmaxCrossEntropyGate):
        def backward(self, dloss):
            d, _ = super().backward(dloss)
            return d, np.zeros(d.shape[0])

    logits, labels = SoftmaxCrossEntropyGate.example_inputs(np.random.default_rng(0))
    assert check_gate(SoftmaxCrossEntropyGate(), logits, labels).ok
    report = check_gate(LabelsGetZeros(), logits, labels)
    assert report.failed_inputs == ["labels"]
    assert "must return None" in report.verdict


def test_backward_twice_must_give_the_same_answer():
    class ScalesItsCache(MultiplyGate):
        def backward(self, dz):
            self.dzdx = self.dzdx * 2       # changes what forward cached
            return super().backward(dz)

    report = check_gate(ScalesItsCache(), X34, Y4)
    assert report.failed_inputs[0] == "x"
    assert "second call" in report.verdict


def test_a_forward_with_random_noise_fails_instead_of_passing_as_a_kink():
    # the noise makes the one-sided derivatives differ wildly, which would otherwise
    # look like a kink and accept any gradient in between, even this wrong one
    class NoisyDouble:
        def forward(self, x):
            return 2 * x + 1e-3 * np.random.default_rng().random(np.shape(x))

        def backward(self, dz):
            return (3 * dz,)

    report = check_gate(NoisyDouble(), X34)
    assert not report.ok
    assert "different output when called again with the same inputs" in report.verdict

    class NoisyAfterTwoCalls(NoisyDouble):   # passes the repeat test, then drifts
        def __init__(self):
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            return 2 * x if self.calls <= 2 else super().forward(x)

    report = check_gate(NoisyAfterTwoCalls(), X34)
    assert "different outputs for the same inputs during the numerical check" in report.verdict


def test_float32_stays_float32_or_the_check_fails():
    class Float64Out(SigmoidGate):
        plumbing = False    # Gate's wrapper would cast the output back to float32

        def forward(self, x):
            return super().forward(np.asarray(x, dtype=np.float64))

    x32 = X34.astype(np.float32)
    report = check_gate(SigmoidGate(), x32)
    assert report.ok and report.dtype == "float32"
    assert report.tolerances == {"float32": {"rtol": 1e-3, "atol": 1e-5}}
    bad = check_gate(Float64Out(), x32)
    assert "expected float32" in bad.verdict


def test_tolerances_can_be_overridden():
    class SlightlyOff(SigmoidGate):
        def backward(self, dz):
            (dx,) = super().backward(dz)
            return (dx * (1 + 1e-4),)

    assert not check_gate(SlightlyOff(), X34, jvp=False).ok        # default rtol 1e-6
    assert check_gate(SlightlyOff(), X34, jvp=False, rtol=1e-3).ok


def test_the_report_is_json_for_the_grader():
    report = check_gate(ReLULeaky(), X34)
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False and data["failed_inputs"] == ["x"]
    grad = data["inputs"][0]["comparisons"][0]
    assert grad["kind"] == "gradient" and grad["worst"]["numerical"] == 0.0
    assert data["problems"][0] == {"method": "backward", "input": "x", "kind": "gradient",
                                   "text": data["problems"][0]["text"]}


def test_check_all_covers_every_builtin_gate_and_fails_on_a_bad_one():
    suite = check_all(seeds=1, float32=False)
    assert suite.ok and len(suite.by_gate()) == len(gates.ALL_GATES)
    assert "24 of 24 gates passed" in str(suite)

    class BadExamples:
        @staticmethod
        def example_inputs(rng):
            raise ValueError("no inputs today")

        def forward(self, x):
            return x

        def backward(self, dz):
            return (dz,)

    bad = check_all([SigmoidGate, BadExamples], seeds=1, float32=False)
    assert not bad.ok
    assert "FAIL BadExamples" in str(bad) and "example_inputs: raised ValueError" in str(bad)


def test_check_all_takes_a_block_instance_and_a_bare_array_of_examples():
    from graph import Graph, mlp

    g = Graph()
    x = g.input("x")
    block = g.as_gate(inputs=[x], output=mlp(g, x, (4, 3, 2), dtype=np.float64))

    class Doubler:
        def forward(self, x):
            return 2 * x

        def backward(self, dz):
            return (2 * dz,)

        @classmethod
        def example_inputs(cls, rng):
            return rng.standard_normal((3, 2))      # one input, not a tuple of rows

    block.forward(np.ones((2, 4)))     # its example inputs are shaped like the last feed
    suite = check_all([block, Doubler], seeds=1, float32=False)
    assert suite.ok, str(suite)
    assert [r.target for r in suite.reports] == ["GraphGate(x -> z2)", "Doubler"]


# -- the contract for a gate of your own (README: "Writing your own gate") -----------

def _readme_gate_source() -> str:
    import re
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Writing your own gate: the contract", 1)[1]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_the_readmes_own_gate_passes_compgraph_check(tmp_path):
    path = tmp_path / "my_gates.py"
    path.write_text(_readme_gate_source(), encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "experiments.cli", "check", str(path)],
                          capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS ScaledMultiplyGate" in done.stdout


def _user_gates():
    namespace = {}
    exec(textwrap.dedent("""
        import numpy as np

        class PlainExamples:                  # example_inputs without @classmethod
            def forward(self, x):
                return 2 * x
            def backward(self, dz):
                return (2 * dz,)
            def example_inputs(self, rng):
                return (rng.standard_normal(3),)

        class NeedsK:                         # a constructor argument, no example_gate
            def __init__(self, k):
                self.k = k
            def forward(self, x):
                return self.k * x
            def backward(self, dz):
                return (self.k * dz,)
            @classmethod
            def example_inputs(cls, rng):
                return (rng.standard_normal(3),)

        class NaiveJvp:                       # multiplies a None tangent
            def forward(self, x, y):
                self.x, self.y = x, y
                return x * y
            def backward(self, dz):
                return (self.y * dz, self.x * dz)
            def jvp(self, tx, ty):
                return tx * self.y + ty * self.x
            @classmethod
            def example_inputs(cls, rng):
                return rng.standard_normal(3), rng.standard_normal(3)
    """), namespace)
    return namespace


@pytest.mark.parametrize("name, says", [
    ("PlainExamples", "example_inputs must be a classmethod.*write @classmethod above "
                      "`def example_inputs\\(cls, rng\\):`"),
    ("NeedsK", "NeedsK\\(k\\) needs constructor argument.*def example_gate\\(cls\\): "
               "return cls\\(k=...\\)"),
    ("NaiveJvp", "NoneType.*jvp receives None for an input without a tangent.*"
                 "tx = 0 if tx is None else tx"),
])
def test_each_contract_mistake_says_what_to_write(name, says):
    report = check_all([_user_gates()[name]], seeds=1, float32=False)
    assert not report.ok
    assert re.search(says, str(report)), str(report)


def test_a_duck_typed_gates_inputs_are_named_from_its_forward():
    gate = _user_gates()["NaiveJvp"]()
    report = check_gate(gate, np.ones(3), np.full(3, 2.0), jvp=False)
    assert [r.name for r in report.inputs] == ["x", "y"]


def test_a_gate_subclass_needing_arguments_and_naming_two_inputs_is_told_what_to_write():
    namespace = {}
    exec(textwrap.dedent("""
        import numpy as np
        from gates import Gate

        class ScaledMul(Gate):                # forward names x and y; no input_names
            def __init__(self, k):
                self.k = k
            def forward(self, x, y):
                self.x, self.y = x, y
                return self.k * x * y
            def backward(self, dz):
                return self.k * self.y * dz, self.k * self.x * dz
            @classmethod
            def example_inputs(cls, rng):
                return rng.standard_normal(3), rng.standard_normal(3)
    """), namespace)
    cls = namespace["ScaledMul"]
    assert cls.input_names == ("x", "y")
    report = check_all([cls], seeds=1, float32=False)
    assert re.search(r"ScaledMul\(k\) needs constructor argument.*def example_gate\(cls\)",
                     str(report)), str(report)
