"""gates/facts.py: one row per built-in gate, and every row agrees with its gate."""

from __future__ import annotations

import numpy as np
import pytest

import gates
from gates.facts import EXPRESSION_GATES, FACTS, facts_of, symbol


def test_one_row_per_gate_in_the_lectures_order():
    assert list(FACTS) == [cls.__name__ for cls in gates.ALL_GATES]


@pytest.mark.parametrize("cls", gates.ALL_GATES, ids=lambda c: c.__name__)
def test_each_case_gives_one_shape_per_input_and_valid_parameters(cls):
    facts = FACTS[cls.__name__]
    assert facts.cases, f"{cls.__name__} has no hidden-case shapes"
    example = cls.example_inputs(np.random.default_rng(0))
    for shapes, params in facts.cases:
        assert len(shapes) == len(cls.input_names)
        gate = cls(**params) if params else cls.example_gate()
        inputs = [np.resize(np.asarray(e, dtype=float if np.asarray(e).dtype.kind == "f"
                                      else int), s) for e, s in zip(example, shapes)]
        out = gate.forward(*inputs)
        if facts.output_ndim == "same":
            assert np.ndim(out) == max(len(s) for s in shapes)
        elif isinstance(facts.output_ndim, int):
            assert np.ndim(out) == facts.output_ndim


@pytest.mark.parametrize("cls", gates.ALL_GATES, ids=lambda c: c.__name__)
def test_a_gate_has_a_kink_distance_exactly_when_it_has_kinks(cls):
    assert (FACTS[cls.__name__].kink is not None) == bool(cls.kinks)


def test_kink_distance_is_how_far_inputs_lie_from_a_corner():
    assert FACTS["ReLUGate"].kink_distance([np.array([-2.0, 0.5, 3.0])]) == 0.5
    assert FACTS["MaxGate"].kink_distance([np.array([1.0, 4.0]), np.array([1.25, 0.0])]) == 0.25
    assert FACTS["SigmoidGate"].kink_distance([np.array([0.0])]) == np.inf


def test_expression_spellings_name_gates_with_that_many_inputs():
    assert EXPRESSION_GATES["*"] == "MultiplyGate"
    assert EXPRESSION_GATES["sigmoid"] == "SigmoidGate"
    for spelling, name in EXPRESSION_GATES.items():
        arity = len(getattr(gates, name).input_names)
        assert arity == (1 if spelling.isalpha() and spelling != "max" else 2), spelling


def test_symbols_are_the_lectures_and_parameters_show():
    assert symbol(gates.MultiplyGate()) == "×"
    assert symbol(gates.SigmoidGate()) == "σ"
    assert symbol(gates.ScaleGate(2)) == "×2"
    assert symbol(gates.PowerGate(2)) == "**2"
    assert symbol(gates.ScaleGate) == "scale"

    class StudentsGate:
        pass

    assert symbol(StudentsGate()) == "StudentsGate"
    assert facts_of(StudentsGate()) is None


def test_builders_exist_for_every_gate():
    import graph

    for facts in FACTS.values():
        assert callable(getattr(graph, facts.function)), facts.function


def test_the_readme_shows_the_table_the_facts_generate():
    from pathlib import Path

    from gates.facts import markdown_table

    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme
    assert "| `MultiplyGate` | `graph.multiply` | `×` | `z = x * y` | `dz/dx = y, dz/dy = x` |" \
        in readme


def test_a_class_not_built_in_is_drawn_with_its_own_name_and_a_namesake_gets_the_facts():
    class Mine:
        pass

    class SigmoidGate:              # a student's class, named as the skeleton names it
        pass

    assert symbol(Mine) == "Mine"
    assert facts_of(SigmoidGate) is FACTS["SigmoidGate"]
