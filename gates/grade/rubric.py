"""Points: how many per gate, and how a gate's points split over its checks.

A rubric file is JSON (``.json``) or TOML (``.toml``)::

    {"default_points": 10,
     "points": {"SoftmaxCrossEntropyGate": 20},
     "weights": {"forward": 3, "backward": 4, "gradients": 1,
                 "inputs_unchanged": 0.5, "repeatable": 0.5, "float32": 1, "jvp": 2}}

Every key is optional. A gate's points are shared among its checks in proportion to
the weights; ``jvp`` counts only when jvp is graded (``--jvp``), otherwise its weight
is dropped and the gate's points go to the other checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from gates import ALL_GATES
from gates.i18n import tr

#: The checks of one gate, in the order they are reported, with their default weights.
DEFAULT_WEIGHTS = {"forward": 3.0, "backward": 4.0, "gradients": 1.0,
                   "inputs_unchanged": 0.5, "repeatable": 0.5, "float32": 1.0, "jvp": 2.0}

CHECK_TITLES = {
    "forward": "forward output",
    "backward": "backward gradients (vs numerical derivatives)",
    "gradients": "backward returns one gradient per input, with its shape",
    "inputs_unchanged": "inputs are not changed",
    "repeatable": "backward can be called twice",
    "float32": "float32 in, float32 out",
    "jvp": "jvp (forward mode, vs numerical derivatives)",
}


def check_title(name: str, lang: str | None = None) -> str:
    """The title of check ``name`` as a student reads it (:data:`CHECK_TITLES`), in
    ``lang`` (default: the current language)."""
    titles = {
        "forward": tr("forward output", lang),
        "backward": tr("backward gradients (vs numerical derivatives)", lang),
        "gradients": tr("backward returns one gradient per input, with its shape", lang),
        "inputs_unchanged": tr("inputs are not changed", lang),
        "repeatable": tr("backward can be called twice", lang),
        "float32": tr("float32 in, float32 out", lang),
        "jvp": tr("jvp (forward mode, vs numerical derivatives)", lang),
    }
    return titles.get(name, CHECK_TITLES.get(name, name))


class RubricError(ValueError):
    """A rubric file that cannot be read or names an unknown check or a bad number."""


@dataclass
class Rubric:
    """Points per gate (``points`` overrides ``default_points``) and check weights."""

    default_points: float = 10.0
    points: dict = field(default_factory=dict)
    weights: dict = field(default_factory=lambda: dict(DEFAULT_WEIGHTS))

    def gate_points(self, gate: str) -> float:
        """The points ``gate`` is worth: its entry in ``points``, else ``default_points``."""
        return float(self.points.get(gate, self.default_points))

    def check_points(self, gate: str, jvp: bool) -> dict:
        """check name -> points for ``gate``; they add up to the gate's points."""
        weights = {k: w for k, w in self.weights.items() if jvp or k != "jvp"}
        total = sum(weights.values())
        points = self.gate_points(gate)
        return {k: (points * w / total if total else 0.0) for k, w in weights.items()}


def load_rubric(path: str | Path | None) -> Rubric:
    """Read a rubric file (JSON or TOML); ``None`` gives the default rubric."""
    if path is None:
        return Rubric()
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".toml":
            import tomllib  # Python 3.11+
            data = tomllib.loads(text)
        else:
            data = json.loads(text)
    except (OSError, ValueError) as exc:
        raise RubricError(f"rubric {path}: {exc}") from None
    except ImportError:
        raise RubricError(f"rubric {path}: TOML needs Python 3.11+; use JSON") from None
    return rubric_from_dict(data, str(path))


def rubric_from_dict(data, path: str) -> Rubric:
    """The rubric a rubric file's table holds (``path`` names it in errors)."""
    if not isinstance(data, dict):
        raise RubricError(f"rubric {path}: expected a table/object at the top")
    unknown = set(data) - {"default_points", "points", "weights"}
    if unknown:
        raise RubricError(f"rubric {path}: unknown key(s) {sorted(unknown)}; "
                          f"expected default_points, points, weights")
    weights = dict(DEFAULT_WEIGHTS)
    for name, w in (data.get("weights") or {}).items():
        if name not in DEFAULT_WEIGHTS:
            raise RubricError(f"rubric {path}: unknown check '{name}' in weights; "
                              f"checks are {', '.join(DEFAULT_WEIGHTS)}")
        weights[name] = _number(path, f"weights.{name}", w)
    points = {g: _number(path, f"points.{g}", p) for g, p in (data.get("points") or {}).items()}
    known = {cls.__name__ for cls in ALL_GATES}
    unknown_gates = sorted(set(points) - known)
    if unknown_gates:
        raise RubricError(f"rubric {path}: unknown gate(s) {', '.join(unknown_gates)} in points; "
                          f"gates are named as in gates.ALL_GATES, e.g. SigmoidGate")
    default = _number(path, "default_points", data.get("default_points", 10.0))
    return Rubric(default, points, weights)


def _number(path, key, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise RubricError(f"rubric {path}: {key} must be a number >= 0, got {value!r}")
    return float(value)
