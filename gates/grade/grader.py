"""Grade a student's gate implementations: the design, and the orchestration.

Design (fast, and the child cannot fool it):

1. The grader chooses everything: hidden seeded inputs per gate (several shapes,
   batch sizes, broadcasting, float32; :mod:`.cases`), two upstream gradients u1 and
   u2, and jvp tangents. It writes them to a temporary directory.
2. One child process per gate (:mod:`.sandbox`, a pool of ``jobs`` at a time) imports
   the submission and calls ``forward``, ``backward(u1)`` twice, ``backward(u2)`` and
   ``jvp`` on exactly those arrays, and writes back the RAW results as ``.npz`` files
   (no pickle). It never computes a verdict, and nothing it says is believed except
   the numbers, which are judged here.
3. Meanwhile the grader computes the expectations itself, in its own process, from the
   trusted reference gate: the forward output, and one numerical Jacobian J_j per
   input and case from the checker's numerical core
   (:func:`gates.check.directional_derivatives`, on ``scipy.differentiate``) over calls
   of the reference *forward* (:mod:`.numeric`). Expected backward = J_j^T u, expected
   jvp = sum_j J_j t_j. So a backward is graded against the derivative of the true
   function, not against how the reference happens to write it, and the only way to
   earn a point is to return the right numbers for inputs the submission has never seen.
   Because the child only answers questions and never differentiates, one short-lived
   child per gate suffices: no protocol with a persistent child, and a student's
   forward is never called hundreds of times.
4. Scoring (:func:`.scoring.score_gate`) turns the comparisons into points per check, with a
   reason for every lost point.

Before the gates, a probe child imports the submission once: if the import fails
(exception, sys.exit, os._exit, crash, timeout), every gate gets 0 with that reason,
instead of 24 children failing the same way. A static scan (:mod:`.scan`) and the
child's ``sys.modules`` report autodiff frameworks; gates using one lose the credit
for backward (and jvp, gradients and repeatable, which only make sense for a
hand-written backward).
"""

from __future__ import annotations

import importlib.util
import numbers
import os
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

import gates as reference

from . import sandbox
from .cases import add_directions, build_cases, directions_rng
from .numeric import NumericalDerivativeError, jacobians
from .report import GateResult, SubmissionResult
from .rubric import Rubric
from .scoring import error_text, float64, score_gate, ungraded
from .scan import FRAMEWORKS, REFERENCE, Scan, scan_source

class GradingError(ValueError):
    """Bad grading request: unknown gate names, an unreadable submission file, or limits
    under which the grading child cannot even start."""


def check_settings(seed: int, timeout: float) -> None:
    """GradingError unless ``seed`` >= 0 (numpy seeds) and ``timeout`` > 0 seconds."""
    if not isinstance(seed, numbers.Integral) or seed < 0:
        raise GradingError(f"the seed must be an integer >= 0, got {seed!r}")
    if not timeout > 0:
        raise GradingError(f"the timeout must be more than 0 seconds, got {timeout!r}")


def gate_classes(names=None) -> list:
    """Reference classes to grade: all of ``gates.ALL_GATES``, or those named."""
    by_name = {cls.__name__: cls for cls in reference.ALL_GATES}
    if not names:
        return list(reference.ALL_GATES)
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise GradingError(f"unknown gate(s) {', '.join(unknown)}; known gates: "
                           f"{', '.join(by_name)}")
    return [by_name[n] for n in names]


