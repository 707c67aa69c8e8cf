"""Grade a student's gate implementations: the design, and the orchestration.

Design (fast, and the child cannot fool it):

1. The grader chooses everything: hidden inputs per gate (several shapes, batch
   sizes, broadcasting, float32; each case drawn from the term's seed and again from
   this run's fresh seed; :mod:`.cases`), two upstream gradients u1 and u2, and jvp
   tangents. It writes them into the child's read-only inputs folder.
2. One child process per gate (:mod:`.sandbox`, a pool of ``jobs`` at a time), isolated
   by the kernel (:mod:`.isolation`), imports the submission (:mod:`.submission`: a
   file, a notebook, a zip or several files) and calls ``forward``, ``backward(u1)``
   twice, ``backward(u2)`` on a second gate after a forward of its own, and ``jvp``
   on exactly those arrays, and
   sends back the RAW results as frames down a pipe (:mod:`.frames`; no pickle, no
   files). It never computes a verdict, and nothing it says is believed except the
   numbers, which are judged here, once everything it started has been killed.
3. Meanwhile the grader computes the expectations itself, in its own process, from the
   trusted reference gate: the forward output, and one numerical Jacobian J_j per
   input and case from the numerical core the checker uses too
   (:func:`gates.numeric.directional_derivatives`, on ``scipy.differentiate``) over calls
   of the reference *forward* (:mod:`.numeric`). Expected backward = J_j^T u, expected
   jvp = sum_j J_j t_j. So a backward is graded against the derivative of the true
   function, not against how the reference happens to write it, and the only way to
   earn a point is to return the right numbers for inputs the submission has never seen.
   Because the child only answers questions and never differentiates, one short-lived
   child per gate suffices: no protocol with a persistent child, and a student's
   forward is never called hundreds of times.
4. Scoring (:func:`.scoring.score_gate`) turns the comparisons into points per check, with a
   reason for every lost point; structural checks pay only where the values are right.

Before the gates, a probe child imports the submission once: if the import fails
(exception, sys.exit, os._exit, crash, timeout), every gate gets 0 with that reason,
instead of 24 children failing the same way. A static scan (:mod:`.scan`) and the
child's ``sys.modules`` report autodiff frameworks; gates using one lose the credit
for backward (and jvp, gradients and repeatable, which only make sense for a
hand-written backward).
"""

from __future__ import annotations

import difflib
import importlib.util
import os
import secrets
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gates.i18n import tr

from . import isolation as iso
from . import sandbox
from .cases import add_directions, build_cases, directions_rng
from .numeric import NumericalDerivativeError, jacobians
from .assignment import Assignment
from .report import GateResult, SubmissionResult, stamp
from .request import GradingError, SetupError, check_settings, gate_classes
from .rubric import Rubric
from .scan import FRAMEWORKS, REFERENCE, Scan, scan_submission
from .submission import Submission, SubmissionError
from .submission import load as load_submission
from .scoring import error_text, float64, score_gate, ungraded
from .trees import remove_tree


def choose_isolation(isolation: str | iso.Isolation | None = None,
                     require_isolation: bool = False) -> iso.Isolation:
    """The isolation children get (see :mod:`.isolation`): ``isolation`` itself when it
    was chosen already (a batch chooses once for every student); SetupError if
    unavailable."""
    if isinstance(isolation, iso.Isolation):
        return isolation
    try:
        return iso.choose(isolation, require_isolation, reference_dirs())
    except iso.IsolationError as exc:
        raise SetupError(str(exc)) from None


