"""One file for a term's homework: ``assignment.toml``.

Everything a teacher would otherwise repeat on every ``compgraph skeleton``, ``grade``
and ``autograder`` command, in one place, so that a forgotten ``--gates`` cannot grade
a 6-gate homework out of 24 gates::

    title = "Bài tập 1: các cổng"
    gates = ["AddGate", "MultiplyGate", "MaxGate", "ReLUGate", "SigmoidGate", "AffineGate"]
    seed = 2026            # the reproducible half of the hidden inputs
    jvp = false            # grade forward mode too
    language = "vi"        # the students' feedback: "en" or "vi"
    lms = "moodle"         # "moodle", "canvas", "gradescope" or "none"
    filename = "gates_hw.py"   # what students upload (Gradescope; optional)

    [limits]
    timeout = 10           # seconds per gate
    memory_mb = 1024

    [scale]                # the grade on the course's scale
    points = 10
    decimals = 1
    rounding = "half-up"   # Vietnamese grades (Thông tư 08/2021/TT-BGDĐT, Điều 9)

    [rubric]               # as a rubric file; or rubric = "rubric.toml"
    default_points = 10
    points = { AffineGate = 20 }

Every key is optional; options given on the command line win over the file.
:meth:`Assignment.fingerprint` is the hash of what decides the points (gates, jvp,
rubric), stamped on every output with the seed and the versions that graded it.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field, replace
from decimal import ROUND_HALF_EVEN, ROUND_HALF_UP, Decimal
from pathlib import Path

from .request import GradingError, gate_classes
from .rubric import Rubric, RubricError, load_rubric, rubric_from_dict

LANGUAGES = ("en", "vi")
LMS = ("moodle", "canvas", "gradescope", "none")
ROUNDING = {"half-up": ROUND_HALF_UP, "half-even": ROUND_HALF_EVEN}


class AssignmentError(ValueError):
    """An assignment file that cannot be read, or a key with a bad value (both named)."""


@dataclass(frozen=True)
class Scale:
    """A grade on the course's scale: ``points`` for full marks, shown with ``decimals``
    digits, rounded ``half-up`` (8.95 -> 9.0, as Vietnamese grading rules say; Python's
    ``round(8.95, 1)`` gives 8.9) or ``half-even``."""

    points: float = 10.0
    decimals: int = 1
    rounding: str = "half-up"

    def round(self, value: float) -> Decimal:
        """``value`` rounded to ``decimals`` digits. The float is first read at 9 digits,
        so 179 / 200 * 10 (8.9499999... in binary) rounds as the 8.95 it stands for."""
        exact = Decimal(repr(round(float(value), 9)))
        return exact.quantize(Decimal(1).scaleb(-self.decimals), rounding=ROUNDING[self.rounding])

    def grade_text(self, value: float) -> str:
        """``value`` (already on some maximum) rounded as the scale says, as text."""
        return str(self.round(value))

    def grade(self, fraction: float) -> str:
        """The grade for ``fraction`` of full marks, on the scale's points, as text with
        the scale's decimals (a row's own maximum, as Moodle's worksheet has: grade_text)."""
        return self.grade_text(fraction * self.points)


@dataclass(frozen=True)
class Assignment:
    """The settings of one homework; see the module docstring for the file."""

    title: str = ""
    gates: tuple | None = None
    seed: int = 0
    jvp: bool = False
    #: the students' language; None: the file does not say (the environment's, then)
    language: str | None = None
    lms: str = "none"
    filename: str | None = None
    timeout: float = 10.0
    memory_mb: int = 1024
    scale: Scale = field(default_factory=Scale)
    rubric: Rubric = field(default_factory=Rubric)
    path: str | None = None

    def with_options(self, **options) -> "Assignment":
        """A copy with the options that are not None (the command line's) applied."""
        given = {k: (tuple(v) if k == "gates" else v) for k, v in options.items()
                 if v is not None}
        return replace(self, **given)

    def fingerprint(self) -> str:
        """12 hex digits of the SHA-256 of what decides the points: the gates graded,
        whether jvp is, and the rubric. Two reports with the same fingerprint and seed
        were graded on the same terms."""
        terms = {"gates": [c.__name__ for c in gate_classes(self.gates)], "jvp": self.jvp,
                 "rubric": asdict(self.rubric)}
        text = json.dumps(terms, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]

    def grading_options(self) -> dict:
        """The keyword arguments of :func:`~.grader.grade_submission` this assignment sets."""
        return {"gates": list(self.gates) if self.gates else None, "rubric": self.rubric,
                "seed": self.seed, "timeout": self.timeout, "memory": self.memory_mb << 20,
                "jvp": self.jvp}


