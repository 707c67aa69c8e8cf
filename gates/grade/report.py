"""Grading results and their three renderings: a terminal table, JSON, and Gradescope.

:class:`SubmissionResult` holds one :class:`GateResult` per expected gate, each with
one :class:`CheckResult` per check (points earned, points possible, and a reason a
student can act on for every point lost). Files are written atomically (a temporary
file in the same directory, then ``os.replace``), so a reader never sees half a file.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from gates.i18n import tr

from .._util import atomic_write_text, printable
from ..contract import full_marks
from .rubric import check_title

#: Reasons kept per check (the rest are counted), so a report stays readable.
MAX_REASONS = 3


@dataclass
class CheckResult:
    """One check of one gate: ``passed`` of ``total`` cases, worth ``max_points``."""

    name: str
    points: float
    max_points: float
    passed: int = 0
    total: int = 0
    reasons: list = field(default_factory=list)

    @property
    def title(self) -> str:
        """The check's name as a student reads it (``forward output``, ...)."""
        return check_title(self.name)


def status_text(status: str, lang: str | None = None) -> str:
    """A gate's status (``missing``, ``timed out``, ...) as a student reads it, in
    ``lang`` (default: the current language); the stored status stays English."""
    words = {"graded": tr("graded", lang), "missing": tr("missing", lang),
             "not implemented": tr("not implemented", lang),
             "timed out": tr("timed out", lang), "crashed": tr("crashed", lang),
             "framework": tr("framework", lang), "import failed": tr("import failed", lang),
             "not graded": tr("not graded", lang), "unreadable": tr("unreadable", lang)}
    return words.get(status, status)


@dataclass
class GateResult:
    """A gate's checks, a one-word status, notes for the whole gate, and what it printed."""

    name: str
    checks: list
    status: str = "graded"
    notes: list = field(default_factory=list)
    output: str = ""
    elapsed: float = 0.0

    @property
    def score(self) -> float:
        """Points earned, over all checks."""
        return sum(c.points for c in self.checks)

    @property
    def max_score(self) -> float:
        """Points possible: the gate's points in the rubric."""
        return sum(c.max_points for c in self.checks)

    def text(self, lang: str | None = None) -> str:
        """The feedback for this gate: notes, then each check with its lost points
        explained; its words in ``lang`` (default: the current language)."""
        lines = list(self.notes)
        for c in self.checks:
            mark = tr("ok", lang) if full_marks(c.points, c.max_points) else tr("LOST", lang)
            line = f"[{mark:<4}] {check_title(c.name, lang)}: {c.points:.2f}/{c.max_points:.2f}"
            if c.total:
                line += " " + tr("(passed {passed} of {total})", lang).format(
                    passed=c.passed, total=c.total)
            lines.append(line)
            shown = c.reasons[:MAX_REASONS]
            lines += [f"       - {r}" for r in shown]
            if len(c.reasons) > len(shown):
                lines.append("       - " + tr("... and {count} more like these", lang).format(
                    count=len(c.reasons) - len(shown)))
        if self.output:
            lines.append(tr("Printed by your code (start):", lang) + "\n" + self.output)
        return "\n".join(lines)


