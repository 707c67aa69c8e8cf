"""``compgraph lecture`` (or ``python -m experiments.lecture``): every worked example and
exercise of the lecture, each result printed beside the value the lecture (or the exact
formula) expects.

1. e = (a+b)(b+1) at a=2, b=1: the simple assignments, values, reverse mode, forward
   mode, the sum over paths, and the update to a=4.
2. a = 2(xy + max(z, w)) at x=3, y=-4, z=2, w=-1: the gate patterns (scale
   amplifies, add distributes, multiply switches, max routes).
3. Exercise 1: z = xy + sin(x) at x = pi/4, y = 4, against dz/dx = y + cos x, dz/dy = x.
4. Exercise 2: logistic regression f = sigma(w0 + w1 x1 + w2 x2) (CS231n's numbers).
5. Exercises 3 and 4: the + - x / and sin, cos gates on tensors, checked numerically.
6. L = L2(W x) with W = [[0.1, 0.5], [-0.3, 0.8]], x = [0.2, 0.4].
7. The softmax Jacobian and the softmax + cross-entropy block (gradient p - y).
8. Sum over paths: 9 paths = 3 x 3 through a cut vertex.

Every line ends with a check mark or MISMATCH; the exit status is 1 if any mismatched.
``--lang vi`` (or a Vietnamese ``LANG``) prints every heading and sentence in Vietnamese,
in the lecture's own words; the numbers are the same.
Each section's results are one table whose columns are as wide as their longest entry.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass

import numpy as np

import gates
import graph
from gates.check import check_gate
from gates.i18n import LANGUAGES, set_language, tr
from graph import Graph

#: Absolute tolerance of a computed number against an exact expected one.
EXACT = 1e-9


@dataclass
class Check:
    """One printed line: a result beside its expected value."""

    section: str
    label: str
    got: object
    expected: object
    tol: float = EXACT

    @property
    def ok(self) -> bool:
        """Strings must be equal; numbers (any shape) equal within ``tol``."""
        if isinstance(self.expected, str):
            return self.got == self.expected
        got, want = np.asarray(self.got, dtype=float), np.asarray(self.expected, dtype=float)
        return got.shape == want.shape and bool(np.allclose(got, want, rtol=0, atol=self.tol))

    def cells(self) -> tuple[str, str, str]:
        """The three columns of its line: the label, the result and the expected value."""
        return self.label, _show(self.got), _show(self.expected)

    def line(self, widths=(0, 0, 0)) -> str:
        """``label  got  expected want  ✓`` (or ``✗ MISMATCH``), each column padded to
        its entry of ``widths`` (by default not at all)."""
        label, got, want = (cell.ljust(width) for cell, width in zip(self.cells(), widths))
        mark = "✓" if self.ok else tr("✗ MISMATCH")
        expected = tr("expected {value}").format(value=want)
        return f"  {label}  {got}  {expected}  {mark}"


def _show(value) -> str:
    if isinstance(value, str):
        return value
    a = np.asarray(value, dtype=float)
    if a.ndim == 0:
        return f"{float(a):.6g}"
    return np.array2string(a, precision=4, suppress_small=True, separator=", ").replace("\n", "")


class Lecture:
    """Collects the checks of every section and prints each section when it ends.

    A section is held back until the next one starts (or :meth:`flush`), because its
    columns are sized to its longest label and value, which are known only then.
    """

    def __init__(self, out=None):
        self.checks: list[Check] = []
        self.section = ""
        self.out = out or sys.stdout
        self._pending: list = []      # the current section: printed text and Checks

    def title(self, text: str):
        """Print the section before, and start a new one: later checks belong to it."""
        self.flush()
        self.section = text
        self._pending.append(f"\n{text}")

    def say(self, text: str):
        """Print ``text`` (a table, the assignments) indented under the section."""
        self._pending.append("  " + text.replace("\n", "\n  "))

    def check(self, label, got, expected, tol=EXACT) -> Check:
        """Record one result beside its expected value, printed with its section."""
        c = Check(self.section, label, got, expected, tol)
        self.checks.append(c)
        self._pending.append(c)
        return c

    def flush(self):
        """Print what the current section holds, its checks as one aligned table."""
        # taken before printing, so a failed print (a closed pipe) is not printed again
        pending, self._pending = self._pending, []
        rows = [c.cells() for c in pending if isinstance(c, Check)]
        widths = [max(map(len, column)) for column in zip(*rows)] or (0, 0, 0)
        for item in pending:
            print(item.line(widths) if isinstance(item, Check) else item, file=self.out)


def lecture_example(L: Lecture):
    """e = (a+b)(b+1): values 3, 2, 6; gradients 2 and 5 both ways; after a=4: 10 and 7."""
    L.title(tr("1. e = (a+b)(b+1) at a=2, b=1"))
    g = Graph.from_expression("e = (a+b)*(b+1)")
    L.check(tr("simple assignments"), "; ".join(g.program.lines()),
            "c ← a + b; d ← b + 1; e ← c × d")
    g.forward(a=2, b=1)
    for name, want in (("c", 3), ("d", 2), ("e", 6)):
        L.check(f"{name}", g.node(name).value, want)
    e = g.node("e")
    g.backward(e)
    L.check(tr("reverse mode ∂e/∂a = d"), g.node("a").grad, 2)
    L.check(tr("reverse mode ∂e/∂b = d + c (fan-out adds)"), g.node("b").grad, 5)
    L.check(tr("forward mode ∂e/∂b"), g.derivative(e, wrt="b"), 5)
    p = g.paths(e, "b")
    L.check(tr("paths b→c→e, b→d→e: products"), [q.product for q in p.paths], [2, 3])
    L.check(tr("sum over paths ∂e/∂b"), p.total, 5)
    L.say(str(g.explain(e, wrt="b").table()))
    g.node("a").value = 4
    L.check(tr("update a=4: nodes to recompute"),
            ", ".join(n.name for n in g.nodes if n.stale), "c, e")
    g.forward()
    L.check(tr("after a=4: e"), e.value, 10)
    L.check(tr("after a=4: forward mode ∂e/∂b"), g.derivative(e, wrt="b"), 7)
    g.backward(e)
    L.check(tr("after a=4: reverse mode ∂e/∂b"), g.node("b").grad, 7)


def gate_patterns(L: Lecture):
    """a = 2(xy + max(z, w)) = -20; gradients x: -8, y: 6, z: 2, w: 0."""
    L.title(tr("2. a = 2(xy + max(z, w)) at x=3, y=-4, z=2, w=-1: the gate patterns"))
    g = Graph.from_expression("a = 2*(x*y + max(z, w))")
    L.say("  ".join(g.program.lines()))
    out = g.node("a")
    L.check("a", g.forward(x=3, y=-4, z=2, w=-1), -20)
    g.backward(out)
    grad = {n.name: n.grad for n in g.nodes}
    L.check(tr("scale amplifies: ∂a/∂d = k"), grad["d"], 2)
    L.check(tr("add distributes: ∂a/∂b, ∂a/∂c = ∂a/∂d"), [grad["b"], grad["c"]],
            [2, 2])
    L.check(tr("multiply switches: ∂a/∂x = y·2"), grad["x"], -8)
    L.check(tr("multiply switches: ∂a/∂y = x·2"), grad["y"], 6)
    L.check(tr("max routes: ∂a/∂z (z won)"), grad["z"], 2)
    L.check(tr("max routes: ∂a/∂w (w lost)"), grad["w"], 0)


def exercise_1(L: Lecture):
    """z = xy + sin x at x = π/4, y = 4: dz/dx = y + cos x, dz/dy = x."""
    L.title(tr("3. Exercise 1: z = xy + sin(x) at x = π/4, y = 4"))
    x, y = math.pi / 4, 4.0
    g = Graph.from_expression("z = x*y + sin(x)")
    L.say("  ".join(g.program.lines()))
    z = g.node("z")
    L.check("z = π + √2/2", g.forward(x=x, y=y), x * y + math.sin(x))
    g.backward(z)
    L.check("∂z/∂x = y + cos x", g.node("x").grad, y + math.cos(x))
    L.check("∂z/∂y = x", g.node("y").grad, x)
    L.check(tr("forward mode ∂z/∂x"), g.derivative(z, wrt="x"), y + math.cos(x))
    L.check(tr("sum over 2 paths ∂z/∂x"), g.paths(z, "x").total, y + math.cos(x))


def exercise_2(L: Lecture):
    """CS231n's neuron: f = σ(1) = 0.73, gradients [0.2, -0.2, -0.39, 0.39, -0.59]."""
    L.title(tr("4. Exercise 2: f = σ(w0 + w1·x1 + w2·x2) at w0=-3, w1=2, w2=-3, x1=-1, "
               "x2=-2"))
    g = Graph.from_expression("f = sigmoid(w0 + w1*x1 + w2*x2)")
    L.say("  ".join(g.program.lines()))
    f = g.node("f")
    value = g.forward(w0=-3, w1=2, w2=-3, x1=-1, x2=-2)
    s = -3 + 2 * -1 + -3 * -2                       # = 1
    sig = 1 / (1 + math.exp(-s))
    ds = sig * (1 - sig)                            # σ'(1) = 0.1966
    L.check(tr("the sum w0 + w1·x1 + w2·x2"), g.node("d").value, 1)
    L.check("f = σ(1) (CS231n: 0.73)", value, sig)
    L.check(tr("f to 2 decimals"), round(float(value), 2), 0.73)
    g.backward(f)
    grads = {n: g.node(n).grad for n in ("w0", "w1", "w2", "x1", "x2")}
    L.check(tr("∂f/∂sum = (1 - f)·f"), g.node("d").grad, ds)
    L.check(tr("∂f/∂w0 = dsum (the bias)"), grads["w0"], ds)
    L.check(tr("∂f/∂w1 = x1·dsum (CS231n: -0.2)"), grads["w1"], -1 * ds)
    L.check(tr("∂f/∂w2 = x2·dsum (CS231n: -0.39)"), grads["w2"], -2 * ds)
    L.check(tr("∂f/∂x1 = w1·dsum (CS231n: 0.39)"), grads["x1"], 2 * ds)
    L.check(tr("∂f/∂x2 = w2·dsum (CS231n: -0.59)"), grads["x2"], -3 * ds)
    rounded = [round(float(grads[n]), 2) for n in ("w0", "w1", "w2", "x1", "x2")]
    L.check(tr("all five to 2 decimals"), rounded, [0.2, -0.2, -0.39, 0.39, -0.59])


