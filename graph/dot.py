"""Graphviz drawings of a graph, in the lecture's two forms, with values and gradients.

* **full**: variable nodes (ellipses) and gate nodes (circles with the gate's symbol):
  a -> (+) -> c. Constants such as the 1 in b + 1 are small plain labels.
* **reduced**: the gates collapsed, only variables, each edge labelled with its local
  derivative (∂c/∂a = 1): the form on which the lecture sums over paths.

Every variable shows its name, its value (green) and the gradient of the output with
respect to it (red), as in CS231n's circuit diagrams. :func:`to_dot` returns the DOT
text; :func:`write` saves it and, when Graphviz's ``dot`` program is installed,
renders it to SVG or PNG.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np

from .explain import gate_label, show
from .paths import fmt, local_derivatives

__all__ = ["FORMS", "to_dot", "write", "render", "DotFiles"]

FORMS = ("full", "reduced")
_RENDERED = (".svg", ".png", ".pdf")


def _quoted(text: str) -> str:
    """``text`` for a DOT "quoted" label: quotes and <>& escaped, and backslashes
    doubled (dot reads \\l, \\N, ... in them as commands)."""
    return escape(text).replace("\\", "\\\\")


def _variable(node_id: str, node, is_output: bool, grads: bool) -> str:
    rows = [f"<b>{escape(node.name)}</b>"]
    stale = node.gate is not None and node.stale
    if stale:
        # computed from inputs that have changed since: an old number would mislead
        rows.append('<font color="gray">out of date</font>')
    elif node.value is not None:
        rows.append(f'<font color="darkgreen">{escape(show(node.value))}</font>')
    if grads and node.grad is not None:
        rows.append(f'<font color="red">∇ {escape(show(node.grad))}</font>')
    style = ', style=filled, fillcolor="#eeeeee"' if node.gate is None else ""
    if stale:
        style = ", style=dashed"
    border = ", peripheries=2" if is_output else ""
    return f'  {node_id} [shape=ellipse, label=<{"<br/>".join(rows)}>{style}{border}];'


def to_dot(graph, output=None, form: str = "full") -> str:
    """The DOT text of ``graph`` in the ``"full"`` or ``"reduced"`` form.

    ``output`` (a node or name; default the graph's last output) gets a double border. Values
    and gradients are those of the last forward and backward passes (left out when
    there are none). A node out of date since an input or parameter changed is drawn
    dashed and marked "out of date" instead of showing its old value, and gradients
    are shown only if ``backward`` ran after the last change. The reduced form labels
    each edge with its local derivative on a scalar graph that has been run forward
    (not on edges into a node out of date). Raises ValueError for another form.
    """
    if form not in FORMS:
        raise ValueError(f"unknown DOT form {form!r}; use one of {FORMS}")
    nodes = list(graph.nodes)
    if output is None and nodes:
        # the last op node nothing depends on; a constant made after it is no output
        output = (graph.outputs or nodes)[-1]
    out = None if output is None else graph._own(output, "to_dot")
    ids = {id(n): f"n{i}" for i, n in enumerate(nodes)}
    ran = all(n.value is not None for n in nodes)
    # gradients of a backward run before the last change belong to other values
    grads = graph.grads_current
    scalar = ran and all(np.ndim(n.value) == 0 for n in nodes)
    lines = [f'digraph "{form}" {{', "  rankdir=LR;",
             '  node [fontname="Helvetica"]; edge [fontname="Helvetica", fontsize=11];']
    for n in nodes:
        nid = ids[id(n)]
        if n.kind == "constant":
            if form == "full":
                lines.append(f'  {nid} [shape=plaintext, label="{_quoted(show(n.value))}"];')
            continue
        lines.append(_variable(nid, n, n is out, grads))
        if n.gate is None:
            continue
        # a node whose inputs changed since the last run has no current local derivatives
        local = local_derivatives(n) if scalar and not n.stale else (None,) * len(n.inputs)
        if form == "full":
            gid = f"g{ids[id(n)][1:]}"
            lines.append(f'  {gid} [shape=circle, label="{_quoted(gate_label(n.gate))}"];')
            lines += [f"  {ids[id(inp)]} -> {gid};" for inp in n.inputs]
            lines.append(f"  {gid} -> {nid};")
        else:
            for inp, d in zip(n.inputs, local):
                if inp.kind == "constant":
                    continue
                label = "" if d is None else (
                    f' [label="∂{_quoted(n.name)}/∂{_quoted(inp.name)} = {fmt(d)}"]')
                lines.append(f"  {ids[id(inp)]} -> {nid}{label};")
    lines.append("}")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class DotFiles:
    """What :func:`write` produced: the ``.dot`` file, the rendered picture (None when
    Graphviz is missing) and a one-line ``message`` saying which."""

    dot: Path
    rendered: Path | None
    message: str


def render(dot_file, picture) -> Path:
    """Run Graphviz's ``dot`` on ``dot_file``, writing ``picture`` (format from its
    suffix: .svg, .png or .pdf). Raises FileNotFoundError when ``dot`` is not
    installed and RuntimeError with dot's message when it fails."""
    exe = shutil.which("dot")
    if exe is None:
        raise FileNotFoundError("Graphviz's 'dot' program is not installed "
                                "(Debian/Ubuntu: apt-get install graphviz)")
    picture = Path(picture)
    done = subprocess.run([exe, f"-T{picture.suffix[1:]}", str(dot_file), "-o", str(picture)],
                          capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"dot failed on {dot_file}: {done.stderr.strip()}")
    return picture


def write(graph, path, output=None, form: str = "full") -> DotFiles:
    """Write the ``form`` drawing of ``graph`` to ``path`` and render it if possible.

    ``path`` ending in .dot writes the DOT text there and an SVG beside it; ending in
    .svg, .png or .pdf writes the .dot beside it and renders that picture. Without
    Graphviz only the .dot is written, and ``message`` says so. Raises ValueError for
    another suffix.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".dot", *_RENDERED):
        raise ValueError(f"cannot draw to {path}: use a .dot, .svg, .png or .pdf file name")
    dot_file = path.with_suffix(".dot")
    dot_file.write_text(to_dot(graph, output, form), encoding="utf-8")
    picture = path if suffix in _RENDERED else path.with_suffix(".svg")
    if shutil.which("dot") is None:
        return DotFiles(dot_file, None, f"wrote {dot_file}; Graphviz's 'dot' is not "
                                        f"installed, so {picture.name} was not rendered "
                                        f"(run: dot -T{picture.suffix[1:]} {dot_file} "
                                        f"-o {picture})")
    render(dot_file, picture)
    return DotFiles(dot_file, picture, f"wrote {dot_file} and {picture}")