def grade_submission(path, gates=None, rubric: Rubric | None = None, seed: int = 0,
                     timeout: float = 10.0, memory: int = 1 << 30, jobs: int = 2,
                     jvp: bool = False) -> SubmissionResult:
    """Grade the file ``path`` (a student's gate classes, found by name).

    ``gates`` names the classes to grade (default: every gate of ``gates.ALL_GATES``),
    ``timeout`` is the wall-clock limit per child in seconds, ``memory`` the address
    space per child in bytes, ``jobs`` how many children run at once, ``jvp`` whether
    jvp is graded. Never raises because of what the submission does; raises
    GradingError for unknown gate names, a negative seed, a timeout <= 0, a file that
    cannot be read, or limits too
    tight for the child to start (numpy alone needs a few hundred MB of address space).
    """
    started = time.perf_counter()
    check_settings(seed, timeout)
    classes = gate_classes(gates)
    rubric = rubric or Rubric()
    path = Path(path)
    try:
        source_bytes = path.read_bytes()
    except OSError as exc:
        raise GradingError(f"cannot read submission {path}: {exc}") from None
    source = source_bytes.decode("utf-8", errors="replace")
    scan = scan_source(source, path.name)
    limits = sandbox.Limits(timeout=timeout, memory=memory)
    result = SubmissionResult(submission=str(path), gates=[], seed=seed, jvp=jvp)
    notes = result.notes

    # a child that gets around the guard and deletes this folder costs its own gates,
    # never the grading: every use of it below is guarded, and so is the clean-up
    with tempfile.TemporaryDirectory(prefix="compgraph-grade-",
                                     ignore_cleanup_errors=True) as tmp:
        tmp = Path(tmp)
        problem = scan.syntax_error
        probe = None
        if problem is None:
            probe = _probe(tmp, source_bytes, [c.__name__ for c in classes], limits)
            problem = probe.problem
            result.output = probe.output
        if problem is not None:
            notes.append(f"Your file could not be imported: {problem}. No gate was graded.")
            result.gates = [ungraded(cls, rubric, jvp, "import failed", problem)
                            for cls in classes]
        else:
            _framework_notes(notes, scan, sorted(set(probe.frameworks) - set(scan.frameworks)))

            def work(cls):
                found = probe.classes.get(cls.__name__)
                if not (isinstance(found, dict) and found.get("found") is True):
                    return ungraded(cls, rubric, jvp, "missing",
                                     f"no class named {cls.__name__} in your file "
                                     f"(names are case-sensitive)")
                return grade_gate(tmp, source_bytes, cls, rubric, limits, seed, jvp, scan)

            with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                result.gates = list(pool.map(work, classes))
    result.elapsed = time.perf_counter() - started
    return result


def _framework_notes(notes, scan, hidden):
    for name, line in scan.frameworks.items():
        notes.append(f"Your file imports {name} (line {line}), an autodiff framework: gates "
                     f"that use it get no credit for backward. Write backward by hand.")
    for name in hidden:
        notes.append(f"{name} was imported while your code ran (not by a plain import "
                     f"statement): gates get no credit for backward.")
    if scan.others:
        notes.append(f"Note: your file imports {', '.join(scan.others)}; the skeleton needs "
                     f"only numpy.")


class _Probe:
    """What importing the submission once showed: a problem (or None), the classes
    found, the frameworks loaded, and the start of what it printed."""

    def __init__(self, run: sandbox.ChildRun):
        self.output = run.output_excerpt()
        arrays_info = run.steps.get("import")
        info = arrays_info[1] if arrays_info else {}
        self.classes = info.get("classes") or {}
        modules = info.get("modules")
        self.frameworks = ([m for m in modules if m in FRAMEWORKS]
                           if isinstance(modules, list) else [])
        err = info.get("error")
        if arrays_info is None:
            self.problem = f"importing it {run.ending or 'ended without a result'}"
        elif err:
            self.problem = error_text(err, "importing your file")
        elif not isinstance(self.classes, dict):
            self.problem = "the import check returned nonsense"
            self.classes = {}
        else:
            self.problem = None


def _workdir(tmp: Path, name: str, source: bytes) -> Path:
    """A new folder of unpredictable name in ``tmp`` holding the submission: no child
    can prepare or forge another child's files in advance."""
    work = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=tmp))
    (work / "submission.py").write_bytes(source)
    return work


