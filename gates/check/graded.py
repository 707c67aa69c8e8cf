"""``compgraph check`` on a student's gates: graded exactly as ``compgraph grade`` will.

A class named like a built-in gate is what the grader grades, so the checker does not
judge it by rules of its own: it hands the file to the grader itself
(:func:`gates.grade.grade_submission`), with the grader's hidden-case shapes
(:data:`gates.facts.FACTS`), its calls, its scoring and the contract's rules and
tolerances (:mod:`gates.contract`). Only the seeds differ: the term's seed is the
teacher's secret and the fresh half is new in every run, so the check draws both
halves from public seeds. A gate passes when it earns full marks.

Each gate runs in a child process, as in grading, at the lightest isolation: the file
is the student's own, and the checker has already imported it in its own process. So
a gate that hangs is stopped by the grader's time limit, not by the student.
"""

from __future__ import annotations

from dataclasses import asdict

from ..contract import full_marks
from ..grade.grader import grade_submission

#: The seeds of the two draws of every case: ``--seed`` and the run seed of ``grade``.
PUBLIC_SEED = 0
PUBLIC_RUN_SEED = 1


def grade_like_the_grader(path, names, with_jvp=()) -> tuple[list, list]:
    """The grader's :class:`~gates.grade.report.GateResult` for each gate in ``names``
    of the file at ``path`` (in that order), and the grader's notes on the whole file
    (an import that failed, an autodiff framework).

    jvp is graded for the gates in ``with_jvp`` (those that define one: the teacher's
    ``--jvp`` cannot be known here, and a gate without jvp was not asked for one)."""
    results, notes = {}, []
    for group, jvp in (([n for n in names if n in with_jvp], True),
                       ([n for n in names if n not in with_jvp], False)):
        if not group:
            continue
        graded = grade_submission(path, gates=group, seed=PUBLIC_SEED,
                                  run_seed=PUBLIC_RUN_SEED, jvp=jvp,
                                  isolation="process only")
        results.update((g.name, g) for g in graded.gates)
        notes += [n for n in graded.notes if n not in notes]
    return [results[n] for n in names], notes


def passed(result) -> bool:
    """Whether a graded gate earned full marks."""
    return full_marks(result.score, result.max_score)


def first_reason(result) -> str:
    """Why a gate lost points, in one line: its note (a status such as "not
    implemented"), else the first lost check with its first reason."""
    if result.notes:
        return result.notes[0]
    for check in result.checks:
        if not full_marks(check.points, check.max_points):
            reason = check.reasons[0] if check.reasons else ""
            return f"{check.name}: {reason}" if reason else check.name
    return ""


def summary_line(result, width: int) -> str:
    """``PASS SigmoidGate  10.00 of 10.00 points as graded``, or FAIL and the first
    reason."""
    head = (f"{'PASS' if passed(result) else 'FAIL'} {result.name:{width}}  "
            f"{result.score:.2f} of {result.max_score:.2f} points as graded")
    if passed(result):
        return head
    first, *more = first_reason(result).splitlines() or [""]
    return f"{head}: {first}{' …' if more else ''}"


def to_dict(result) -> dict:
    """JSON-ready, as in the grader's ``--json`` report, with ``ok``."""
    data = asdict(result)
    data.update(ok=passed(result), score=round(result.score, 4),
                max_score=round(result.max_score, 4))
    return data
