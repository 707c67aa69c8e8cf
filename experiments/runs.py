"""What ``compgraph train`` and ``compgraph compare`` share on the command line: the
options, the output folder and the guard on it, where the data comes from, a run as
the terminal shows it (a progress bar, a table row per epoch) and the files it leaves.

The files of a run (``write_outputs``): ``metrics.json`` (settings, per-epoch rows and
the final ``test_accuracy``), ``metrics.csv`` (the rows), ``params.npz`` (the trained
parameters, :meth:`graph.Graph.save_params`) and ``curves.png`` when matplotlib is
installed; every file is written atomically. An ``--out`` folder that already holds a
run's outputs is refused unless ``--force`` is given; the default folder is
compgraph's own, replaced by each run of the same command.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from pathlib import Path

import numpy as np

from graph.optim import OPTIMIZERS

from gates._util import atomic_write_text, plural
from .datasets import DATASETS, DatasetNotFoundError, load_dataset, to_float32
from .idx import IdxError
from .networks import Network
from .plots import plot_curves
from .training import DEFAULT_LR, SCHEDULES, TrainConfig, TrainingDiverged, train

__all__ = ["RUN_FILES", "plural", "Progress", "TABLE_HEADER", "table_row", "rows_csv",
           "add_data_arguments", "add_out_arguments", "add_training_arguments",
           "config_from_args", "run_outputs", "check_out_dir", "load_for_training",
           "train_and_save", "write_outputs", "module_main"]

#: the files a run writes into its --out folder (``compare`` adds its own and a
#: subfolder per network); a folder holding any of them holds a run
RUN_FILES = ("metrics.json", "metrics.csv", "params.npz", "curves.png")


# -- the terminal ----------------------------------------------------------------------

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


# -- the options -----------------------------------------------------------------------

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
    parser.add_argument("--schedule", choices=SCHEDULES, default="cosine",
                        help="learning rate over the epochs (default: cosine decay to 0)")
    parser.add_argument("--seed", type=int, default=0, help="initialisation and shuffling "
                        "(default: 0)")


def config_from_args(args, layers=None) -> TrainConfig:
    """The :class:`TrainConfig` of parsed arguments; ``layers`` overrides
    ``args.layers`` (``compare`` trains every architecture with the same options)."""
    layers = layers if layers is not None else args.layers
    return TrainConfig(layers=layers, hidden=tuple(getattr(args, "hidden", None) or ()),
                       epochs=args.epochs, batch_size=args.batch_size,
                       optimizer=args.optimizer, lr=args.lr, schedule=args.schedule,
                       seed=args.seed)


# -- the output folder and the data ----------------------------------------------------

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


# -- a run -----------------------------------------------------------------------------

def train_and_save(config: TrainConfig, loaded, out: Path) -> dict | None:
    """Train ``config`` on ``loaded`` (from :func:`load_for_training`), printing the
    network, a progress bar (on a terminal) and a table row per epoch, and write the
    outputs into ``out`` (:func:`write_outputs`). Returns the metrics, or None after
    printing why not: the folder cannot be made or written, or the training diverged."""
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
    bar = Progress()

    def batch_done(epoch, done, total, loss, images_per_second):
        bar.update(f"epoch {epoch}/{config.epochs}", done, total, loss, images_per_second)

    def epoch_done(row):
        bar.clear()
        print(table_row(row), flush=True)

    try:
        net, rows = train(config, train_x, train_y, test_x, test_y, on_batch=batch_done,
                          on_epoch=epoch_done)
    except TrainingDiverged as exc:
        bar.clear()
        print(f"error: {config.layers} layers: {exc}", file=sys.stderr)
        return None
    try:
        return write_outputs(out, config, data, net, rows)
    except OSError as exc:
        print(f"error: cannot write the outputs into {out}: {exc}", file=sys.stderr)
        return None


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
