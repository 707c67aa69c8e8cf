"""``check_all``: every gate of a registry (or of a user's module) over several seeds.

A *target* is anything with ``example_inputs(rng)`` and, optionally,
``example_gate()`` (else it is called with no arguments): a gate class, an object
that builds a block, or a gate instance itself (a block from ``Graph.as_gate``).
Each target is checked on its example inputs for seeds 0..N-1, and once more in
float32 (seed 0) when it has float inputs, so "float32 stays float32" is checked
too. An ``example_gate`` that takes ``dtype=`` is called with ``dtype=np.float32``
for that run, and its float64 twin gives the numerical derivatives.
"""

from __future__ import annotations

import inspect
import textwrap
import time
from dataclasses import dataclass, field

import numpy as np

from .. import ALL_GATES
from .._util import plural
from ..base import Gate
from ..numeric import GATE_ERRORS, exception_text
from . import graded as grading
from .gate_check import check_gate
from .report import GateReport, Problem, html_report_table
from .structure import gate_name

#: The summary's notes are wrapped at this many columns: the note naming a student's
#: 24 graded gates stays readable in a terminal.
WIDTH = 88


@dataclass
class SuiteReport:
    """The reports of :func:`check_all`: ``ok`` only if every one passed.

    ``graded`` holds the grader's results for a student's gates named like built-in
    ones (:mod:`.graded`), which ``compgraph check`` grades as ``compgraph grade``
    will; each passes with full marks."""

    reports: list = field(default_factory=list)
    incomplete: list = field(default_factory=list)  # (class name, what is missing)
    notes: list = field(default_factory=list)
    seconds: float = 0.0
    graded: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every report passed, every graded gate earned full marks and no
        gate was incomplete."""
        return (not self.incomplete and all(r.ok for r in self.reports)
                and all(grading.passed(g) for g in self.graded))

    def _tally(self) -> str:
        """``3 of 4 gates passed, 1 incomplete in 0.52 s``."""
        by_gate = self.by_gate()
        n_bad = sum(1 for reports in by_gate.values() if not all(r.ok for r in reports))
        n_bad += sum(1 for g in self.graded if not grading.passed(g))
        total = len(by_gate) + len(self.graded)
        return (f"{total - n_bad} of {plural(total, 'gate')} passed"
                + (f", {len(self.incomplete)} incomplete" if self.incomplete else "")
                + f" in {self.seconds:.2f} s")

    def __bool__(self) -> bool:
        return self.ok

    def by_gate(self) -> dict:
        """Gate name -> its reports, in the order checked."""
        out: dict = {}
        for r in self.reports:
            out.setdefault(r.target, []).append(r)
        return out

    def __str__(self) -> str:
        """The summary, then the full report of each failing gate."""
        return "\n\n".join([self.summary(), *self.details()])

    def summary(self) -> str:
        """One line per gate: ``PASS name  runs  time`` or ``FAIL name  k of n runs
        failed: <the first problem>``; then the incomplete gates, the notes and the tally."""
        by_gate = self.by_gate()
        width = max(map(len, [*by_gate, *(name for name, _ in self.incomplete),
                              *(g.name for g in self.graded)]), default=0)
        lines = []
        for target, reports in by_gate.items():
            bad = [r for r in reports if not r.ok]
            if not bad:
                ms = sum(r.seconds for r in reports) * 1000
                runs = ", ".join(sorted({r.dtype for r in reports}))
                lines.append(f"PASS {target:{width}}  {plural(len(reports), 'run')} ({runs}) "
                             f"{ms:5.0f} ms")
                continue
            first, *more = bad[0].problems[0].line().splitlines() or [""]
            lines.append(f"FAIL {target:{width}}  {len(bad)} of "
                         f"{plural(len(reports), 'run')} failed: {first}"
                         f"{' …' if more else ''}")
        lines.extend(grading.summary_line(g, width) for g in self.graded)
        for name, text in self.incomplete:
            lines.append(f"FAIL {name:{width}}  not checked: {text}")
        for note in self.notes:
            lines.extend(_wrapped(f"note: {note}", indent=len("note: ")))
        lines.append(self._tally())
        return "\n".join(lines)

    def details(self) -> list[str]:
        """Per failing gate: its first failing run in full, the others by their verdicts
        (the rest of a verdict is in the first run's report, or in :meth:`to_dict`)."""
        blocks = []
        for target, reports in self.by_gate().items():
            bad = [r for r in reports if not r.ok]
            if bad:
                lines = [f"FAIL {target}: {len(bad)} of {plural(len(reports), 'run')} "
                         f"failed"]
                lines.extend("  " + line for line in str(bad[0]).splitlines())
                lines.extend(f"  {r.verdict}" for r in bad[1:])
                blocks.append("\n".join(lines))
        blocks.extend(self.graded_text(g) for g in self.graded if not grading.passed(g))
        return blocks

    @staticmethod
    def graded_text(result) -> str:
        """A graded gate in full: its points, then the grader's feedback."""
        lines = [f"{'PASS' if grading.passed(result) else 'FAIL'} {result.name}: "
                 f"{result.score:.2f} of {result.max_score:.2f} points as graded"]
        lines.extend("  " + line for line in result.text().splitlines())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """In a notebook: a table with one row per gate (PASS or FAIL, its runs, their
        time, the problems of its failing runs), the incomplete gates, then the notes;
        the tally is the caption."""
        rows = []
        by_gate = self.by_gate()
        for target, reports in by_gate.items():
            bad = [r for r in reports if not r.ok]
            dtypes = ", ".join(sorted({r.dtype for r in reports}))
            runs = (f"{len(reports)} ({dtypes})" if not bad
                    else f"{len(bad)} of {len(reports)} failed ({dtypes})")
            problems = []
            for r in bad:
                for p in r.problems:
                    line = f"seed {r.seed}, {r.dtype}: {p.line()}"
                    if line not in problems:
                        problems.append(line)
            rows.append((target, not bad, runs, sum(r.seconds for r in reports), problems))
        for g in self.graded:
            problems = [] if grading.passed(g) else [grading.first_reason(g)]
            rows.append((g.name, grading.passed(g),
                         f"graded: {g.score:.2f} of {g.max_score:.2f} points", g.elapsed,
                         problems))
        for name, text in self.incomplete:
            rows.append((name, False, "not checked", None, [text]))
        return html_report_table(rows, self._tally(), self.notes)

    def to_dict(self) -> dict:
        """JSON-ready: ok, seconds, every report, the graded gates (as the grader's
        ``--json`` has them, with ``ok``), the incomplete gates, notes."""
        return {"ok": self.ok, "seconds": round(self.seconds, 4),
                "reports": [r.to_dict() for r in self.reports],
                "graded": [grading.to_dict(g) for g in self.graded],
                "incomplete": [{"name": n, "missing": t} for n, t in self.incomplete],
                "notes": list(self.notes)}


def check_all(targets=None, seeds=3, *, float32=True, **options) -> SuiteReport:
    """Check every target (default: :data:`gates.ALL_GATES`) on its example inputs.

    ``seeds`` runs per target (seeds 0..seeds-1, each drawing its own inputs), plus
    one float32 run if ``float32``; ``options`` go to :func:`check_gate`. A target
    whose ``example_inputs`` or ``example_gate`` raises gives a failing report.
    """
    if targets is None:
        targets = ALL_GATES
    start = time.perf_counter()
    suite = SuiteReport()
    for target in targets:
        name = _target_name(target)
        runs = [(seed, False) for seed in range(seeds)] + ([(0, True)] if float32 else [])
        for seed, as_float32 in runs:
            report = check_example(target, seed, float32=as_float32, **options)
            if report is None:
                continue
            report.target = name
            suite.reports.append(report)
    suite.seconds = time.perf_counter() - start
    return suite


def check_example(target, seed, *, float32=False, **options):
    """One run of :func:`check_all`: the target's example gate and inputs for ``seed``.

    With ``float32`` the float64 inputs are cast to float32 first; returns None if
    there is nothing float to cast."""
    name = _target_name(target)
    mistake = contract_mistake(target)
    if mistake is not None:
        report = GateReport(name, seed, "float32" if float32 else "float64", {})
        report.problems.append(Problem(*mistake))
        return report
    try:
        maker = getattr(target, "example_gate", None)
        if not inspect.isclass(target) and callable(getattr(target, "forward", None)):
            gate = target          # a gate instance (a block) checks itself
        elif maker is None:
            gate = target()
        elif float32 and _takes_dtype(maker):
            gate = maker(dtype=np.float32)
            options = dict(options, numerical_gate=maker(dtype=np.float64))
        else:
            gate = maker()
    except GATE_ERRORS as exc:
        return _failed(name, seed, float32, "example_gate", exc)
    try:
        inputs = target.example_inputs(np.random.default_rng(seed))
        # one bare array is one input, not a tuple of its rows
        inputs = (inputs,) if isinstance(inputs, np.ndarray) else tuple(inputs)
    except GATE_ERRORS as exc:
        return _failed(name, seed, float32, "example_inputs", exc)
    if float32:
        if not any(isinstance(x, np.ndarray) and x.dtype == np.float64 for x in inputs):
            return None
        inputs = tuple(x.astype(np.float32) if isinstance(x, np.ndarray)
                       and x.dtype == np.float64 else x for x in inputs)
    return check_gate(gate, *inputs, seed=seed, **options)


def contract_mistake(target) -> tuple[str, str] | None:
    """(method, what to write) for a gate class that breaks the contract in a way that
    would otherwise surface as a bare TypeError: ``example_inputs`` (or
    ``example_gate``) written as a plain method, or a constructor that needs arguments
    and no ``example_gate`` to supply them. None when the class is fine (or ``target``
    is not a class)."""
    if not inspect.isclass(target):
        return None
    for method, args in (("example_inputs", "cls, rng"), ("example_gate", "cls")):
        found = inspect.getattr_static(target, method, None)
        if inspect.isfunction(found):
            return (method, f"{target.__name__}.{method} must be a classmethod (the checker "
                            f"calls it on the class, before any gate exists): write "
                            f"@classmethod above `def {method}({args}):`")
    maker = inspect.getattr_static(target, "example_gate", None)
    if maker is None or maker is Gate.__dict__["example_gate"]:    # Gate's: calls cls()
        try:
            params = inspect.signature(target).parameters.values()
        except (TypeError, ValueError):
            return None
        needed = [p.name for p in params if p.default is p.empty
                  and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if needed:
            args = ", ".join(f"{n}=..." for n in needed)
            return ("example_gate", f"{target.__name__}({', '.join(needed)}) needs constructor "
                                    f"argument(s), so the checker cannot build one: add "
                                    f"@classmethod `def example_gate(cls): return "
                                    f"cls({args})` with example values")
    return None


def _wrapped(text: str, indent: int) -> list[str]:
    """``text`` as lines of at most :data:`WIDTH` columns (the next ones indented by
    ``indent``), its own line breaks kept; a word longer than a line is not cut."""
    lines = []
    for line in text.splitlines() or [""]:
        lines += textwrap.wrap(line, WIDTH, subsequent_indent=" " * indent,
                               break_long_words=False, break_on_hyphens=False) or [""]
    return lines


def _target_name(target) -> str:
    return getattr(target, "__name__", None) or gate_name(target)


def _takes_dtype(maker) -> bool:
    """Does ``example_gate`` take ``dtype=``? A block with parameters of a fixed dtype
    (graph params keep theirs) builds them in float32 for the float32 run."""
    try:
        return "dtype" in inspect.signature(maker).parameters
    except (TypeError, ValueError):
        return False


def _failed(name, seed, float32, method, exc) -> GateReport:
    report = GateReport(name, seed, "float32" if float32 else "float64", {})
    report.problems.append(Problem(method, f"raised {exception_text(exc)}"))
    return report


def gate_classes(module, builtins=None):
    """The gate classes a user's module defines: (targets, incomplete, graded).

    A public class defined in ``module`` (not imported into it) that has ``forward``
    or ``backward`` is a gate, unless another class there subclasses it (a shared
    base). One named like a built-in gate (the skeleton students complete) is what
    ``compgraph grade`` grades: its name goes in ``graded``, and it is checked the way
    the grader grades it (:mod:`.graded`). Any other is checked on its own examples if
    it has ``forward``, ``backward`` and ``example_inputs``, and otherwise listed in
    ``incomplete`` as (name, what is missing). ``builtins`` maps names to gate classes
    (default: :data:`gates.ALL_GATES`); the built-in classes themselves (``compgraph
    check gates.nonlinear``) are checked on their examples.
    """
    if builtins is None:
        builtins = {cls.__name__: cls for cls in ALL_GATES}
    classes = {name: cls for name, cls in vars(module).items()
               if inspect.isclass(cls) and cls.__module__ == module.__name__
               and not name.startswith("_")}
    bases = {base for cls in classes.values() for base in cls.__mro__[1:]}
    targets, incomplete, graded = [], [], []
    for name, cls in classes.items():
        has = {m: callable(getattr(cls, m, None)) for m in ("forward", "backward",
                                                             "example_inputs")}
        if not (has["forward"] or has["backward"]) or cls in bases:
            continue
        if name in builtins and builtins[name] is not cls:
            graded.append(name)
            continue
        missing = [m for m, present in has.items() if not present]
        if missing:
            incomplete.append((name, "missing " + " and ".join(
                f"{m}(rng)" if m == "example_inputs" else m for m in missing)))
        else:
            targets.append(cls)
    return targets, incomplete, graded
