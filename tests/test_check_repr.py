"""The checker's reports in a notebook: ``_repr_html_`` of GateReport and SuiteReport is a
small table (gate, PASS or FAIL, runs, time, problems) in which every text is escaped."""

import numpy as np

from gates import AddGate, SinGate
from gates.check import GateReport, Problem, SuiteReport, check_all, check_gate


class ForgetfulSigmoid:
    """A sigmoid whose backward forgot the (1 - z)."""

    def forward(self, x):
        self.z = 1 / (1 + np.exp(-x))
        return self.z

    def backward(self, dz):
        return (self.z * dz,)


def test_a_passing_gate_is_one_row_marked_pass():
    html = check_gate(AddGate(), np.ones((2, 2)), np.zeros((2, 2)))._repr_html_()
    assert html.startswith("<table") and html.count("<tr>") == 2       # header and one row
    assert "<code>AddGate()</code>" in html
    assert ">PASS</td>" in html and "FAIL" not in html
    assert "1 (float64, seed 0)" in html and " ms</td>" in html


def test_a_failing_gate_shows_fail_its_problem_and_its_notes():
    report = check_gate(ForgetfulSigmoid(), np.array([[1.0, -2.0], [0.5, 3.0]]))
    html = report._repr_html_()
    assert ">FAIL</td>" in html and ">PASS<" not in html
    assert "backward: disagrees with the numerical gradient at x[1, 1]" in html
    assert "input &#x27;x&#x27;" in html                  # quotes escaped too
    assert "<p>note: forward mode not checked: the gate has no jvp</p>" in html


def test_every_text_is_escaped():
    report = GateReport("<script>alert(1)</script>", 0, "float64", {})
    report.problems.append(Problem("backward", "returned <b>bold</b> & \"quoted\"\nsecond",
                                   input="<x>"))
    report.notes.append("<i>note</i>")
    html = report._repr_html_()
    assert "<script>" not in html and "<b>" not in html and "<i>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert ("input &#x27;&lt;x&gt;&#x27;: backward: returned &lt;b&gt;bold&lt;/b&gt; &amp; "
            "&quot;quoted&quot;<br>second") in html
    assert "<p>note: &lt;i&gt;note&lt;/i&gt;</p>" in html

    suite = SuiteReport(reports=[report], incomplete=[("<Half>", "missing <backward>")],
                        notes=["<u>n</u>"])
    report.target = "<Target>"
    html = suite._repr_html_()
    assert "<Target>" not in html and "&lt;Target&gt;" in html
    assert "&lt;Half&gt;" in html and "missing &lt;backward&gt;" in html
    assert "&lt;u&gt;n&lt;/u&gt;" in html and "<u>" not in html


def test_a_suite_is_a_row_per_gate_with_the_tally_as_caption():
    suite = check_all([AddGate, SinGate], seeds=2)
    html = suite._repr_html_()
    assert html.count("<tr>") == 3 and html.count(">PASS</td>") == 2
    assert "<code>AddGate</code>" in html and "<code>SinGate</code>" in html
    assert "3 (float32, float64)" in html                 # 2 seeds and the float32 run
    assert "<caption>2 of 2 gates passed in " in html


def test_a_suite_with_failures_lists_each_failing_runs_problems_once():
    class ForgetfulSigmoidGate(ForgetfulSigmoid):
        @classmethod
        def example_inputs(cls, rng):
            return (rng.standard_normal((2, 3)),)

    suite = check_all([AddGate, ForgetfulSigmoidGate], seeds=2, float32=False)
    suite.incomplete.append(("HalfGate", "missing backward"))
    html = suite._repr_html_()
    rows = html.split("<tr>")[2:]
    assert ">PASS</td>" in rows[0]
    assert ">FAIL</td>" in rows[1] and "2 of 2 failed (float64)" in rows[1]
    assert "seed 0, float64: input &#x27;x&#x27;: backward: disagrees" in rows[1]
    assert "seed 1, float64: input &#x27;x&#x27;: backward: disagrees" in rows[1]
    assert "HalfGate" in rows[2] and ">FAIL</td>" in rows[2] and "not checked" in rows[2]
    assert "1 of 2 gates passed, 1 incomplete" in html


def test_many_problems_are_cut_with_a_count():
    report = GateReport("G", 0, "float64", {})
    report.problems.extend(Problem("forward", f"problem {i}") for i in range(8))
    html = report._repr_html_()
    assert "forward: problem 4" in html and "problem 5" not in html
    assert "+3 more" in html
