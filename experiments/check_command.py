"""``compgraph check``'s front end: the command itself is :mod:`gates.check.command`;
this module adds the built-in blocks (the lecture's MLP wrapped as one gate, with and
without its loss), which are built with :mod:`graph`, which ``gates`` never imports.
"""

from __future__ import annotations

import numpy as np

from gates.check import command
from gates.check.command import configure

__all__ = ["configure", "run", "BLOCKS", "MLPBlock", "MLPLossBlock"]


def run(args) -> int:
    """``compgraph check``, with the built-in blocks after the built-in gates."""
    return command.run(args, blocks=BLOCKS)


# -- the built-in blocks -------------------------------------------------------------

def _mlp_parts(rng):
    """A small 2-layer MLP's inputs: a batch x (4, 6), W1 (6, 5), b1 (5,), W2 (5, 3),
    b2 (3,); biases nonzero so the relu layer sees both signs."""
    return (rng.standard_normal((4, 6)),
            rng.standard_normal((6, 5)) * np.sqrt(2 / 6), 0.1 * rng.standard_normal(5),
            rng.standard_normal((5, 3)) * np.sqrt(2 / 5), 0.1 * rng.standard_normal(3))


class MLPBlock:
    """The lecture's 2-layer net logits = relu(x W1 + b1) W2 + b2, built with
    :func:`graph.mlp` and wrapped by ``Graph.as_gate`` (inputs x, W1, b1, W2, b2)."""

    @staticmethod
    def example_gate(dtype=np.float64):
        """Graph parameters keep their dtype, so the float32 check builds float32 ones."""
        from graph import Graph, mlp
        g = Graph()
        x = g.input("x")
        logits = mlp(g, x, (6, 5, 3), dtype=dtype)
        return g.as_gate(inputs=[x, *g.params.values()], output=logits)

    @staticmethod
    def example_inputs(rng):
        """x (4, 6), W1 (6, 5), b1 (5,), W2 (5, 3), b2 (3,)."""
        return _mlp_parts(rng)


class MLPLossBlock:
    """The same net with its loss: mean softmax cross-entropy of the logits against
    integer labels (inputs x, W1, b1, W2, b2, labels; labels not differentiable)."""

    @staticmethod
    def example_gate(dtype=np.float64):
        """The block with its loss, parameters of ``dtype``."""
        from graph import Graph, mlp, softmax_cross_entropy
        g = Graph()
        x = g.input("x")
        labels = g.input("labels", differentiable=False)
        logits = mlp(g, x, (6, 5, 3), dtype=dtype)
        loss = softmax_cross_entropy(logits, labels, name="loss")
        return g.as_gate(inputs=[x, *g.params.values(), labels], output=loss)

    @staticmethod
    def example_inputs(rng):
        """The MLP's inputs and labels (4,) in 0..2."""
        return _mlp_parts(rng) + (rng.integers(0, 3, size=4),)


#: The blocks ``compgraph check`` checks after the gates.
BLOCKS = (MLPBlock, MLPLossBlock)
