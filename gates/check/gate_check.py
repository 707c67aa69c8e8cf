"""``check_gate``: one gate, one set of inputs, checked against numerical derivatives.

The check runs in stages, each in its own module:

1. structure (:mod:`.structure`): ``forward`` and ``backward`` return what the contract
   (:mod:`gates.contract`) asks, leave their inputs alone and repeat themselves;
2. probes (:mod:`.probes`): which entries and directions of each input to look along;
3. judging (:mod:`.judging`): ``jvp`` and the adjoint identity, then every probe's
   gradient component and jvp against ``scipy.differentiate``;
4. report (:func:`.report.assemble`): comparisons attached to their inputs, problems
   ordered by kind.

Numerical derivatives are computed in float64 on float64 copies of the inputs,
whatever the gate's dtype; the analytic values come from the gate run in its own
dtype, with the contract's tolerances for that dtype.
"""

from __future__ import annotations

import time

import numpy as np

from .. import contract
from .judging import check_forward_mode, check_numerically
from .probes import make_probes
from .report import GateReport, assemble
from .structure import Run, check_backward, check_forward


def check_gate(gate, *inputs, rtol=None, atol=None, seed=0, jvp=None, kinks=None,
               max_entries=64, entries=6, directions=3, initial_step=contract.PROBE_STEP,
               name=None, numerical_gate=None, upstream=None) -> GateReport:
    """Check ``gate`` (anything with ``forward`` and ``backward``, optionally ``jvp``)
    at ``inputs`` against numerical derivatives; return a :class:`GateReport`.

    Parameters
    ----------
    rtol, atol : float, optional
        Override the tolerances of :data:`gates.contract.TOLERANCES` (chosen by dtype).
    seed : int
        Seeds the random upstream gradient, tangents, directions and sampled entries.
    jvp : bool, optional
        True: forward mode must work; False: skip it; None (default): check it when
        the gate has a ``jvp`` that does not raise NotImplementedError.
    kinks : bool, optional
        Compute one-sided derivatives everywhere (default: when the gate declares
        ``kinks`` and, for a built-in gate, one lies near the inputs:
        :func:`gates.contract.near_kink`).
    max_entries : int
        Inputs with at most this many entries are checked entry by entry; larger
        ones on ``entries`` sampled entries plus ``directions`` random directions.
    initial_step : float
        The largest finite-difference step (inputs move by at most this much).
    name : str, optional
        The gate's name in the report (default: its repr, or its class name).
    upstream : array_like, optional
        The upstream gradient u (default: random normal, shaped like the output);
        ValueError if its shape is not the output's.
    numerical_gate : optional
        The gate whose ``forward`` the numerical derivatives use (default: ``gate``).
        Give a float64 twin when ``gate`` computes in a fixed lower precision (a block
        whose parameters are float32) and so cannot be differentiated in float64.

    The gate is left in the state of its last (perturbed) ``forward``, except what a
    gate's ``checkpoint()`` (optional: a function that restores) puts back: a block
    (:class:`graph.GraphGate`) leaves its graph as it was.
    """
    start = time.perf_counter()
    rng = np.random.default_rng(seed)
    run = Run(gate, inputs, name, seed, rtol=rtol, atol=atol)
    rep = run.report
    if kinks is None:
        kinks = contract.near_kink(gate, inputs, bool(getattr(gate, "kinks", False)))
    # a gate whose forward changes state outside itself (a block feeds its graph) may
    # give a checkpoint: it is put back after the probes, so checking moves nothing
    checkpoint = getattr(gate, "checkpoint", None)
    restore = checkpoint() if callable(checkpoint) else None
    if not callable(restore):
        restore = None       # a method of that name that returns no restorer
    try:
        if check_forward(run) and check_backward(run, rng, upstream):
            probes = make_probes(run, rng, max_entries, entries, directions)
            check_forward_mode(run, jvp, probes, rng)
            check_numerically(run, probes, bool(kinks), initial_step,
                              gate if numerical_gate is None else numerical_gate)
        assemble(rep, run.comparisons, run.problems)
    finally:
        if restore is not None:
            restore()
        rep.seconds = time.perf_counter() - start
    return rep


__all__ = ["check_gate"]
