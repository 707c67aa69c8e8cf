"""Numerical directional derivatives of a gate's output, from ``scipy.differentiate``:
the numerical core that the checker (:mod:`gates.check`, which re-exports it) and the
grader (:mod:`gates.grade.numeric`) both build on, so it sits below both.

A *probe* perturbs one input along a direction ``d``: a single entry (``d`` = a unit
vector e_k, giving column k of the Jacobian) or a random dense direction. For each
probe the numerical derivative of the whole output along it,

    (J d)_j = d/dh f_j(x + h d)  at h = 0,   for every output entry j,

comes from :func:`scipy.differentiate.derivative`, vectorised over probes and output
entries at once. Never the full Jacobian of a large input: only the probes asked for.

Each call of the gate's ``forward`` gives the output at one step ``h`` of one probe;
``derivative`` asks for the same steps for every output entry of a probe (they all
start at h = 0 with the same initial step), so one forward serves a whole column.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.differentiate import derivative

from . import contract

__all__ = ["Probe", "Derivatives", "directional_derivatives", "GATE_ERRORS",
           "exception_text"]

#: What a gate may raise that the checker reports instead of passing on: any error,
#: and SystemExit (a student's sys.exit() in forward). KeyboardInterrupt still stops.
GATE_ERRORS = (Exception, SystemExit)


def exception_text(exc: BaseException) -> str:
    """``'ValueError: bad shape'``, or just ``'NotImplementedError'`` without a message."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


#: Largest number of elements (output entries times sides) one ``derivative`` call
#: handles; more probes are split into several calls so big outputs stay in memory.
_CHUNK_NUMBERS = 500_000


@dataclass
class Probe:
    """One perturbation: input ``input`` along a unit entry ``entry`` or a ``direction``."""

    input: int
    entry: tuple | None = None
    direction: np.ndarray | None = None
    label: str = ""


class Derivatives:
    """The numerical ``J d`` of every probe, with scipy's error estimates.

    :meth:`row` gives probe p's (df, error, status), each of shape (sides, output
    size): the estimate, the error estimate and scipy's status (0 = converged).
    Only the outputs a probe moves (its *support*) are differentiated; the others
    did not change at any trial step and have derivative 0 exactly. ``failed`` maps
    a probe's position to the message of the forward call that failed for it.
    """

    def __init__(self, n_sides, out_size):
        self.n_sides, self.out_size = n_sides, out_size
        self.parts: dict = {}   # probe -> (support, df, error, status) on the support
        self.failed: dict = {}

    def row(self, p):
        """Probe ``p``'s (df, error, status) over every output, zeros off its support."""
        support, df, error, status = self.parts[p]
        shape = (self.n_sides, self.out_size)
        full = np.zeros(shape), np.zeros(shape), np.zeros(shape, dtype=int)
        for whole, part in zip(full, (df, error, status)):
            whole[:, support] = part
        return full


def directional_derivatives(forward_at, probes, out_size, *, sides=(0,),
                            initial_step=contract.PROBE_STEP,
                            atol=contract.SCIPY_TOLERANCES["atol"],
                            rtol=contract.SCIPY_TOLERANCES["rtol"], retries=2):
    """Numerical ``J d`` for every probe, with scipy's error estimates.

    ``forward_at(probe, h)`` returns the flat float64 output at ``x + h d`` (it may
    raise; that probe is then tried again with a 16 times smaller step, ``retries``
    times, and otherwise reported in ``failed``). ``sides`` lists step directions as
    ``derivative`` takes them: 0 central, -1 left (steps <= 0), +1 right (steps >= 0);
    a kink needs both one-sided derivatives. ``initial_step`` is the largest step
    along a probe (directions are scaled to a largest entry of 1), small enough to
    stay inside the domain of log, tan or a divisor in the gates' example inputs.
    """
    res = Derivatives(len(sides), out_size)
    todo = list(range(len(probes)))
    step = initial_step
    for _ in range(retries + 1):
        if not todo:
            break
        cache = _Cache(forward_at, probes, out_size)
        supports = {p: cache.support(p, step) for p in todo}
        chunk, total = [], 0
        for p in todo + [None]:
            size = 0 if p is None else max(1, supports[p].size) * len(sides)
            if chunk and (p is None or total + size > _CHUNK_NUMBERS):
                _derivative_of(cache, chunk, supports, sides, step, atol, rtol, res)
                chunk, total = [], 0
            if p is not None:
                chunk.append(p)
                total += size
        for p in todo:
            if p in cache.errors:
                res.failed[p] = cache.errors[p]
            else:
                res.failed.pop(p, None)
        todo = [p for p in todo
                if p in res.failed or not np.all(np.isfinite(res.parts[p][1]))]
        step /= 16
    for p in todo:
        res.failed.setdefault(p, "the numerical derivative is not finite")
    return res


