"""Stage 2 of :func:`gates.check.check_gate`: where to look, and how to move the inputs.

A :class:`~gates.numeric.Probe` perturbs one differentiable input: along one
entry (a column of the Jacobian) or along a random direction. Small inputs are probed
entry by entry; large ones on a few sampled entries and random directions, so a
(256, 784) matrix never costs its full Jacobian. The tangents given to ``jvp`` and
the perturbed inputs given to ``forward`` are built here too, from the same probes.
"""

from __future__ import annotations

import math

import numpy as np

from .. import contract
from ..numeric import Probe
from .structure import Run, index_text


def make_probes(run: Run, rng, max_entries, entries, directions) -> list[Probe]:
    """The probes of every differentiable input; each input's report says how it was
    probed (``all 12 entries``, ``6 sampled entries and 3 random directions of 6400``)."""
    probes = []
    for i, x in enumerate(run.inputs):
        if not run.flags[i]:
            continue
        shape = np.shape(x)
        size = math.prod(shape)
        if size <= max_entries:
            chosen = [np.unravel_index(k, shape) for k in range(size)]
            run.report.inputs[i].probes = (f"all {size} entries" if size != 1
                                           else "its one entry")
            dirs = 0
        else:
            flat = rng.choice(size, size=min(entries, size), replace=False)
            chosen = [np.unravel_index(int(k), shape) for k in sorted(flat)]
            dirs = directions
            run.report.inputs[i].probes = (f"{len(chosen)} sampled entries and {dirs} "
                                           f"random directions of {size}")
        for idx in chosen:
            idx = tuple(int(k) for k in idx)
            label = f"{run.names[i]}{index_text(idx)}" if idx else run.names[i]
            probes.append(Probe(i, entry=idx, label=label))
        for k in range(dirs):
            d = rng.standard_normal(shape)
            d /= np.max(np.abs(d))
            probes.append(Probe(i, direction=d,
                                label=f"{run.names[i]} along random direction {k}"))
    return probes


def tangent(run: Run, probe: Probe):
    """The tangent of ``probe``'s input for ``jvp``: a unit entry or the direction, in
    the dtype the input's gradient has (the output's for a Python number)."""
    x = run.inputs[probe.input]
    dtype = contract.gradient_dtype(x) or run.out.dtype
    if probe.entry is not None:
        t = np.zeros(np.shape(x), dtype=dtype)
        t[probe.entry] = 1
        return t
    return probe.direction.astype(dtype)


def random_tangents(run: Run, rng) -> list:
    """A random tangent for every differentiable input whose gradient was valid (None
    for the others), in its gradient's dtype: for the adjoint identity."""
    tangents = [None] * run.n
    for i, x in enumerate(run.inputs):
        if run.flags[i] and run.grads[i] is not None:
            dtype = contract.gradient_dtype(x) or run.out.dtype
            tangents[i] = rng.standard_normal(np.shape(x)).astype(dtype)
    return tangents


class Perturbed:
    """``forward`` of a gate at its inputs moved along a probe, as flat float64 outputs.

    Inputs are float64 copies (labels keep their integers), shared read-only by every
    call: a gate that writes into its inputs (reported by the structure stage) raises
    instead of corrupting the other evaluations. Every call at ``h = 0`` must give the
    same output, or the gate keeps state between calls and its "derivatives" mean
    nothing: :attr:`drift` is the first difference seen, or None.
    """

    def __init__(self, run: Run, gate):
        self.gate = gate
        self.out_size = run.out.size
        self.base = [_float64_copy(x, f) for x, f in zip(run.inputs, run.flags)]
        for a in self.base:
            a.flags.writeable = False
        self.at_inputs = None
        self.drift = None

    def __call__(self, probe: Probe, h: float):
        args = list(self.base)
        if probe.entry is not None:
            args[probe.input] = self.base[probe.input].copy()
            args[probe.input][probe.entry] += h
        else:
            args[probe.input] = self.base[probe.input] + h * probe.direction
        with np.errstate(all="ignore"):
            y = np.asarray(self.gate.forward(*args), dtype=np.float64)
        if y.size != self.out_size:
            raise ValueError(f"output has {y.size} entries at a perturbed input, "
                             f"{self.out_size} at the checked one")
        y = y.ravel()
        if h == 0 and self.at_inputs is None:
            self.at_inputs = y
        elif h == 0 and self.drift is None and not np.array_equal(y, self.at_inputs):
            self.drift = float(np.nanmax(np.abs(y - self.at_inputs)))
        return y


def _float64_copy(x, differentiable):
    """A float64 copy of a float or differentiable input; labels keep their ints."""
    a = np.array(x, copy=True)
    if differentiable or a.dtype.kind == "f":
        return a.astype(np.float64)
    return a
