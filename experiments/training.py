"""Training a classifier built from gates: the Solver, the settings of a run, and
:func:`train`, which builds one of the lecture's networks and trains it.

    net = build_network((784, 256, 10), rng)
    solver = Solver(net, {"train_x": xs, "train_y": ys, "test_x": xt, "test_y": yt},
                    optimizer="adam", epochs=10, batch_size=128, rng=rng)
    history = solver.train()                 # one dict per epoch
    solver.check_accuracy(xt, yt)            # the share of test images classified right

Training is shuffled mini-batches, a forward and a backward pass through the graph per
batch and an optimizer step (graph.optim: SGD, momentum or Adam), with the learning rate
constant or decayed along a cosine over the epochs. Nothing here prints or writes files:
the command-line front ends (:mod:`experiments.train_mnist`, :mod:`experiments.compare`,
via :mod:`experiments.runs`) watch the training through callbacks.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from graph.batches import minibatches
from graph.errors import GraphValueError
from graph.optim import OPTIMIZERS, make_optimizer

from .networks import build_network, network_sizes

__all__ = ["DEFAULT_LR", "SCHEDULES", "check_settings", "TrainConfig", "TrainingDiverged",
           "Solver", "evaluate", "train"]

#: learning rates that work with the defaults (batch 128, cosine schedule, 10 epochs)
DEFAULT_LR = {"adam": 2e-3, "momentum": 0.05, "sgd": 0.4}
#: how the learning rate goes over the epochs
SCHEDULES = ("cosine", "constant")


def check_settings(*, epochs: int, batch_size: int, optimizer: str, lr: float | None,
                   schedule: str) -> float:
    """Raise ValueError naming the first optimisation setting that cannot work; return
    the initial learning rate: ``lr``, or the optimizer's default when it is None."""
    if epochs < 1 or batch_size < 1:
        raise ValueError(f"epochs and batch size must be at least 1, got {epochs} "
                         f"and {batch_size}")
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose from "
                         f"{', '.join(OPTIMIZERS)}")
    lr = lr if lr is not None else DEFAULT_LR[optimizer]
    if not lr > 0:
        raise ValueError(f"the learning rate must be positive, got {lr}")
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown schedule {schedule!r}; choose cosine or constant")
    return lr


@dataclass
class TrainConfig:
    """The settings of one training run of a lecture network (the command-line options):
    the network (``layers``, ``hidden``) and the Solver's settings."""

    layers: int = 3
    hidden: tuple = ()          # empty: networks.DEFAULT_HIDDEN[layers]
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float | None = None     # None: DEFAULT_LR[optimizer]
    schedule: str = "cosine"
    seed: int = 0

    def sizes(self) -> tuple:
        """The layer sizes, (784, hidden..., 10); see :func:`network_sizes`."""
        return network_sizes(self.layers, self.hidden)

    def learning_rate(self) -> float:
        """The initial learning rate: ``lr``, or the optimizer's default."""
        return self.lr if self.lr is not None else DEFAULT_LR[self.optimizer]

    def validate(self) -> None:
        """Raise ValueError naming the first setting that cannot work."""
        self.sizes()
        check_settings(epochs=self.epochs, batch_size=self.batch_size,
                       optimizer=self.optimizer, lr=self.lr, schedule=self.schedule)
        if self.seed < 0:
            raise ValueError(f"the seed must not be negative, got {self.seed}")


class TrainingDiverged(ArithmeticError):
    """The loss stopped being a finite number: the step size threw the parameters out
    of float range. Raised at once rather than training on NaN."""


def evaluate(model, images: np.ndarray, labels: np.ndarray, batch_size: int = 2000):
    """(mean loss, accuracy) of ``model`` (see :class:`Solver` for what a model is) on
    ``images`` (N, ...) and integer ``labels`` (N,), in batches of ``batch_size``
    through the same graph (forward only)."""
    total_loss, correct = 0.0, 0
    for start in range(0, len(images), batch_size):
        xb, yb = images[start:start + batch_size], labels[start:start + batch_size]
        loss, logits = model.g.forward({model.x.name: xb, model.y.name: yb},
                                       outputs=[model.loss, model.logits])
        total_loss += float(loss) * len(xb)
        correct += int(np.count_nonzero(logits.argmax(axis=1) == yb))
    return total_loss / len(images), correct / len(images)


def _cosine(lr: float, epoch: int, epochs: int) -> float:
    """lr * (1 + cos(pi * epoch / epochs)) / 2: lr at epoch 0, falling smoothly towards 0."""
    return lr * 0.5 * (1 + math.cos(math.pi * epoch / epochs))