@dataclass
class SubmissionResult:
    """Everything about one graded file; ``notes`` apply to the whole submission."""

    submission: str
    gates: list
    notes: list = field(default_factory=list)
    output: str = ""
    elapsed: float = 0.0
    seed: int = 0
    jvp: bool = False
    run_seed: int | None = None
    isolation: str = ""
    warnings: list = field(default_factory=list)
    #: what graded it: seed, rubric fingerprint, compgraph/numpy/scipy versions
    #: (:func:`stamp`), so two reports can be told to be on the same terms or not
    stamp: dict = field(default_factory=dict)

    @property
    def score(self) -> float:
        """Points earned, over all gates."""
        return sum(g.score for g in self.gates)

    @property
    def max_score(self) -> float:
        """Points possible, over all gates."""
        return sum(g.max_score for g in self.gates)

    @property
    def percent(self) -> float:
        """score / max_score in percent (0 when nothing could be earned)."""
        return 100.0 * self.fraction

    @property
    def fraction(self) -> float:
        """score / max_score, the share of full marks (0 when nothing could be earned):
        what a grade on any scale is made from."""
        return self.score / self.max_score if self.max_score else 0.0

    @classmethod
    def from_dict(cls, data: dict) -> "SubmissionResult":
        """The result :meth:`to_dict` wrote (a batch's ``results.json``, read back to
        merge a regraded student into it)."""
        fields = {k: v for k, v in data.items()
                  if k in cls.__dataclass_fields__ and k != "gates"}
        gates = []
        for gd in data.get("gates", []):
            checks = [CheckResult(**{k: v for k, v in c.items()
                                     if k in CheckResult.__dataclass_fields__})
                      for c in gd.get("checks", [])]
            gates.append(GateResult(**{k: v for k, v in gd.items()
                                       if k in GateResult.__dataclass_fields__ and k != "checks"},
                                    checks=checks))
        return cls(gates=gates, **fields)

    def _repr_html_(self) -> str:
        """In a notebook: a table of gates and checks (points earned), then what each
        gate lost and why; everything the submission controls is escaped."""
        import html

        def e(text):
            return html.escape(printable(str(text)))

        names = [c.name for c in self.gates[0].checks] if self.gates else []
        head = "".join(f"<th>{e(check_title(n))}</th>" for n in names)
        rows = []
        for g in self.gates:
            cells = "".join(
                f'<td style="text-align:right;color:'
                f'{"#15803d" if full_marks(c.points, c.max_points) else "#dc2626"}">'
                f"{c.points:.2f}/{c.max_points:.2f}</td>" for c in g.checks)
            rows.append(f"<tr><td><b>{e(g.name)}</b></td>{cells}<td style=\"text-align:right\">"
                        f"{g.score:.2f}/{g.max_score:.2f}</td><td>{e(status_text(g.status))}"
                        f"</td></tr>")
        lost = "".join(f"<details><summary>{e(g.name)}: {g.score:.2f}/{g.max_score:.2f}"
                       f"</summary><pre>{e(g.text())}</pre></details>"
                       for g in self.gates if not full_marks(g.score, g.max_score))
        notes = "".join(f"<li>{e(n)}</li>" for n in self.notes)
        return (f"<div><b>{e(self.submission)}</b>: {self.score:.2f}/{self.max_score:.2f} "
                f"({self.percent:.1f}%)" + (f"<ul>{notes}</ul>" if notes else "")
                + f"<table><tr><th>{e(tr('gate'))}</th>{head}<th></th><th></th></tr>"
                + "".join(rows) + f"</table>{lost}</div>")

    def to_dict(self) -> dict:
        """A plain, JSON-ready dict (the ``--json`` report)."""
        data = asdict(self)
        data.update(score=round(self.score, 4), max_score=round(self.max_score, 4),
                    percent=round(self.percent, 2))
        for g, gd in zip(self.gates, data["gates"]):
            gd.update(score=round(g.score, 4), max_score=round(g.max_score, 4))
        return data


def versions() -> dict:
    """The versions of compgraph, numpy and scipy doing the grading."""
    import importlib.metadata

    import numpy
    import scipy
    try:
        own = importlib.metadata.version("compgraph")
    except importlib.metadata.PackageNotFoundError:
        own = "unknown (not installed)"
    return {"compgraph": own, "numpy": numpy.__version__, "scipy": scipy.__version__}


def stamp(seed: int, rubric_fingerprint: str, title: str = "") -> dict:
    """What every output of a grading run is stamped with."""
    data = {"seed": seed, "rubric": rubric_fingerprint, **versions()}
    if title:
        data["assignment"] = title
    return data


def stamp_line(stamp_data: dict) -> str:
    """``rubric 1a2b3c4d5e6f, compgraph 0.3.0, numpy 2.1.3, scipy 1.15.2`` (the seed
    is shown beside the run seed). Its words are the stamp's keys, in every language."""
    parts = [f"{k} {stamp_data[k]}" for k in ("assignment", "rubric", "compgraph", "numpy",
                                                "scipy") if k in stamp_data]
    return ", ".join(parts)


