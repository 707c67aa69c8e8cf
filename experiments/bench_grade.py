"""Benchmark of the grader (a script, not a test): the time to grade the reference
written out as a 24-gate submission, at each isolation level this machine offers.

Each grading runs 25 children (one import probe, one per gate), ``--jobs`` at a time;
the time is the grader's own (``SubmissionResult.elapsed``), best of ``--repeat``.
The levels are interleaved, so a change of load affects them alike.

Run with the BLAS settings of a user's machine:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python experiments/bench_grade.py
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from gates.grade import grade_submission, solution_source
from gates.grade.isolation import LEVELS, IsolationError, choose


def available_levels() -> list[str]:
    """The isolation levels that work here, strongest first."""
    found = []
    for level in LEVELS:
        try:
            choose(level)
        except IsolationError:
            continue
        found.append(level)
    return found


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    levels = available_levels()
    best = {level: float("inf") for level in levels}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "solution.py"
        path.write_text(solution_source(), encoding="utf-8")
        for _ in range(args.repeat):
            for level in levels:
                result = grade_submission(path, isolation=level, jobs=args.jobs)
                assert result.percent == 100.0, f"{level}: {result.percent}%"
                best[level] = min(best[level], result.elapsed)
    for level in levels:
        print(f"{level:<16} {best[level]:5.2f} s   (24 gates, {args.jobs} children at a "
              f"time, best of {args.repeat})")


if __name__ == "__main__":
    main()
