"""The file students complete, generated from the gate registry; and the reference
solution written out as a submission (to check a grading set-up end to end).

:func:`skeleton_source` writes one class per gate, named as in ``gates.ALL_GATES``,
with the contract's signatures (``forward(self, x, y)`` from ``input_names``,
``__init__`` from the reference constructor, e.g. ``ScaleGate(k)``, ``SumGate(axis)``),
a docstring with the forward formula (``gates.facts.FACTS[name].formula``; the local
gradients are the student's job), what to cache on ``self`` (input shapes included
where an input may be broadcast or reduced), the shape rules, and bodies that raise
``NotImplementedError``. It imports only numpy and runs as is.

:func:`solution_source` writes the reference modules (base, arithmetic, ...) out as one
standalone file that reads as the teachers' model answer: a header saying what it is,
one import block, then the ``Gate`` base class and each gate family under a heading,
as written in the package: a submission that imports only numpy and deserves 100%.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import sys
import textwrap

import numpy as np

import gates as reference
from gates.facts import FACTS

HEADER = '''"""Gates of a computational graph: implement forward and backward for each class.

Rules (the autograder checks each of them):
- forward(*inputs) takes numpy arrays (always np.ndarray, also 0-d ones such as
  np.array(2.0), never Python floats), returns ONE array, and stores on self what
  backward needs (the local gradients, or the inputs to compute them from, and the
  input shapes wherever an input may be broadcast or reduced).