def exercises_3_4(L: Lecture):
    """The +, -, ×, / and sin, cos gates on (2, 3) arrays, checked by gates.check."""
    L.title(tr("5. Exercises 3 and 4: tensor gates, backward and jvp checked against "
               "scipy.differentiate"))
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((2, 3)), rng.standard_normal((2, 3))
    away = rng.uniform(0.5, 2.0, (2, 3)) * rng.choice([-1.0, 1.0], (2, 3))
    row = rng.standard_normal(3)
    cases = [
        ("x + y", gates.AddGate(), (x, y)),
        ("x - y", gates.SubtractGate(), (x, y)),
        ("x * y", gates.MultiplyGate(), (x, y)),
        (tr("x / y (y away from 0)"), gates.DivideGate(), (x, away)),
        (tr("x * row (broadcast, summed back)"), gates.MultiplyGate(), (x, row)),
        ("sin x", gates.SinGate(), (x,)),
        ("cos x", gates.CosGate(), (x,)),
    ]
    for label, gate, inputs in cases:
        report = check_gate(gate, *inputs)
        worst = max((c.worst.abs_error for inp in report.inputs for c in inp.comparisons
                     if c.worst is not None), default=0.0)
        L.check(tr("{case}: max error {error}").format(case=label, error=f"{worst:.0e}"),
                "PASS" if report.ok else report.verdict, "PASS")


