"""The lecture's 2-, 3- and 4-layer networks for MNIST, built from gates in a graph.

Layers are counted as the lecture counts them, layers of units (input, hidden...,
output), with x a batch of images as rows (N, 784) and y the class scores (N, 10):

    2 layers:  y = x W1 + b1                                  (softmax regression)
    3 layers:  y = max(0, x W1 + b1) W2 + b2                  (one hidden layer)
    4 layers:  y = max(0, max(0, x W1 + b1) W2 + b2) W3 + b3  (two hidden layers)

(``x W + b`` over a batch of rows is the lecture's ``W x + b`` per column vector.)
Each affine map is an AffineGate and each max(0, .) a ReLUGate in a
:class:`graph.Graph`; the loss is SoftmaxCrossEntropyGate, the mean over the batch of
-log softmax(y)[label]. A :class:`Network` is a model as
:class:`experiments.training.Solver` trains it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import graph
from graph.init import he

__all__ = ["N_PIXELS", "N_CLASSES", "DEFAULT_HIDDEN", "Network", "network_sizes",
           "build_network"]

N_PIXELS, N_CLASSES = 784, 10
#: hidden layer sizes for each architecture when none are given
DEFAULT_HIDDEN = {2: (), 3: (256,), 4: (256, 128)}


@dataclass
class Network:
    """The graph of one network and its named nodes: inputs ``x`` (images, N x 784) and
    ``y`` (labels, N), the ``logits`` (N x 10) and the scalar ``loss``; ``sizes`` are
    the layer sizes it was built with."""

    g: graph.Graph
    x: graph.Node
    y: graph.Node
    logits: graph.Node
    loss: graph.Node
    sizes: tuple = ()

    def parameter_count(self) -> int:
        """The number of trainable numbers: sum of the sizes of every W and b."""
        return int(sum(np.size(p.value) for p in self.g.params.values()))


def network_sizes(layers: int, hidden=()) -> tuple:
    """(784, hidden..., 10) for a network of ``layers`` layers of units.

    ``hidden`` gives the hidden layer sizes (``layers - 2`` of them); empty means the
    defaults, 256 for 3 layers and 256, 128 for 4. Raises ValueError when the count
    does not match or a size is not positive.
    """
    if layers not in DEFAULT_HIDDEN:
        raise ValueError(f"layers must be 2, 3 or 4, got {layers}")
    hidden = tuple(int(h) for h in hidden) if hidden else DEFAULT_HIDDEN[layers]
    if len(hidden) != layers - 2:
        raise ValueError(f"a {layers}-layer network has {layers - 2} hidden layer(s); "
                         f"got hidden sizes {list(hidden)}")
    if any(h < 1 for h in hidden):
        raise ValueError(f"hidden sizes must be positive, got {list(hidden)}")
    return (N_PIXELS, *hidden, N_CLASSES)


def build_network(sizes, rng: np.random.Generator, dtype=np.float32) -> Network:
    """The lecture's network from gates: affine layers (x W_i + b_i) with relu between
    them, softmax cross-entropy on top. Weights He-initialised from ``rng``, biases 0."""
    g = graph.Graph()
    x = g.input("x", differentiable=False)   # no gradient is ever wanted for the images
    y = g.input("y", differentiable=False)   # labels: not differentiable
    logits = graph.mlp(g, x, sizes, rng=rng, dtype=dtype, init=he)
    loss = graph.softmax_cross_entropy(logits, y, name="loss")
    return Network(g, x, y, logits, loss, tuple(sizes))
