"""Numerical Jacobians of a reference gate's forward, from ``scipy.differentiate``.

For input j with n_j entries and an output with m entries, column k of J_j is the
derivative of the whole output as entry k of input j moves: a central finite-difference
stencil (order 4, initial step 0.01, refined by SciPy until its error estimate is below
1e-9 relative) over calls of the *reference forward only*. The grader then gets every
expected vector-Jacobian product (backward) as J_j^T u and every Jacobian-vector
product (jvp) as sum_j J_j t_j: exact linear algebra on one numerical Jacobian per
case, so a student's backward is compared with the derivative of the true function,
never with the reference's own backward.
"""

from __future__ import annotations

import numpy as np
from scipy.differentiate import jacobian

#: Largest step: the hidden inputs keep at least 0.05 from kinks and domain edges.
INITIAL_STEP = 0.01


class NumericalDerivativeError(RuntimeError):
    """SciPy did not converge on some Jacobian entry (the grader then skips that check)."""


def jacobians(forward, inputs, differentiable):
    """One (m, n_j) float64 matrix per input (None where ``differentiable[j]`` is False).

    ``forward(*inputs)`` is a trusted function (a fresh reference gate's forward) on
    float64 inputs. Raises NumericalDerivativeError naming the input that failed.
    """
    inputs = [np.asarray(a, dtype=np.float64) if d else a
              for a, d in zip(inputs, differentiable)]
    result = []
    for j, (x, d) in enumerate(zip(inputs, differentiable)):
        if not d:
            result.append(None)
            continue

        def f(flat, j=j, shape=x.shape):
            rest = flat.shape[1:]
            cols = flat.reshape(flat.shape[0], -1)
            outs = []
            for c in range(cols.shape[1]):
                args = list(inputs)
                args[j] = cols[:, c].reshape(shape)
                outs.append(np.ravel(np.asarray(forward(*args), dtype=np.float64)))
            return np.stack(outs, axis=-1).reshape((-1,) + rest)

        res = jacobian(f, x.reshape(-1), order=4, initial_step=INITIAL_STEP,
                       tolerances={"rtol": 1e-9, "atol": 1e-12})
        df = np.asarray(res.df)
        if not np.all(np.isfinite(df)):
            raise NumericalDerivativeError(
                f"no finite numerical derivative for input {j} of shape {x.shape}")
        result.append(df.reshape(-1, x.size))
    return result