def _probe(tmp: Path, source: bytes, names, limits) -> _Probe:
    work = _workdir(tmp, "import", source)
    task = {"mode": "probe", "submission": "submission.py", "gates": names,
            "frameworks": list(FRAMEWORKS), "blocked": list(REFERENCE),
            "blocked_dirs": reference_dirs(), "jvp": False}
    run = sandbox.run(work, task, limits)
    if "ready" not in run.steps:
        # the child failed before it ran any submission code: the set-up is at fault
        how = "timed out" if run.timed_out else f"exit status {run.returncode}"
        raise GradingError(f"the grading child could not start ({how}; are --memory-mb "
                           f"{limits.memory >> 20} or --timeout {limits.timeout:g} too "
                           f"small?): {run.stderr.strip()[-500:]}")
    return _Probe(run)


def reference_dirs() -> list[str]:
    """The folders of compgraph's own packages, which a submission may not read."""
    dirs = []
    for name in REFERENCE:
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec else []:
            dirs.append(os.path.realpath(location))
    return dirs


# -- one gate -----------------------------------------------------------------------------

def _construct(cls, params):
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})


def grade_gate(tmp: Path, source: bytes, cls, rubric: Rubric, limits, seed: int, jvp: bool,
               scan: Scan | None = None) -> GateResult:
    """Grade one gate class of the submission in its own child (working in a new folder
    inside ``tmp``); see the module docstring.

    ``scan`` (the static scan of the source) says which autodiff frameworks the class
    uses; a framework the child had loaded that the scan never saw imported (hidden
    behind ``__import__``) counts as used by this gate too.
    """
    name = cls.__name__
    cases = build_cases(cls, seed)
    rng = directions_rng(seed, name)
    expected = []
    for case in cases:
        out = _construct(cls, case.params).forward(*case.inputs)
        add_directions(case, np.shape(out), rng)
        ref64 = _construct(cls, case.params).forward(*float64(case.inputs))
        expected.append({"out": np.asarray(ref64, dtype=np.float64)})

    arrays = {}
    for i, case in enumerate(cases):
        for j, a in enumerate(case.inputs):
            arrays[f"c{i}_in{j}"] = a
        arrays[f"c{i}_up1"], arrays[f"c{i}_up2"] = case.up1, case.up2
        for j, t in enumerate(case.tangents):
            if t is not None:
                arrays[f"c{i}_t{j}"] = t
    task = {"mode": "gate", "submission": "submission.py", "gate": name, "gates": [name],
            "frameworks": list(FRAMEWORKS), "blocked": list(REFERENCE),
            "blocked_dirs": reference_dirs(), "jvp": jvp,
            "cases": [{"arity": c.arity, "params": c.params} for c in cases]}
    try:
        work = _workdir(tmp, name, source)
        np.savez(work / "cases.npz", **arrays)
        proc, started = sandbox.start(work, task, limits)
    except OSError as exc:
        # only a child that got around the guard (ctypes) can have removed the folder
        return ungraded(cls, rubric, jvp, "interfered",
                        f"{name} was not graded: the grader's working folder was changed "
                        f"while grading ({exc}); does your code delete or create files?")
    try:
        # the numerical derivatives are computed while the child runs
        for case, exp in zip(cases, expected):
            try:
                exp["J"] = jacobians(_construct(cls, case.params).forward,
                                     float64(case.inputs), case.differentiable)
            except NumericalDerivativeError:
                # no trustworthy expectation: that check is not held against anyone
                exp["J"] = None
    finally:
        run = sandbox.finish(proc, started, work, limits)
    shutil.rmtree(work, ignore_errors=True)
    scan = scan or Scan()
    loaded = {str(f) for _, info in run.steps.values()
              if isinstance(info.get("frameworks"), list) for f in info["frameworks"]}
    frameworks = list(scan.uses.get(name, [])) + [
        (f, None) for f in sorted(loaded & set(FRAMEWORKS) - set(scan.frameworks))]
    try:
        result = score_gate(cls, cases, expected, run, rubric, jvp, frameworks)
    except Exception as exc:  # noqa: BLE001
        # the child's files are untrusted: malformed ones cost this gate, not the grading
        result = ungraded(cls, rubric, jvp, "unreadable",
                          f"the results of your {name} could not be read ({type(exc).__name__}"
                          f": {exc}); did your code write into the grader's files?")
    result.elapsed = run.elapsed
    return result
