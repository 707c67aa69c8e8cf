"""The gate contract: the base class :class:`Gate`, which wraps every gate's math in the
plumbing, and the errors it raises.

A gate is an object with three methods (the lecture's ``MultiplyGate``)::

    forward(x, y)       -> z                 caches the local gradients on ``self``
    backward(dz)        -> (dx, dy)          one entry per input: local * upstream
    jvp(tx, ty)         -> tz                forward mode, from the same cache

A built-in gate writes only that math. :class:`Gate` applies everything else once,
around it: the number of inputs, conversion and dtype rules, shape and domain checks,
the cast of the output, the checks of the upstream gradient and of the tangents,
summing each gradient back to its input's shape, and the error messages.
Students implement gates that follow the contract without inheriting from
:class:`Gate`; a class that inherits from it gets the same plumbing for free.
"""

from __future__ import annotations

import functools
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
    "finite_parameter",
]


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


class Gate:
    """Base class of the built-in gates: the plumbing around each gate's math.

    A gate writes only the slide: ``forward`` with one named parameter per input
    (``forward(self, x, y)``) caching on ``self`` what ``backward(self, dz)`` needs,
    ``backward`` returning one gradient per input, and ``jvp(self, tx, ty)``, each with
    the math inline. The rules that are not math go in class attributes and in
    :meth:`check_inputs`. ``__init_subclass__`` wraps the ``forward``, ``backward`` and
    ``jvp`` that each class writes itself, a subclass of a built-in gate included; the
    wrappers do:

    - ``forward``: the number of inputs; each input as a float32 or float64 array or
      numpy scalar (float32/float64 kept; integers, booleans and lists become float64;
      a Python number takes the arrays' dtype, as in numpy; any other dtype is a
      GateTypeError), or as an integer array for an input that is not differentiable
      (class labels; whole floats such as 3.0 accepted); each input's rank
      (``input_ndims``), or else, for all-float inputs, that they broadcast together;
      then :meth:`check_inputs`. The output is cast to the inputs' float dtype (a 0-d
      result becomes a numpy scalar, as numpy's ufuncs give). A forward that raises
      leaves the previous run's cache whole.
    - ``backward``: GateStateError before any forward; the upstream ``dz`` must have
      the output's shape and is cast to its dtype; the gradients (a tuple, or a list
      taken as one) are each summed back to the input's shape where that input was
      broadcast (:func:`unbroadcast`), and cast to its dtype.
    - ``jvp``: the number, shapes and dtypes of the tangents; a ``None`` tangent is
      passed as zeros of its input's shape and dtype (``None`` for a label), so
      ``self.dzdx * tx`` just works; the result gets the output's shape and dtype.

    An override that calls ``super()`` passes through the wrappers twice; that is
    harmless, as the inner one finds everything already converted. Not wrapped: the
    methods of a class whose ``forward`` takes ``*inputs`` and extends no wrapped gate
    (a graph seen as a gate, ``graph.blocks.GraphGate``, does its own checks), and those
    of a class that sets ``plumbing = False``.

    Class attributes: ``input_names`` (default: ``forward``'s parameter names; a
    TypeError at class definition if there are not as many), ``differentiable``
    (``False`` for inputs such as class labels, whose gradient is ``None``), ``kinks``
    (``True`` where the gate has points with no derivative, such as relu at 0),
    ``input_ndims``, ``plumbing``, and the classmethod ``example_inputs(rng)``.
    """

    input_names: tuple[str, ...] = ("x",)
    differentiable: tuple[bool, ...] | None = None
    kinks: bool = False
    #: The rank each input must have (``(2, 1)`` for a matrix and a vector), ``None`` in
    #: an entry for an input of any rank (``(2, None)``). ``None`` for the whole: inputs
    #: of any rank, which must broadcast together if all are floats (an elementwise gate).
    input_ndims: tuple[int | None, ...] | None = None
    #: ``False``: the methods this class writes run exactly as written, without the
    #: wrappers, for gates that must show their mistakes to a checker (the wrappers
    #: would sum a wrong-shaped bias gradient back, or cast a wrong dtype, and so repair
    #: it). An inherited forward keeps its wrapper, and so do an inherited backward and
    #: jvp unless the class writes its own forward. Inherited by subclasses.
    plumbing: bool = True
    #: Set by a caller that needs only some gradients (a graph whose data input needs
    #: none): one flag per input. A gate may then return ``None`` where the flag is
    #: False to save the work; ``None`` here means every gradient is wanted.
    needs_input_grad: tuple[bool, ...] | None = None
    #: Whether the class has rules of its own in check_inputs (set per class).
    _checks_inputs: bool = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # looked up once per class, not once per forward
        cls._checks_inputs = cls.check_inputs is not Gate.check_inputs
        own = cls.__dict__.get("forward")
        names = _positional_names(own, drop_first=True) if own is not None else None
        if names is not None and "input_names" not in cls.__dict__:
            # forward(self, x, y) without input_names: the inputs its signature names
            cls.input_names = names
        if names is None:
            # no forward of its own, or forward(self, *inputs): the inputs of the wrapped
            # forward it extends, if any
            names = getattr(super(cls, cls).forward, "gate_inputs", None)
        if names is None:
            return          # forward(self, *inputs) of its own: it does its own checks
        if len(cls.input_names) != len(names):
            raise TypeError(f"{cls.__name__}: input_names {tuple(cls.input_names)} names "
                            f"{len(cls.input_names)} input(s) but forward takes "
                            f"{len(names)} ({', '.join(names)})")
        # the messages name the inputs as the checker and the graph do
        names = tuple(cls.input_names)
        _check_fits(cls, names)
        if not cls.plumbing:
            if "forward" in cls.__dict__:
                # an inherited wrapped backward or jvp would wait for the record of the
                # run that only a wrapped forward makes: they run as written too
                for method in ("backward", "jvp"):
                    inherited = getattr(cls, method)
                    if method not in cls.__dict__ and hasattr(inherited, "gate_inputs"):
                        setattr(cls, method, inherited.__wrapped__)
            return
        for method, wrap in (("forward", _plumbed_forward), ("backward", _plumbed_backward),
                             ("jvp", _plumbed_jvp)):
            function = cls.__dict__.get(method)
            if inspect.isfunction(function) and not hasattr(function, "gate_inputs"):
                setattr(cls, method, wrap(function, names))

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
        """The output for ``inputs``, caching on ``self`` what backward and jvp need."""
        raise NotImplementedError(f"{type(self).__name__} does not define forward")

    def backward(self, dz):
        """One gradient per input for the upstream gradient ``dz`` (the gradient of the
        final scalar with respect to this gate's output): local gradient times ``dz``."""
        raise NotImplementedError(f"{type(self).__name__} does not define backward")

    def jvp(self, *tangents):
        """Forward mode: the output's tangent for one tangent per input."""
        raise NotImplementedError(f"{type(self).__name__} does not define jvp")

    def check_inputs(self, *inputs):
        """The gate's own shape and domain rules, run on the converted inputs before
        ``forward`` (so a refused input leaves the cache as it was); raise a GateError
        from :meth:`_error`. The default has no rules."""

    def _error(self, cls, method: str, text: str) -> GateError:
        """A ``cls`` error naming the gate and the method: ``AddGate.forward: ...``."""
        return cls(f"{type(self).__name__}.{method}: {text}")


