"""What the checker found: reports people can act on, and machines can read.

A :class:`GateReport` holds, for one gate on one set of inputs, the problems found
(each naming the method and, where it can, the input), and per input a
:class:`Comparison` of the analytic values against the numerical ones: the largest
absolute and relative error and the worst entry with both values. ``str()`` gives
the readable form, ``to_dict()`` a JSON-ready one (only dicts, lists, strings,
numbers, booleans and None).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field

import numpy as np

from .._util import plural

#: The floor of the relative error |a - n| / max(|a| + |n|, floor), as in CS231n's
#: rel_error, so two values that are both (nearly) zero do not divide by zero.
REL_FLOOR = 1e-8


def rel_error(a: float, n: float) -> float:
    """CS231n's relative error |a - n| / max(|a| + |n|, 1e-8); 0 when equal, at most 1."""
    return abs(a - n) / max(abs(a) + abs(n), REL_FLOOR)


def _num(value):
    """A float for JSON: inf and NaN become strings, which JSON has no numbers for."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else str(value)


#: Each cell of a report's HTML table lists at most this many problems, then "+N more".
HTML_PROBLEMS = 5


def html_report_table(rows, caption: str = "", notes=()) -> str:
    """A small HTML table for a notebook: one row per gate with its name, PASS or FAIL,
    the runs, the time and the problems (at most :data:`HTML_PROBLEMS` of them).

    ``rows`` are (gate, ok, runs, seconds or None, problems); every text is escaped,
    so a gate's name or message can never become markup."""
    esc = html.escape
    out = ['<table class="compgraph-check">']
    if caption:
        out.append(f"<caption>{esc(caption)}</caption>")
    out.append("<thead><tr><th>gate</th><th>result</th><th>runs</th><th>time</th>"
               "<th>problems</th></tr></thead><tbody>")
    for gate, ok, runs, seconds, problems in rows:
        color = "#1a7f37" if ok else "#cf222e"
        shown = [esc(p).replace("\n", "<br>") for p in problems[:HTML_PROBLEMS]]
        if len(problems) > HTML_PROBLEMS:
            shown.append(esc(f"+{len(problems) - HTML_PROBLEMS} more"))
        time_cell = "" if seconds is None else esc(f"{seconds * 1000:.0f} ms")
        out.append(f'<tr><td><code>{esc(gate)}</code></td>'
                   f'<td style="color: {color}; font-weight: bold">{"PASS" if ok else "FAIL"}'
                   f'</td><td>{esc(runs)}</td><td style="text-align: right">{time_cell}</td>'
                   f'<td style="text-align: left">{"<br>".join(shown)}</td></tr>')
    out.append("</tbody></table>")
    out.extend(f"<p>{esc('note: ' + note)}</p>" for note in notes)
    return "\n".join(out)


@dataclass
class Worst:
    """The comparison that failed by the most (or came closest to failing).

    ``where`` reads like ``x[1, 2]`` (an entry of input x), ``x along direction 2``, or
    ``output[0, 1] along x[1, 2]`` for forward mode. ``low``/``high`` are set when
    the numerical side is an interval: the one-sided derivatives at a kink.
    """

    where: str
    numerical: float
    analytic: float
    abs_error: float
    rel_error: float
    tolerance: float
    index: tuple | None = None
    low: float | None = None
    high: float | None = None

    def text(self) -> str:
        """One line: where, both values, the errors and the tolerance."""
        if self.low is not None:
            numerical = f"between {self.low:.6g} and {self.high:.6g} (one-sided derivatives)"
        else:
            numerical = f"{self.numerical:.6g}"
        return (f"at {self.where}: numerical {numerical}, analytic {self.analytic:.6g} "
                f"(abs error {self.abs_error:.2e}, rel error {self.rel_error:.2e}, "
                f"tolerance {self.tolerance:.2e})")

    def to_dict(self) -> dict:
        """JSON-ready: inf and NaN become strings, the index a list."""
        return {"where": self.where, "index": None if self.index is None else list(self.index),
                "numerical": _num(self.numerical), "analytic": _num(self.analytic),
                "abs_error": _num(self.abs_error), "rel_error": _num(self.rel_error),
                "tolerance": _num(self.tolerance), "low": _num(self.low),
                "high": _num(self.high)}


