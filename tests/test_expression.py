"""Expressions become the lecture's simple assignments, and then graphs.

The lecture splits e = (a+b)(b+1) into c ← a + b, d ← b + 1, e ← c × d; the parser
does the same, and refuses anything that is not arithmetic on names and numbers,
saying where.
"""

import math

import pytest

from graph.expression import ExpressionError, number, parse


# -- splitting into simple assignments ------------------------------------------------

def test_the_lecture_example_splits_into_three_assignments():
    program = parse("e = (a+b)*(b+1)")
    assert program.lines() == ["c ← a + b", "d ← b + 1", "e ← c × d"]
    assert program.inputs == ("a", "b")
    assert program.output == "e"


def test_already_split_lines_and_the_lecture_symbols_give_the_same_program():
    by_lines = parse("c = a + b\nd = b + 1\ne = c * d")
    lecture = parse("c ← a + b; d ← b + 1; e ← c × d")
    assert by_lines.lines() == lecture.lines() == ["c ← a + b", "d ← b + 1", "e ← c × d"]


def test_intermediate_names_skip_every_name_the_user_wrote():
    program = parse("a = 2*(x*y + max(z, w))")
    assert program.lines() == ["b ← x × y", "c ← max(z, w)", "d ← b + c", "a ← 2 × d"]
    assert program.inputs == ("x", "y", "z", "w")


def test_logistic_regression_splits_into_the_cs231n_gates():
    program = parse("f = sigmoid(w0 + w1*x1 + w2*x2)")
    assert program.lines() == ["a ← w1 × x1", "b ← w0 + a", "c ← w2 × x2", "d ← b + c",
                               "f ← sigmoid(d)"]
    assert program.inputs == ("w0", "w1", "x1", "w2", "x2")


def test_a_bare_expression_is_named_out():
    assert parse("(a+b)*(b+1)").lines() == ["c ← a + b", "d ← b + 1", "out ← c × d"]


def test_sigma_and_ln_are_spellings_of_sigmoid_and_log():
    assert parse("y = σ(ln(x))").lines() == ["a ← log(x)", "y ← sigmoid(a)"]


def test_numbers_alone_are_folded_and_unary_minus_of_a_node_is_a_gate():
    program = parse("y = -x * (2*3) + -1 + sin(0)")
    assert program.lines() == ["a ← -x", "b ← 6 × a", "c ← b + -1", "y ← c + 0"]


def test_each_assignment_remembers_its_operator_arguments_and_position():
    a, = parse("\n  y = x ** 2").assignments
    assert (a.target, a.op, a.args, a.line, a.column) == ("y", "**", ("x", 2.0), 2, 7)


# -- errors say what and where --------------------------------------------------------

@pytest.mark.parametrize("source, line, column, words", [
    ("e = (a+b", 1, 5, "never closed"),
    ("e = (a+b)*(b+1))", 1, 16, "syntax error"),
    ("e = foo(a)", 1, 5, "unknown function 'foo'"),
    ("c = a + b\ne = c * sqrt(d)", 2, 9, "unknown function 'sqrt'"),
    ("e = a.real", 1, 5, "attribute access"),
    ("e = a[0]", 1, 5, "indexing"),
    ("e = a // b", 1, 5, "'//'"),
    ("e = a ^ 2", 1, 5, "use ** for powers"),
    ("e = x ** y", 1, 10, "exponent"),
    ("e = 1 / 0 + a", 1, 5, "division by zero"),
    ("e = 'text' + a", 1, 5, "only numbers"),
    ("x = x + 1", 1, 5, "used before it is assigned"),
    ("c = a + b\nc = a * b", 2, 1, "assigned twice"),
    ("y = sin + 1", 1, 5, "is a function"),
    ("e = max(a)", 1, 5, "takes 2 argument"),
    ("e = sin(x=a)", 1, 11, "keyword"),
    ("e = a", 1, 5, "no operation"),
    ("import os", 1, 1, "import is not allowed"),
    ("a + b\ne = a * b", 1, 1, "only the last line"),
    ("e = (a+b)*σ(q, r)", 1, 11, "takes 1 argument"),
    ("", 1, 1, "empty"),
    ("out * 2", 1, 1, "write 'name = ...'"),
    ("e = 1e400 * a", 1, 5, "the number 1e400 is too large"),
    ("e = [a for a in b]", 1, 5, "a comprehension is not allowed"),
    ("e = (x := a)", 1, 6, "':=' is not allowed"),
])
def test_errors_name_the_problem_and_its_line_and_column(source, line, column, words):
    with pytest.raises(ExpressionError) as info:
        parse(source)
    assert (info.value.line, info.value.column) == (line, column)
    assert words in str(info.value)
    assert str(info.value).startswith(f"line {line}, column {column}: ")