def _check_fits(cls, names):
    """TypeError at class definition where what a class declares or inherits does not
    fit the number of inputs its forward takes: ``input_ndims`` or ``differentiable`` of
    another length, or an inherited ``jvp``/``check_inputs`` written for other inputs
    (a subclass that changed forward's inputs must write those too)."""
    for attribute in ("input_ndims", "differentiable"):
        value = getattr(cls, attribute)
        if value is not None and len(value) != len(names):
            raise TypeError(f"{cls.__name__}: {attribute} {tuple(value)} has {len(value)} "
                            f"entries but forward takes {len(names)} ({', '.join(names)})")
    for method in ("jvp", "check_inputs"):
        if method in cls.__dict__:
            continue
        owner = next(k for k in cls.__mro__ if method in k.__dict__)
        function = owner.__dict__[method]
        if owner is Gate or not inspect.isfunction(function):
            continue
        takes = _positional_names(getattr(function, "__wrapped__", function), True)
        if takes is not None and len(takes) != len(names):
            raise TypeError(f"{cls.__name__}: forward takes {len(names)} input(s) "
                            f"({', '.join(names)}) but {method}, inherited from "
                            f"{owner.__name__}, takes {len(takes)} ({', '.join(takes)}); "
                            f"write {method} for {cls.__name__} too")