@dataclass
class Comparison:
    """One kind of comparison for one input, over all its probes.

    ``kind`` is ``"gradient"`` (backward against the numerical gradient of <u, f>),
    ``"jvp"`` (forward mode against the numerical directional derivative) or
    ``"adjoint"`` (<jvp(t), u> against <t, backward(u)>). ``subgradients`` counts the
    comparisons made at a kink, where any value between the one-sided derivatives
    was accepted; ``unconverged`` those where scipy's estimate did not converge.
    """

    kind: str
    count: int = 0
    failures: int = 0
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    worst: Worst | None = None
    subgradients: int = 0
    unconverged: int = 0
    _worst_ratio: float = field(default=-1.0, repr=False)

    @property
    def ok(self) -> bool:
        """True when no comparison failed."""
        return self.failures == 0

    def add(self, where, numerical, analytic, tolerance, *, index=None, low=None, high=None):
        """Record one comparison; with ``low``/``high`` (a kink) any analytic value in
        [low, high] is exact. Returns whether it passed."""
        before = self.failures
        self.add_array([where], [numerical], [analytic], [tolerance], index=[index],
                       low=None if low is None else [low], high=None if high is None else [high])
        return self.failures == before

    def add_array(self, where, numerical, analytic, tolerance, *, index=None, low=None,
                  high=None, unconverged=0):
        """Record many comparisons at once (vectorised over the entries of an output).

        ``where`` and ``index`` are sequences or functions of the position k. Where
        ``low[k]`` is not NaN the numerical side is the interval [low[k], high[k]]
        (a kink): the error is the distance outside it, judged against its nearer end.
        """
        n = np.atleast_1d(np.asarray(numerical, dtype=np.float64))
        a = np.atleast_1d(np.asarray(analytic, dtype=np.float64))
        tol = np.broadcast_to(np.asarray(tolerance, dtype=np.float64), n.shape)
        if low is None:
            kink = np.zeros(n.shape, dtype=bool)
            abs_err = np.abs(a - n)
        else:
            lo = np.atleast_1d(np.asarray(low, dtype=np.float64))
            hi = np.atleast_1d(np.asarray(high, dtype=np.float64))
            kink = ~np.isnan(lo)
            lo, hi = np.where(kink, lo, n), np.where(kink, hi, n)
            gap = np.maximum(np.maximum(lo - a, a - hi), 0.0)
            n = np.where(kink, np.where(np.abs(a - lo) <= np.abs(a - hi), lo, hi), n)
            abs_err = np.where(kink, gap, np.abs(a - n))
        abs_err = np.where(np.isnan(abs_err), np.inf, abs_err)
        rel = np.abs(a - n) / np.maximum(np.abs(a) + np.abs(n), REL_FLOOR)
        rel = np.where(np.isnan(rel), np.inf, np.where(abs_err == 0, 0.0, rel))
        failed = ~(abs_err <= tol)
        with np.errstate(all="ignore"):
            ratio = np.where(failed & ~np.isfinite(abs_err), np.inf,
                             abs_err / np.maximum(tol, 1e-300))
        self.count += n.size
        self.failures += int(failed.sum())
        self.subgradients += int(kink.sum())
        self.unconverged += int(unconverged)
        if n.size == 0:
            return
        self.max_abs_error = max(self.max_abs_error, float(abs_err.max()))
        self.max_rel_error = max(self.max_rel_error, float(rel.max()))
        k = int(np.argmax(ratio))
        if ratio[k] > self._worst_ratio:
            self._worst_ratio = float(ratio[k])
            def pick(f):
                return f(k) if callable(f) else f[k]
            self.worst = Worst(pick(where), float(n[k]), float(a[k]), float(abs_err[k]),
                               float(rel[k]), float(tol[k]),
                               None if index is None else pick(index),
                               float(lo[k]) if kink[k] else None,
                               float(hi[k]) if kink[k] else None)

    def summary(self) -> str:
        """One line: the kind, the verdict, the count and the largest errors."""
        extra = []
        if self.subgradients:
            extra.append(f"{self.subgradients} at a kink (subgradient accepted)")
        if self.unconverged:
            extra.append(f"{plural(self.unconverged, 'numerical estimate')} not converged")
        tail = f"; {', '.join(extra)}" if extra else ""
        verdict = "ok" if self.ok else f"FAIL ({self.failures} of {self.count})"
        return (f"{self.kind:8s} {verdict:14s} {self.count:4d} compared, max abs error "
                f"{self.max_abs_error:.1e}, max rel error {self.max_rel_error:.1e}{tail}")

    def to_dict(self) -> dict:
        """JSON-ready counts, largest errors and the worst entry."""
        return {"kind": self.kind, "ok": self.ok, "count": self.count,
                "failures": self.failures, "max_abs_error": _num(self.max_abs_error),
                "max_rel_error": _num(self.max_rel_error),
                "worst": None if self.worst is None else self.worst.to_dict(),
                "subgradients": self.subgradients, "unconverged": self.unconverged}


