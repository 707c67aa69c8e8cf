"""Train the lecture's 2-, 3- or 4-layer network on MNIST or Fashion-MNIST, from gates.

    python -m experiments.train_mnist                 # 3 layers, MNIST, the defaults
    python -m experiments.train_mnist --layers 4 --dataset fashion-mnist
    compgraph train --layers 2 --epochs 5

The networks of the lecture, counting layers of units (input, hidden..., output), with
x a batch of images as rows (N, 784) and y the class scores (N, 10):

    2 layers:  y = x W1 + b1                                  (softmax regression)
    3 layers:  y = max(0, x W1 + b1) W2 + b2                  (one hidden layer)
    4 layers:  y = max(0, max(0, x W1 + b1) W2 + b2) W3 + b3  (two hidden layers)

(``x W + b`` over a batch of rows is the lecture's ``W x + b`` per column vector.)
Each affine map is an AffineGate and each max(0, .) a ReLUGate in a
:class:`graph.Graph`; the loss is SoftmaxCrossEntropyGate, the mean over the batch of
-log softmax(y)[label]. Training: He initialisation, shuffled mini-batches, Adam with
a cosine learning-rate schedule, float32 throughout.

Each epoch shows a progress bar (loss, images/s; on a terminal only) and prints a table
row. The output directory receives ``metrics.json`` (settings, per-epoch rows and the
final ``test_accuracy``), ``metrics.csv`` (the rows), ``params.npz`` (the trained
parameters, :meth:`graph.Graph.save_params`) and ``curves.png`` when matplotlib is
installed; every file is written atomically. An ``--out`` folder that already holds a
run's outputs is refused unless ``--force`` is given (the default folder is replaced
by each run of the same command).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import graph
from graph.batches import minibatches
from graph.errors import GraphValueError
from graph.init import he
from graph.optim import OPTIMIZERS, make_optimizer

from gates._util import atomic_path, atomic_write_text
from .datasets import DATASETS, DatasetNotFoundError, load_dataset, to_float32
from .idx import IdxError

__all__ = ["TrainConfig", "Network", "network_sizes", "build_network", "evaluate", "train",
           "configure", "run", "main", "DEFAULT_HIDDEN", "DEFAULT_LR", "plural",
           "curves_figure", "plot_curves", "RUN_FILES", "check_out_dir"]

#: hidden layer sizes for each architecture when --hidden is not given
DEFAULT_HIDDEN = {2: (), 3: (256,), 4: (256, 128)}
#: learning rates that work with the defaults (batch 128, cosine schedule, 10 epochs)
DEFAULT_LR = {"adam": 2e-3, "momentum": 0.05, "sgd": 0.4}
N_PIXELS, N_CLASSES = 784, 10
#: the files a run writes into its --out folder (``compare`` adds its own and a
#: subfolder per network); a folder holding any of them holds a run
RUN_FILES = ("metrics.json", "metrics.csv", "params.npz", "curves.png")
#: up to this many epochs, the curves mark each epoch's point: one point alone draws
#: no line at all, and a few are easier to read as dots than as a polyline
MARKERS_UP_TO = 20


def plural(count: int, noun: str) -> str:
    """``"1 epoch"``, ``"2 epochs"``: the count and the noun, plural when not 1."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


@dataclass
class TrainConfig:
    """The settings of one training run (the command-line options)."""

    layers: int = 3
    hidden: tuple = ()          # empty: DEFAULT_HIDDEN[layers]
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
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch size must be at least 1, got {self.epochs} "
                             f"and {self.batch_size}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose from "
                             f"{', '.join(OPTIMIZERS)}")
        if not self.learning_rate() > 0:
            raise ValueError(f"the learning rate must be positive, got {self.learning_rate()}")
        if self.schedule not in ("cosine", "constant"):
            raise ValueError(f"unknown schedule {self.schedule!r}; choose cosine or constant")
        if self.seed < 0:
            raise ValueError(f"the seed must not be negative, got {self.seed}")


@dataclass
class Network:
    """The graph of one network and its named nodes: inputs ``x`` (images, N x 784) and
    ``y`` (labels, N), the ``logits`` (N x 10) and the scalar ``loss``."""

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


