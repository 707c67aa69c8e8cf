"""Train the 2-, 3- and 4-layer networks with the same settings and compare them.

    python -m experiments.compare --dataset fashion-mnist
    compgraph compare --epochs 5

The lecture's exercise, answered: does a hidden layer help, and does a second one?
Writes into the output folder ``compare.md`` (a markdown table: test accuracy,
parameter count, median seconds per epoch), ``compare.png`` (the curves of all three, when
matplotlib is installed) and one subfolder per network with the same files as
``train`` (metrics, params). An ``--out`` folder that already holds a run's outputs is
refused unless ``--force`` is given.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gates._util import atomic_write_text
from .datasets import DATASETS
from .plots import plot_curves
from .runs import (add_data_arguments, add_out_arguments, add_training_arguments,
                   check_out_dir, config_from_args, load_for_training, module_main, plural,
                   train_and_save)

__all__ = ["configure", "run", "main", "markdown_table"]

LAYERS = (2, 3, 4)
#: what a comparison writes besides the per-network folders' contents
COMPARE_FILES = ("compare.md", "compare.png", *(f"{n}layers" for n in LAYERS))


def markdown_table(results) -> str:
    """A markdown table with one row per result dict (from ``write_outputs``)."""
    lines = ["| layers | sizes | parameters | test accuracy | seconds / epoch (median) |",
             "|---:|---|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['layers']} | {'-'.join(map(str, r['sizes']))} | "
                     f"{r['parameters']:,} | {r['test_accuracy']:.4f} | "
                     f"{r['seconds_per_epoch']:.2f} |")
    return "\n".join(lines) + "\n"


def configure(parser, command="compare") -> None:
    """Add the arguments of ``compgraph compare`` / ``python -m experiments.compare``."""
    parser.description = __doc__.split("\n\n")[0]
    add_training_arguments(parser)
    add_data_arguments(parser)
    add_out_arguments(parser, "runs/DATASET-compare")
    parser.set_defaults(command=command)


def run(args) -> int:
    """Train the three networks on the same data; print and write the comparison.
    Returns the exit status as ``train`` does."""
    out = Path(args.out or f"runs/{args.dataset}-compare")
    try:
        configs = [config_from_args(args, layers=layers) for layers in LAYERS]
        for config in configs:
            config.validate()
        check_out_dir(out, named=args.out is not None, force=args.force, extra=COMPARE_FILES)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    loaded = load_for_training(args)
    if loaded is None:
        return 1
    results, curves = [], {}
    for config in configs:
        print()
        result = train_and_save(config, loaded, out / f"{config.layers}layers")
        if result is None:
            return 1
        results.append(result)
        curves[f"{config.layers} layers"] = result["rows"]
    data = loaded[0]
    title = DATASETS[data.name].title
    table = markdown_table(results)
    atomic_write_text(out / "compare.md",
                      f"# {title}: 2, 3 and 4 layers\n\n{data.source}; {args.optimizer}, "
                      f"batch {args.batch_size}, {plural(args.epochs, 'epoch')}, "
                      f"seed {args.seed}.\n\n" + table)
    files = ["compare.md"]
    if plot_curves(curves, out / "compare.png", f"{title}: 2, 3 and 4 layers"):
        files.append("compare.png")
    print("\n" + table)
    print(f"wrote {out}/: " + ", ".join(files) + " and a folder per network")
    return 0


def main(argv=None) -> int:
    """``python -m experiments.compare [options]``; returns the exit status."""
    return module_main(argv, "python -m experiments.compare", "compare", configure, run)


if __name__ == "__main__":
    sys.exit(main())