def test_the_message_shows_the_line_with_a_caret_under_the_column():
    with pytest.raises(ExpressionError) as info:
        parse("e = (a+b)*(b+1)\nf = e + foo(e)")
    assert str(info.value).splitlines()[1:] == ["    f = e + foo(e)", "            ^"]


def test_a_long_sum_is_split_without_hitting_the_recursion_limit():
    program = parse("e = " + " + ".join(["a"] * 1500))
    assert len(program.assignments) == 1499
    assert program.lines()[:2] == ["b ← a + a", "c ← b + a"]
    assert program.lines()[-1].startswith("e ← ")
    with pytest.raises(ExpressionError, match="split it into several assignments"):
        parse("e = " + "+".join(["a"] * 5000))       # beyond what Python's parser takes


def test_a_long_line_is_shown_around_the_error_only():
    with pytest.raises(ExpressionError) as info:
        parse("e = " + "a+" * 300 + "foo(a)" + "+a" * 300)
    shown, caret = str(info.value).splitlines()[1:]
    assert len(shown) <= 4 + 76 and shown.strip().startswith("…")
    assert shown[caret.index("^"):].startswith("foo(a)")
    with pytest.raises(ExpressionError) as info:
        parse("y = σ(x) + nope(x)")
    assert info.value.column == 12


def test_nothing_is_evaluated_so_python_builtins_are_unknown_functions():
    for source in ("e = __import__('os')", "e = eval('1')", "e = open('f')"):
        with pytest.raises(ExpressionError, match="unknown function"):
            parse(source)


def test_a_huge_expression_is_refused_cleanly():
    with pytest.raises(ExpressionError, match="nested too deeply"):
        parse("e = " + "+".join(["a"] * 100_000))


def test_check_inputs_points_at_the_first_use_of_a_name_without_a_value():
    program = parse("z = x*y + sin(x)")
    program.check_inputs({"x", "y"})
    with pytest.raises(ExpressionError) as info:
        program.check_inputs({"x"})
    assert (info.value.line, info.value.column) == (1, 7)
    assert "unknown name 'y'" in str(info.value)


def test_folding_uses_real_arithmetic():
    assert parse("y = x + 2**0.5").assignments[0].args == ("x", math.sqrt(2))


# -- the constants pi and e ------------------------------------------------------------

def test_pi_and_e_are_constants_folded_like_other_numbers():
    program = parse("z = sin(pi*x)")
    assert program.lines() == ["a ← 3.14159 × x", "z ← sin(a)"]
    assert program.inputs == ("x",)
    assert program.assignments[0].args == (math.pi, "x")
    assert parse("y = x + pi/4").assignments[0].args == ("x", math.pi / 4)
    assert parse("y = e * x").assignments[0].args == (math.e, "x")


def test_sin_pi_x_builds_a_graph_with_the_exact_derivative():
    from graph import Graph
    g = Graph.from_expression("z = sin(pi*x)")
    assert g.forward(x=0.25) == pytest.approx(math.sqrt(2) / 2, abs=1e-12)
    g.backward("z")
    assert g.node("x").grad == pytest.approx(math.pi * math.cos(math.pi / 4), abs=1e-12)


def test_an_assigned_e_is_the_lectures_variable_everywhere():
    assert parse("e = (a+b)*(b+1)").lines() == ["c ← a + b", "d ← b + 1", "e ← c × d"]
    program = parse("e = (a+b)*(b+1); f = e * pi")
    assert program.lines()[-1] == "f ← 3.14159 × e"
    assert program.inputs == ("a", "b")
    with pytest.raises(ExpressionError, match="'e' is used before it is assigned"):
        parse("y = e * x; e = x + 1")


def test_a_name_declared_a_variable_is_an_input_even_when_it_is_e():
    program = parse("y = e * x", variables={"e"})
    assert program.lines() == ["y ← e × x"]
    assert program.inputs == ("e", "x")


