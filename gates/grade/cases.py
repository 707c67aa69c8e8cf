"""The hidden test cases: for each gate, several input shapes, batch sizes and
constructor parameters, with values drawn from a seed.

The shapes and constructor parameters are each gate's row of :data:`gates.facts.FACTS`
(``cases``); values are resampled from the gate's own ``example_inputs``, so each
input stays inside the gate's domain (positive for log, away from zero for a divisor,
away from the poles of tan) without a rule per gate. Gates with kinks (max, relu) get
inputs more than :data:`gates.contract.KINK_MARGIN` away from them (the facts' ``kink``
measures how far), where the derivative is defined and a numerical derivative with
the contract's step can be trusted.
Every gate also gets float32 cases, and an upstream gradient u1, a second one u2,
and (for jvp) one tangent per differentiable input.

Each case comes twice, with the same shapes and parameters: once with values drawn
from the teacher's ``--seed`` (the reproducible part: the same inputs in every run of
the term, so a student's reasons can be reproduced and two runs compared) and once
with values drawn from ``run_seed``, new for every grading run (the fresh part: a
table of answers to inputs seen in an earlier run cannot answer these). The scorer
counts a case only when both of its draws pass. The run seed is recorded in the
report, so a regrade can replay a run exactly.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

import numpy as np

from gates.contract import near_kink
from gates.facts import FACTS
from gates.i18n import tr


@dataclass
class Case:
    """One hidden test: constructor parameters, inputs, upstreams u1/u2, tangents."""

    label: str
    params: dict
    inputs: list
    differentiable: tuple
    float32: bool = False
    up1: np.ndarray | None = None
    up2: np.ndarray | None = None
    tangents: list = field(default_factory=list)
    names: tuple = ()
    fresh: bool = False

    @property
    def arity(self) -> int:
        """The number of inputs."""
        return len(self.inputs)

    def describe(self) -> str:
        """``case 2 (float64: x (1, 5), y (1, 5))``: how reasons name the case, in the
        feedback's language."""
        shapes = ", ".join(f"{n} {tuple(a.shape)}" for n, a in zip(self.names, self.inputs))
        params = "".join(f", {k}={v!r}" for k, v in self.params.items())
        kind = "float32" if self.float32 else "float64"
        if self.fresh:
            return tr("case {label} (fresh values, {kind}: {shapes}{params})").format(
                label=self.label, kind=kind, shapes=shapes, params=params)
        return tr("case {label} ({kind}: {shapes}{params})").format(
            label=self.label, kind=kind, shapes=shapes, params=params)


def _seed(seed: int, name: str, run_seed: int | None = None) -> np.random.Generator:
    # one stream per gate, so --gates SigmoidGate sees the same inputs as a full run
    if run_seed is None:
        return np.random.default_rng([seed, zlib.crc32(name.encode())])
    return np.random.default_rng([seed, zlib.crc32(name.encode()), run_seed, 2])


def _pools(cls, rng):
    """Many valid values per input, from the gate's own example_inputs."""
    draws = [cls.example_inputs(rng) for _ in range(8)]
    return [np.concatenate([np.ravel(d[j]) for d in draws]) for j in range(len(draws[0]))]


def _draw(pool, shape, rng, first):
    if pool.dtype.kind in "iu":  # class labels: any class of the first input's last axis
        return rng.integers(0, first.shape[-1], size=shape)
    return np.asarray(rng.choice(pool, size=shape), dtype=np.float64)


def _params(params):
    """Tuples (axis) become lists, so the parameters travel to the child as JSON."""
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in params.items()}


def build_cases(cls, seed: int, run_seed: int | None = None) -> list[Case]:
    """The hidden cases for gate class ``cls`` (a reference gate): those drawn from
    ``seed`` and, if ``run_seed`` is given, after them their fresh twins drawn from it.

    Falls back to the shapes of ``example_inputs`` for a gate without cases in
    :data:`gates.facts.FACTS`.
    """
    cases = _draw_cases(cls, _seed(seed, cls.__name__))
    if run_seed is not None:
        for case in _draw_cases(cls, _seed(seed, cls.__name__, run_seed)):
            case.fresh = True
            cases.append(case)
    return cases


def _draw_cases(cls, rng: np.random.Generator) -> list[Case]:
    name = cls.__name__
    pools = _pools(cls, rng)
    example = cls.example_gate()
    facts = FACTS.get(name)
    listed = bool(facts and facts.cases)
    specs = (facts.cases if listed
             else [(tuple(np.shape(a) for a in cls.example_inputs(rng)), {})])
    default_params = {k: getattr(example, k) for k in getattr(example, "__dict__", {})
                      if not k.startswith("_")}
    diff = example.differentiable_inputs()
    cases = []
    for index, (shapes, params) in enumerate(specs + specs[:1]):
        for _ in range(100):
            inputs = []
            for pool, shape in zip(pools, shapes):
                inputs.append(_draw(pool, shape, rng, inputs[0] if inputs else None))
            if not near_kink(cls, inputs, cls.kinks):
                break
        params = params if listed else default_params
        f32 = index == len(specs)
        if f32:
            inputs = [a.astype(np.float32) if a.dtype.kind == "f" else a for a in inputs]
        cases.append(Case(label=str(index + 1), params=_params(params), inputs=inputs,
                          differentiable=diff, float32=f32, names=tuple(cls.input_names)))
    return cases


def add_directions(case: Case, out_shape, rng: np.random.Generator) -> None:
    """Upstream gradients (output's shape) and tangents (each input's shape) drawn from
    ``rng``: the seeded stream for a seeded case, the run's stream for a fresh twin."""
    dtype = np.float32 if case.float32 else np.float64
    case.up1 = rng.standard_normal(out_shape).astype(dtype)
    case.up2 = rng.standard_normal(out_shape).astype(dtype)
    case.tangents = [rng.standard_normal(a.shape).astype(dtype) if d else None
                     for a, d in zip(case.inputs, case.differentiable)]


def directions_rng(seed: int, name: str, run_seed: int | None = None) -> np.random.Generator:
    """The stream for upstreams and tangents, separate from the inputs' stream: the
    seeded cases' (``run_seed`` None), or the fresh twins' of the run ``run_seed``."""
    if run_seed is None:
        return np.random.default_rng([seed, zlib.crc32(name.encode()), 1])
    return np.random.default_rng([seed, zlib.crc32(name.encode()), run_seed, 3])