#: Control characters other than newline and tab: a submission's prints and error
#: messages could move the cursor or clear the teacher's screen and draw a fake table.
#: Statuses whose gate lost everything for one reason: a line each, not every check.
_ONE_REASON = ("missing", "not implemented", "not graded")


def format_table(result: SubmissionResult, details: bool = True) -> str:
    """The terminal report: one row per gate with points per check, then the reasons;
    what came from the submission is made :func:`printable`."""
    names = [c.name for c in result.gates[0].checks] if result.gates else []
    short = {"forward": "fwd", "backward": "bwd", "gradients": "grads",
             "inputs_unchanged": "inputs", "repeatable": "repeat", "float32": "f32", "jvp": "jvp"}
    gate, total = tr("gate"), tr("total")
    width = max([len(g.name) for g in result.gates] + [4, len(gate)])
    head = f"{gate:<{width}}  " + "  ".join(f"{short.get(n, n):>6}" for n in names)
    lines = [tr("Grading {submission}").format(submission=result.submission), *result.warnings,
             tr("isolation: {isolation}   seed: {seed}   run seed: {run_seed}").format(
                 isolation=result.isolation, seed=result.seed, run_seed=result.run_seed),
             *([stamp_line(result.stamp)] if result.stamp else []),
             *result.notes, "",
             head + f"  {tr('score'):>11}  {tr('status')}", "-" * (len(head) + 22)]
    for g in result.gates:
        cells = "  ".join(f"{c.points:6.2f}" for c in g.checks)
        lines.append(f"{g.name:<{width}}  {cells}  {g.score:5.1f}/{g.max_score:<5.1f}  "
                     f"{status_text(g.status)}")
    lines.append("-" * (len(head) + 22))
    lines.append(f"{total:<{width}}  {' ' * (8 * len(names) - 2)}  "
                 f"{result.score:5.1f}/{result.max_score:<5.1f}  {result.percent:.1f}%"
                 f"   ({result.elapsed:.1f} s)")
    if details:
        for g in result.gates:
            if g.status == "import failed":
                continue     # the one reason is said once, at the top
            if g.status in _ONE_REASON and g.score == 0 and len(g.notes) == 1:
                lines.append(f"== {g.name}: 0/{g.max_score:.2f}: {g.notes[0]}")
            elif not full_marks(g.score, g.max_score) or g.notes:
                lines += ["", f"== {g.name}: {g.score:.2f}/{g.max_score:.2f}", g.text()]
    return printable("\n".join(lines))



def gradescope(result: SubmissionResult) -> dict:
    """Gradescope's ``results.json``: one test per gate, with the whole feedback as output."""
    tests = []
    for number, g in enumerate(result.gates, 1):
        tests.append({
            "name": g.name, "number": str(number),
            "score": round(g.score, 4), "max_score": round(g.max_score, 4),
            "status": "passed" if full_marks(g.score, g.max_score) else "failed",
            "output": g.text(), "visibility": "visible"})
    summary = [tr("{score}/{max_score} points ({percent}%)").format(
                   score=f"{result.score:.2f}", max_score=f"{result.max_score:.2f}",
                   percent=f"{result.percent:.1f}"),
               *result.notes,
               # never the term's seed: students read this (the run seed is this run's)
               tr("(isolation: {isolation}; run seed: {run_seed}; {stamp})").format(
                   isolation=result.isolation, run_seed=result.run_seed,
                   stamp=stamp_line(result.stamp))]
    if result.output:
        summary.append(tr("Printed while importing your file (start):") + "\n" + result.output)
    return {"score": round(result.score, 4), "execution_time": round(result.elapsed, 3),
            "output": "\n".join(summary), "visibility": "visible",
            "stdout_visibility": "hidden", "tests": tests}


def write_json(path: str | Path, data: dict) -> Path:
    """Write ``data`` as strict JSON (no NaN) atomically; see :func:`write_text`."""
    return write_text(path, json.dumps(data, indent=2, allow_nan=False, default=str))


def write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically (a temporary file beside it, then
    ``os.replace``): all of it or, on a crash, the old file, never half. Creates the
    parent folders."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, text)
    return path
