"""Numerical Jacobians of a reference gate's forward, from the numerical core the checker
shares (:mod:`gates.numeric`).

For input j with n_j entries and an output with m entries, column k of J_j is the
derivative of the whole output as entry k of input j moves:
:func:`gates.numeric.directional_derivatives` with one unit probe per entry
(``scipy.differentiate.derivative`` underneath, central differences from the
contract's step :data:`gates.contract.STEP`, refined until SciPy's error estimate is
below :data:`gates.contract.SCIPY_TOLERANCES`), over calls of the *reference forward
only*. The grader then gets every expected vector-Jacobian product (backward) as
J_j^T u and every Jacobian-vector product (jvp) as sum_j J_j t_j: plain linear algebra
on one numerical Jacobian per case, so a student's backward is compared with the
derivative of the true function, never with the reference's own backward.
"""

from __future__ import annotations

import numpy as np

from ..contract import STEP
from ..numeric import Probe, directional_derivatives


class NumericalDerivativeError(RuntimeError):
    """No finite numerical derivative for some entry (the grader then skips that check)."""


def jacobians(forward, inputs, differentiable):
    """One (m, n_j) float64 matrix per input (None where ``differentiable[j]`` is False).

    ``forward(*inputs)`` is a trusted function (a fresh reference gate's forward) on
    float64 inputs. Raises NumericalDerivativeError naming the input that failed.
    """
    inputs = [np.asarray(a, dtype=np.float64) if d else a
              for a, d in zip(inputs, differentiable)]
    out_size = int(np.size(forward(*inputs)))

    def forward_at(probe, h):
        args = list(inputs)
        moved = args[probe.input].copy()
        moved[probe.entry] += h
        args[probe.input] = moved
        return np.ravel(np.asarray(forward(*args), dtype=np.float64))

    result = []
    for j, (x, d) in enumerate(zip(inputs, differentiable)):
        if not d:
            result.append(None)
            continue
        probes = [Probe(j, entry=idx) for idx in np.ndindex(x.shape)]
        res = directional_derivatives(forward_at, probes, out_size,
                                      initial_step=STEP)
        if res.failed:
            raise NumericalDerivativeError(f"no numerical derivative for input {j} of shape "
                                           f"{x.shape}: {next(iter(res.failed.values()))}")
        # row(k) is (df, error, status) of probe k, each (sides, outputs); the estimate
        # of the one (central) side is column k of J
        result.append(np.stack([res.row(k)[0][0] for k in range(len(probes))], axis=1))
    return result