def grade_submission(path, gates=None, rubric: Rubric | None = None, seed: int = 0,
                     timeout: float = 10.0, memory: int = 1 << 30, jobs: int = 2,
                     jvp: bool = False, isolation: str | iso.Isolation | None = None,
                     require_isolation: bool = False,
                     run_seed: int | None = None) -> SubmissionResult:
    """Grade what a student handed in at ``path`` (their gate classes, found by name):
    a ``.py`` file, a notebook, a zip or a folder (:mod:`.submission`), or a
    :class:`~.submission.Submission` already assembled.

    ``gates`` names the classes to grade (default: every gate of ``gates.ALL_GATES``),
    ``timeout`` is the wall-clock limit per child in seconds, ``memory`` the address
    space per child in bytes, ``jobs`` how many children run at once, ``jvp`` whether
    jvp is graded. ``isolation`` picks a level of :mod:`.isolation` (default: the
    strongest available), ``require_isolation`` refuses ``process only``. ``seed``
    draws the reproducible half of the cases; ``run_seed`` the fresh half (default:
    new random; give the one a report shows to replay that run).

    Never raises because of what the submission does; raises GradingError for unknown
    gate names, a negative seed, a timeout <= 0, a file that cannot be read, and
    SetupError for an isolation that is not available or limits too tight for the
    child to start (numpy alone needs a few hundred MB of address space).
    """
    started = time.perf_counter()
    check_settings(seed, timeout)
    classes = gate_classes(gates)
    isolation = choose_isolation(isolation, require_isolation)
    if run_seed is None:
        run_seed = secrets.randbits(63)
    check_settings(run_seed, timeout, "run seed")
    rubric = rubric or Rubric()
    if not isinstance(path, Submission):
        try:
            path = load_submission(path, [c.__name__ for c in classes])
        except SubmissionError as exc:
            raise GradingError(str(exc)) from None
    submission = path
    scan = scan_submission(submission)
    limits = sandbox.Limits(timeout=timeout, memory=memory)
    terms = Assignment(gates=tuple(c.__name__ for c in classes), jvp=jvp, rubric=rubric)
    result = SubmissionResult(submission=submission.display, gates=[], seed=seed, jvp=jvp,
                              run_seed=run_seed, isolation=isolation.level,
                              warnings=list(isolation.warnings),
                              stamp=stamp(seed, terms.fingerprint()))
    notes = result.notes
    notes += submission.notes
    setting = _Setting(submission, limits, isolation, rubric, seed, run_seed, jvp, scan,
                       tuple(reference_dirs()))

    tmp = Path(tempfile.mkdtemp(prefix="compgraph-grade-"))
    try:
        if isolation.level == "uid":
            os.chmod(tmp, 0o711)   # grading uids may cross it to their folder, not list it
        problem = scan.syntax_error
        probe = None
        if problem is None:
            probe = _probe(tmp, setting, [c.__name__ for c in classes])
            problem = probe.problem
            result.output = probe.output
        if problem is not None:
            notes.append(tr("Your file could not be imported: {problem}. No gate was graded.")
                         .format(problem=problem))
            result.gates = [ungraded(cls, rubric, jvp, "import failed", problem)
                            for cls in classes]
        else:
            _framework_notes(notes, scan, sorted(set(probe.frameworks) - set(scan.frameworks)))
            names = [c.__name__ for c in classes]

            def work(cls):
                found = probe.classes.get(cls.__name__)
                if not (isinstance(found, dict) and found.get("found") is True):
                    return ungraded(cls, rubric, jvp, "missing",
                                    missing_class_reason(cls.__name__, scan.classes, names))
                return grade_gate(tmp, setting, cls)

            with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                result.gates = list(pool.map(work, classes))
    finally:
        remove_tree(tmp)
    result.elapsed = time.perf_counter() - started
    return result


@dataclass(frozen=True)
class _Setting:
    """What every child of one grading run shares."""

    submission: Submission
    limits: sandbox.Limits
    isolation: iso.Isolation
    rubric: Rubric
    seed: int
    run_seed: int
    jvp: bool
    scan: Scan
    hidden: tuple    # compgraph's own package folders (reference_dirs())


def _framework_notes(notes, scan, hidden):
    for name, line in scan.frameworks.items():
        notes.append(tr("Your file imports {name} (line {line}), an autodiff framework: gates "
                        "that use it get no credit for backward. Write backward by hand.")
                     .format(name=name, line=line))
    for name in hidden:
        notes.append(tr("{name} was imported while your code ran (not by a plain import "
                        "statement): gates get no credit for backward.").format(name=name))
    if scan.others:
        notes.append(tr("Note: your file imports {modules}; the skeleton needs only numpy.")
                     .format(modules=", ".join(scan.others)))


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
            self.problem = tr("importing it {ending}").format(
                ending=run.ending or tr("ended without a result"))
        elif err:
            self.problem = error_text(err, tr("importing your file"))
        elif not isinstance(self.classes, dict):
            self.problem = tr("the import check returned nonsense")
            self.classes = {}
        else:
            self.problem = None


def _inputs_folder(tmp: Path, name: str, submission: Submission) -> Path:
    """A new folder of unpredictable name in ``tmp`` holding the submission's files in
    ``src/`` (bytes as handed in: Python reads the BOM and encoding line itself): no
    child can prepare or forge another child's files in advance."""
    inputs = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=tmp))
    (inputs / "src").mkdir()
    for filename, data in submission.files.items():
        (inputs / "src" / filename).write_bytes(data)
    return inputs


def _task(setting: _Setting, **task) -> dict:
    return dict(task, submission=f"src/{setting.submission.main}",
                frameworks=list(FRAMEWORKS), blocked=list(REFERENCE),
                blocked_dirs=list(setting.hidden))


def missing_class_reason(name: str, defined, expected) -> str:
    """Why gate ``name`` was not graded: no such class; with the nearest class the file
    does define (and that is not itself an expected name) suggested, ignoring case."""
    spare = [c for c in dict.fromkeys(defined) if c not in expected]
    lower = {c.lower(): c for c in spare}
    close = difflib.get_close_matches(name.lower(), list(lower), n=1, cutoff=0.6)
    if close:
        return tr("no class named {name} in your file; did you mean your class {found}? "
                  "Rename it to {name} (names are case-sensitive)").format(
            name=name, found=lower[close[0]])
    return tr("no class named {name} in your file (names are case-sensitive)").format(
        name=name)


