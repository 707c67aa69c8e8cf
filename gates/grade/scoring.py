"""Scoring: the child's raw results against the grader's own expectations, check by check.

For each hidden case the grader knows the reference output and one numerical Jacobian
J_j per input; the child reported what the student's gate returned. Each check
(:data:`gates.grade.rubric.DEFAULT_WEIGHTS`) earns the fraction of its cases that pass:

* forward: output shape and values;
* backward: per case and differentiable input, backward(u1) == J_j^T u1 and
  backward(u2) == J_j^T u2;
* gradients: a tuple of one gradient per input, each of its input's shape, None for labels;
* inputs_unchanged: the inputs are bit for bit the same after forward and after backward;
* repeatable: backward(u1) a second time gives the same gradients;
* float32: float32 inputs give a float32 output and float32 gradients;
* jvp (when graded): jvp(t) == sum_j J_j t_j.

Values are compared, and the rules above decided, by :mod:`gates.contract`, the same
rules and tolerances (by the case's dtype) that ``compgraph check`` applies.

A failure in one place is counted once: a wrong gradient loses backward points only,
a gradient of the wrong shape (not summed back over broadcast axes) loses the
gradient-shape points only (its values are judged summed back), a backward that
changes its cache loses repeatable points only (each upstream is judged after a
forward of its own), a float64 output for float32 inputs loses float32 points only.
The structural checks (gradients, inputs_unchanged, repeatable, float32) are earned
only in cases whose forward output is right: returning zeros of the right shapes
earns nothing. Every lost case leaves
a reason (the case, the input, the index, expected and actual values), grouped when
the same reason recurs.
"""

from __future__ import annotations

import re

import numpy as np

from gates import contract
from gates.base import unbroadcast
from gates.i18n import language, tr

from .report import CheckResult, GateResult

#: Checks that make sense only for a backward written by hand (lost with a framework).
BACKWARD_CHECKS = ("backward", "gradients", "repeatable", "jvp")


def float64(inputs):
    """Float inputs as float64 (labels untouched): the precision expectations use."""
    return [a.astype(np.float64) if a.dtype.kind == "f" else a for a in inputs]


def error_text(err, doing: str) -> str:
    """'forward raised ValueError: ... (line 12: return x @ y)' from a child's error record."""
    if not isinstance(err, dict):
        return tr("{doing} failed").format(doing=doing)
    kind, message = str(err.get("type", "Exception")), str(err.get("message", ""))[:500]
    where = err.get("where") if isinstance(err.get("where"), dict) else None
    at = tr(" (line {line}: {code})").format(
        line=where.get("line"), code=str(where.get("code", "")).strip()) if where else ""
    if kind == "NotImplementedError":
        return tr("{doing} raises NotImplementedError: not implemented yet{at}").format(
            doing=doing, at=at)
    if kind == "SystemExit":
        return tr("{doing} {message}{at}: a gate must not exit the program").format(
            doing=doing, message=message, at=at)
    if kind == "MemoryError":
        if message:
            return tr("{doing} ran out of memory{at} (the limit is per gate): {message}") \
                .format(doing=doing, at=at, message=message)
        return tr("{doing} ran out of memory{at} (the limit is per gate)").format(
            doing=doing, at=at)
    return tr("{doing} raised {kind}: {message}{at}").format(
        doing=doing, kind=kind, message=message, at=at)


def _problem(text: str) -> str:
    """What the child said is wrong with a value it could not send, in the feedback's
    language."""
    if language() == "en":
        return text
    m = re.fullmatch(r"holds (\S+) values, not real numbers", text)
    if m:
        return tr("holds {dtype} values, not real numbers").format(dtype=m[1])
    m = re.fullmatch(r"cannot be read as an array: (.*)", text, re.DOTALL)
    if m:
        return tr("cannot be read as an array: {error}").format(error=m[1])
    return text


