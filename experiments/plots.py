"""The training curves as a picture: loss and accuracy per epoch, train and test, for
one run or several side by side (``compare``). matplotlib is optional: without it no
picture is drawn, and a one-line note says how to get one.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gates._util import atomic_path

__all__ = ["MARKERS_UP_TO", "load_matplotlib", "curves_figure", "plot_curves"]

#: up to this many epochs, the curves mark each epoch's point: one point alone draws
#: no line at all, and a few are easier to read as dots than as a polyline
MARKERS_UP_TO = 20


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