def _probe(tmp: Path, setting: _Setting, names) -> _Probe:
    inputs = _inputs_folder(tmp, "import", setting.submission)
    task = _task(setting, mode="probe", gates=names, jvp=False)
    run = _start_child(inputs, task, setting).finish()
    if "ready" not in run.steps:
        # once more before blaming the set-up: a busy machine can starve one start
        inputs = _inputs_folder(tmp, "import", setting.submission)
        run = _start_child(inputs, task, setting).finish()
    if "ready" not in run.steps:
        # the child failed before it ran any submission code: the set-up is at fault
        how = "timed out" if run.timed_out else f"exit status {run.returncode}"
        limits = setting.limits
        raise SetupError(f"the grading child could not start ({how}, isolation "
                         f"{setting.isolation.level}; are --memory-mb {limits.memory >> 20} "
                         f"or --timeout {limits.timeout:g} too small?): "
                         f"{run.output.strip()[-500:]}")
    return _Probe(run)


def _start_child(inputs: Path, task: dict, setting: _Setting) -> sandbox.Child:
    """A child started on ``inputs``; SetupError when its isolation cannot be set up
    (no grading uid free, say): the machine's fault, not the student's."""
    try:
        return sandbox.Child(inputs, task, setting.limits, setting.isolation, setting.hidden)
    except iso.IsolationError as exc:
        raise SetupError(str(exc)) from None


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


#: (reference class, seed, case label) -> the numerical Jacobian of that seeded case. The
#: seeded cases depend on nothing a student wrote and are the same for every student of
#: a batch, so their Jacobians are computed once per batch, not once per student (a
#: fresh twin is never cached: each run has its own run seed). Bounded by the gates,
#: their cases and the seeds a process grades with.
_JACOBIANS: dict = {}


def _reference_jacobians(cls, cases, setting: _Setting) -> list:
    """The numerical Jacobians of the reference ``cls`` at each case's float64 inputs
    (``None`` for a case where none can be trusted: that check is held against no one)."""
    found = []
    for case in cases:
        key = (cls, setting.seed, case.label)
        J = None if case.fresh else _JACOBIANS.get(key)
        if J is None:
            try:
                J = tuple(jacobians(_construct(cls, case.params).forward,
                                    float64(case.inputs), case.differentiable))
            except NumericalDerivativeError:
                J = ()
            for block in J:
                if block is not None:
                    block.setflags(write=False)     # shared by the later students
            if not case.fresh:
                _JACOBIANS[key] = J
        found.append(J or None)
    return found


def grade_gate(tmp: Path, setting: _Setting, cls) -> GateResult:
    """Grade one gate class of the submission in its own child (its inputs in a new
    folder inside ``tmp``); see the module docstring.

    The static scan of the source says which autodiff frameworks the class uses; a
    framework the child had loaded that the scan never saw imported (hidden behind
    ``__import__``) counts as used by this gate too.
    """
    name = cls.__name__
    rubric, jvp = setting.rubric, setting.jvp
    cases = build_cases(cls, setting.seed, setting.run_seed)
    rngs = {False: directions_rng(setting.seed, name),
            True: directions_rng(setting.seed, name, setting.run_seed)}
    expected = []
    for case in cases:
        out = _construct(cls, case.params).forward(*case.inputs)
        add_directions(case, np.shape(out), rngs[case.fresh])
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
    task = _task(setting, mode="gate", gate=name, gates=[name], jvp=jvp,
                 cases=[{"arity": c.arity, "params": c.params} for c in cases])
    inputs = _inputs_folder(tmp, name, setting.submission)
    np.savez(inputs / "cases.npz", **arrays)
    child = _start_child(inputs, task, setting)
    try:
        # the numerical derivatives are computed while the child runs
        for exp, J in zip(expected, _reference_jacobians(cls, cases, setting)):
            exp["J"] = J
    finally:
        run = child.finish()
    loaded = {str(f) for _, info in run.steps.values()
              if isinstance(info.get("frameworks"), list) for f in info["frameworks"]}
    scan = setting.scan
    frameworks = list(scan.uses.get(name, [])) + [
        (f, None) for f in sorted(loaded & set(FRAMEWORKS) - set(scan.frameworks))]
    try:
        result = score_gate(cls, cases, expected, run, rubric, jvp, frameworks)
    except Exception as exc:  # noqa: BLE001
        # what the child sent is untrusted: anything unexpected costs this gate only
        result = ungraded(cls, rubric, jvp, "unreadable",
                          tr("your {name} left unreadable results ({kind}: {error}); does "
                             "your code write into the grader's pipe?").format(
                              name=name, kind=type(exc).__name__, error=exc))
    if run.survivors:
        result.notes.append(tr("{count} process(es) started by your {name} outlived every "
                               "kill (its grading uid is not used again by this grader)")
                            .format(count=run.survivors, name=name))
    result.elapsed = run.elapsed
    return result