- backward(dz) takes the upstream gradient dz (same shape as forward's output) and
  returns a TUPLE with one gradient per input, each with exactly that input's shape
  (an input that was broadcast gets dz summed back to its shape), or None for an
  input that is not differentiable (class labels).
- backward may be called several times after one forward and must give the same
  answer each time: do not change what you cached.
- Never change an input in place (no x += ..., x[...] = ... on an input).
- float32 inputs give float32 outputs and gradients; float64 stays float64.
- Import only numpy. Autodiff libraries (torch, jax, autograd, ...) earn no credit.
{jvp_rule}"""

import numpy as np
'''

_JVP_RULE = ("- jvp(*tangents) (forward mode) returns the output's tangent for one tangent\n"
             "  per input (None means zero), from the same cache as backward.\n")


def forward_formula(cls) -> str:
    """The gate's forward formula from its facts row (``z = x * y``), which says nothing
    of the gradient; a gate without a row gets a plain description."""
    facts = FACTS.get(cls.__name__)
    return facts.formula + "." if facts else f"the {cls.__name__[:-4].lower()} operation"


def _cached(cls) -> list[str]:
    """Public attributes a reference instance holds after forward: what it caches."""
    gate = cls.example_gate()
    before = set(vars(gate))
    gate.forward(*cls.example_inputs(np.random.default_rng(0)))
    return sorted(k for k in vars(gate) if not k.startswith("_") and k not in before)


def _init_params(cls) -> list[inspect.Parameter]:
    if cls.__init__ is object.__init__:
        return []
    return list(inspect.signature(cls.__init__).parameters.values())[1:]


def _output_shape(cls) -> tuple[list, tuple]:
    gate = cls.example_gate()
    inputs = cls.example_inputs(np.random.default_rng(0))
    return [np.shape(a) for a in inputs], np.shape(gate.forward(*inputs))


def _broadcasts(shapes, out_shape) -> bool:
    if len(shapes) != 2 or len(set(shapes)) == 1:
        return False
    try:
        return np.broadcast_shapes(*shapes) == out_shape
    except ValueError:
        return False


def _resized_inputs(cls, names) -> tuple[list[str], str]:
    """The inputs whose shape the output may not have in the hidden cases, and how:
    ``"broadcast"`` (two inputs of different shapes) or ``"reduced"`` (an axis summed)."""
    facts = FACTS.get(cls.__name__)
    specs = facts.cases if facts else []
    if any("axis" in params for _, params in specs):
        return list(names), "reduced"
    elementwise = facts is not None and facts.output_ndim == "same"
    if len(names) == 2 and elementwise and any(len(set(shapes)) > 1 for shapes, _ in specs):
        return list(names), "broadcast"
    return [], ""


def _cache_advice(cls, names) -> str:
    """What a gate must keep on self for backward: what the reference caches, and the
    shapes of inputs that broadcasting or a reduction may change."""
    resized, how = _resized_inputs(cls, names)
    shapes = {f"{n}_shape" for n in resized}
    items = [f"self.{c}" for c in _cached(cls) if c not in shapes]
    items += [f"{n}'s shape (self.{n}_shape = np.shape({n}))" for n in resized]
    if not items:
        return "Cache on self: whatever backward needs."
    why = {"broadcast": ": backward sums dz back to each input's shape",
           "reduced": ": backward spreads dz back over x's shape", "": ""}[how]
    return "Cache on self: " + ", ".join(items) + why + "."


def gate_skeleton(cls, jvp: bool = False) -> str:
    """The source of one skeleton class for the reference class ``cls``."""
    names = list(cls.input_names)
    params = _init_params(cls)
    shapes, out_shape = _output_shape(cls)
    diff = cls.example_gate().differentiable_inputs()
    example = cls.example_gate()
    doc = [forward_formula(cls), ""]
    example_text = ", ".join(f"{n} {s}" for n, s in zip(names, shapes))
    doc.append(f"Example shapes: {example_text} -> output {out_shape}.")
    if _broadcasts(shapes, out_shape):
        doc.append("The two inputs broadcast like numpy (e.g. x (3, 4) with y (4,)).")
    doc.append(_cache_advice(cls, names))
    if params:
        values = ", ".join(f"{p.name}={getattr(example, p.name, '?')!r}" for p in params)
        doc.append(f"Constructor parameters, stored on self: {values} for example"
                   + (" (axis: None = every axis, an int, or a tuple of ints)."
                      if any(p.name == "axis" for p in params) else "."))
    lines = [f"class {cls.__name__}:"]
    lines.append(textwrap.fill(doc[0], 88, initial_indent='    """', subsequent_indent="    "))
    lines += [textwrap.fill(d, 88, initial_indent="    ", subsequent_indent="    ") if d else ""
              for d in doc[1:]] + ['    """', ""]
    if params:
        sig = ", ".join(str(p).split(":")[0].replace(" ", "") for p in params)
        lines.append(f"    def __init__(self, {sig}):")
        lines += [f"        self.{p.name} = {p.name}" for p in params]
        lines.append("")
    grads = ", ".join(f"d{n}" if d else "None" for n, d in zip(names, diff))
    lines += [
        f"    def forward(self, {', '.join(names)}):",
        '        """Compute and return the output; cache what backward needs on self."""',
        "        raise NotImplementedError",
        "",
        "    def backward(self, dz):",
        f'        """Return ({grads}{"," if len(names) == 1 else ""}): one gradient per input, '
        f'each of its input\'s shape."""',
        "        raise NotImplementedError",
    ]
    if jvp:
        lines += ["",
                  f"    def jvp(self, {', '.join('t' + n for n in names)}):",
                  '        """Forward mode: the output\'s tangent (None tangent = zero)."""',
                  "        raise NotImplementedError"]
    return "\n".join(lines) + "\n"


def skeleton_source(classes=None, jvp: bool = False) -> str:
    """The whole student file for ``classes`` (default every gate of ``gates.ALL_GATES``)."""
    classes = list(classes or reference.ALL_GATES)
    parts = [HEADER.format(jvp_rule=_JVP_RULE if jvp else "")]
    parts += ["\n" + gate_skeleton(cls, jvp) for cls in classes]
    return "\n".join(parts)


def _module_order(classes) -> list:
    """The reference modules the classes live in, each after the modules it imports."""
    order, seen = [], set()

    def visit(module):
        if module.__name__ in seen:
            return
        seen.add(module.__name__)
        tree = ast.parse(inspect.getsource(module))
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                visit(importlib.import_module(f"{module.__package__}.{node.module}"))
        order.append(module)

    for cls in classes:
        visit(inspect.getmodule(cls))
    return order


SOLUTION_HEADER = """\
# compgraph's reference gates written out as one submission: the teachers' model
# answer. It imports only numpy and the standard library, and the grader gives it 100%.
#
# Each gate below writes only the slide's math: forward caches the local gradients,
# backward multiplies them by the upstream gradient dz, jvp by the tangents. The gates
# rely on the Gate base class (the first section) for the rest: converting the inputs,
# checking their shapes and domains, casting to the inputs' dtype, and summing each
# gradient back to its input's shape where the input was broadcast (unbroadcast).
"""

#: Sphinx roles (:class:`gates.base.Gate`) and double backticks, as plain comment text
_MARKUP = re.compile(r":\w+:`~?(?:gates\.base\.)?([^`]+)`|``([^`]+)``")


def _comment(text: str) -> list[str]:
    """A docstring as comment lines, its reST markup made plain and its paragraphs
    refilled (indented blocks are kept as they are)."""
    text = _MARKUP.sub(lambda m: f"`{m.group(1) or m.group(2)}`", text)
    text = text.replace("gates.base.Gate", "the Gate class above").replace("gates.base.", "")
    text = re.sub(r"::$", ":", text, flags=re.M)
    paragraphs = [p if p.startswith(" ") else textwrap.fill(" ".join(p.split()), 86)
                  for p in text.split("\n\n")]
    return [f"# {line}".rstrip() for line in "\n\n".join(paragraphs).splitlines()]


def _bound_names(node) -> set[str]:
    """The names a top-level statement defines."""
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
        return {node.name}
    if isinstance(node, ast.Import | ast.ImportFrom):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    targets = node.targets if isinstance(node, ast.Assign) else \
        [node.target] if isinstance(node, ast.AnnAssign) else []
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _used_names(node) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Load)}