def l2_of_matvec(L: Lecture):
    """L = ||W x||² = 0.116, dL/dW = 2(Wx)xᵀ, dL/dx = Wᵀ 2(Wx)."""
    L.title("6. L = L2(W·x), W = [[0.1, 0.5], [-0.3, 0.8]], x = [0.2, 0.4]")
    g = Graph()
    W = g.param("W", np.array([[0.1, 0.5], [-0.3, 0.8]]))
    x = g.input("x")
    q = graph.matvec(W, x, name="q")
    loss = graph.l2(q, name="L")
    L.check("q = W·x", g.forward(x=np.array([0.2, 0.4]), outputs=q), [0.22, 0.26])
    L.check("L = 0.22² + 0.26²", g.forward(outputs=loss), 0.116)
    g.backward(loss)
    L.check("∂L/∂q = 2q", q.grad, [0.44, 0.52])
    L.check("∂L/∂W = 2q xᵀ", W.grad, [[0.088, 0.176], [0.104, 0.208]])
    L.check("∂L/∂x = Wᵀ 2q", x.grad, [-0.112, 0.636])
    report = check_gate(g.as_gate([W, x], loss), W.value, x.value)
    L.check(tr("the graph as a gate, checked numerically"),
            "PASS" if report.ok else report.verdict, "PASS")