def evaluate(net: Network, images: np.ndarray, labels: np.ndarray, batch_size: int = 2000):
    """(mean loss, accuracy) of ``net`` on float32 images (N, 784) and labels (N,),
    computed in batches of ``batch_size`` through the same graph (forward only)."""
    total_loss, correct = 0.0, 0
    for start in range(0, len(images), batch_size):
        xb, yb = images[start:start + batch_size], labels[start:start + batch_size]
        loss, logits = net.g.forward(x=xb, y=yb, outputs=[net.loss, net.logits])
        total_loss += float(loss) * len(xb)
        correct += int(np.count_nonzero(logits.argmax(axis=1) == yb))
    return total_loss / len(images), correct / len(images)


class Progress:
    """A one-line progress bar on stderr, redrawn with \\r at most 10 times a second,
    and only when stderr is a terminal (logs and pipes get just the table rows)."""

    def __init__(self, stream=None, enabled: bool | None = None, width: int = 24):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.width = width
        self._last = 0.0

    def update(self, label: str, done: int, total: int, loss: float, rate: float):
        """Redraw the bar: ``done`` of ``total`` batches, the running loss, images/s."""
        if not self.enabled:
            return
        now = time.perf_counter()
        if now - self._last < 0.1:
            return
        self._last = now
        filled = int(self.width * done / max(total, 1))
        bar = "#" * filled + "." * (self.width - filled)
        self.stream.write(f"\r{label} [{bar}] {done}/{total} loss {loss:.4f} "
                          f"{rate:,.0f} img/s ")
        self.stream.flush()

    def clear(self):
        """Erase the bar, so the epoch's table row starts on a clean line."""
        if self.enabled:
            self.stream.write("\r" + " " * (self.width + 60) + "\r")
            self.stream.flush()


def _cosine(lr: float, epoch: int, epochs: int) -> float:
    """lr * (1 + cos(pi * epoch / epochs)) / 2: lr at epoch 0, falling smoothly towards 0."""
    return lr * 0.5 * (1 + math.cos(math.pi * epoch / epochs))


class TrainingDiverged(ArithmeticError):
    """The loss stopped being a finite number: the step size threw the parameters out
    of float range. Raised at once rather than training on NaN."""


def train(config: TrainConfig, train_x, train_y, test_x, test_y, *, on_epoch=None,
          progress: Progress | None = None):
    """Train a network on float32 images (N, 784) and integer labels (N,).

    Returns ``(net, rows)``: the trained :class:`Network` and one dict per epoch with
    ``epoch``, ``learning_rate``, ``train_loss`` (mean over the epoch's batches),
    ``train_accuracy`` (on those batches, as they were seen), ``test_loss``,
    ``test_accuracy``, ``seconds`` (training time of the epoch) and
    ``images_per_second``. ``on_epoch(row)`` is called after each epoch.

    Raises ValueError for settings that cannot work (:meth:`TrainConfig.validate`) and
    TrainingDiverged when the loss becomes inf or NaN.
    """
    config.validate()
    rng = np.random.default_rng(config.seed)
    net = build_network(config.sizes(), rng)
    base_lr = config.learning_rate()
    opt = make_optimizer(config.optimizer, net.g.params, lr=base_lr)
    progress = progress or Progress(enabled=False)
    n_batches = math.ceil(len(train_x) / config.batch_size)
    rows = []
    for epoch in range(config.epochs):
        if config.schedule == "cosine":
            opt.lr = _cosine(base_lr, epoch, config.epochs)
        label = f"epoch {epoch + 1}/{config.epochs}"
        loss_sum, correct, seen = 0.0, 0, 0
        start = time.perf_counter()
        for i, (xb, yb) in enumerate(minibatches(train_x, train_y, config.batch_size, rng)):
            try:
                loss, logits = net.g.forward(x=xb, y=yb, outputs=[net.loss, net.logits])
            except GraphValueError as exc:
                progress.clear()
                raise TrainingDiverged(
                    f"epoch {epoch + 1}, batch {i + 1}: {exc}; the parameters left the float "
                    f"range: lower the learning rate (now {opt.lr:g})") from exc
            net.g.backward(net.loss)
            opt.step()
            loss_sum += float(loss) * len(xb)
            correct += int(np.count_nonzero(logits.argmax(axis=1) == yb))
            seen += len(xb)
            progress.update(label, i + 1, n_batches, loss_sum / seen,
                            seen / max(time.perf_counter() - start, 1e-9))
        seconds = time.perf_counter() - start
        progress.clear()
        test_loss, test_acc = evaluate(net, test_x, test_y)
        row = {"epoch": epoch + 1, "learning_rate": opt.lr, "train_loss": loss_sum / seen,
               "train_accuracy": correct / seen, "test_loss": test_loss,
               "test_accuracy": test_acc, "seconds": seconds,
               "images_per_second": seen / seconds}
        rows.append(row)
        if on_epoch:
            on_epoch(row)
    return net, rows