# -- the wrappers: each keeps the names of its class's inputs (input_names when the
# class was defined), which an instance or a subclass cannot change under it --------

def _plumbed_forward(forward, names):
    n = len(names)

    @functools.wraps(forward)
    def plumbed(self, *inputs):
        if len(inputs) != n:
            raise _arity_error(self, names, "forward", "input(s)", len(inputs))
        dtype = _ready_dtype(inputs) if self.differentiable is None else None
        if dtype is None:
            inputs, dtype = _prepare(self, names, inputs)
        elif self.input_ndims is not None:
            _check_ndims(self, names, inputs)
        elif n > 1 and (n > 2 or inputs[0].shape != inputs[1].shape):
            _check_broadcast(self, names, inputs)
        if self._checks_inputs:
            self.check_inputs(*inputs)
        # a forward that raises anywhere (check_inputs runs first, but numpy raises too
        # under np.errstate(all="raise")) must leave the last run's cache, which backward
        # still answers for, whole; the copy costs about 0.05 us a call
        saved = self.__dict__.copy()
        try:
            out = forward(self, *inputs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise
        # the common case (a numpy scalar, or an array with axes, of the inputs' dtype)
        # skips the cast: np.asarray and np.shape cost more than the scalar math itself
        if type(out) is dtype.type or (type(out) is np.ndarray and out.dtype is dtype
                                       and out.ndim):
            self._run = (inputs, out.shape, dtype)
            return out
        out = _cast_output(out, dtype)
        self._run = (inputs, np.shape(out), dtype)
        return out
    plumbed.gate_inputs = names
    return plumbed


def _plumbed_backward(backward, names):
    @functools.wraps(backward)
    def plumbed(self, dz):
        try:
            inputs, shape, dtype = self._run
        except AttributeError:
            raise self._error(GateStateError, "backward",
                              "called before forward; run forward first") from None
        if type(dz) not in _READY_TYPES or dz.dtype is not dtype or dz.shape != shape:
            dz = _upstream(self, dz, shape, dtype)
        grads = backward(self, dz)
        if type(grads) is not tuple:
            if type(grads) is not list:
                return grads    # not the contract: left for the caller (the checker) to judge
            grads = tuple(grads)
        if len(grads) != len(inputs):
            return grads
        for g, x in zip(grads, inputs):
            # identity of dtypes is the fast test; _fit_gradient compares them properly
            if g is not None and (type(g) not in _READY_TYPES or g.dtype is not x.dtype
                                  or g.shape != x.shape):
                return tuple(_fit_gradient(g, x) for g, x in zip(grads, inputs))
        return grads
    plumbed.gate_inputs = names
    return plumbed


def _plumbed_jvp(jvp, names):
    @functools.wraps(jvp)
    def plumbed(self, *tangents):
        try:
            inputs, shape, dtype = self._run
        except AttributeError:
            raise self._error(GateStateError, "jvp",
                              "called before forward; run forward first") from None
        if len(tangents) != len(inputs):
            raise _arity_error(self, names, "jvp", "tangent(s)", len(tangents))
        flags = self.differentiable_inputs()
        ready = [_tangent(self, name, t, x, d)
                 for name, t, x, d in zip(names, tangents, inputs, flags)]
        return _fit_tangent(jvp(self, *ready), shape, dtype)
    plumbed.gate_inputs = names
    return plumbed


# -- what the wrappers check and convert; helpers the gates share -----------------

def shape_text(shape) -> str:
    """``(3, 4)`` -> ``'(3, 4)'`` and ``()`` -> ``'() (a scalar)'`` for messages."""
    return f"{tuple(shape)}" + (" (a scalar)" if len(shape) == 0 else "")


def finite_parameter(gate: str, name: str, value) -> float:
    """A gate's constructor parameter as a float, or GateTypeError if it is not a finite
    real number (a NaN scale would turn every output into NaN without a word)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise GateTypeError(f"{gate}: parameter {name} must be a real number, "
                            f"got {value!r}") from None
    if not np.isfinite(number):
        raise GateTypeError(f"{gate}: parameter {name} must be finite, got {number}")
    return number


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


_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
#: what an input, an upstream or a gradient may already be to need no conversion
_READY_TYPES = frozenset((np.ndarray, np.float64, np.float32))
_PROMOTED_KINDS = "biu"


def _arity_error(gate, names, method, what, got):
    return gate._error(GateArityError, method,
                       f"takes {len(names)} {what} ({', '.join(names)}), got {got}")


def _ready_dtype(inputs):
    """The inputs' dtype when they need no conversion: all float64 (or all float32)
    arrays or numpy scalars, else None. This common case is tested first because it
    runs once per gate per step (it saves about 1 us an affine layer); identity of
    numpy's dtype singletons is the cheap test (a dtype equal but not identical takes
    the slow path)."""
    first = inputs[0]
    if type(first) not in _READY_TYPES:
        return None
    dtype = first.dtype
    if dtype is not _F64 and dtype is not _F32:
        return None
    for v in inputs[1:]:
        if type(v) not in _READY_TYPES or v.dtype is not dtype:
            return None
    return dtype


def _prepare(gate, names, inputs):
    """The inputs as forward takes them, and the common float dtype of the
    differentiable ones: each converted (floats, or integers for labels), then
    checked against ``input_ndims``, or else for broadcasting."""
    arrays, weak, dtype = [], [], None
    for i, (name, v, d) in enumerate(zip(names, inputs, gate.differentiable_inputs())):
        if not d:
            v = _as_integers(gate, name, v)
        elif type(v) not in _READY_TYPES and isinstance(v, numbers.Real) \
                and not isinstance(v, np.generic):
            weak.append(i)
        else:
            if type(v) not in _READY_TYPES or (v.dtype is not _F64 and v.dtype is not _F32):
                v = _as_float(gate, name, v)
            dtype = v.dtype if dtype is None or v.dtype is dtype \
                else np.promote_types(dtype, v.dtype)
        arrays.append(v)
    if dtype is None:
        dtype = _F64
    # Python numbers are weakly typed, as in numpy: they take the arrays' dtype
    for i in weak:
        arrays[i] = dtype.type(arrays[i])
    if gate.input_ndims is not None:
        _check_ndims(gate, names, arrays)
    elif len(arrays) > 1 and gate.differentiable is None:
        _check_broadcast(gate, names, arrays)
    return tuple(arrays), dtype


def _as_float(gate, name, value):
    """``value`` (not a Python number) as a float32/float64 array or numpy scalar."""
    if not isinstance(value, np.ndarray | np.generic):
        try:
            value = np.asarray(value)
        except Exception as exc:  # ragged lists and the like
            raise gate._error(GateTypeError, "forward",
                              f"input '{name}' cannot be read as an array: {exc}") from None
    kind = value.dtype.kind
    if kind in _PROMOTED_KINDS:
        return value.astype(np.float64)
    if kind == "f":
        if value.dtype.itemsize < 4 or value.dtype.itemsize > 8:
            raise gate._error(GateTypeError, "forward",
                              f"input '{name}' has dtype {value.dtype}; use float32 or float64")
        return value
    raise gate._error(GateTypeError, "forward",
                      f"input '{name}' has dtype {value.dtype}; expected real numbers")


def _as_integers(gate, name, value):
    """An input that is not differentiable (class labels): an integer array; whole
    floats such as 3.0 are accepted."""
    labels = np.asarray(value)
    if labels.dtype.kind == "f":
        if not np.all(np.isfinite(labels)) or not np.all(labels == np.round(labels)):
            raise gate._error(GateTypeError, "forward",
                              f"input '{name}' must hold whole class numbers, got "
                              f"fractional or non-finite values")
        return labels.astype(np.intp)
    if labels.dtype.kind not in "iu":
        raise gate._error(GateTypeError, "forward",
                          f"input '{name}' must be integer classes, got dtype {labels.dtype}")
    return labels


def _check_ndims(gate, names, inputs):
    for name, a, ndim in zip(names, inputs, gate.input_ndims):
        if ndim is not None and a.ndim != ndim:
            raise gate._error(GateShapeError, "forward", f"input '{name}' must be {ndim}-D, "
                                                         f"got shape {shape_text(a.shape)}")


def _check_broadcast(gate, names, inputs):
    """Inputs of no fixed rank (an elementwise gate's) must broadcast together."""
    first = inputs[0].shape
    for name, a in zip(names[1:], inputs[1:]):
        if a.shape == first:
            continue
        try:
            np.broadcast_shapes(first, a.shape)
        except ValueError:
            raise gate._error(
                GateShapeError, "forward",
                f"input '{names[0]}' of shape {shape_text(first)} and input "
                f"'{name}' of shape {shape_text(a.shape)} do not broadcast together") from None


def _cast_output(out, dtype):
    """The output in the inputs' float dtype, a 0-d result as a numpy scalar (as numpy's
    own ufuncs give); a non-numeric output is left for the caller to judge."""
    array = np.asarray(out)
    if array.dtype.kind not in "biuf":
        return out
    if array.dtype != dtype:
        array = array.astype(dtype)
    return array[()] if array.ndim == 0 else array


def _upstream(gate, upstream, shape, dtype):
    """The upstream gradient as an array of the output's shape and dtype."""
    if not isinstance(upstream, np.ndarray | np.generic):
        if not isinstance(upstream, numbers.Real):
            try:
                upstream = np.asarray(upstream, dtype=dtype)
            except (TypeError, ValueError) as exc:
                raise gate._error(GateTypeError, "backward",
                                  f"upstream gradient is not numeric: {exc}") from None
        else:
            upstream = dtype.type(upstream)
    elif upstream.dtype.kind not in "fbiu":
        raise gate._error(GateTypeError, "backward",
                          f"upstream gradient has dtype {upstream.dtype}")
    if upstream.shape != shape:
        raise gate._error(
            GateShapeError, "backward",
            f"upstream gradient has shape {shape_text(upstream.shape)} but the output "
            f"has shape {shape_text(shape)}")
    return upstream.astype(dtype) if upstream.dtype != dtype else upstream


def _fit_gradient(grad, like):
    """``grad`` summed back to the shape of the input ``like`` where that input was
    broadcast, in ``like``'s dtype. ``None``, and anything that is no such gradient (a
    shape that is not a broadcast of the input's, a non-numeric array), is returned
    as is, for the caller (the checker) to judge."""
    if grad is None or (type(grad) in _READY_TYPES and grad.shape == like.shape
                        and grad.dtype == like.dtype):
        return grad
    array = np.asarray(grad)
    if array.dtype.kind not in "biuf":
        return grad
    shape = like.shape
    if array.shape != shape:
        try:
            if np.broadcast_shapes(array.shape, shape) != array.shape:
                return grad
        except ValueError:
            return grad
        array = unbroadcast(array, shape)
    return array.astype(like.dtype) if array.dtype != like.dtype else array


def _tangent(gate, name, t, like, differentiable):
    """One checked tangent; zeros of the input's shape and dtype for ``None``."""
    if t is None:
        return np.zeros(like.shape, like.dtype) if differentiable else None
    t = np.asarray(t)
    if t.dtype.kind not in "fbiu":
        raise gate._error(GateTypeError, "jvp", f"tangent for '{name}' has dtype {t.dtype}")
    if t.shape != like.shape:
        raise gate._error(GateShapeError, "jvp",
                          f"tangent for '{name}' has shape {shape_text(t.shape)} but the "
                          f"input had shape {shape_text(like.shape)}")
    return t


def _fit_tangent(out, shape, dtype):
    """The output's tangent with the output's shape and dtype (a sum of broadcast
    terms such as a bias tangent gets the output's shape)."""
    array = np.asarray(out)
    if array.dtype.kind not in "biuf":
        return out
    if array.shape != shape:
        try:
            array = np.broadcast_to(array, shape).copy()
        except ValueError:
            return out
    if array.dtype != dtype:
        array = array.astype(dtype)
    return array[()] if array.ndim == 0 else array


# -- the names of a forward's inputs, read from its signature ----------------------

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