def ungraded(cls, rubric, jvp, status, reason) -> GateResult:
    """A gate that earns nothing, for one ``reason`` (said once, in its notes)."""
    checks = [CheckResult(name, 0.0, pts)
              for name, pts in rubric.check_points(cls.__name__, jvp).items()]
    return GateResult(cls.__name__, checks, status=status, notes=[reason])


class _Tally:
    """Counts passed cases of one check and groups the reasons that recur across cases."""

    def __init__(self, name, points):
        self.check = CheckResult(name, 0.0, points)
        self._grouped: dict[str, list] = {}

    def add(self, ok: bool, reason: str | None = None, desc: str = ""):
        """One case passed or failed; ``reason`` may start with the case's ``desc``."""
        self.check.total += 1
        if ok:
            self.check.passed += 1
        elif reason:
            prefix = desc + ": "
            text = reason[len(prefix):] if desc and reason.startswith(prefix) else reason
            cases = self._grouped.setdefault(text, [])
            if desc and reason.startswith(prefix):
                cases.append(desc)

    def result(self, zero_reason: str | None = None) -> CheckResult:
        c = self.check
        for text, cases in self._grouped.items():
            if not cases:
                c.reasons.append(text)
            elif len(cases) == 1:
                c.reasons.append(f"{cases[0]}: {text}")
            else:
                c.reasons.append(tr("{text} (in {count} cases, e.g. {case})").format(
                    text=text, count=len(cases), case=cases[0]))
        c.points = c.max_points * c.passed / c.total if c.total else 0.0
        if zero_reason:
            c.points, c.passed = 0.0, 0
            c.reasons.insert(0, zero_reason)
        return c


class _Record:
    """The outcomes of one check in one case: (ok, reason, case description) each."""

    def __init__(self, desc: str):
        self.desc = desc
        self.outcomes: list = []

    def add(self, ok: bool, reason: str | None = None):
        self.outcomes.append((bool(ok), reason, self.desc))

    @property
    def ok(self) -> bool:
        return all(ok for ok, _, _ in self.outcomes)

    def require(self, right: bool, what: str) -> None:
        """Outcomes that passed stay passed only if the case's ``what`` values are right."""
        if not right:
            self.outcomes = [(False, reason if not ok else
                              tr("{case}: not earned, the {what} values are wrong in this "
                                 "case").format(case=desc, what=what),
                              desc) for ok, reason, desc in self.outcomes]


def _judge_case(case, exp, run, i, points, jvp) -> dict:
    """check name -> :class:`_Record` for case ``i``."""
    t = {k: _Record(case.describe()) for k in points}
    fstep = run.steps.get(f"c{i}_forward")
    bstep = run.steps.get(f"c{i}_backward")
    f32_reasons = []
    ending = run.ending
    forward_ran = _score_forward(t, case, exp, fstep, bstep, ending, f32_reasons)
    _score_backward(t, case, exp, bstep if forward_ran else None, forward_ran, ending,
                    f32_reasons)
    if case.float32:
        t["float32"].add(not f32_reasons, f32_reasons[0] if f32_reasons else None)
    if jvp:
        _score_jvp(t["jvp"], case, exp, run.steps.get(f"c{i}_jvp"), forward_ran, ending)
    # structural checks are earned only by a gate that computes its output: code that
    # returns zeros of the right shapes earns nothing, while a wrong gradient costs the
    # backward check alone
    forward_right = t["forward"].ok
    for check in ("inputs_unchanged", "gradients", "repeatable", "float32"):
        t[check].require(forward_right, "forward")
    return t