#: The kinds of problems, in the order a report lists them: the structure of what the
#: gate returned first (nothing else can be trusted without it), then the gradients
#: against numerical ones, forward mode, and the adjoint identity, which links the two.
KINDS = ("structure", "gradient", "jvp", "adjoint")


@dataclass
class Problem:
    """One thing wrong: the method it concerns, what, the input (if one), and its kind
    (one of :data:`KINDS`), which orders a report's problems."""

    method: str
    text: str
    input: str | None = None
    kind: str = "structure"

    def line(self) -> str:
        """``input 'x': backward: <text>``, or without the input when none is named."""
        where = f"input '{self.input}': " if self.input is not None else ""
        return f"{where}{self.method}: {self.text}"

    def to_dict(self) -> dict:
        """JSON-ready: method, input (or None), text and kind."""
        return {"method": self.method, "input": self.input, "text": self.text,
                "kind": self.kind}


@dataclass
class InputReport:
    """Everything checked about one input: its shape, dtype, probes and comparisons."""

    name: str
    index: int
    shape: tuple
    dtype: str
    differentiable: bool
    probes: str = ""
    comparisons: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every comparison for this input passed."""
        return all(c.ok for c in self.comparisons)

    def to_dict(self) -> dict:
        """JSON-ready: shape, dtype, how it was probed, and its comparisons."""
        return {"name": self.name, "index": self.index, "shape": list(self.shape),
                "dtype": self.dtype, "differentiable": self.differentiable,
                "probes": self.probes, "ok": self.ok,
                "comparisons": [c.to_dict() for c in self.comparisons]}


@dataclass
class GateReport:
    """The result of :func:`gates.check.check_gate`: ``ok``, a verdict, the details.

    ``problems`` lists every failure in the order found (structure first, then the
    comparisons input by input); ``verdict`` is one line naming the first failing
    input; ``notes`` says what was skipped or accepted (jvp absent, subgradients).
    """

    gate: str
    seed: int
    dtype: str
    tolerances: dict
    inputs: list = field(default_factory=list)
    problems: list = field(default_factory=list)
    notes: list = field(default_factory=list)
    adjoint: Comparison | None = None
    seconds: float = 0.0
    target: str = ""   # the registry entry it came from, set by check_all

    @property
    def ok(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    def __bool__(self) -> bool:
        return self.ok

    @property
    def failed_inputs(self) -> list:
        """Names of the inputs some problem names, in order, without repeats."""
        names = []
        for p in self.problems:
            if p.input is not None and p.input not in names:
                names.append(p.input)
        return names

    @property
    def verdict(self) -> str:
        """``PASS <gate> (<dtype>, seed <n>)``, or ``FAIL ...:`` and the first problem."""
        head = f"{self.gate} ({self.dtype}, seed {self.seed})"
        if self.ok:
            return f"PASS {head}"
        more = f" (+{len(self.problems) - 1} more)" if len(self.problems) > 1 else ""
        return f"FAIL {head}: {self.problems[0].line()}{more}"

    def __str__(self) -> str:
        lines = [self.verdict]
        for p in self.problems[1:]:
            lines.append(f"  also: {p.line()}")
        for inp in self.inputs:
            flag = "" if inp.differentiable else "  (not differentiable: gradient must be None)"
            lines.append(f"  input '{inp.name}' {tuple(inp.shape)} {inp.dtype}"
                         f"{': ' + inp.probes if inp.probes else ''}{flag}")
            for c in inp.comparisons:
                lines.append(f"    {c.summary()}")
                if c.worst is not None and not c.ok:
                    lines.append(f"      worst {c.worst.text()}")
        if self.adjoint is not None:
            lines.append(f"  all inputs: {self.adjoint.summary()}")
        for note in self.notes:
            lines.append(f"  note: {note}")
        if self.tolerances:
            rt = ", ".join(f"{k} rtol {v['rtol']:.0e} atol {v['atol']:.0e}"
                           for k, v in self.tolerances.items())
            lines.append(f"  tolerances: {rt}; checked in {self.seconds * 1000:.0f} ms")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """In a notebook: one table row, PASS or FAIL, the run, the time and the
        problems; the notes below it."""
        runs = f"1 ({self.dtype}, seed {self.seed})"
        return html_report_table([(self.gate, self.ok, runs, self.seconds,
                                   [p.line() for p in self.problems])],
                                 notes=self.notes)

    def to_dict(self) -> dict:
        """JSON-ready: the verdict, the problems, every input's comparisons, notes."""
        return {"gate": self.gate, "target": self.target, "ok": self.ok,
                "verdict": self.verdict, "seed": self.seed, "dtype": self.dtype,
                "failed_inputs": self.failed_inputs,
                "problems": [p.to_dict() for p in self.problems],
                "inputs": [i.to_dict() for i in self.inputs],
                "adjoint": None if self.adjoint is None else self.adjoint.to_dict(),
                "notes": list(self.notes),
                "tolerances": {k: {"rtol": v["rtol"], "atol": v["atol"]}
                               for k, v in self.tolerances.items()},
                "seconds": round(self.seconds, 6)}


