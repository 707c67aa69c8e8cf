"""What a :class:`graph.Graph` offers beyond running: the lecture's views (paths,
tables, drawings, the step-through page), expressions, blocks and parameter files.

Each method hands the graph to the module that does the work; those modules use only
the graph's public read API, so none of them imports :mod:`graph.core`.
"""

from __future__ import annotations

from . import dot, explain, expression, params_io, paths
from .blocks import as_gate

__all__ = ["Views"]


class Views:
    """The methods :class:`graph.Graph` inherits for the lecture's views and its files."""

    @classmethod
    def from_expression(cls, source: str):
        """The graph of ``"e = (a+b)*(b+1)"`` (:func:`graph.expression.from_expression`)."""
        return expression.from_expression(source, cls())

    def paths(self, output, wrt):
        """The sum over paths from ``wrt`` to ``output`` (:func:`graph.paths.paths`)."""
        return paths.paths(self, output, wrt)

    def explain(self, output, wrt=None):
        """The lecture's table for ``output`` (:func:`graph.explain.explain`)."""
        return explain.explain(self, output, wrt)

    def to_dot(self, output=None, form: str = "full") -> str:
        """Graphviz DOT text, "full" or "reduced" (:func:`graph.dot.to_dot`)."""
        return dot.to_dot(self, output, form)

    def to_html(self, output, wrt=None, path=None) -> str:
        """The page stepping through ``output``'s passes (:mod:`graph.stepper`)."""
        return explain.explain(self, output, wrt).to_html(path=path)

    def _repr_html_(self) -> str:
        """In a notebook: the drawing with the last forward pass's values."""
        return explain.graph_fragment(self)

    def as_gate(self, inputs, output, example_inputs=None):
        """This graph as a :class:`gates.Gate` (:func:`graph.blocks.as_gate`)."""
        return as_gate(self, inputs, output, example_inputs=example_inputs)

    def save_params(self, path):
        """Write every parameter to ``path`` (:func:`graph.params_io.save_params`)."""
        params_io.save_params(self, path)

    def load_params(self, path):
        """Read parameters from ``path`` (:func:`graph.params_io.load_params`)."""
        params_io.load_params(self, path)