def score_gate(cls, cases, expected, run, rubric, jvp: bool, frameworks=()) -> GateResult:
    """Points per check for one gate, from the child's ``run`` and the ``expected`` values.

    ``expected[i]`` holds ``out`` (the float64 reference output) and ``J`` (the list of
    numerical Jacobians, or None). ``frameworks`` lists (name, line) of autodiff
    frameworks the gate uses: it then earns nothing for :data:`BACKWARD_CHECKS`.
    A seeded case and its fresh twin (same label) count as one case, passed only
    when both pass.
    """
    name = cls.__name__
    points = rubric.check_points(name, jvp)
    t = {k: _Tally(k, p) for k, p in points.items()}
    ending = run.ending
    judged = {}
    not_implemented = 0
    for i, (case, exp) in enumerate(zip(cases, expected)):
        judged.setdefault(case.label, []).append(_judge_case(case, exp, run, i, points, jvp))
        fstep = run.steps.get(f"c{i}_forward")
        err = fstep[1].get("error") if fstep else None
        not_implemented += isinstance(err, dict) and err.get("type") == "NotImplementedError"
    for draws in judged.values():
        for k, tally in t.items():
            for outcomes in zip(*[d[k].outcomes for d in draws]):
                failed = [o for o in outcomes if not o[0]]
                tally.add(*(failed[0] if failed else outcomes[0]))

    zero = None
    if frameworks:
        fw, line = frameworks[0]
        zero = (tr("uses {framework} (imported at line {line}): no credit for a backward "
                   "computed by an autodiff framework") if line else
                tr("uses {framework}: no credit for a backward computed by an autodiff "
                   "framework")).format(framework=fw, line=line)
    result = GateResult(name, [t[k].result(zero if k in BACKWARD_CHECKS else None)
                               for k in points])
    if zero:
        # one cause, said once: the checks after backward keep only the framework reason
        for c in result.checks:
            if c.name in BACKWARD_CHECKS and c.name != "backward":
                c.reasons = c.reasons[:1]
    result.output = run.output_excerpt()
    if not_implemented == len(cases):
        result.status = "not implemented"
        result.notes.append(tr("{name}.forward is not implemented yet (it raises "
                               "NotImplementedError)").format(name=name))
    elif ending and any(f"c{i}_backward" not in run.steps for i in range(len(cases))):
        result.status = "timed out" if run.timed_out else "crashed"
        result.notes.append(tr("Your {name} {ending}").format(name=name, ending=ending))
    elif frameworks:
        result.status = "framework"
    return result


def _score_forward(t, case, exp, fstep, bstep, ending, f32_reasons) -> bool:
    """Forward values, unchanged inputs, float32 output; True if forward ran without error."""
    desc, names = case.describe(), case.names
    no_output = tr("{case}: forward gave no output for float32 inputs").format(case=desc)
    if fstep is None:
        t["forward"].add(False, tr("{case}: forward did not finish: your code {ending}")
                         .format(case=desc, ending=ending or tr("stopped")))
        t["inputs_unchanged"].add(False, tr("{case}: not checked, forward did not finish")
                                  .format(case=desc))
        if case.float32:
            f32_reasons.append(no_output)
        return False
    arrays, info = fstep
    err = info.get("error")
    out = arrays.get("out")
    want = exp["out"]
    if err:
        t["forward"].add(False, f"{desc}: " + error_text(err, "forward"))
        t["inputs_unchanged"].add(False, tr("{case}: not checked, forward failed")
                                  .format(case=desc))
        if case.float32:
            f32_reasons.append(no_output)
        return False
    if out is None:
        what = info.get("output") if isinstance(info.get("output"), dict) else {}
        kind = what.get("kind", tr("nothing"))
        if what.get("problem"):
            t["forward"].add(False, tr("{case}: forward returned {kind} that {problem}; "
                                       "expected an array of shape {shape}").format(
                case=desc, kind=kind, problem=_problem(str(what["problem"])),
                shape=want.shape))
        else:
            t["forward"].add(False, tr("{case}: forward returned {kind}; expected an array "
                                       "of shape {shape}").format(
                case=desc, kind=kind, shape=want.shape))
    elif out.shape != want.shape:
        t["forward"].add(False, tr("{case}: forward returned shape {got}, expected {want}")
                         .format(case=desc, got=out.shape, want=want.shape))
    else:
        ok = contract.agree(out, want, contract.tolerance(case.float32))
        t["forward"].add(ok, None if ok else tr("forward output wrong in {where}").format(
            where=_mismatch(out, want, case, list(zip(names, float64(case.inputs))))))
    changed = _changed(arrays, case.inputs, names)
    changed_later = _changed(bstep[0], case.inputs, names) if bstep else []
    if changed:
        t["inputs_unchanged"].add(False, tr("{case}: forward changed input '{name}' in place; "
                                            "work on a copy (e.g. x = x.copy() or x = x * 1.0)")
                                  .format(case=desc, name=changed[0]))
    elif changed_later:
        t["inputs_unchanged"].add(False, tr("{case}: backward changed input '{name}' in place "
                                            "(through something cached in forward); avoid *= "
                                            "and += on cached inputs")
                                  .format(case=desc, name=changed_later[0]))
    else:
        t["inputs_unchanged"].add(True)
    if case.float32 and out is not None and out.dtype != contract.output_dtype(
            case.inputs, case.differentiable):
        f32_reasons.append(tr("{case}: forward returned {dtype} for float32 inputs; keep the "
                              "input dtype (avoid float64 constants such as np.float64(...) "
                              "or np.ones(shape) without dtype)")
                           .format(case=desc, dtype=out.dtype))
    elif case.float32 and out is None:
        f32_reasons.append(no_output)
    return True


