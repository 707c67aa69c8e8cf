"""The gate contract: the base class every operator follows, and the errors it raises.

A gate is an object with three methods (the lecture's ``MultiplyGate``)::

    forward(*inputs)    -> output            caches the local gradients on ``self``
    backward(upstream)  -> (grad, ...)       one entry per input: local * upstream
    jvp(*tangents)      -> output tangent    forward mode, from the same cache

Students implement gates that follow the contract without inheriting from
:class:`Gate`; the built-in gates inherit from it to share input checking, dtype
rules, broadcasting and readable errors.
"""

from __future__ import annotations

import inspect
import numbers

import numpy as np

__all__ = [
    "Gate",
    "GateError",
    "GateArityError",
    "GateShapeError",
    "GateStateError",
    "GateDomainError",
    "GateTypeError",
    "unbroadcast",
    "shape_text",
    "jvp_none_hint",
    "forward_input_names",
]


def jvp_none_hint(exc: BaseException, tangents) -> str | None:
    """What to write when a hand-written ``jvp`` fails on a ``None`` tangent (the
    contract's "no tangent", i.e. zero), else None: the common mistake ``tx * dzdx``
    gives Python's "unsupported operand type(s) ... 'NoneType'"."""
    if isinstance(exc, TypeError) and "NoneType" in str(exc) and any(
            t is None for t in tangents):
        return ("jvp receives None for an input without a tangent (a zero tangent): "
                "skip it or treat it as 0, e.g. `tx = 0 if tx is None else tx`")
    return None


def _positional_names(forward, drop_first: bool = False) -> tuple[str, ...] | None:
    """The names of ``forward``'s positional parameters (without the first, ``self``, of
    a function read off a class), or None for ``*args``, repeats, none at all, or a
    signature Python cannot tell."""
    try:
        params = list(inspect.signature(forward).parameters.values())[int(drop_first):]
    except (TypeError, ValueError):
        return None
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return None
    names = tuple(p.name for p in params if p.kind in (p.POSITIONAL_ONLY,
                                                         p.POSITIONAL_OR_KEYWORD))
    return names if names and len(set(names)) == len(names) else None


def forward_input_names(gate, n: int) -> tuple[str, ...] | None:
    """The names of a gate's ``n`` inputs: its ``input_names``, else the parameters of
    its ``forward`` (a hand-written ``forward(self, x, y)`` gives ('x', 'y')), or None
    when neither gives ``n`` distinct names."""
    names = getattr(gate, "input_names", None)
    try:
        names = tuple(str(s) for s in names) if names is not None else None
    except TypeError:
        names = None
    if names is None:
        forward = getattr(gate, "forward", None)
        names = _positional_names(forward) if callable(forward) else None
    if names is None or len(names) != n or len(set(names)) != n:
        return None
    return names


class GateError(Exception):
    """Base class of every misuse of a gate; the message names the gate and the input."""


class GateArityError(GateError, TypeError):
    """A gate was given the wrong number of inputs or tangents."""


class GateShapeError(GateError, ValueError):
    """Inputs, an upstream gradient or a tangent have shapes the gate cannot accept."""


class GateStateError(GateError, RuntimeError):
    """``backward`` or ``jvp`` was called before ``forward``."""


class GateDomainError(GateError, ValueError):
    """An input lies outside the gate's domain (log of 0, division by 0, overflow)."""


class GateTypeError(GateError, TypeError):
    """An input is not a real number or array of real numbers."""


def shape_text(shape) -> str:
    """``(3, 4)`` -> ``'(3, 4)'`` and ``()`` -> ``'() (a scalar)'`` for messages."""
    return f"{tuple(shape)}" + (" (a scalar)" if len(shape) == 0 else "")


