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
   input and case from the checker's numerical core (``gates.check.numeric``, on
   ``scipy.differentiate``) over calls of the reference *forward* (:mod:`.numeric`). Expected backward = J_j^T u, expected jvp = sum_j J_j t_j. So a
   backward is graded against the derivative of the true function, not against how the
   reference happens to write it, and the only way to earn a point is to return the
   right numbers for inputs the submission has never seen.
   Because the child only answers questions and never differentiates, one short-lived
   child per gate suffices: no protocol with a persistent child, and a student's
   forward is never called hundreds of times.
4. Scoring (:func:`score_gate`) turns the comparisons into points per check, with a
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
from .report import CheckResult, GateResult, SubmissionResult
from .rubric import Rubric
from .scan import FRAMEWORKS, REFERENCE, Scan, scan_source

#: Tolerances (rtol, atol relative to the largest expected magnitude) per dtype.
FORWARD_TOL = {False: (1e-6, 1e-9), True: (1e-4, 1e-5)}
GRADIENT_TOL = {False: (1e-5, 1e-7), True: (1e-3, 1e-4)}


class GradingError(ValueError):
    """Bad grading request: unknown gate names or an unreadable submission file."""


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
    GradingError for unknown gate names or a file that cannot be read.
    """
    started = time.perf_counter()
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

    with tempfile.TemporaryDirectory(prefix="compgraph-grade-") as tmp:
        tmp = Path(tmp)
        problem = scan.syntax_error
        probe = None
        if problem is None:
            probe = _probe(tmp, source_bytes, [c.__name__ for c in classes], limits)
            problem = probe.problem
            result.output = probe.output
        if problem is not None:
            notes.append(f"Your file could not be imported: {problem}. No gate was graded.")
            result.gates = [_ungraded(cls, rubric, jvp, "import failed", problem)
                            for cls in classes]
        else:
            _framework_notes(notes, scan, sorted(set(probe.frameworks) - set(scan.frameworks)))

            def work(cls):
                found = probe.classes.get(cls.__name__)
                if not (isinstance(found, dict) and found.get("found") is True):
                    return _ungraded(cls, rubric, jvp, "missing",
                                     f"no class named {cls.__name__} in your file "
                                     f"(names are case-sensitive)")
                return grade_gate(tmp / cls.__name__, source_bytes, cls, rubric, limits,
                                  seed, jvp, scan)

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
        self.frameworks = [m for m in modules if m in FRAMEWORKS] if isinstance(modules, list) else []
        err = info.get("error")
        if arrays_info is None:
            self.problem = f"importing it {run.ending or 'ended without a result'}"
        elif err:
            self.problem = _error_text(err, "importing your file")
        elif not isinstance(self.classes, dict):
            self.problem = "the import check returned nonsense"
            self.classes = {}
        else:
            self.problem = None


def _probe(tmp: Path, source: bytes, names, limits) -> _Probe:
    work = tmp / "_import"
    work.mkdir()
    (work / "submission.py").write_bytes(source)
    task = {"mode": "probe", "submission": "submission.py", "gates": names,
            "frameworks": list(FRAMEWORKS), "blocked": list(REFERENCE),
            "blocked_dirs": reference_dirs(), "jvp": False}
    return _Probe(sandbox.run(work, task, limits))


def reference_dirs() -> list[str]:
    """The folders of compgraph's own packages, which a submission may not read."""
    dirs = []
    for name in REFERENCE:
        spec = importlib.util.find_spec(name)
        for location in (spec.submodule_search_locations or []) if spec else []:
            dirs.append(os.path.realpath(location))
    return dirs


def _error_text(err, doing: str) -> str:
    """'forward raised ValueError: ... (line 12: return x @ y)' from a child's error record."""
    if not isinstance(err, dict):
        return f"{doing} failed"
    kind, message = str(err.get("type", "Exception")), str(err.get("message", ""))[:500]
    where = err.get("where") if isinstance(err.get("where"), dict) else None
    at = f" (line {where.get('line')}: {str(where.get('code', '')).strip()})" if where else ""
    if kind == "NotImplementedError":
        return f"{doing} raises NotImplementedError: not implemented yet{at}"
    if kind == "SystemExit":
        return f"{doing} {message}{at}: a gate must not exit the program"
    if kind == "MemoryError":
        return f"{doing} ran out of memory{at} (the limit is per gate): {message}"
    return f"{doing} raised {kind}: {message}{at}"