def _grad_items(info, key, arity):
    """The per-input entries of one backward call and the reason it breaks
    :func:`gates.contract.gradient_count` (or None). The entries are None when nothing
    can be read per input: a malformed description, or a bare value for several inputs;
    a bare value for one input is its gradient, wrongly wrapped but judged on its values."""
    g = info.get(key)
    if not isinstance(g, dict) or not isinstance(g.get("items"), list) or not all(
            isinstance(item, dict) for item in g["items"]) or not g["items"]:
        return None, tr("backward returned nothing usable")
    items = g["items"]
    sequence = g.get("container") is not None
    wrong = contract.gradient_count(sequence, len(items), arity)
    if wrong == "not a tuple":
        return (items if arity == 1 else None), tr(
            "backward returned a single {kind}; it must return a tuple with one gradient "
            "per input").format(kind=items[0].get("kind", tr("value")))
    if wrong:
        return None, tr("backward returned {count} gradient(s) for {arity} input(s); return "
                        "one per input, in order").format(count=len(items), arity=arity)
    return items, None


def _score_backward(t, case, exp, bstep, forward_ran, ending, f32_reasons):
    """Gradient count and shapes, values against J^T u, repeatability, float32 gradients."""
    desc, names = case.describe(), case.names
    diff_inputs = [j for j, d in enumerate(case.differentiable) if d]
    failure = None
    if not forward_ran:
        failure = tr("{case}: backward not checked, forward failed").format(case=desc)
    elif bstep is None:
        failure = tr("{case}: backward did not finish: your code {ending}").format(
            case=desc, ending=ending or tr("stopped"))
    elif bstep[1].get("error") and not bstep[1].get("g1"):
        failure = f"{desc}: " + error_text(bstep[1]["error"], "backward")
    if failure:
        for _ in diff_inputs:
            t["backward"].add(False, failure)
        t["gradients"].add(False, failure)
        t["repeatable"].add(False, failure)
        if case.float32:
            f32_reasons.append(failure)
        return
    arrays, info = bstep
    items, structure = _grad_items(info, "g1", case.arity)
    problems = ([structure] if structure else []) + (
        _shape_problems(case, items, arrays) if items else [])
    t["gradients"].add(not problems, f"{desc}: {problems[0]}" if problems else None)

    items2, _ = _grad_items(info, "g2", case.arity)
    J = exp.get("J")
    tol = contract.tolerance(case.float32)
    for j in diff_inputs:
        if J is None:
            t["backward"].add(True)
            continue
        shape = case.inputs[j].shape
        # a gradient of the wrong shape is the gradient-shape check's loss; its values
        # are judged here once summed back (or reshaped) to the input's shape
        got1 = _to_shape(arrays.get(f"g1_{j}"), shape) if items else None
        got2 = _to_shape(arrays.get(f"g2_{j}"), shape) if items2 else None
        want1 = (J[j].T @ case.up1.astype(np.float64).ravel()).reshape(shape)
        want2 = (J[j].T @ case.up2.astype(np.float64).ravel()).reshape(shape)
        if got1 is None:
            t["backward"].add(False, tr("{case}: no gradient for '{name}' that can be compared "
                                        "with its shape {shape} (see the gradient-shape check)")
                              .format(case=desc, name=names[j], shape=shape))
        elif not contract.agree(got1, want1, tol):
            t["backward"].add(False, tr("gradient for '{name}' wrong in {where} (expected = "
                                        "numerical derivative times upstream)").format(
                name=names[j], where=_mismatch(got1, want1, case, [
                    *zip(names, float64(case.inputs)), ("upstream dz", case.up1)])))
        elif info.get("error") or got2 is None or got2.shape != shape:
            why = (error_text(info["error"], tr("a backward call")) if info.get("error")
                   else tr("no gradient"))
            t["backward"].add(False, tr("{case}: backward with a second upstream gradient "
                                        "failed: {why}").format(case=desc, why=why))
        elif not contract.agree(got2, want2, tol):
            t["backward"].add(False, tr("gradient for '{name}' right for one upstream but wrong "
                                        "for another in {where}: multiply the local gradient "
                                        "by the upstream you are given").format(
                name=names[j], where=_mismatch(got2, want2, case)))
        else:
            t["backward"].add(True)

    again, _ = _grad_items(info, "g1again", case.arity)
    # two calls that both return nothing readable are not "the same answer"
    readable = all(arrays.get(f"g1_{j}") is not None for j in diff_inputs)
    if again is not None and items is not None and readable and all(
            contract.same_answer(arrays.get(f"g1_{j}"), arrays.get(f"g1again_{j}"))
            for j in range(case.arity)):
        t["repeatable"].add(True)
    else:
        err = info.get("error")
        if isinstance(err, dict) and err.get("call") == "g1again":
            why = error_text(err, tr("the second call"))
        elif not readable:
            why = tr("not checked, the first call gave no usable gradient")
        else:
            why = tr("it gave a different answer; do not change what forward cached "
                     "(e.g. self.dzdx *= dz) inside backward")
        t["repeatable"].add(False, tr("{case}: backward called twice with the same upstream: "
                                      "{why}").format(case=desc, why=why))
    if case.float32 and items:
        for j in diff_inputs:
            g = arrays.get(f"g1_{j}")
            if g is not None and g.dtype != contract.gradient_dtype(case.inputs[j]):
                f32_reasons.append(tr("{case}: the gradient for '{name}' is {dtype} for "
                                      "float32 inputs; keep the input's dtype")
                                   .format(case=desc, name=names[j], dtype=g.dtype))