def softmax_blocks(L: Lecture):
    """Softmax's Jacobian p_i(δ_ij - p_j); softmax + cross-entropy's gradient p - y."""
    L.title(tr("7. Softmax Jacobian and softmax + cross-entropy"))
    logits = np.array([1.0, 2.0, 0.5])
    gate = gates.SoftmaxGate()
    p = gate.forward(logits[None, :])[0]
    # row i of the Jacobian is backward(e_i): the gradient of p_i
    J = np.array([gate.backward(np.eye(3)[i][None, :])[0][0] for i in range(3)])
    L.check("p = softmax([1, 2, 0.5])", p, np.exp(logits) / np.exp(logits).sum())
    L.check(tr("diagonal ∂p_i/∂x_i = p_i(1 - p_i)"), np.diag(J), p * (1 - p))
    off = ~np.eye(3, dtype=bool)
    L.check(tr("off diagonal ∂p_i/∂x_j = -p_i·p_j"), J[off], -np.outer(p, p)[off])
    report = check_gate(gates.SoftmaxGate(), logits[None, :])
    L.check(tr("softmax gate checked numerically"), "PASS" if report.ok else report.verdict,
            "PASS")

    labels = np.array([0])
    fused = gates.SoftmaxCrossEntropyGate()
    loss = fused.forward(logits[None, :], labels)
    dlogits, dlabels = fused.backward(1.0)
    y = np.eye(3)[labels[0]]
    L.check(tr("loss = -log p_y"), loss, -math.log(p[0]))
    L.check(tr("fused gradient = p - y"), dlogits[0], p - y)
    L.check(tr("labels get no gradient"), str(dlabels), "None")

    g = Graph()                 # the same loss from separate gates: -log(sum(onehot * p))
    x = g.input("x")
    picked = graph.sum(graph.softmax(x) * y[None, :], name="p_y")
    composed = graph.negate(graph.log(picked), name="loss")
    L.check(tr("composed gates: softmax, ×y, sum, log, -"),
            g.forward(x=logits[None, :], outputs=composed), loss)
    g.backward(composed)
    L.check(tr("composed gradient = p - y too"), x.grad[0], p - y)
    report = check_gate(gates.SoftmaxCrossEntropyGate(), 3 * np.random.default_rng(1)
                        .standard_normal((4, 3)), np.array([0, 2, 1, 2]))
    L.check(tr("fused gate (batch of 4) checked numerically"),
            "PASS" if report.ok else report.verdict, "PASS")


def nine_paths(L: Lecture):
    """z(y(x)) with three paths per stage: 9 paths = 3 × 3, the sum factors at y."""
    L.title(tr("8. Sum over paths: 9 paths = 3 × 3 through the cut vertex y"))
    g = Graph.from_expression("p1 = 2*x; p2 = x**2; p3 = sin(x); y = p1 + p2 + p3\n"
                              "q1 = 3*y; q2 = y**2; q3 = cos(y); z = q1 + q2 + q3")
    L.say("  ".join(g.program.lines()))
    z = g.node("z")
    g.forward(x=0.5)
    g.backward(z)
    p = g.paths(z, "x")
    L.say(str(p))
    L.check(tr("number of paths"), p.count, 9)
    L.check(tr("factored"), p.factored(),
            tr("{count} paths = {counts} (through {through})").format(
                count=9, counts="3 × 3", through="y"))
    xv = 0.5
    yv = 2 * xv + xv ** 2 + math.sin(xv)
    dy = 2 + 2 * xv + math.cos(xv)
    dz = 3 + 2 * yv - math.sin(yv)
    L.check(tr("stage x → y: ∂y/∂x = 2 + 2x + cos x"), p.stages[0].total, dy)
    L.check(tr("stage y → z: ∂z/∂y = 3 + 2y - sin y"), p.stages[1].total, dz)
    L.check(tr("sum of 9 products = product of stage sums"), p.total, dy * dz)
    L.check(tr("= reverse mode ∂z/∂x"), g.node("x").grad, dy * dz)


SECTIONS = (lecture_example, gate_patterns, exercise_1, exercise_2, exercises_3_4,
            l2_of_matvec, softmax_blocks, nine_paths)


def run_all(out=None) -> Lecture:
    """Run every section, printing to ``out`` (default stdout); return the lecture with
    its checks."""
    lecture = Lecture(out)
    for section in SECTIONS:
        try:
            section(lecture)
        except Exception:
            lecture.flush()     # the lines before a crash show above its traceback
            raise
    lecture.flush()
    return lecture


def configure(parser, command):
    """``compgraph lecture [--lang {en,vi}]``, like ``python -m experiments.lecture``."""
    parser.add_argument("--lang", choices=LANGUAGES, default=None,
                        help="print in this language (default: from LANGUAGE, LC_ALL, "
                             "LC_MESSAGES or LANG, else en)")
    parser.set_defaults(command=command)


def run(args) -> int:
    """``compgraph lecture``: :func:`main` in the language of ``--lang``."""
    if getattr(args, "lang", None):
        set_language(args.lang)
    return main()


def main() -> int:
    """Run every section and print the tally; exit status 1 if anything mismatched."""
    lecture = run_all()
    bad = [c for c in lecture.checks if not c.ok]
    tally = tr("{matching} of {total} results match the lecture").format(
        matching=len(lecture.checks) - len(bad), total=len(lecture.checks))
    if bad:
        tally += tr("; MISMATCH: {labels}").format(labels=", ".join(c.label for c in bad))
    print(f"\n{tally}")
    return 1 if bad else 0


def _script(argv=None) -> int:
    """``python -m experiments.lecture [--lang {en,vi}]``."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m experiments.lecture",
                                     description="every worked example of the lecture, "
                                                 "beside its expected value")
    configure(parser, "lecture")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(_script())