def _import_lines(imports) -> list[str]:
    """Imports merged and deduplicated, standard library first, then the others (numpy),
    as PEP 8 groups them."""
    plain, froms = set(), {}
    for node in imports:
        if isinstance(node, ast.Import):
            plain.update((a.name, a.asname) for a in node.names)
        else:
            froms.setdefault(node.module, set()).update((a.name, a.asname) for a in node.names)

    def spelled(name, alias):
        return f"{name} as {alias}" if alias else name

    groups = {True: [], False: []}         # standard library or not
    for name, alias in sorted(plain):
        groups[name.split(".")[0] in sys.stdlib_module_names].append(
            f"import {spelled(name, alias)}")
    for module, names in sorted(froms.items()):
        groups[module.split(".")[0] in sys.stdlib_module_names].append(
            f"from {module} import {', '.join(spelled(*n) for n in sorted(names))}")
    return groups[True] + ([""] if groups[True] and groups[False] else []) + groups[False]


def solution_source(classes=None) -> str:
    """The reference gates as one standalone submission (imports numpy and stdlib only).

    A header says what the file is; then one import block, every module's imports
    merged; then one section per module, the base class first, each headed by the
    module's docstring as a comment and holding the module's code as written, its
    imports and ``__all__`` left out, and of ``gates.base`` only what the file uses
    (not the helpers it keeps for the checker and the graph).
    """
    classes = list(classes or reference.ALL_GATES)
    parsed = []
    for module in _module_order(classes):
        source = inspect.getsource(module)
        parsed.append((module, source.splitlines(), ast.parse(source)))
    imports, kept = [], {}
    for _, _, tree in parsed:
        for k, node in enumerate(tree.body):
            if k == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
                continue                                     # the docstring: the heading
            if isinstance(node, ast.Import | ast.ImportFrom):
                if isinstance(node, ast.Import) or (node.level == 0
                                                    and node.module != "__future__"):
                    imports.append(node)
                continue
            if _bound_names(node) == {"__all__"}:
                continue
            kept[id(node)] = node
    # the functions and classes of gates.base that nothing in the file uses (the helpers
    # for the checker and the graph), dropped until none is left
    base = [node for module, _, tree in parsed if module is reference.base
            for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)]
    while True:
        used = {name for node in kept.values() for name in _used_names(node)}
        unused = [node for node in base if id(node) in kept and not _bound_names(node) & used]
        if not unused:
            break
        for node in unused:
            del kept[id(node)]
    used = {name for node in kept.values() for name in _used_names(node)}
    imports = [node for node in imports if _bound_names(node) & used]
    out = SOLUTION_HEADER.splitlines() + ["", "from __future__ import annotations", ""]
    out += _import_lines(imports)
    for module, lines, tree in parsed:
        doc = f"{module.__name__}: {ast.get_docstring(tree) or ''}".strip()
        out += ["", "", "# " + "=" * 86, *_comment(doc), "# " + "=" * 86]
        previous_end = 0
        for node in tree.body:
            if id(node) in kept:
                # a statement keeps the comments and blank lines written just above it
                out += lines[previous_end:node.end_lineno]
            previous_end = node.end_lineno
    text = "\n".join(out).strip("\n") + "\n"
    return re.sub(r"\n{4,}", "\n\n\n", text)