def test_giving_a_value_to_a_constant_says_it_is_one():
    program = parse("y = e * x")
    program.check_inputs({"x"})
    with pytest.raises(ExpressionError) as info:
        program.check_inputs({"x", "e"})
    assert (info.value.line, info.value.column) == (1, 5)
    assert "'e' is read here as the constant e = 2.71828" in str(info.value)


# -- building the graph ---------------------------------------------------------------

def test_from_expression_builds_one_node_per_assignment_with_the_lecture_numbers():
    from graph import Graph
    g = Graph.from_expression("e = (a+b)*(b+1)")
    assert [(n.name, n.kind) for n in g.nodes] == [
        ("a", "input"), ("b", "input"), ("c", "op"), ("1", "constant"), ("d", "op"),
        ("e", "op")]
    assert g.program.output == "e"
    assert g.forward(a=2, b=1) == 6
    assert [g.node(n).value for n in "cd"] == [3, 2]


def test_numbers_choose_the_lecture_gates():
    import gates
    from graph import Graph
    g = Graph.from_expression("y = 2*x; z = x**3; w = x / 4; v = 1 - x; u = max(x, 0)")
    kinds = {n.name: n.gate for n in g.nodes if n.gate is not None}
    assert isinstance(kinds["y"], gates.ScaleGate) and kinds["y"].k == 2
    assert isinstance(kinds["z"], gates.PowerGate) and kinds["z"].n == 3
    assert isinstance(kinds["w"], gates.DivideGate)
    assert [i.kind for i in g.node("v").inputs] == ["constant", "input"]
    g.forward(x=-2)
    assert [g.node(n).value for n in "yzwvu"] == [-4, -8, -0.5, 3, 0]


def test_every_function_is_its_gate():
    from graph import Graph
    g = Graph.from_expression("y = sin(x) + cos(x) + tan(x) + exp(x) + log(x) + tanh(x)"
                              " + sigmoid(x) + relu(x)")
    x = 0.5
    want = (math.sin(x) + math.cos(x) + math.tan(x) + math.exp(x) + math.log(x)
            + math.tanh(x) + 1 / (1 + math.exp(-x)) + x)
    assert g.forward(x=x) == pytest.approx(want, abs=1e-12)
    g.backward("y")
    dwant = (math.cos(x) - math.sin(x) + 1 / math.cos(x) ** 2 + math.exp(x) + 1 / x
             + 1 - math.tanh(x) ** 2 + math.exp(-x) / (1 + math.exp(-x)) ** 2 + 1)
    assert g.node("x").grad == pytest.approx(dwant, abs=1e-12)


def test_number_reads_values_written_as_arithmetic_on_numbers():
    assert number("pi/4") == math.pi / 4
    assert number(" -1.5") == -1.5
    assert number("2**0.5") == math.sqrt(2)
    with pytest.raises(ExpressionError) as info:
        number("pi*y")
    assert info.value.column == 4 and "'y' is not a number" in str(info.value)


def test_the_functions_are_the_gates_facts_spell_as_calls():
    import gates
    from gates.facts import EXPRESSION_GATES
    from graph.expression import FUNCTIONS

    assert FUNCTIONS == {"max": 2, "relu": 1, "sigmoid": 1, "tanh": 1, "sin": 1, "cos": 1,
                         "tan": 1, "exp": 1, "log": 1}
    for spelling, arity in FUNCTIONS.items():
        assert len(getattr(gates, EXPRESSION_GATES[spelling]).input_names) == arity


def test_numbers_are_folded_by_the_gates_themselves():
    assert parse("y = x + sigmoid(0) + relu(-2) + max(1, 3)").lines() == [
        "a ← x + 0.5", "b ← a + 0", "y ← b + 3"]
    for source, words in [("e = exp(1000) + a", "cannot compute exp of 1000: "),
                          ("e = log(-1) + a", "cannot compute log of -1: "),
                          ("e = (-8) ** (1/3) + a", "cannot compute ** of -8, 0.333333: "),
                          ("e = 1e200 * 1e200 + a", "is not a finite real number")]:
        with pytest.raises(ExpressionError, match="^line 1, column 5: ") as info:
            parse(source)
        assert words in str(info.value), source