def unbroadcast(grad, shape):
    """Sum ``grad`` back to ``shape``, undoing numpy broadcasting.

    If ``x`` of ``shape`` was broadcast to ``grad.shape`` in the forward pass, each
    entry of ``x`` was used once per copy, so its gradient is the sum over the copies:
    over the leading axes broadcasting added, and over the axes where ``x`` had size 1.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    ones = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if ones:
        grad = grad.sum(axis=ones, keepdims=True)
    return np.asarray(grad).reshape(shape)


_FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
_FLOAT_SCALARS = (np.float32, np.float64)
_PROMOTED_KINDS = "biu"


class Gate:
    """Base class of the built-in gates.

    Subclasses set ``input_names`` (one name per input, used in messages and by the
    checker), ``differentiable`` (``False`` for inputs such as class labels, whose
    gradient is ``None``) and ``kinks`` (``True`` where the gate has points with no
    derivative, such as relu at 0), and implement ``forward``, ``backward``, ``jvp``
    and the classmethod ``example_inputs(rng)``.

    Dtypes: float32 and float64 arrays keep their dtype; integer and boolean arrays
    become float64. Python numbers are weakly typed, as in numpy: beside a float32
    array they become float32, on their own float64.
    """

    input_names: tuple[str, ...] = ("x",)
    differentiable: tuple[bool, ...] | None = None
    kinks: bool = False
    #: Set by a caller that needs only some gradients (a graph whose data input needs
    #: none): one flag per input. A gate may then return ``None`` where the flag is
    #: False to save the work; ``None`` here means every gradient is wanted.
    needs_input_grad: tuple[bool, ...] | None = None

    def __init_subclass__(cls, **kwargs):
        # a subclass that writes forward(self, x, y) without setting input_names has
        # the inputs its signature names, not the default single 'x'
        super().__init_subclass__(**kwargs)
        if "input_names" not in cls.__dict__ and "forward" in cls.__dict__:
            names = _positional_names(cls.forward, drop_first=True)
            if names:
                cls.input_names = names

    @property
    def arity(self) -> int:
        """The number of inputs ``forward`` takes."""
        return len(self.input_names)

    def differentiable_inputs(self) -> tuple[bool, ...]:
        """One flag per input: ``False`` where ``backward`` returns ``None``."""
        return self.differentiable or (True,) * self.arity

    @classmethod
    def example_inputs(cls, rng: np.random.Generator) -> tuple:
        """Valid random inputs for this gate (shapes and domain), drawn from ``rng``."""
        raise NotImplementedError(f"{cls.__name__} does not say how to make example inputs")

    @classmethod
    def example_gate(cls) -> "Gate":
        """An instance to check with ``example_inputs``; gates with parameters override it."""
        try:
            return cls()
        except TypeError as exc:
            raise TypeError(f"{exc}; {cls.__name__} needs constructor arguments, so it must "
                            f"say how to build one: @classmethod `def example_gate(cls): "
                            f"return cls(...)` with example values") from None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    def __call__(self, *inputs):
        return self.forward(*inputs)

    def forward(self, *inputs):
        raise NotImplementedError

    def backward(self, upstream):
        raise NotImplementedError

    def jvp(self, *tangents):
        raise NotImplementedError

    # -- shared checks -------------------------------------------------------------

    def _error(self, cls, method: str, text: str) -> GateError:
        return cls(f"{type(self).__name__}.{method}: {text}")

    def _accept(self, inputs: tuple, names: tuple[str, ...] | None = None) -> list:
        """Check the number of inputs and convert each to a float array or scalar.

        ``names`` defaults to all of ``input_names``; a gate with a non-float input
        (class labels) converts only its float inputs here.
        """
        names = names or self.input_names
        if len(inputs) != len(names):
            raise self._error(
                GateArityError, "forward",
                f"takes {len(names)} input(s) ({', '.join(names)}), got {len(inputs)}")
        arrays = []
        weak = False
        for name, value in zip(names, inputs):
            kind = type(value)
            # the common cases first: this runs once per gate per step
            if kind in _FLOAT_SCALARS or (kind is np.ndarray and value.dtype in _FLOAT_DTYPES):
                arrays.append(value)
            elif isinstance(value, numbers.Real) and not isinstance(value, np.generic):
                arrays.append(value)
                weak = True
            else:
                arrays.append(self._convert(name, value))
        if weak:
            dtype = _common_float(a for a in arrays if not isinstance(a, numbers.Real)
                                  or isinstance(a, np.generic))
            arrays = [dtype.type(a) if isinstance(a, numbers.Real)
                      and not isinstance(a, np.generic) else a for a in arrays]
        return arrays

    def _convert(self, name: str, value):
        """A numpy array or scalar of another dtype, or a list: to float32/float64."""
        if not isinstance(value, np.ndarray | np.generic):
            try:
                value = np.asarray(value)
            except Exception as exc:  # ragged lists and the like
                raise self._error(
                    GateTypeError, "forward",
                    f"input '{name}' cannot be read as an array: {exc}") from None
        kind = value.dtype.kind
        if kind in _PROMOTED_KINDS:
            return value.astype(np.float64)
        if kind == "f":
            if value.dtype.itemsize < 4 or value.dtype.itemsize > 8:
                raise self._error(GateTypeError, "forward",
                                  f"input '{name}' has dtype {value.dtype}; "
                                  f"use float32 or float64")
            return value
        raise self._error(GateTypeError, "forward",
                          f"input '{name}' has dtype {value.dtype}; expected real numbers")

    def _broadcast(self, method: str, x, y, names=None):
        """The broadcast shape of two inputs, or a GateShapeError naming both."""
        if x.shape == y.shape:
            return x.shape
        try:
            return np.broadcast_shapes(x.shape, y.shape)
        except ValueError:
            a, b = names or self.input_names[:2]
            raise self._error(
                GateShapeError, method,
                f"input '{a}' of shape {shape_text(x.shape)} and input '{b}' of shape "
                f"{shape_text(y.shape)} do not broadcast together") from None

    def _require(self, name: str, shape, ndim: int | tuple, method: str = "forward"):
        ndims = (ndim,) if isinstance(ndim, int) else ndim
        if len(shape) not in ndims:
            want = " or ".join(f"{n}-D" for n in ndims)
            raise self._error(
                GateShapeError, method,
                f"input '{name}' must be {want}, got shape {shape_text(shape)}")

    def _remember_output(self, out, *inputs):
        """Record the output's and inputs' shapes and dtypes, for ``backward`` and ``jvp``
        to check against. Called last in ``forward``, so a forward that raises leaves
        the previous run's cache whole."""
        self._seen = inputs   # the inputs themselves: their shapes and dtypes, on demand
        self._out_shape = out.shape
        self._out_dtype = out.dtype
        return out

    def _upstream(self, upstream):
        """Check that forward ran and the upstream gradient matches the output's shape."""
        shape = getattr(self, "_out_shape", None)
        if shape is None:
            raise self._error(GateStateError, "backward",
                              "called before forward; run forward first")
        if not isinstance(upstream, np.ndarray | np.generic):
            if not isinstance(upstream, numbers.Real):
                try:
                    upstream = np.asarray(upstream, dtype=self._out_dtype)
                except (TypeError, ValueError) as exc:
                    raise self._error(GateTypeError, "backward",
                                      f"upstream gradient is not numeric: {exc}") from None
            else:
                upstream = self._out_dtype.type(upstream)
        elif upstream.dtype.kind not in "fbiu":
            raise self._error(GateTypeError, "backward",
                              f"upstream gradient has dtype {upstream.dtype}")
        if upstream.shape != shape:
            raise self._error(
                GateShapeError, "backward",
                f"upstream gradient has shape {shape_text(upstream.shape)} but the output "
                f"has shape {shape_text(shape)}")
        if upstream.dtype != self._out_dtype:
            upstream = upstream.astype(self._out_dtype)
        return upstream

    def _tangents(self, tangents):
        """Check the tangents for jvp: one per input, ``None`` or the input's shape."""
        if getattr(self, "_out_shape", None) is None:
            raise self._error(GateStateError, "jvp", "called before forward; run forward first")
        if len(tangents) != len(self.input_names):
            raise self._error(
                GateArityError, "jvp",
                f"takes {len(self.input_names)} tangent(s) ({', '.join(self.input_names)}), "
                f"got {len(tangents)}")
        out = []
        for name, t, seen in zip(self.input_names, tangents, self._seen):
            shape = seen.shape
            if t is not None:
                t = np.asarray(t)
                if t.dtype.kind not in "fbiu":
                    raise self._error(GateTypeError, "jvp",
                                      f"tangent for '{name}' has dtype {t.dtype}")
                if t.shape != shape:
                    raise self._error(
                        GateShapeError, "jvp",
                        f"tangent for '{name}' has shape {shape_text(t.shape)} but the input "
                        f"had shape {shape_text(shape)}")
            out.append(t)
        return out

    def _zero_tangent(self):
        return np.zeros(self._out_shape, dtype=self._out_dtype)


def _common_float(arrays) -> np.dtype:
    """float64 unless every array is float32 (Python numbers count as neither)."""
    dtype = None
    for a in arrays:
        if isinstance(a, numbers.Real) and not isinstance(a, np.generic):
            continue
        d = a.dtype
        dtype = d if dtype is None else np.promote_types(dtype, d)
    return dtype if dtype is not None and dtype.kind == "f" else np.dtype(np.float64)