def assemble(report: GateReport, comparisons: dict, problems: list) -> None:
    """The last stage of :func:`gates.check.check_gate`: attach each ``(input, kind) ->``
    :class:`Comparison` to its input's report, turn a failed gradient or jvp comparison
    into a problem (the adjoint's failures were reported as they happened), note the
    subgradients accepted, and order ``problems`` by :data:`KINDS` (stably, so within a
    kind they stay in the order found)."""
    order = {"gradient": 0, "jvp": 1, "adjoint": 2}
    names = {inp.index: inp.name for inp in report.inputs}
    for (i, kind), comp in sorted(comparisons.items(),
                                  key=lambda kv: (order[kv[0][1]], kv[0][0])):
        if not comp.ok and kind != "adjoint":
            what = ("disagrees with the numerical gradient" if kind == "gradient" else
                    "disagrees with the numerical directional derivative")
            problems.append(Problem("backward" if kind == "gradient" else "jvp",
                                    f"{what} {comp.worst.text()}", names[i], kind))
    for (i, kind), comp in sorted(comparisons.items(),
                                  key=lambda kv: (kv[0][0], order[kv[0][1]])):
        report.inputs[i].comparisons.append(comp)
    kinks = sum(c.subgradients for c in comparisons.values())
    if kinks:
        report.notes.append(
            f"{plural(kinks, 'comparison')} at a kink: the one-sided derivatives differ "
            f"there, and any analytic value between them (a subgradient) was accepted")
    problems.sort(key=lambda p: KINDS.index(p.kind))
