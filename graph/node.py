"""A vertex of a :class:`graph.Graph`, and how a parameter's value is stored.

A node's structure (name, kind, gate, inputs) is fixed when it is built: rewiring a
node could make a cycle. Its ``value`` is set by the graph's runs, by feeding an
input, or by assigning a parameter.

Why parameters are stored read-only. Incremental update recomputes only what is
downstream of a change, so the graph must see every change of a parameter. An edit in
place (``W.value[0] = 1``, ``W.value += 1``, an optimizer writing into the array)
would go unseen, so the stored array is read-only (a 0-d parameter is an immutable
numpy scalar) and such edits raise; a change is an assignment, ``W.value = new``,
which marks the node changed. ``W.value`` shows the array through a
:class:`ParamArray` view, which behaves as the array does but says, when changed in
place, which parameter it is and what to write instead (numpy would only say "output
array is read-only"). The graph's own runs use the stored array, not the view.

Why the assigned array is sometimes kept instead of copied. Locking is only safe if
nobody else can still write to the array: a caller's other name for it, or a
writeable view of it made earlier. Every such alias holds a reference (a view
references its base), so an array whose reference count is that of a bare temporary
has none, and locking it is as safe as locking a copy. Optimizers assign fresh results
(``W.value = W.value - lr * W.grad``), so this saves a copy of every parameter at every
step (about 20 us a step for the 784-256-128-10 net). The count a temporary has
inside the setter is measured once at import (:data:`_TEMPORARY_REFS`) rather than
assumed, because it differs between CPython versions. A miscount can only err one
way: when in doubt the setter copies. (On an interpreter that lends stack references
the caller's own array could be kept and locked: then writing to it raises, it is
still never changed unseen.)

A node and its graph are the two halves of the core (:mod:`graph.core`). The node's
operators come from :class:`graph.ops.Operators` (``a + b`` is ``g.apply(AddGate(), a,
b)``), and feeding an input's ``value`` is ``g.feed``; only two
private calls cross: assigning a parameter tells the graph (``_mark_changed``) and
``stale`` asks it to pass changes on first (``_propagate``).
"""

from __future__ import annotations

import sys

import numpy as np

from gates.facts import facts_of

from .errors import GraphReadOnlyError, GraphShapeError, GraphStateError
from .ops import Operators

__all__ = ["Node", "ParamArray"]


