"""Graphviz drawings of a graph, in the lecture's two forms, with values and gradients.

* **full**: variable nodes (ellipses) and gate nodes (circles with the gate's symbol):
  a -> (+) -> c. Constants such as the 1 in b + 1 are small plain labels.
* **reduced**: the gates collapsed, only variables, each edge labelled with its local
  derivative (∂c/∂a = 1): the form on which the lecture sums over paths.

Every variable shows its name, its value (green) and the gradient of the output with
respect to it (red), as in CS231n's circuit diagrams. :func:`to_dot` returns the DOT
text; :func:`write` saves it and renders it to SVG, PNG or PDF with
:func:`find_renderer`'s choice: the system's Graphviz ``dot`` when it is on PATH, else
``graphviz-pure`` (a port of Graphviz shipped as one program in a wheel: the ``draw``
extra), so drawings render after a plain ``pip install``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np

from gates.facts import symbol

from .explain import show
from .paths import fmt, local_derivatives

__all__ = ["FORMS", "INSTALL", "to_dot", "write", "render", "targets", "DotFiles",
           "Renderer", "find_renderer", "system_dot", "graphviz_pure"]

FORMS = ("full", "reduced")
_RENDERED = (".svg", ".png", ".pdf")


def _quoted(text: str) -> str:
    """``text`` for a DOT "quoted" label: quotes and <>& escaped, and backslashes
    doubled (dot reads \\l, \\N, ... in them as commands)."""
    return escape(text).replace("\\", "\\\\")


def _variable(node_id: str, node, is_output: bool, grads: bool, of) -> str:
    """A variable's ellipse: name, value (green) and gradient (red) as the lecture writes
    it, ``∂e/∂a = 2`` (``of``: the node the gradients are of; written with ∂, which
    every renderer's fonts have, where ∇ is missing from graphviz-pure's)."""
    rows = [f"<b>{escape(node.name)}</b>"]
    stale = node.gate is not None and node.stale
    if stale:
        # computed from inputs that have changed since: an old number would mislead
        rows.append('<font color="gray">out of date</font>')
    elif node.value is not None:
        rows.append(f'<font color="darkgreen">{escape(show(node.value))}</font>')
    if grads and node.grad is not None:
        top = of.name if of is not None else "L"
        rows.append(f'<font color="red">∂{escape(top)}/∂{escape(node.name)} = '
                    f'{escape(show(node.grad))}</font>')
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
    out = None if output is None else graph.node(output, "to_dot")
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
        lines.append(_variable(nid, n, n is out, grads, graph.grad_output))
        if n.gate is None:
            continue
        # a node whose inputs changed since the last run has no current local derivatives
        local = local_derivatives(n) if scalar and not n.stale else (None,) * len(n.inputs)
        if form == "full":
            gid = f"g{ids[id(n)][1:]}"
            lines.append(f'  {gid} [shape=circle, label="{_quoted(symbol(n.gate))}"];')
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


#: how to get a renderer, ending every message about a missing one
INSTALL = "pip install graphviz-pure (or: apt-get install graphviz)"


@dataclass(frozen=True)
class Renderer:
    """A program with Graphviz's ``dot`` command line that renders DOT text: its ``name``
    ("dot" or "graphviz-pure"), the ``program`` to run and the picture ``formats`` it
    writes."""

    name: str
    program: Path
    formats: tuple[str, ...]


def system_dot() -> Renderer | None:
    """Graphviz's own ``dot`` (``apt-get install graphviz``) as found on PATH, or None."""
    program = shutil.which("dot")
    return None if program is None else Renderer("dot", Path(program), ("svg", "png", "pdf"))


def graphviz_pure() -> Renderer | None:
    """The ``graphviz-pure`` program (``pip install graphviz-pure``, the ``draw`` extra), or
    None when it is not installed.

    It is looked for first among the files its wheel installed, through
    importlib.metadata: the wheel has no Python code, only the program, which pip puts in
    the environment's bin/ (Scripts/ on Windows); so a venv's copy is found even when the
    venv is not activated and its bin/ is not on PATH. Then on PATH (pipx and
    ``uv tool`` install it there). graphviz-pure writes no PDF.
    """
    from importlib import metadata

    try:
        files = metadata.distribution("graphviz-pure").files or []
    except metadata.PackageNotFoundError:
        files = []
    installed = (Path(f.locate()).resolve() for f in files
                 if f.name in ("graphviz-pure", "graphviz-pure.exe"))
    # a dist-info left behind by a half-done uninstall names a program that is gone
    program = next((p for p in installed if p.is_file() and os.access(p, os.X_OK)), None) \
        or shutil.which("graphviz-pure")
    return None if program is None else Renderer("graphviz-pure", Path(program),
                                                 ("svg", "png"))