def _to_shape(g, shape):
    """``g`` as an array of ``shape``: itself, reshaped when it has as many elements, or
    summed over the axes broadcasting added; None when it cannot be."""
    if g is None or g.shape == shape:
        return g
    if g.size == int(np.prod(shape)):
        return g.reshape(shape)
    try:
        if np.broadcast_shapes(g.shape, shape) != g.shape:
            return None
    except ValueError:
        return None
    return unbroadcast(g, shape)


def _shape_problems(case, items, arrays) -> list[str]:
    """What is wrong with the gradients' kinds and shapes (empty when all is well), by
    :func:`gates.contract.gradient_presence` and :func:`gates.contract.gradient_shape`."""
    problems = []
    names = case.names
    for j, item in enumerate(items):
        g = arrays.get(f"g1_{j}")
        want = case.inputs[j].shape
        presence = contract.gradient_presence(item.get("kind") == "None",
                                              case.differentiable[j])
        if presence == "must be None":
            problems.append(tr("the gradient for '{name}' (not differentiable) must be "
                               "None").format(name=names[j]))
        elif not case.differentiable[j]:
            continue
        elif g is None:
            problem = f", {_problem(str(item['problem']))}" if item.get("problem") else ""
            problems.append(tr("the gradient for '{name}' is {kind}{problem}; expected an "
                               "array of shape {shape}").format(
                name=names[j], kind=item.get("kind"), problem=problem, shape=want))
        elif contract.gradient_shape(g.shape, want) == "not summed back":
            problems.append(tr("the gradient for '{name}' has shape {got}, but '{name}' "
                               "has shape {want} (sum the upstream over the axes "
                               "broadcasting added)").format(
                name=names[j], got=g.shape, want=want))
        elif contract.gradient_shape(g.shape, want):
            problems.append(tr("the gradient for '{name}' has shape {got}, but '{name}' "
                               "has shape {want}").format(
                name=names[j], got=g.shape, want=want))
    return problems