class _Cache:
    """Forward outputs by (probe, step), so no step is evaluated twice."""

    def __init__(self, forward_at, probes, out_size):
        self.forward_at, self.probes, self.out_size = forward_at, probes, out_size
        self.values: dict = {}
        self.errors: dict = {}

    def at(self, p, h):
        key = (p, 0.0 if h == 0 else h)
        if key not in self.values:
            try:
                y = self.forward_at(self.probes[p], key[1])
            except GATE_ERRORS as exc:  # a broken gate: report it, never crash the checker
                self.errors.setdefault(p, exception_text(exc))
                y = np.full(self.out_size, np.nan)
            self.values[key] = y
        return self.values[key]

    def support(self, p, step):
        """The outputs that change at the trial steps +-step and +-step/2 (which the
        stencil evaluates anyway): every output when something failed."""
        base = self.at(p, 0.0)
        moved = np.zeros(self.out_size, dtype=bool)
        for h in (step, -step, step / 2, -step / 2):
            y = self.at(p, h)
            moved |= ~(y == base)
        return np.flatnonzero(moved) if not moved.all() else np.arange(self.out_size)


def _derivative_of(cache, chunk, supports, sides, step, atol, rtol, res):
    """One ``derivative`` call over the support outputs of the probes in ``chunk``,
    on every side; h = 0 at every abscissa.

    Each element carries its (side, probe) row and output position as arguments;
    ``derivative`` passes only the elements still iterating, so a converged probe
    costs no more forward calls, and the steps of one probe agree column by column.
    """
    n_probes = len(cache.probes)
    rows, entries, dirs = [], [], []
    for s, side in enumerate(sides):
        for p in chunk:
            support = supports[p]
            # one row number per (side, probe): its steps agree column by column
            rows.append(np.full(support.size, s * n_probes + p, dtype=float))
            entries.append(support.astype(float))
            dirs.append(np.full(support.size, side))
    row, entry = np.concatenate(rows), np.concatenate(entries)
    direction = np.concatenate(dirs)
    if row.size == 0:   # no probe moves any output: every derivative is exactly 0
        for p in chunk:
            empty = np.zeros((len(sides), 0))
            res.parts[p] = (supports[p], empty, empty, empty.astype(int))
        return

    def f(h, row, entry):
        # the first call has one step per element; later ones a column per stencil step
        columns = h.reshape(row.size, -1)
        row, entry = row.reshape(-1).astype(int), entry.reshape(-1).astype(int)
        out = np.empty_like(columns)
        for r in np.unique(row):
            p = int(r) % n_probes
            mine = np.flatnonzero(row == r)
            for k in range(columns.shape[1]):
                col = columns[mine, k]
                if col[0] == col[-1] and np.all(col == col[0]):
                    out[mine, k] = cache.at(p, float(col[0]))[entry[mine]]
                    continue
                for h_val in np.unique(col):   # defensive: steps that differ by entry
                    same = mine[col == h_val]
                    out[same, k] = cache.at(p, float(h_val))[entry[same]]
        return out.reshape(h.shape)

    # Central differences of order 6 converge in two iterations on smooth gates.
    # One-sided ones are for kinks: a side that crosses a kink never converges, and
    # the clean side is exact for piecewise-linear gates (relu, max), so a low order
    # and few iterations keep them cheap; order 4 still resolves smooth pieces.
    central = tuple(sides) == (0,)
    with np.errstate(all="ignore"):
        r = derivative(f, np.zeros(row.size), args=(row, entry), initial_step=step,
                       step_direction=direction, order=6 if central else 4,
                       maxiter=10 if central else 6, tolerances={"atol": atol, "rtol": rtol})
    start = 0
    pieces = {p: [] for p in chunk}
    for s in range(len(sides)):
        for p in chunk:
            n = supports[p].size
            pieces[p].append((r.df[start:start + n], r.error[start:start + n],
                              r.status[start:start + n]))
            start += n
    for p in chunk:
        df, error, status = (np.stack([piece[k] for piece in pieces[p]]) for k in range(3))
        res.parts[p] = (supports[p], df, error, status)