TABLE_HEADER = f"{'epoch':>5}  {'train loss':>10}  {'train acc':>9}  {'test acc':>8}  {'seconds':>7}"


def table_row(row) -> str:
    """One epoch as a line of the table printed during training."""
    return (f"{row['epoch']:>5}  {row['train_loss']:>10.4f}  {row['train_accuracy']:>9.4f}  "
            f"{row['test_accuracy']:>8.4f}  {row['seconds']:>7.2f}")


def rows_csv(rows) -> str:
    """The per-epoch rows as CSV text with a header line."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def load_matplotlib():
    """matplotlib.pyplot with the file-only Agg backend, or None (with a one-line note
    on stderr) when matplotlib is not installed: plots are optional."""
    try:
        import matplotlib
    except ImportError:
        print("note: matplotlib is not installed, so no PNG of the curves is written "
              "(pip install 'compgraph[plot]')", file=sys.stderr)
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def curves_figure(plt, runs: dict, title: str):
    """The matplotlib Figure of loss (left) and accuracy (right) per epoch for one or
    more runs ({label: rows}), drawn with ``plt`` (matplotlib.pyplot): train solid,
    test dashed, one colour per run. When no run is longer than MARKERS_UP_TO epochs,
    each point is marked, train filled and test hollow (a single epoch would otherwise
    be invisible), and the epoch axis spans half an epoch beyond the first and last.
    The epoch ticks are whole numbers."""
    from matplotlib.ticker import MaxNLocator

    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    last = max((r["epoch"] for rows in runs.values() for r in rows), default=1)
    marker = "o" if last <= MARKERS_UP_TO else None
    for label, rows in runs.items():
        epochs = [r["epoch"] for r in rows]
        prefix = f"{label}: " if len(runs) > 1 else ""
        line, = ax_loss.plot(epochs, [r["train_loss"] for r in rows], marker=marker,
                             label=f"{prefix}train")
        train = {"color": line.get_color(), "marker": marker}
        # hollow dots for test: with one epoch there is no dash to tell them apart
        test = {**train, "linestyle": "--", "markerfacecolor": "white"}
        ax_loss.plot(epochs, [r["test_loss"] for r in rows], label=f"{prefix}test", **test)
        ax_acc.plot(epochs, [r["train_accuracy"] for r in rows], label=f"{prefix}train",
                    **train)
        ax_acc.plot(epochs, [r["test_accuracy"] for r in rows], label=f"{prefix}test",
                    **test)
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy")
    for ax in (ax_loss, ax_acc):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))   # no epoch 1.5
        if marker:
            # half an epoch of room each side: a dot on the frame would be cut in half,
            # and one epoch alone would get a range of +-5% around it
            ax.set_xlim(0.5, last + 0.5)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_curves(runs: dict, path: Path, title: str) -> bool:
    """A PNG of loss and accuracy per epoch for one or more runs ({label: rows}), see
    :func:`curves_figure`, written atomically. Returns False (having printed a note)
    when matplotlib is missing."""
    plt = load_matplotlib()
    if plt is None:
        return False
    fig = curves_figure(plt, runs, title)
    try:
        with atomic_path(path, suffix=".png") as tmp:
            fig.savefig(tmp, dpi=110, format="png")
    finally:
        plt.close(fig)
    return True


# -- the command ---------------------------------------------------------------------

def add_data_arguments(parser) -> None:
    """--dataset, --data-dir, --no-download (shared with ``compare``)."""
    parser.add_argument("--dataset", choices=sorted(DATASETS), default="mnist",
                        help="which data (default: mnist)")
    parser.add_argument("--data-dir", metavar="DIR", default=None,
                        help="folder with the IDX files, looked in first (default: "
                             "$COMPGRAPH_DATA_DIR, then ~/.cache/compgraph/DATASET)")
    parser.add_argument("--no-download", action="store_true",
                        help="never download; use what is on disk (or the fallback)")
    parser.add_argument("--retry-download", action="store_true",
                        help="download even if a download failed within the last hour "
                             "(such a failure is otherwise remembered and the network "
                             "skipped)")


def add_out_arguments(parser, default: str) -> None:
    """--out and --force (shared with ``compare``); ``default`` describes the default
    folder in the help."""
    parser.add_argument("--out", metavar="DIR", default=None,
                        help=f"output folder (default: {default}, replaced by each run)")
    parser.add_argument("--force", action="store_true",
                        help="write into an --out folder that already holds a run's "
                             "outputs, replacing them")


def add_training_arguments(parser) -> None:
    """The optimisation options shared by ``train`` and ``compare``."""
    parser.add_argument("--epochs", type=int, default=10, help="passes over the training set "
                        "(default: 10)")
    parser.add_argument("--batch-size", type=int, default=128, help="images per step "
                        "(default: 128)")
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam",
                        help="default: adam")
    parser.add_argument("--lr", type=float, default=None,
                        help="initial learning rate (default: " + ", ".join(
                            f"{k} {v:g}" for k, v in DEFAULT_LR.items()) + ")")
    parser.add_argument("--schedule", choices=["cosine", "constant"], default="cosine",
                        help="learning rate over the epochs (default: cosine decay to 0)")
    parser.add_argument("--seed", type=int, default=0, help="initialisation and shuffling "
                        "(default: 0)")


def configure(parser, command="train") -> None:
    """Add the arguments of ``compgraph train`` / ``python -m experiments.train_mnist``."""
    parser.description = __doc__.split("\n\n")[0]
    parser.add_argument("--layers", type=int, choices=[2, 3, 4], default=3,
                        help="2: y = xW+b; 3: one hidden relu layer; 4: two (default: 3)")
    parser.add_argument("--hidden", type=int, nargs="*", default=None, metavar="H",
                        help="hidden layer sizes (default: 256 for 3 layers, 256 128 for 4)")
    add_training_arguments(parser)
    add_data_arguments(parser)
    add_out_arguments(parser, "runs/DATASET-LAYERSlayers")
    parser.set_defaults(command=command)


def config_from_args(args, layers=None) -> TrainConfig:
    """The :class:`TrainConfig` of parsed arguments; ``layers`` overrides
    ``args.layers`` (``compare`` trains every architecture with the same options)."""
    layers = layers if layers is not None else args.layers
    return TrainConfig(layers=layers, hidden=tuple(getattr(args, "hidden", None) or ()),
                       epochs=args.epochs, batch_size=args.batch_size,
                       optimizer=args.optimizer, lr=args.lr, schedule=args.schedule,
                       seed=args.seed)


def run_outputs(folder: Path, extra=()) -> list[str]:
    """The names of the run outputs in ``folder`` (folders with a trailing ``/``):
    :data:`RUN_FILES` and ``extra`` (``compare``'s files and per-network subfolders),
    and any subfolder that holds RUN_FILES (a ``compare`` run's, when ``folder`` is
    given to ``train``). Raises OSError when ``folder`` cannot be listed."""
    named = [folder / name for name in (*RUN_FILES, *extra)]
    holding = sorted(sub for sub in folder.iterdir() if sub.is_dir() and sub not in named
                     and any((sub / name).exists() for name in RUN_FILES))
    return [p.name + ("/" if p.is_dir() else "") for p in [*named, *holding] if p.exists()]


def check_out_dir(out: Path, *, named: bool = True, force: bool = False, extra=()) -> None:
    """Check the output folder before the data is loaded and the network trained, not
    after. Raises ValueError when ``out`` exists and is not a folder, or when it was
    ``named`` by the user (``--out``), holds another run's outputs (see
    :func:`run_outputs`) and ``force`` is false: the message names the folder, the
    files and ``--force``. The default folder is compgraph's own, replaced by each run.
    """
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: exists and is not a folder")
    if not named or force or not out.is_dir():
        return
    try:
        found = run_outputs(out, extra)
    except OSError as exc:
        raise ValueError(f"--out {out}: cannot look inside: {exc.strerror or exc}") \
            from None
    if found:
        raise ValueError(f"--out {out}: already holds a run's outputs "
                         f"({', '.join(found)}); pass --force to replace them, or choose "
                         f"another folder")


def load_for_training(args):
    """The dataset of ``args`` and its images as float32 rows and labels as ints:
    ``(data, train_x, train_y, test_x, test_y)``, after printing where the data came
    from; or None after printing why it cannot be had."""
    try:
        data = load_dataset(args.dataset, args.data_dir,
                            download_missing=not args.no_download,
                            retry_download=args.retry_download)
    except (DatasetNotFoundError, IdxError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    print(f"data: {data.source}: {len(data.train_labels):,} training and "
          f"{len(data.test_labels):,} test images")
    return (data, to_float32(data.train_images), data.train_labels.astype(np.intp),
            to_float32(data.test_images), data.test_labels.astype(np.intp))


def train_and_save(config: TrainConfig, loaded, out: Path) -> dict | None:
    """Train ``config`` on ``loaded`` (from :func:`load_for_training`), printing the
    network and a table row per epoch, and write the outputs into ``out``
    (:func:`write_outputs`). Returns the metrics, or None after printing why not: the
    folder cannot be made or written, or the training diverged."""
    data, train_x, train_y, test_x, test_y = loaded
    print(f"network: {config.layers} layers {'-'.join(map(str, config.sizes()))}, "
          f"{config.optimizer} lr {config.learning_rate():g} ({config.schedule}), "
          f"batch {config.batch_size}, {plural(config.epochs, 'epoch')}, "
          f"seed {config.seed}")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"error: cannot make the output folder {out}: {exc.strerror or exc}",
              file=sys.stderr)
        return None
    print(TABLE_HEADER)
    try:
        net, rows = train(config, train_x, train_y, test_x, test_y,
                          on_epoch=lambda row: print(table_row(row), flush=True),
                          progress=Progress())
    except TrainingDiverged as exc:
        print(f"error: {config.layers} layers: {exc}", file=sys.stderr)
        return None
    try:
        return write_outputs(out, config, data, net, rows)
    except OSError as exc:
        print(f"error: cannot write the outputs into {out}: {exc}", file=sys.stderr)
        return None


def run(args) -> int:
    """Train one network as ``args`` says; print the table and the test accuracy;
    write the outputs. Returns the exit status: 2 for settings that cannot work (an
    ``--out`` holding another run without ``--force`` among them), 1 when the data
    cannot be had, training diverges or the outputs cannot be written."""
    out = Path(args.out or f"runs/{args.dataset}-{args.layers}layers")
    try:
        config = config_from_args(args)
        config.validate()
        check_out_dir(out, named=args.out is not None, force=args.force)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    loaded = load_for_training(args)
    if loaded is None:
        return 1
    result = train_and_save(config, loaded, out)
    if result is None:
        return 1
    print(f"test accuracy: {result['test_accuracy']:.4f}")
    print(f"wrote {out}/: " + ", ".join(result["files"]))
    return 0


def write_outputs(out: Path, config: TrainConfig, data, net: Network, rows) -> dict:
    """metrics.json, metrics.csv, params.npz and (with matplotlib) curves.png in ``out``.

    Returns the metrics (as in metrics.json: the settings, ``seconds_per_epoch`` (the
    median), ``test_accuracy`` of the last epoch, ``rows``) and ``files`` written.
    """
    # the median: one epoch slowed by another process on a shared machine does not count
    seconds_per_epoch = float(np.median([r["seconds"] for r in rows]))
    result = {
        "dataset": data.name, "data_source": data.source,
        "train_images": int(len(data.train_labels)), "test_images": int(len(data.test_labels)),
        "layers": config.layers, "sizes": list(net.sizes),
        "parameters": net.parameter_count(),
        "optimizer": config.optimizer, "learning_rate": config.learning_rate(),
        "schedule": config.schedule, "batch_size": config.batch_size,
        "epochs": config.epochs, "seed": config.seed, "dtype": "float32",
        "seconds_per_epoch": seconds_per_epoch,
        "test_accuracy": rows[-1]["test_accuracy"],
        "rows": rows,
    }
    files = ["metrics.json", "metrics.csv", "params.npz"]
    atomic_write_text(out / "metrics.json", json.dumps(result, indent=2) + "\n")
    atomic_write_text(out / "metrics.csv", rows_csv(rows))
    net.g.save_params(out / "params.npz")
    title = f"{DATASETS[data.name].title}, {config.layers} layers {'-'.join(map(str, net.sizes))}"
    if plot_curves({f"{config.layers} layers": rows}, out / "curves.png", title):
        files.append("curves.png")
    return {**result, "files": files}


def module_main(argv, prog: str, command: str, configure, run) -> int:
    """The ``python -m`` entry of a command module: parse ``argv``, run, and end a
    Ctrl-C with a word (exit status 130) instead of a traceback, as ``compgraph`` does."""
    parser = argparse.ArgumentParser(prog=prog)
    configure(parser, command)
    try:
        return run(parser.parse_args(argv))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def main(argv=None) -> int:
    """``python -m experiments.train_mnist [options]``; returns the exit status."""
    return module_main(argv, "python -m experiments.train_mnist", "train", configure, run)


if __name__ == "__main__":
    sys.exit(main())