class Node(Operators):
    """One vertex of a :class:`Graph`.

    Attributes: ``name`` (unique in the graph), ``kind`` (``"input"``, ``"param"``,
    ``"constant"`` or ``"op"``), ``gate`` (the gate instance of an op node, ``None`` for
    leaves), ``inputs`` (tuple of the nodes the gate reads), ``graph``, ``value``
    (``None`` until computed or fed) and ``grad`` (dL/dnode of the last ``backward``,
    ``None`` if it got none).

    ``value`` is the value of the last run that computed the node; after an input or
    parameter changed it can be out of date until the next ``forward`` (``stale``
    says so). Setting ``value`` is allowed on inputs (same as feeding) and parameters
    (stored read-only in the parameter's dtype; the shape must match; see the module
    docstring).

    A 0-d parameter is stored as a numpy scalar (immutable, and faster in gates).

    Operators build new nodes: ``+ - * /``, ``**`` (a number exponent), unary ``-``
    and ``@`` (matrix-vector when the right side is 1-D, else matrix-matrix).
    Numbers and arrays on either side become constants.
    """

    __slots__ = ("_name", "_kind", "_gate", "_inputs", "_graph", "_value", "grad", "_dirty",
                 "_needs", "_index", "_differentiable", "_shape_spec", "_used", "_set_at",
                 "__weakref__")

    def __init__(self, graph, name, kind, gate=None, inputs=(), value=None,
                 differentiable=True, shape_spec=None):
        self._graph = graph
        self._name = name
        self._kind = kind
        self._gate = gate
        self._inputs = inputs
        self._value = value
        self.grad = None
        self._dirty = kind == "op"
        self._differentiable = differentiable
        self._shape_spec = None if shape_spec is None else tuple(
            None if s is None else int(s) for s in shape_spec)
        self._used = False
        self._set_at = 0
        # does any differentiable input or parameter lie upstream (a gradient is wanted)?
        if kind == "op":
            self._needs = any(n._needs for n in inputs)
            for n in inputs:
                n._used = True      # not an output of the graph any more
        else:
            self._needs = kind == "param" or (kind == "input" and differentiable)

    # -- structure (read-only: rewiring a node could make a cycle) ---------------------

    name = property(lambda self: self._name, doc="The node's name, unique in its graph.")
    kind = property(lambda self: self._kind, doc='"input", "param", "constant" or "op".')
    gate = property(lambda self: self._gate, doc="The gate instance of an op node, else None.")
    inputs = property(lambda self: self._inputs, doc="The nodes the gate reads (a tuple).")
    graph = property(lambda self: self._graph, doc="The graph the node belongs to.")
    differentiable = property(lambda self: self._differentiable,
                              doc="False for an input made with differentiable=False.")
    shape_spec = property(lambda self: self._shape_spec,
                          doc="The declared shape of an input (None: not declared).")

    # -- value -----------------------------------------------------------------------

    @property
    def value(self):
        """The node's value (see the class docstring for when it is out of date); a
        parameter's array is shown read-only (:class:`ParamArray`)."""
        value = self._value
        if self._kind == "param" and type(value) is np.ndarray:
            view = value.view(ParamArray)
            view._param = self._name
            return view
        return value

    @value.setter
    def value(self, new):
        if self._kind == "param":
            old = self._value
            if (type(new) is np.ndarray and new.base is None and new.flags.writeable
                    and new.dtype == old.dtype and new.shape == old.shape
                    and new.ndim and sys.getrefcount(new) <= _TEMPORARY_REFS):
                # a fresh array nobody else references (``W.value = W.value - lr * g``):
                # no other name and no view (a view references its base) can write to
                # it, so locking it is as safe as a copy and saves one per step
                new.flags.writeable = False
                self._value = new
            else:
                self._value = _param_array(self, new, old)
            self._graph._mark_changed(self)
        elif self._kind == "input":
            self._graph.feed({self: new})
        else:
            raise GraphStateError(
                f"node '{self.name}' is {'an op' if self.kind == 'op' else 'a constant'}: "
                f"its value cannot be set; feed an input or set a parameter instead")

    @property
    def set_at(self) -> int:
        """The graph's ``version`` when this input or parameter last got a new value."""
        return self._set_at

    @property
    def stale(self) -> bool:
        """True if an input or parameter upstream changed since this node was computed."""
        self.graph._propagate()
        return self._dirty

    @property
    def shape(self):
        """The shape of the current value (the declared shape of an unfed input)."""
        if self._value is None:
            return self.shape_spec
        return np.shape(self._value)

    def known_ndim(self, depth: int = 0):
        """The number of axes of the value if it can be told before running: from the
        value, the declared shape, or the gate's ``output_ndim`` in :mod:`gates.facts`
        (``None`` if not, or if that needs a search deeper than 100 gates)."""
        if depth > 100:
            return None
        if self._value is not None:
            return np.ndim(self._value)
        if self._shape_spec is not None:
            return len(self._shape_spec)
        facts = None if self._gate is None else facts_of(self._gate)
        if facts is None or facts.output_ndim is None:
            return None
        if facts.output_ndim != "same":
            return facts.output_ndim
        dims = [i.known_ndim(depth + 1) for i in self._inputs]
        return None if None in dims else max(dims)

    def __repr__(self):
        what = self.kind if self.gate is None else f"op {type(self.gate).__name__}"
        args = "" if not self.inputs else "(" + ", ".join(n.name for n in self.inputs) + ")"
        return f"<Node '{self.name}': {what}{args}>"