_KEYS = {"title", "gates", "seed", "jvp", "language", "lms", "filename", "limits", "scale",
         "rubric"}


def load_assignment(path) -> Assignment:
    """Read ``assignment.toml``; AssignmentError naming the file and the key for anything
    wrong (unknown keys included: a typo must not silently grade 24 gates)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise AssignmentError(f"assignment {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise AssignmentError(f"assignment {path}: {exc}") from None
    where = f"assignment {path}"
    _no_unknown(where, "", data, _KEYS)
    limits = _table(where, data, "limits", {"timeout", "memory_mb"})
    scale_data = _table(where, data, "scale", {"points", "decimals", "rounding"})
    values = {"path": str(path)}
    if "title" in data:
        values["title"] = _typed(where, "title", data["title"], str)
    if "gates" in data:
        gates = data["gates"]
        if not (isinstance(gates, list) and gates and all(isinstance(g, str) for g in gates)):
            raise AssignmentError(f"{where}: gates must be a list of gate class names, "
                                  f"e.g. [\"AddGate\", \"SigmoidGate\"], got {gates!r}")
        try:
            gate_classes(gates)
        except GradingError as exc:
            raise AssignmentError(f"{where}: gates: {exc}") from None
        values["gates"] = tuple(gates)
    if "seed" in data:
        seed = _typed(where, "seed", data["seed"], int)
        if seed < 0:
            raise AssignmentError(f"{where}: seed must be an integer >= 0, got {seed}")
        values["seed"] = seed
    if "jvp" in data:
        values["jvp"] = _typed(where, "jvp", data["jvp"], bool)
    for key, allowed in (("language", LANGUAGES), ("lms", LMS)):
        if key in data:
            value = _typed(where, key, data[key], str)
            if value not in allowed:
                raise AssignmentError(f"{where}: {key} must be one of "
                                      f"{', '.join(allowed)}, got {value!r}")
            values[key] = value
    if "filename" in data:
        values["filename"] = _typed(where, "filename", data["filename"], str)
    if "timeout" in limits:
        values["timeout"] = _positive(where, "limits.timeout", limits["timeout"])
    if "memory_mb" in limits:
        values["memory_mb"] = int(_positive(where, "limits.memory_mb", limits["memory_mb"]))
    values["scale"] = _scale(where, scale_data)
    values["rubric"] = _rubric(where, path, data.get("rubric"))
    return Assignment(**values)


def _no_unknown(where, prefix, data, known):
    unknown = sorted(set(data) - known)
    if unknown:
        raise AssignmentError(f"{where}: unknown key(s) {', '.join(prefix + k for k in unknown)};"
                              f" known: {', '.join(sorted(prefix + k for k in known))}")


def _table(where, data, key, known) -> dict:
    table = data.get(key, {})
    if not isinstance(table, dict):
        raise AssignmentError(f"{where}: {key} must be a table ([{key}]), got {table!r}")
    _no_unknown(where, key + ".", table, known)
    return table


def _typed(where, key, value, kind):
    if kind is int and isinstance(value, bool) or not isinstance(value, kind):
        raise AssignmentError(f"{where}: {key} must be {kind.__name__}, got {value!r}")
    return value


def _positive(where, key, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise AssignmentError(f"{where}: {key} must be a number > 0, got {value!r}")
    return float(value)


def _scale(where, data) -> Scale:
    points = _positive(where, "scale.points", data.get("points", 10))
    decimals = data.get("decimals", 1)
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= 6:
        raise AssignmentError(f"{where}: scale.decimals must be an integer from 0 to 6, "
                              f"got {decimals!r}")
    rounding = data.get("rounding", "half-up")
    if rounding not in ROUNDING:
        raise AssignmentError(f"{where}: scale.rounding must be one of "
                              f"{', '.join(ROUNDING)}, got {rounding!r}")
    return Scale(points, decimals, rounding)


def _rubric(where, path, value) -> Rubric:
    if value is None:
        return Rubric()
    try:
        if isinstance(value, str):
            return load_rubric(path.parent / value)
        if isinstance(value, dict):
            return rubric_from_dict(value, f"{path} [rubric]")
    except RubricError as exc:
        raise AssignmentError(f"{where}: {exc}") from None
    raise AssignmentError(f"{where}: rubric must be a table or the name of a rubric file, "
                          f"got {value!r}")
