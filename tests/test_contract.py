"""One contract, two front ends: ``compgraph check`` says what ``compgraph grade`` will.

The rules and tolerances live in :mod:`gates.contract`; the first tests read them as
examples. Then the agreement itself, gate by gate: on honest gates, on gates written
differently but correctly, and on gates with one subtle mistake each, ``compgraph
check FILE`` and ``compgraph grade FILE`` pass and fail the same gates and lose the
same checks; and the numerical checker, run on the built-in gates' examples, fails
exactly the gates the grader does not give full marks.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from experiments.cli import main
from gates import ALL_GATES, MaxGate, ReLUGate, contract
from gates.check import check_gate
from gates.grade import grade_submission
from honest_gates import HELPERS, HONEST, NAMES, with_mistakes

# -- the rules, as examples --------------------------------------------------------------


def test_tolerances_are_chosen_by_dtype():
    assert contract.tolerance(np.float64) == contract.Tolerance(rtol=1e-6, atol=1e-8)
    assert contract.tolerance("float32") is contract.TOLERANCES["float32"]
    assert contract.tolerance(True).rtol == 1e-3          # a float32 case
    assert contract.tolerance(np.float32).bound(100.0) == pytest.approx(1e-5 + 0.1)


def test_agree_judges_a_tiny_entry_on_the_scale_of_the_whole_output():
    want = np.array([1.0, 1e-9])
    tol = contract.tolerance(np.float64)
    assert contract.agree(want + [0.0, 5e-7], want, tol)      # within 1e-6 of |want|'s size
    assert not contract.agree(want + [0.0, 5e-6], want, tol)
    assert not contract.agree(want[:1], want, tol)             # another shape never agrees
    assert not contract.agree([1.0, np.nan], want, tol)


def test_backward_returns_a_tuple_of_one_gradient_per_input():
    assert contract.gradient_count(True, 2, 2) is None
    assert contract.gradient_count(False, 1, 1) == "not a tuple"   # `return dx` alone
    assert contract.gradient_count(True, 1, 2) == "too few"
    assert contract.gradient_count(True, 3, 2) == "too many"


def test_none_is_the_gradient_of_exactly_the_labels():
    assert contract.gradient_presence(True, differentiable=False) is None
    assert contract.gradient_presence(False, differentiable=False) == "must be None"
    assert contract.gradient_presence(True, differentiable=True) == "is None"


def test_a_gradient_has_its_inputs_shape():
    assert contract.gradient_shape((4, 3), (4, 3)) is None
    assert contract.gradient_shape((6, 2), (2,)) == "not summed back"
    assert contract.gradient_shape((3, 4), (4, 3)) == "shape"


def test_float32_stays_float32_and_integers_become_float64():
    f32, i64 = np.ones(2, np.float32), np.arange(2)
    assert contract.output_dtype([f32, f32], [True, True]) == np.float32
    assert contract.output_dtype([f32, i64], [True, False]) == np.float32   # labels
    assert contract.output_dtype([f32, np.ones(2)], [True, True]) == np.float64
    assert contract.gradient_dtype(i64) == np.float64
    assert contract.gradient_dtype(np.float64(2.0)) == np.float64
    assert contract.gradient_dtype(2.0) is None               # a number has no dtype


def test_inputs_unchanged_and_a_repeatable_backward_are_bit_for_bit():
    x = np.array([1.0, np.nan])
    assert contract.unchanged(x.copy(), x)
    assert not contract.unchanged(x.copy(), x.astype(np.float32))
    assert contract.same_answer(np.array([0.1]), np.array([0.1]))
    assert not contract.same_answer(np.array([0.1]), np.array([0.1 + 1e-16]))
    assert contract.same_answer(None, None) and not contract.same_answer(None, np.ones(1))


def test_the_kink_policy_reads_the_facts_table():
    assert not contract.near_kink(ReLUGate(), [np.array([0.5, -0.2])], declared=True)
    assert contract.near_kink(ReLUGate(), [np.array([0.5, 0.01])], declared=True)
    assert contract.near_kink(MaxGate(), [np.ones(2), np.ones(2)], declared=True)
    assert not contract.near_kink(ReLUGate(), [np.zeros(2)], declared=False)
    assert contract.near_kink(object(), [np.zeros(2)], declared=True)   # kinks not known
    assert contract.STEP < contract.KINK_MARGIN         # a stencil never reaches a kink


# -- the test set ------------------------------------------------------------------------

SOFTMAX_CE = '''

class SoftmaxCrossEntropyGate:
    def forward(self, logits, labels):
        shifted = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(shifted)
        self.p = e / e.sum(axis=1, keepdims=True)
        self.labels = labels
        rows = np.arange(logits.shape[0])
        return -np.mean(np.log(self.p[rows, labels]))

    def backward(self, dz):
        n = self.p.shape[0]
        dlogits = self.p.copy()
        dlogits[np.arange(n), self.labels] -= 1
        return dlogits * dz / n, None
'''

#: Correct, but written otherwise than HONEST: sigmoid through tanh, relu as a product,
#: lists instead of tuples, np.sum over the broadcast axes, cos as a shifted sine.
RESTYLED = HELPERS + '''

def sum_to(grad, shape):
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + k for k, n in enumerate(shape)
                                      if n == 1 and grad.shape[lead + k] != 1)
    return np.sum(grad, axis=axes).reshape(shape)


class AddGate:
    def forward(self, x, y):
        self.shapes = x.shape, y.shape
        return x + y

    def backward(self, dz):
        return [sum_to(dz, self.shapes[0]), sum_to(dz, self.shapes[1])]


class MultiplyGate:
    def forward(self, x, y):
        self.x, self.y = x.copy(), y.copy()
        return x * y

    def backward(self, dz):
        return [sum_to(dz * self.y, self.x.shape), sum_to(dz * self.x, self.y.shape)]


class ReLUGate:
    def forward(self, x):
        self.on = (x > 0).astype(x.dtype)
        return x * self.on

    def backward(self, dz):
        return [dz * self.on]


class SigmoidGate:
    def forward(self, x):
        self.z = 0.5 * (1 + np.tanh(0.5 * x))
        return self.z

    def backward(self, dz):
        local = self.z - self.z ** 2
        return (local * dz,)


class CosGate:
    def forward(self, x):
        self.x = x
        return np.sin(x + np.pi / 2)

    def backward(self, dz):
        return (dz * -np.sin(self.x),)
''' + SOFTMAX_CE

#: one mistake, as (old, new) in the honest file
EXTRA = {"sigmoid without (1 - z)": [("dz * self.z * (1 - self.z),)", "dz * self.z,)")],
         "forgotten upstream": [("dz * self.z * (1 - self.z),)", "self.z * (1 - self.z),)")],
         "forward changes its input": [("out = x.copy()", "out = x")],
         "float64 for float32": [("self.z = 1 / (1 + np.exp(-x))",
                                  "self.z = (1 / (1 + np.exp(-x))).astype(np.float64)")],
         "a bare gradient": [("return (-np.sin(self.x) * dz,)",
                              "return -np.sin(self.x) * dz")],
         "dz for the labels": [("return dlogits * dz / n, None",
                                "return dlogits * dz / n, dz")]}
GATES = NAMES + ["SoftmaxCrossEntropyGate"]

#: file -> (source, the gates graded, {gate: the checks it loses}). The grader judges each
#: gate on its own, so mistakes in different gates share a file; the three that all sit
#: in SigmoidGate each get a file of their own, where only that gate is graded.
FILES = {
    "honest": (HONEST + SOFTMAX_CE, GATES, {}),
    "restyled": (RESTYLED, GATES, {}),
    "a mistake in each gate but one": (
        (with_mistakes("mutated cache", "no unbroadcast") + SOFTMAX_CE,
         "forward changes its input", "a bare gradient", "dz for the labels"),
        GATES, {"SigmoidGate": {"repeatable"}, "AddGate": {"gradients"},
                "ReLUGate": {"inputs_unchanged"}, "CosGate": {"gradients"},
                "SoftmaxCrossEntropyGate": {"gradients"}}),
    "sigmoid without (1 - z)": ((HONEST + SOFTMAX_CE, "sigmoid without (1 - z)"),
                                ["SigmoidGate"], {"SigmoidGate": {"backward"}}),
    "forgotten upstream": ((HONEST + SOFTMAX_CE, "forgotten upstream"),
                           ["SigmoidGate"], {"SigmoidGate": {"backward"}}),
    "float64 for float32": ((HONEST + SOFTMAX_CE, "float64 for float32"),
                            ["SigmoidGate"], {"SigmoidGate": {"float32"}}),
}


def source(name):
    text = FILES[name][0]
    if isinstance(text, str):
        return text
    text, *mistakes = text
    for mistake in mistakes:
        for old, new in EXTRA[mistake]:
            assert text.count(old) == 1, (name, old)
            text = text.replace(old, new)
    return text


def lost_checks(gate: dict) -> set:
    return {c["name"] for c in gate["checks"]
            if not contract.full_marks(c["points"], c["max_points"])}


@pytest.mark.parametrize("name", list(FILES))
def test_check_and_grade_agree_gate_by_gate(name, tmp_path, capsys):
    path = tmp_path / "hw.py"
    path.write_text(source(name), encoding="utf-8")
    _, gates, expected = FILES[name]
    status = main(["check", str(path), "--gates", ",".join(gates), "--json"])
    checked = {g["name"]: g for g in json.loads(capsys.readouterr().out)["graded"]}
    report = tmp_path / "grade.json"
    assert main(["grade", str(path), "--gates", ",".join(gates), "--seed", "0",
                 "--run-seed", "1", "--json", str(report), "--quiet"]) == 0
    capsys.readouterr()
    graded = {g["name"]: g for g in json.loads(report.read_text())["gates"]}

    assert sorted(checked) == sorted(graded) == sorted(gates)
    for gate in gates:
        c, g = checked[gate], graded[gate]
        assert c["ok"] == contract.full_marks(g["score"], g["max_score"]), (gate, c, g)
        assert lost_checks(c) == lost_checks(g), gate
        assert [ch["reasons"] for ch in c["checks"]] == [ch["reasons"] for ch in g["checks"]]
    # and each mistake costs what it breaks, once
    assert {gate: lost_checks(graded[gate]) for gate in gates if lost_checks(graded[gate])} \
        == expected
    assert status == (1 if expected else 0)


def _module(text, tmp_path):
    import importlib.util
    path = tmp_path / "student.py"
    path.write_text(text, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("student_for_agreement", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", list(FILES))
def test_the_numerical_checker_fails_the_gates_the_grader_does(name, tmp_path):
    """Each student class checked by ``check_gate`` on its built-in gate's examples
    (two seeds and a float32 run) fails exactly the gates losing points above."""
    module = _module(source(name), tmp_path)
    builtins = {cls.__name__: cls for cls in ALL_GATES}
    _, gates, expected = FILES[name]
    failed = set()
    for gate in gates:
        for seed, f32 in ((0, False), (1, False), (0, True)):
            inputs = builtins[gate].example_inputs(np.random.default_rng(seed))
            if f32:
                inputs = [a.astype(np.float32) if a.dtype.kind == "f" else a
                          for a in inputs]
            if not check_gate(getattr(module, gate)(), *inputs, seed=seed).ok:
                failed.add(gate)
    assert failed == set(expected)


#: What both front ends (and a Graph) add when a gradient kept the broadcast shape.
SUM_BACK = "(sum the upstream over the axes broadcasting added)"


def test_a_gradient_not_summed_back_gets_the_same_hint_from_the_checker_and_the_grader(
        tmp_path):
    path = tmp_path / "hw.py"
    text = with_mistakes("no unbroadcast") + SOFTMAX_CE
    path.write_text(text, encoding="utf-8")
    add = _module(text, tmp_path).AddGate
    x, y = np.ones((3, 4)), np.arange(4.0)           # y broadcast over the 3 rows
    report = check_gate(add(), x, y)
    (problem,) = [p for p in report.problems if p.input == "y"]
    assert problem.text == ("returned a gradient of shape (3, 4), but the input has shape "
                            "(4,) " + SUM_BACK)
    graded = grade_submission(path, gates=["AddGate"], seed=0, run_seed=1,
                              isolation="process only").gates[0]
    (gradients,) = [c for c in graded.checks if c.name == "gradients"]
    assert gradients.reasons and all(r.endswith(SUM_BACK) for r in gradients.reasons)


def test_a_gradient_of_another_wrong_shape_gets_no_hint_about_broadcasting():
    class Transposed:
        def forward(self, x):
            return 2 * x

        def backward(self, dz):
            return (2 * dz.T,)

    (problem,) = check_gate(Transposed(), np.ones((2, 3))).problems
    assert problem.text == ("returned a gradient of shape (3, 2), but the input has shape "
                            "(2, 3)")


def test_a_tolerance_override_is_the_one_judged_by_and_the_one_the_report_shows():
    class OffBy1e4:                      # d(2x)/dx = 2, answered as 2.0001
        def forward(self, x):
            return 2 * x

        def backward(self, dz):
            return (2.0001 * dz,)

    x = np.array([0.5, -1.0, 2.0])
    assert not check_gate(OffBy1e4(), x, jvp=False).ok
    report = check_gate(OffBy1e4(), x, jvp=False, atol=1e-3)
    assert report.ok
    assert report.tolerances == {"float64": {"rtol": 1e-6, "atol": 1e-3}}
    assert contract.TOLERANCES["float64"] == contract.Tolerance(rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("foreign", ["scipy", "matplotlib"])
def test_a_package_other_than_numpy_fails_check_as_it_fails_grade(foreign, tmp_path, capsys):
    """``compgraph check`` grades in a plain process, which sees every installed package;
    ``compgraph grade`` under bubblewrap sees only numpy. The child refuses the same
    imports at every level, so the verdicts agree (the package is installed here: the
    test extra brings matplotlib, and scipy is a dependency)."""
    pytest.importorskip(foreign)
    text = (HONEST + SOFTMAX_CE).replace(
        "        self.z = 1 / (1 + np.exp(-x))",
        f"        import {foreign}\n        self.z = 1 / (1 + np.exp(-x))")
    path = tmp_path / "hw.py"
    path.write_text(text, encoding="utf-8")
    assert main(["check", str(path), "--gates", "SigmoidGate,AddGate", "--json"]) == 1
    checked = {g["name"]: g for g in json.loads(capsys.readouterr().out)["graded"]}
    report = tmp_path / "grade.json"
    main(["grade", str(path), "--gates", "SigmoidGate,AddGate", "--json", str(report),
          "--quiet"])
    capsys.readouterr()
    graded = {g["name"]: g for g in json.loads(report.read_text())["gates"]}
    for gate in ("SigmoidGate", "AddGate"):
        assert checked[gate]["ok"] == contract.full_marks(graded[gate]["score"],
                                                          graded[gate]["max_score"])
    assert graded["SigmoidGate"]["score"] == 0 and not checked["SigmoidGate"]["ok"]
    assert checked["AddGate"]["ok"]               # the other gate is not touched
    reason = f"No module named '{foreign}': a submission may import only numpy and the " \
             f"standard library"
    assert any(reason in r for c in checked["SigmoidGate"]["checks"] for r in c["reasons"])
    assert any(reason in r for c in graded["SigmoidGate"]["checks"] for r in c["reasons"])