def find_renderer() -> Renderer | None:
    """The renderer :func:`write` and :func:`render` use by default: the system's Graphviz
    ``dot`` when it is on PATH (the reference, and it writes PDF too), else graphviz-pure,
    else None. Nothing is imported or run until it is called; tests replace it to force
    one renderer or none."""
    return system_dot() or graphviz_pure()


def targets(path) -> tuple[Path, Path]:
    """The ``.dot`` file and the picture :func:`write` makes for ``path``: ``e.svg``,
    ``e.png`` or ``e.pdf`` gives (``e.dot``, itself); ``e.dot`` gives (itself, ``e.svg``).
    Raises ValueError for another suffix."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".dot":
        return path, path.with_suffix(".svg")
    if suffix not in _RENDERED:
        raise ValueError(f"cannot draw to {path}: use a .dot, .svg, .png or .pdf file name")
    return path.with_suffix(".dot"), path


def _usable(renderer: Renderer | None, picture: Path) -> Renderer:
    """``renderer`` when it can write ``picture``. Raises FileNotFoundError naming the
    install command when there is no renderer, ValueError when it lacks the format."""
    if renderer is None:
        raise FileNotFoundError(f"cannot render {picture}: no Graphviz found (neither 'dot' "
                                f"nor 'graphviz-pure'); install one: {INSTALL}")
    fmt = picture.suffix[1:].lower()
    if fmt not in renderer.formats:
        kinds = ", ".join(f".{f}" for f in renderer.formats)
        raise ValueError(f"cannot render {picture}: {renderer.name} writes {kinds} only; "
                         f"for .{fmt} install Graphviz: apt-get install graphviz")
    return renderer


def render(dot_file, picture, renderer: Renderer | None = None) -> Path:
    """Render ``dot_file`` to ``picture`` (format from its suffix: .svg, .png or .pdf) with
    ``renderer``, by default :func:`find_renderer`'s choice.

    Raises FileNotFoundError naming the install command when no renderer is installed,
    ValueError when the renderer cannot write that format (graphviz-pure writes no PDF),
    and RuntimeError with the renderer's message when it fails.
    """
    picture = Path(picture)
    renderer = _usable(renderer or find_renderer(), picture)
    done = subprocess.run([str(renderer.program), f"-T{picture.suffix[1:].lower()}",
                           str(dot_file), "-o", str(picture)],
                          capture_output=True, text=True, errors="replace", timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{renderer.name} failed on {dot_file}: {done.stderr.strip()}")
    return picture


@dataclass(frozen=True)
class DotFiles:
    """What :func:`write` produced: the ``.dot`` file, the rendered picture (None when
    only the DOT text was asked for and no renderer is installed), a one-line
    ``message`` saying which, and the name of the ``renderer`` used."""

    dot: Path
    rendered: Path | None
    message: str
    renderer: str | None = None


def write(graph, path, output=None, form: str = "full",
          renderer: Renderer | None = None) -> DotFiles:
    """Write the ``form`` drawing of ``graph`` to ``path`` and render it.

    ``path`` ending in .svg, .png or .pdf writes the .dot beside it and renders that
    picture with ``renderer`` (by default :func:`find_renderer`'s choice); ending in .dot
    writes the DOT text there and an SVG beside it, or, with no renderer installed, only
    the DOT text, and ``message`` says how to install one. Existing files are replaced:
    a caller that must not replace them checks the files :func:`targets` names first.

    Raises, before writing anything: ValueError for another suffix or a format the
    renderer cannot write, FileNotFoundError naming the install command when a picture
    was asked for and no renderer is installed. Raises RuntimeError when the renderer
    fails.
    """
    dot_file, picture = targets(path)
    renderer = renderer or find_renderer()
    if Path(path) == picture:
        # the picture is what was asked for: fail before leaving a lone .dot behind
        _usable(renderer, picture)
    dot_file.write_text(to_dot(graph, output, form), encoding="utf-8")
    if renderer is None:
        return DotFiles(dot_file, None, f"wrote {dot_file}; {picture.name} was not rendered: "
                                        f"no Graphviz found; install one: {INSTALL}")
    render(dot_file, picture, renderer)
    return DotFiles(dot_file, picture,
                    f"wrote {dot_file} and {picture} (rendered by {renderer.name})",
                    renderer.name)