class ParamArray(np.ndarray):
    """A parameter's array as ``node.value`` shows it: the same numbers, the same
    read-only memory, and the same behaviour as the plain array, except that changing it
    in place (``W.value -= lr * W.grad``, ``W.value[0] = 1``, ``np.add(..., out=...)``,
    ``fill``, ``sort``, ``put``) raises :class:`GraphReadOnlyError` naming the parameter
    and saying what to write. Arithmetic on it (ufuncs, ``@``) gives plain arrays, and
    it pickles as one; views and copies keep the class (a copy is writeable and then
    behaves exactly as a plain array)."""

    _param = None

    def __array_finalize__(self, obj):
        self._param = getattr(obj, "_param", None)

    def _refuse(self):
        name = self._param or "W"
        raise GraphReadOnlyError(
            f"parameter '{name}' cannot be changed in place: the graph would not see it. "
            f"Assign a new array instead, e.g. {name}.value = {name}.value - lr * "
            f"{name}.grad (or use an optimizer from graph.optim)")

    def __setitem__(self, key, value):
        if not self.flags.writeable:
            self._refuse()
        super().__setitem__(key, value)

    def fill(self, value):
        if not self.flags.writeable:
            self._refuse()
        super().fill(value)

    def sort(self, *args, **kwargs):
        if not self.flags.writeable:
            self._refuse()
        super().sort(*args, **kwargs)

    def put(self, *args, **kwargs):
        if not self.flags.writeable:
            self._refuse()
        super().put(*args, **kwargs)

    def __reduce__(self):
        return _plain(self).__reduce__()

    def __array_ufunc__(self, ufunc, method, *inputs, out=None, **kwargs):
        if out is not None:
            if any(isinstance(o, ParamArray) and not o.flags.writeable for o in out):
                self._refuse()
            kwargs["out"] = tuple(_plain(o) for o in out)
        return getattr(ufunc, method)(*(_plain(x) for x in inputs), **kwargs)

    def __repr__(self):
        return repr(_plain(self))


def _plain(x):
    return x.view(np.ndarray) if isinstance(x, ParamArray) else x


def _param_array(node, new, old):
    """``new`` as a read-only copy with the dtype and shape of parameter ``node``."""
    if isinstance(new, Node):
        raise GraphShapeError(f"parameter '{node.name}': a value must be an array, not a node")
    arr = np.asarray(new)
    if arr.dtype.kind not in "fiub":
        raise GraphShapeError(f"parameter '{node.name}': value of dtype {arr.dtype} is not "
                              f"real numbers")
    if old is not None and arr.shape != old.shape:
        raise GraphShapeError(f"parameter '{node.name}' has shape {old.shape}; cannot set a "
                              f"value of shape {arr.shape}")
    dtype = old.dtype if old is not None else _float_dtype(arr)
    # a private copy: nobody else holds a writeable view of it
    arr = np.array(arr, dtype=dtype, copy=True)
    if arr.ndim == 0:
        return arr[()]      # a numpy scalar: immutable, and gates run faster on it
    arr.flags.writeable = False
    return arr


class _RefProbe:
    """Measures how many references a temporary has inside a property setter (the
    interpreter's own, which differ between Python versions)."""

    refs = 0

    @property
    def value(self):
        return None

    @value.setter
    def value(self, new):
        _RefProbe.refs = sys.getrefcount(new)


_probe = _RefProbe()
_probe.value = np.empty(1) + 0      # a temporary, as in ``W.value = W.value - lr * g``
#: references of an array that only the assignment itself holds
_TEMPORARY_REFS = _RefProbe.refs
del _probe


def _float_dtype(value) -> np.dtype:
    """The dtype of ``value`` if it is floating, else float64 (the dtype of its gradient)."""
    dtype = np.asarray(value).dtype
    return dtype if dtype.kind == "f" else np.dtype(np.float64)