def _score_jvp(tally, case, exp, jstep, forward_ran, ending):
    """jvp(t) against sum_j J_j t_j."""
    desc = case.describe()
    if not forward_ran:
        tally.add(False, tr("{case}: jvp not checked, forward failed").format(case=desc))
        return
    if jstep is None:
        tally.add(False, tr("{case}: jvp did not finish: your code {ending}").format(
            case=desc, ending=ending or tr("stopped")))
        return
    arrays, info = jstep
    if info.get("error"):
        tally.add(False, f"{desc}: " + error_text(info["error"], "jvp"))
        return
    got = arrays.get("tangent")
    J = exp.get("J")
    if J is None:
        tally.add(True)
        return
    want = sum(J[j] @ t.astype(np.float64).ravel() for j, t in enumerate(case.tangents)
               if t is not None).reshape(exp["out"].shape)
    if got is None or got.shape != want.shape:
        tally.add(False, tr("{case}: jvp returned {got}, expected shape {want}").format(
            case=desc, got=None if got is None else got.shape, want=want.shape))
    elif not contract.agree(got, want, contract.tolerance(case.float32)):
        tally.add(False, tr("jvp wrong in {where}").format(where=_mismatch(got, want, case)))
    else:
        tally.add(True)


def _mismatch(got, want, case, values_at_index=()) -> str:
    """Where ``got`` is furthest from ``want``: the index, both values, and the named
    arrays of ``values_at_index`` that have the same shape, at that index."""
    diff = np.abs(np.asarray(got, dtype=np.float64) - want)
    diff = np.where(np.isnan(diff), np.inf, diff)
    idx = np.unravel_index(int(np.argmax(diff)), want.shape) if want.ndim else ()
    extra = "".join(f", {n} = {float(a[idx]):.6g}" for n, a in values_at_index
                    if a.shape == want.shape)
    values = {"case": case.describe(), "want": f"{float(want[idx]):.6g}",
              "got": f"{float(np.asarray(got)[idx]):.6g}", "extra": extra}
    if want.ndim:
        return tr("{case} at index {index}: expected {want}, got {got}{extra}").format(
            index=tuple(int(i) for i in idx), **values)
    return tr("{case}: expected {want}, got {got}{extra}").format(**values)


def _changed(arrays, originals, names) -> list:
    """The names of the inputs the child saw change (or did not send back)."""
    out = []
    for j, (n, a) in enumerate(zip(names, originals)):
        after = arrays.get(f"after_{j}")
        if after is None or not contract.unchanged(a, after):
            out.append(n)
    return out