def _ungraded(cls, rubric, jvp, status, reason) -> GateResult:
    # the reason is said once, in the notes, rather than once per check
    checks = [CheckResult(name, 0.0, pts)
              for name, pts in rubric.check_points(cls.__name__, jvp).items()]
    return GateResult(cls.__name__, checks, status=status, notes=[reason])


# -- one gate -----------------------------------------------------------------------------

def _construct(cls, params):
    return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in params.items()})


def _float64(inputs):
    return [a.astype(np.float64) if a.dtype.kind == "f" else a for a in inputs]


def grade_gate(work: Path, source: bytes, cls, rubric: Rubric, limits, seed: int, jvp: bool,
               scan: Scan | None = None) -> GateResult:
    """Grade one gate class of the submission in its own child; see the module docstring.

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
        ref64 = _construct(cls, case.params).forward(*_float64(case.inputs))
        expected.append({"out": np.asarray(ref64, dtype=np.float64),
                         "dtype": np.asarray(out).dtype})

    work.mkdir()
    (work / "submission.py").write_bytes(source)
    arrays = {}
    for i, case in enumerate(cases):
        for j, a in enumerate(case.inputs):
            arrays[f"c{i}_in{j}"] = a
        arrays[f"c{i}_up1"], arrays[f"c{i}_up2"] = case.up1, case.up2
        for j, t in enumerate(case.tangents):
            if t is not None:
                arrays[f"c{i}_t{j}"] = t
    np.savez(work / "cases.npz", **arrays)
    task = {"mode": "gate", "submission": "submission.py", "gate": name, "gates": [name],
            "frameworks": list(FRAMEWORKS), "blocked": list(REFERENCE),
            "blocked_dirs": reference_dirs(), "jvp": jvp,
            "cases": [{"arity": c.arity, "params": c.params} for c in cases]}
    proc, started = sandbox.start(work, task, limits)
    try:
        # the numerical derivatives are computed while the child runs
        for case, exp in zip(cases, expected):
            try:
                exp["J"] = jacobians(_construct(cls, case.params).forward,
                                     _float64(case.inputs), case.differentiable)
            except NumericalDerivativeError as exc:
                exp["J"] = None
                exp["J_error"] = str(exc)
    finally:
        run = sandbox.finish(proc, started, work, limits)
    shutil.rmtree(work, ignore_errors=True)
    scan = scan or Scan()
    loaded = {str(f) for _, info in run.steps.values() for f in info.get("frameworks") or []}
    frameworks = list(scan.uses.get(name, [])) + [
        (f, None) for f in sorted(loaded & set(FRAMEWORKS) - set(scan.frameworks))]
    try:
        result = score_gate(cls, cases, expected, run, rubric, jvp, frameworks)
    except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
        # the child's files are untrusted: malformed ones cost this gate, not the grading
        result = _ungraded(cls, rubric, jvp, "unreadable",
                           f"the results of your {name} could not be read ({type(exc).__name__}"
                           f": {exc}); did your code write into the grader's files?")
    result.elapsed = run.elapsed
    return result


# -- scoring ------------------------------------------------------------------------------

def _close(got, want, tol) -> bool:
    rtol, atol = tol
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))
    return bool(np.allclose(got, want, rtol=rtol, atol=atol * scale, equal_nan=False))


def _mismatch(got, want, case, inputs_of_same_shape=()) -> str:
    """Where ``got`` is furthest from ``want``: index, both values, and the input there."""
    diff = np.abs(np.asarray(got, dtype=np.float64) - want)
    diff = np.where(np.isnan(diff), np.inf, diff)
    idx = np.unravel_index(int(np.argmax(diff)), want.shape) if want.ndim else ()
    at = f" at index {tuple(int(i) for i in idx)}" if want.ndim else ""
    extra = "".join(f", {n} = {float(a[idx]):.6g}" for n, a in inputs_of_same_shape
                    if a.shape == want.shape)
    return (f"{case.describe()}{at}: expected {float(want[idx]):.6g}, got "
            f"{float(np.asarray(got)[idx]):.6g}{extra}")


class _Tally:
    """Counts passed cases of one check and groups the reasons that recur across cases."""

    def __init__(self, name, points):
        self.check = CheckResult(name, 0.0, points)
        self.desc = ""
        self._grouped: dict[str, list] = {}

    def add(self, ok: bool, reason: str | None = None):
        self.check.total += 1
        if ok:
            self.check.passed += 1
        elif reason:
            prefix = self.desc + ": "
            text = reason[len(prefix):] if reason.startswith(prefix) else reason
            cases = self._grouped.setdefault(text, [])
            if reason.startswith(prefix):
                cases.append(self.desc)

    def result(self, zero_reason: str | None = None) -> CheckResult:
        c = self.check
        for text, cases in self._grouped.items():
            if not cases:
                c.reasons.append(text)
            elif len(cases) == 1:
                c.reasons.append(f"{cases[0]}: {text}")
            else:
                c.reasons.append(f"{text} (in {len(cases)} cases, e.g. {cases[0]})")
        c.points = c.max_points * c.passed / c.total if c.total else 0.0
        if zero_reason:
            c.points, c.passed = 0.0, 0
            c.reasons.insert(0, zero_reason)
        return c


def _grad_items(info, key, arity):
    """The per-input entries of one backward call, or (None, reason) if malformed."""
    g = info.get(key) if isinstance(info, dict) else None
    if not isinstance(g, dict) or not isinstance(g.get("items"), list):
        return None, "backward returned nothing usable"
    items = g["items"]
    if g.get("container") is None:
        if arity == 1:
            return items, None
        return None, (f"backward returned a single {items[0].get('kind', 'value')}; it must "
                      f"return a tuple with one gradient per input")
    if len(items) != arity:
        return None, (f"backward returned {len(items)} gradient(s) for {arity} input(s); "
                      f"return one per input, in order")
    return items, None


def score_gate(cls, cases, expected, run: sandbox.ChildRun, rubric: Rubric, jvp: bool,
               frameworks=()) -> GateResult:
    """Compare the child's raw results with the grader's expectations; points per check."""
    name = cls.__name__
    pts = rubric.check_points(name, jvp)
    t = {k: _Tally(k, p) for k, p in pts.items()}
    ending = run.ending
    names = cls.input_names
    not_implemented = 0
    for i, (case, exp) in enumerate(zip(cases, expected)):
        fstep = run.steps.get(f"c{i}_forward")
        bstep = run.steps.get(f"c{i}_backward")
        jstep = run.steps.get(f"c{i}_jvp")
        desc = case.describe()
        for tally in t.values():
            tally.desc = desc
        # forward ------------------------------------------------------------------
        forward_ok_to_call = False
        if fstep is None:
            reason = f"{desc}: forward did not finish: your code {ending or 'stopped'}"
            t["forward"].add(False, reason)
            for k in ("inputs_unchanged",):
                t[k].add(False, f"{desc}: not checked, forward did not finish")
        else:
            arrays, info = fstep
            err = info.get("error")
            out = arrays.get("out")
            if err:
                not_implemented += err.get("type") == "NotImplementedError"
                t["forward"].add(False, f"{desc}: " + _error_text(err, "forward"))
            elif out is None:
                what = (info.get("output") or {})
                t["forward"].add(False, f"{desc}: forward returned {what.get('kind', 'nothing')}"
                                 f"{' that ' + what['problem'] if what.get('problem') else ''}"
                                 f"; expected an array of shape {exp['out'].shape}")
            elif out.shape != exp["out"].shape:
                t["forward"].add(False, f"{desc}: forward returned shape {out.shape}, "
                                 f"expected {exp['out'].shape}")
            else:
                ok = _close(out, exp["out"], FORWARD_TOL[case.float32])
                t["forward"].add(ok, None if ok else "forward output wrong in " + _mismatch(
                    out, exp["out"], case, list(zip(names, _float64(case.inputs)))))
            forward_ok_to_call = not err
            if err:
                t["inputs_unchanged"].add(False, f"{desc}: not checked, forward failed")
            else:
                changed = _changed(arrays, case.inputs, names)
                after_backward = _changed(bstep[0], case.inputs, names) if bstep else []
                if changed:
                    t["inputs_unchanged"].add(False, f"{desc}: forward changed input "
                                              f"'{changed[0]}' in place; work on a copy "
                                              f"(e.g. x = x.copy() or x = x * 1.0)")
                elif after_backward:
                    t["inputs_unchanged"].add(False, f"{desc}: backward changed input "
                                              f"'{after_backward[0]}' in place (through "
                                              f"something cached in forward); avoid *=, += "
                                              f"on cached inputs")
                else:
                    t["inputs_unchanged"].add(True)
        # float32: output dtype here, gradient dtypes below
        f32_reasons = []
        if case.float32:
            out = fstep[0].get("out") if fstep else None
            if out is None or (fstep and fstep[1].get("error")):
                f32_reasons.append(f"{desc}: forward gave no output for float32 inputs")
            elif out.dtype != np.float32:
                f32_reasons.append(f"{desc}: forward returned {out.dtype} for float32 inputs; "
                                   f"keep the input dtype (avoid float64 constants such as "
                                   f"np.float64(...) or np.ones(shape) without dtype)")
        # backward -----------------------------------------------------------------
        diff_inputs = [j for j, d in enumerate(case.differentiable) if d]
        b_fail = None
        if not forward_ok_to_call:
            b_fail = f"{desc}: backward not checked, forward failed"
        elif bstep is None:
            b_fail = f"{desc}: backward did not finish: your code {ending or 'stopped'}"
        elif bstep[1].get("error") and not bstep[1].get("g1"):
            b_fail = f"{desc}: " + _error_text(bstep[1]["error"], "backward")
        if b_fail:
            for _ in diff_inputs:
                t["backward"].add(False, b_fail)
            for k in ("gradients", "repeatable"):
                t[k].add(False, b_fail)
            if case.float32:
                f32_reasons.append(b_fail)
        else:
            barrays, binfo = bstep
            items, shape_problem = _grad_items(binfo, "g1", case.arity)
            items2, _ = _grad_items(binfo, "g2", case.arity)
            # gradients: count, shapes, None for labels
            problems = []
            if shape_problem:
                problems.append(shape_problem)
            else:
                for j, item in enumerate(items):
                    g = barrays.get(f"g1_{j}")
                    want = case.inputs[j].shape
                    if not case.differentiable[j]:
                        if item.get("kind") != "None":
                            problems.append(f"the gradient for '{names[j]}' (not "
                                            f"differentiable) must be None")
                    elif g is None:
                        problems.append(f"the gradient for '{names[j]}' is "
                                        f"{item.get('kind')}{', ' + item['problem'] if item.get('problem') else ''}; "
                                        f"expected an array of shape {want}")
                    elif g.shape != want:
                        hint = (" (sum the upstream over the axes broadcasting added)"
                                if np.size(g) > np.prod(want) else "")
                        problems.append(f"the gradient for '{names[j]}' has shape {g.shape}, "
                                        f"but '{names[j]}' has shape {want}{hint}")
            t["gradients"].add(not problems, f"{desc}: {problems[0]}" if problems else None)
            # values against the numerical derivatives
            J = exp.get("J")
            tol = GRADIENT_TOL[case.float32]
            for j in diff_inputs:
                if J is None:
                    t["backward"].add(True)  # no trustworthy expectation: not held against anyone
                    continue
                got1 = barrays.get(f"g1_{j}") if items else None
                got2 = barrays.get(f"g2_{j}") if items2 else None
                want_shape = case.inputs[j].shape
                want1 = (J[j].T @ case.up1.astype(np.float64).ravel()).reshape(want_shape)
                want2 = (J[j].T @ case.up2.astype(np.float64).ravel()).reshape(want_shape)
                if items is None or got1 is None or got1.shape != want_shape:
                    t["backward"].add(False, f"{desc}: no gradient of shape {want_shape} for "
                                      f"'{names[j]}' (see the gradient-shape check)")
                elif not _close(got1, want1, tol):
                    t["backward"].add(False, f"gradient for '{names[j]}' wrong in "
                                      + _mismatch(got1, want1, case,
                                                  [*zip(names, _float64(case.inputs)),
                                                   ("upstream dz", case.up1)])
                                      + " (expected = numerical derivative times upstream)")
                elif binfo.get("error") or got2 is None or got2.shape != want_shape:
                    why = (_error_text(binfo["error"], "a backward call")
                           if binfo.get("error") else "no gradient")
                    t["backward"].add(False, f"{desc}: backward with a second upstream "
                                      f"gradient failed: {why}")
                elif not _close(got2, want2, tol):
                    t["backward"].add(False, f"gradient for '{names[j]}' right for one upstream "
                                      f"but wrong for another in " + _mismatch(got2, want2, case)
                                      + ": multiply the local gradient by the upstream you are given")
                else:
                    t["backward"].add(True)
            # repeatable: backward(u1) twice gives the same answer
            again, _ = _grad_items(binfo, "g1again", case.arity)
            same = again is not None and items is not None and all(
                _same(barrays.get(f"g1_{j}"), barrays.get(f"g1again_{j}"))
                for j in range(case.arity))
            if not same:
                err = binfo.get("error")
                why = (_error_text(err, "the second call") if err and err.get("call") == "g1again"
                       else "it gave a different answer")
                t["repeatable"].add(False, f"{desc}: backward called twice with the same upstream: "
                                    f"{why}; do not change the cache (self....) inside backward")
            else:
                t["repeatable"].add(True)
            if case.float32 and items:
                for j in diff_inputs:
                    g = barrays.get(f"g1_{j}")
                    if g is not None and g.dtype != np.float32:
                        f32_reasons.append(f"{desc}: the gradient for '{names[j]}' is {g.dtype} "
                                           f"for float32 inputs; keep the input's dtype")
        if case.float32:
            t["float32"].add(not f32_reasons, f32_reasons[0] if f32_reasons else None)
        # jvp ----------------------------------------------------------------------
        if jvp:
            _score_jvp(t["jvp"], case, exp, jstep, forward_ok_to_call, ending)

    zero = None
    if frameworks:
        fw, line = frameworks[0]
        zero = (f"uses {fw}" + (f" (imported at line {line})" if line else "")
                + ": no credit for a backward computed by an autodiff framework")
    checks = []
    for k in pts:
        checks.append(t[k].result(zero if k in ("backward", "gradients", "repeatable", "jvp")
                                  else None))
    result = GateResult(name, checks)
    result.output = run.output_excerpt()
    if not_implemented == len(cases):
        result.status = "not implemented"
        result.notes.append(f"{name}.forward is not implemented yet (it raises "
                            f"NotImplementedError)")
    elif ending and any(run.steps.get(f"c{i}_backward") is None for i in range(len(cases))):
        result.status = "crashed" if not run.timed_out else "timed out"
        result.notes.append(f"Your {name} {ending}")
    elif frameworks:
        result.status = "framework"
    return result


def _score_jvp(tally, case, exp, jstep, forward_ok, ending):
    desc = case.describe()
    if not forward_ok:
        tally.add(False, f"{desc}: jvp not checked, forward failed")
        return
    if jstep is None:
        tally.add(False, f"{desc}: jvp did not finish: your code {ending or 'stopped'}")
        return
    arrays, info = jstep
    if info.get("error"):
        tally.add(False, f"{desc}: " + _error_text(info["error"], "jvp"))
        return
    got = arrays.get("tangent")
    J = exp.get("J")
    if J is None:
        tally.add(True)
        return
    want = sum(J[j] @ t.astype(np.float64).ravel() for j, t in enumerate(case.tangents)
               if t is not None).reshape(exp["out"].shape)
    if got is None or got.shape != want.shape:
        tally.add(False, f"{desc}: jvp returned {None if got is None else got.shape}, "
                  f"expected shape {want.shape}")
    elif not _close(got, want, GRADIENT_TOL[case.float32]):
        tally.add(False, "jvp wrong in " + _mismatch(got, want, case))
    else:
        tally.add(True)


def _changed(arrays, originals, names) -> list:
    out = []
    for j, (n, a) in enumerate(zip(names, originals)):
        after = arrays.get(f"after_{j}")
        if after is None or after.shape != a.shape or not np.array_equal(after, a, equal_nan=True):
            out.append(n)
    return out


def _same(a, b) -> bool:
    if a is None and b is None:
        return True
    if a is None or b is None or a.shape != b.shape:
        return False
    return bool(np.allclose(a, b, rtol=1e-12, atol=0.0, equal_nan=True))