class Solver:
    """Trains a classifier built as a graph, as CS231n's Solver trains its models:
    shuffled mini-batches; per batch a forward pass, a backward pass from the loss and
    an optimizer step on every parameter; after each epoch the loss and accuracy on the
    test data, appended to :attr:`history`.

    **The model contract.** A model is any object with these attributes (a
    :class:`~experiments.networks.Network` from ``build_network`` is one):

    - ``g``: the :class:`graph.Graph` of the whole network. Every parameter node of it
      (``g.params``) is trained; nothing else in it is changed.
    - ``x``: the graph's input node for a batch of samples, fed arrays (B, ...) cut
      from ``data["train_x"]`` along the first axis; inputs are fed by node name.
    - ``y``: the input node for their integer class labels, shape (B,).
    - ``logits``: the node of the class scores, (B, C); a sample's predicted class is
      the argmax of its row.
    - ``loss``: the scalar loss node, the *mean* over the batch (epoch losses are means
      over samples, weighted by batch size), computed from ``logits`` and ``y``.

    ``data`` holds ``train_x``, ``train_y`` (what is trained on), ``test_x`` and
    ``test_y`` (what each epoch is measured on). ``optimizer`` names one of
    :data:`graph.optim.OPTIMIZERS`; ``lr`` is its initial learning rate (None:
    :data:`DEFAULT_LR`), kept (``"constant"``) or decayed along a cosine to near 0 at
    the last epoch (``"cosine"``). ``rng`` (a seed or a numpy Generator, used as it
    is) shuffles the batches.

    ``on_batch(epoch, done, total, loss, images_per_second)`` is called after each
    step (the epoch counted from 1, batches done of total, the mean loss of the
    epoch so far); ``on_epoch(row)`` after each epoch, with its row of the history.

    Raises ValueError for settings that cannot work.
    """

    def __init__(self, model, data, *, optimizer: str = "adam", lr: float | None = None,
                 schedule: str = "cosine", epochs: int = 10, batch_size: int = 128,
                 rng=0, on_batch=None, on_epoch=None):
        lr = check_settings(epochs=epochs, batch_size=batch_size, optimizer=optimizer,
                            lr=lr, schedule=schedule)
        self.model = model
        self.train_x, self.train_y = data["train_x"], data["train_y"]
        self.test_x, self.test_y = data["test_x"], data["test_y"]
        self.base_lr, self.schedule = lr, schedule
        self.epochs, self.batch_size = epochs, batch_size
        self.optimizer = make_optimizer(optimizer, model.g.params, lr=lr)
        self.rng = np.random.default_rng(rng)
        self.on_batch, self.on_epoch = on_batch, on_epoch
        #: one dict per epoch trained: ``epoch``, ``learning_rate``, ``train_loss``
        #: (mean over the epoch's batches), ``train_accuracy`` (on those batches, as they
        #: were seen), ``test_loss``, ``test_accuracy``, ``seconds`` (training time of
        #: the epoch) and ``images_per_second``
        self.history: list[dict] = []

    def train(self) -> list[dict]:
        """Train until :attr:`history` holds ``epochs`` epochs; return it.

        Raises TrainingDiverged when the loss becomes inf or NaN.
        """
        for epoch in range(len(self.history), self.epochs):
            if self.schedule == "cosine":
                self.optimizer.lr = _cosine(self.base_lr, epoch, self.epochs)
            row = self._epoch(epoch + 1)
            self.history.append(row)
            if self.on_epoch:
                self.on_epoch(row)
        return self.history

    def _epoch(self, epoch: int) -> dict:
        """One pass over the shuffled training data, then the test data; the epoch's row."""
        m = self.model
        n_batches = math.ceil(len(self.train_x) / self.batch_size)
        loss_sum, correct, seen = 0.0, 0, 0
        start = time.perf_counter()
        batches = minibatches(self.train_x, self.train_y, self.batch_size, self.rng)
        for i, (xb, yb) in enumerate(batches):
            try:
                loss, logits = m.g.forward({m.x.name: xb, m.y.name: yb},
                                           outputs=[m.loss, m.logits])
            except GraphValueError as exc:
                raise TrainingDiverged(
                    f"epoch {epoch}, batch {i + 1}: {exc}; the parameters left the float "
                    f"range: lower the learning rate (now {self.optimizer.lr:g})") from exc
            m.g.backward(m.loss)
            self.optimizer.step()
            loss_sum += float(loss) * len(xb)
            correct += int(np.count_nonzero(logits.argmax(axis=1) == yb))
            seen += len(xb)
            if self.on_batch:
                self.on_batch(epoch, i + 1, n_batches, loss_sum / seen,
                              seen / max(time.perf_counter() - start, 1e-9))
        seconds = time.perf_counter() - start
        test_loss, test_acc = evaluate(m, self.test_x, self.test_y)
        return {"epoch": epoch, "learning_rate": self.optimizer.lr,
                "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
                "test_loss": test_loss, "test_accuracy": test_acc, "seconds": seconds,
                "images_per_second": seen / seconds}

    def check_accuracy(self, images: np.ndarray, labels: np.ndarray) -> float:
        """The share of ``images`` whose predicted class is their label."""
        return evaluate(self.model, images, labels)[1]


def train(config: TrainConfig, train_x, train_y, test_x, test_y, *, on_batch=None,
          on_epoch=None):
    """Build the network ``config`` describes and train it with a :class:`Solver` on
    float32 images (N, 784) and integer labels (N,).

    One generator seeded with ``config.seed`` initialises the weights and then
    shuffles the batches, so a seed names one run. Returns ``(net, history)``: the
    trained :class:`~experiments.networks.Network` and :attr:`Solver.history`; the
    callbacks are the Solver's. Raises ValueError for settings that cannot work
    (:meth:`TrainConfig.validate`) and TrainingDiverged when the loss becomes inf or NaN.
    """
    config.validate()
    rng = np.random.default_rng(config.seed)
    net = build_network(config.sizes(), rng)
    solver = Solver(net, {"train_x": train_x, "train_y": train_y, "test_x": test_x,
                          "test_y": test_y},
                    optimizer=config.optimizer, lr=config.learning_rate(),
                    schedule=config.schedule, epochs=config.epochs,
                    batch_size=config.batch_size, rng=rng, on_batch=on_batch,
                    on_epoch=on_epoch)
    return net, solver.train()
