"""Train the lecture's 2-, 3- or 4-layer network on MNIST or Fashion-MNIST, from gates.

    python -m experiments.train_mnist                 # 3 layers, MNIST, the defaults
    python -m experiments.train_mnist --layers 4 --dataset fashion-mnist
    compgraph train --layers 2 --epochs 5

The networks are :mod:`experiments.networks`' (AffineGate and ReLUGate in a graph,
softmax cross-entropy on top), trained by :class:`experiments.training.Solver`: He
initialisation, shuffled mini-batches, Adam with a cosine learning-rate schedule,
float32 throughout.

Each epoch shows a progress bar (loss, images/s; on a terminal only) and prints a table
row. The output folder receives ``metrics.json``, ``metrics.csv``, ``params.npz`` and
``curves.png`` (with matplotlib), as :mod:`experiments.runs` describes. An ``--out``
folder that already holds a run's outputs is refused unless ``--force`` is given (the
default folder is replaced by each run of the same command).
"""

from __future__ import annotations

import sys
from pathlib import Path

from .runs import (add_data_arguments, add_out_arguments, add_training_arguments,
                   check_out_dir, config_from_args, load_for_training, module_main,
                   train_and_save)

__all__ = ["configure", "run", "main"]


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


def main(argv=None) -> int:
    """``python -m experiments.train_mnist [options]``; returns the exit status."""
    return module_main(argv, "python -m experiments.train_mnist", "train", configure, run)


if __name__ == "__main__":
    sys.exit(main())
