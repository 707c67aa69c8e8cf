"""Grading students' gates: the skeleton, honest scores, hostile submissions, reports.

Every submission here is graded the real way: each gate in its own child process.
Submissions are built from the reference written out as one standalone file
(``solution_source()``) plus a class that overrides one gate, so each test changes
exactly one thing about an otherwise perfect submission.
"""

from __future__ import annotations

import ast
import csv
import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import gates
from experiments.cli import main as cli_main
from gates.grade import (GradingError, Rubric, RubricError, format_table, grade_folder,
                         grade_submission, gradescope, load_rubric, skeleton_source,
                         solution_source, write_json)
from gates.grade import isolation
from gates.grade.autograder import build_zip, run as run_autograder
from gates.grade.batch import write_csv
from gates.grade.trees import remove_tree
from gates.grade.report import CheckResult, GateResult, SubmissionResult
from gates.grade.scan import scan_source

SOLUTION = solution_source()
FAST = {"timeout": 2.0}   # short limits keep the hostile cases quick, with room for a busy machine


def submission(tmp_path, extra: str = "", name: str = "student.py", base: str = SOLUTION):
    path = tmp_path / name
    path.write_text(base + "\n" + textwrap.dedent(extra) + "\n", encoding="utf-8")
    return path


def by_gate(result):
    return {g.name: g for g in result.gates}


def checks(gate_result):
    return {c.name: c for c in gate_result.checks}


def valid_results_json(tmp_path, result) -> dict:
    """Write Gradescope's results.json and read it back as strict JSON."""
    path = write_json(tmp_path / "results" / "results.json", gradescope(result))
    data = json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert set(data) >= {"score", "execution_time", "output", "tests"}
    for number, test in enumerate(data["tests"], 1):
        assert test["number"] == str(number)
        assert test["status"] in ("passed", "failed")
        assert 0 <= test["score"] <= test["max_score"]
    return data


# -- the skeleton ---------------------------------------------------------------------

def test_skeleton_has_every_gate_with_the_contract_signatures_and_runs_as_is():
    source = skeleton_source()
    tree = ast.parse(source)
    imports = [n for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert [a.name for n in imports for a in n.names] == ["numpy"]
    namespace = {}
    exec(compile(source, "skeleton.py", "exec"), namespace)
    for cls in gates.ALL_GATES:
        student = namespace[cls.__name__]
        params = list(inspect.signature(student.forward).parameters)
        assert params == ["self", *cls.input_names]
    assert list(inspect.signature(namespace["ScaleGate"]).parameters) == ["k"]
    assert list(inspect.signature(namespace["PowerGate"]).parameters) == ["n"]
    assert namespace["SumGate"]().axis is None and namespace["MeanGate"](axis=1).axis == 1
    with pytest.raises(NotImplementedError):
        namespace["MultiplyGate"]().forward(3.0, -4.0)


def test_skeleton_docstrings_give_the_forward_formula_but_not_the_gradient():
    sigmoid = inspect.getdoc(_skeleton_class("SigmoidGate"))
    assert "1 / (1 + exp(-x))" in sigmoid and "self.dzdx" in sigmoid
    assert "(1 - z)" not in sigmoid
    assert "broadcast like numpy" in inspect.getdoc(_skeleton_class("AddGate"))
    assert "(dlogits, None)" in inspect.getdoc(_skeleton_class("SoftmaxCrossEntropyGate").backward)
    assert "jvp" not in skeleton_source() .split('"""', 2)[2]
    assert "def jvp(self, tx, ty):" in skeleton_source([gates.MultiplyGate], jvp=True)


def _skeleton_class(name):
    namespace = {}
    exec(skeleton_source(), namespace)
    return namespace[name]


# -- honest submissions ---------------------------------------------------------------

def test_the_reference_written_out_as_a_submission_scores_100_percent(tmp_path):
    result = grade_submission(submission(tmp_path), seed=7)
    assert len(result.gates) == 24
    assert result.score == pytest.approx(240.0) and result.percent == pytest.approx(100.0)
    assert all(g.status == "graded" for g in result.gates)
    assert valid_results_json(tmp_path, result)["score"] == pytest.approx(240.0)


def test_the_untouched_skeleton_scores_0_with_not_implemented_for_each_gate(tmp_path):
    result = grade_submission(submission(tmp_path, base=skeleton_source()))
    assert result.score == 0.0 and result.max_score == pytest.approx(240.0)
    for g in result.gates:
        assert g.status == "not implemented", g.name
        assert "not implemented yet" in g.text()
    assert all(t["status"] == "failed" for t in valid_results_json(tmp_path, result)["tests"])


def test_a_sigmoid_backward_without_1_minus_z_loses_the_backward_check_only(tmp_path):
    path = submission(tmp_path, """
        class SigmoidGate(SigmoidGate):
            def backward(self, dz):
                z = self._sig
                return (z * dz,)              # forgot the (1 - z)

            def forward(self, x):
                self._sig = super().forward(x)
                return self._sig
    """)
    result = by_gate(grade_submission(path, gates=["SigmoidGate", "TanhGate"]))
    sigmoid = checks(result["SigmoidGate"])
    # one mistake, one check: the 4 points of backward; the gradients have the right
    # count, shapes and dtype, and the same answer twice, so those checks are earned
    assert result["SigmoidGate"].score == pytest.approx(6.0)
    assert sigmoid["backward"].points == 0.0 and sigmoid["backward"].max_points == 4.0
    assert [k for k, c in sigmoid.items() if c.points < c.max_points] == ["backward"]
    assert "gradient for 'x' wrong" in sigmoid["backward"].reasons[0]
    assert result["TanhGate"].score == pytest.approx(10.0)


def test_a_differently_written_correct_backward_gets_full_marks(tmp_path):
    # sigma'(x) = exp(-x) / (1 + exp(-x))**2 is not how the reference writes it
    path = submission(tmp_path, """
        class SigmoidGate:
            def forward(self, x):
                self.x = x
                return 1 / (1 + np.exp(-x))

            def backward(self, dz):
                e = np.exp(-self.x)
                return (dz * e / (1 + e) ** 2,)
    """)
    assert grade_submission(path, gates=["SigmoidGate"]).score == pytest.approx(10.0)


def test_a_gradient_not_summed_over_broadcast_axes_is_explained(tmp_path):
    path = submission(tmp_path, """
        class AddGate:
            def forward(self, x, y):
                return x + y

            def backward(self, dz):
                return dz, dz                 # y of shape (2,) needs dz summed over rows
    """)
    add = checks(by_gate(grade_submission(path, gates=["AddGate"]))["AddGate"])
    assert add["forward"].points == add["forward"].max_points
    assert 0 < add["gradients"].points < add["gradients"].max_points
    assert any("sum the upstream over the axes broadcasting added" in r
               for r in add["gradients"].reasons)


def test_jvp_is_graded_only_when_asked_and_then_against_numerical_derivatives(tmp_path):
    path = submission(tmp_path, """
        class MultiplyGate(MultiplyGate):
            def jvp(self, tx, ty):
                raise NotImplementedError
    """)
    assert grade_submission(path, gates=["MultiplyGate"]).score == pytest.approx(10.0)
    graded = by_gate(grade_submission(path, gates=["MultiplyGate", "AddGate"], jvp=True))
    multiply = checks(graded["MultiplyGate"])
    assert multiply["jvp"].points == 0.0 and "NotImplementedError" in multiply["jvp"].reasons[0]
    assert graded["MultiplyGate"].score == pytest.approx(10.0 - multiply["jvp"].max_points)
    assert graded["AddGate"].score == pytest.approx(10.0)


# -- hostile submissions --------------------------------------------------------------

HOSTILE = """
    import ctypes, os

    class SigmoidGate(SigmoidGate):
        def forward(self, x):
            while True:                       # an endless loop
                pass

    class TanhGate(TanhGate):
        def forward(self, x):
            return np.ones(2 ** 29)           # 4 GB

    class SinGate(SinGate):
        def forward(self, x):
            ctypes.string_at(0)               # a segmentation fault

    class ExpGate(ExpGate):
        def backward(self, dz):
            os._exit(0)                       # leaves without a word

    class MultiplyGate(MultiplyGate):
        def forward(self, x, y):
            z = super().forward(x, y)
            x *= 2                            # changes its input in place
            return z

    class NegateGate:
        def forward(self, x):
            print("ALL TESTS PASSED: 100%")   # says so, returns garbage
            return x

        def backward(self, dz):
            return (dz,)

    class CosGate(CosGate):
        def backward(self, dz):               # a lone surrogate no terminal can print
            raise ValueError("\\ud800")
"""


def test_each_hostile_gate_costs_that_gate_only(tmp_path):
    names = ["SigmoidGate", "TanhGate", "SinGate", "ExpGate", "MultiplyGate", "NegateGate",
             "CosGate", "AddGate"]
    result = grade_submission(submission(tmp_path, HOSTILE), gates=names, **FAST)
    g = by_gate(result)
    assert g["SigmoidGate"].score == 0 and g["SigmoidGate"].status == "timed out"
    assert "endless loop" in g["SigmoidGate"].text()
    assert g["TanhGate"].score == 0 and "ran out of memory" in g["TanhGate"].text()
    assert g["SinGate"].score == 0 and "SIGSEGV" in g["SinGate"].text()
    exp = checks(g["ExpGate"])
    assert exp["forward"].points == exp["forward"].max_points and exp["backward"].points == 0
    assert "os._exit" in g["ExpGate"].text()
    multiply = checks(g["MultiplyGate"])
    assert multiply["inputs_unchanged"].points == 0
    assert "forward changed input 'x' in place" in multiply["inputs_unchanged"].reasons[0]
    negate = checks(g["NegateGate"])
    assert negate["forward"].points == 0 and negate["backward"].points == 0
    assert "ALL TESTS PASSED" in g["NegateGate"].output
    assert g["AddGate"].score == pytest.approx(10.0)
    assert "ValueError: \\ud800" in format_table(result).encode("utf-8").decode("utf-8")
    valid_results_json(tmp_path, result)


def test_sys_exit_at_import_grades_every_gate_0_and_still_writes_results_json(tmp_path):
    result = grade_submission(submission(tmp_path, "import sys\nsys.exit(3)"),
                              gates=["AddGate", "SigmoidGate"], **FAST)
    assert result.score == 0 and all(g.status == "import failed" for g in result.gates)
    assert "sys.exit(3)" in result.notes[0]
    data = valid_results_json(tmp_path, result)
    assert data["score"] == 0 and "could not be imported" in data["output"]


def test_limits_too_tight_for_the_child_to_start_are_the_teachers_error_not_a_zero(tmp_path):
    with pytest.raises(GradingError, match="could not start.*--memory-mb 32"):
        grade_submission(submission(tmp_path), gates=["AddGate"], memory=32 << 20)


def test_ten_megabytes_of_prints_cost_nothing_and_are_cut_in_the_report(tmp_path):
    path = submission(tmp_path, "for _ in range(10 * 1024):\n    print('x' * 1023)")
    result = grade_submission(path, gates=["AddGate"], **FAST)
    assert result.score == pytest.approx(10.0)
    assert "10485760 bytes of output in all, cut" in result.gates[0].output
    assert len(json.dumps(valid_results_json(tmp_path, result))) < 20_000


def test_a_syntax_error_is_reported_with_its_line(tmp_path):
    result = grade_submission(submission(tmp_path, "def broken(:\n    pass"), gates=["AddGate"])
    assert result.score == 0 and "SyntaxError at line" in result.notes[0]
    valid_results_json(tmp_path, result)


@pytest.mark.parametrize("sneaky, refusal", [
    ("from gates import SigmoidGate", r"may not import compgraph's reference package 'gates'"),
    # not on the child's sys.path here; where it is (installed beside numpy), not readable
    ("import importlib\nSigmoidGate = importlib.import_module('ga' + 'tes').SigmoidGate",
     r"No module named 'gates'|may not read"),
    ("import subprocess\nsubprocess.run(['true'])", r"may not start processes"),
])
def test_the_reference_gates_cannot_be_borrowed_nor_processes_started(tmp_path, sneaky, refusal):
    path = submission(tmp_path, sneaky, base="import numpy as np\n")
    result = grade_submission(path, gates=["SigmoidGate"])
    assert result.score == 0 and re.search(refusal, result.notes[0])


def test_a_submission_cannot_write_outside_its_folder_nor_read_the_reference(tmp_path):
    # every attempt must be refused; each one that works adds 1 to the output of AddGate
    reference = os.path.realpath(os.path.dirname(gates.__file__))
    copy = tmp_path / "build" / "lib" / "gates" / "nonlinear.py"   # e.g. left by a build
    copy.parent.mkdir(parents=True)
    copy.write_text(inspect.getsource(gates.nonlinear))
    path = submission(tmp_path, f"""
        import os
        worked = []

        def attempt(name, action):
            try:
                action()
                worked.append(name)
            except OSError:
                pass

        attempt("write outside", lambda: open({str(tmp_path / "pwned.txt")!r}, "w"))
        attempt("make a sibling folder", lambda: os.mkdir("../forged"))
        attempt("read the reference by a bytes path",
                lambda: open(os.fsencode({reference!r} + "/nonlinear.py"), "rb"))
        attempt("read a copy of the reference elsewhere", lambda: open({str(copy)!r}))
        attempt("open the reference's parent folder (for dir_fd)",
                lambda: os.open(os.path.dirname({reference!r}), os.O_RDONLY))
        attempt("read the grader's memory", lambda: open(f"/proc/{{os.getppid()}}/mem", "rb"))
        attempt("signal the grader", lambda: os.kill(os.getppid(), 0))

        class AddGate(AddGate):
            def forward(self, x, y):
                return super().forward(x, y) + len(worked)
    """)
    add = by_gate(grade_submission(path, gates=["AddGate"]))["AddGate"]
    assert add.score == pytest.approx(10.0), add.text()
    assert not (tmp_path / "pwned.txt").exists()


def test_backward_must_give_the_same_readable_answer_twice(tmp_path):
    path = submission(tmp_path, """
        class ExpGate(ExpGate):
            def backward(self, dz):
                self.dzdx = self.dzdx * 2     # changes what forward cached
                return super().backward(dz)

        class NegateGate(NegateGate):
            def backward(self, dz):           # the same unreadable answer each time
                return (np.asarray(dz, dtype=object),)
    """)
    result = by_gate(grade_submission(path, gates=["ExpGate", "NegateGate"]))
    exp = checks(result["ExpGate"])["repeatable"]
    negate = checks(result["NegateGate"])["repeatable"]
    assert exp.points == 0 and "do not change what forward cached" in exp.reasons[0]
    assert negate.points == 0 and "no usable gradient" in negate.reasons[0]


def test_a_gate_that_uses_an_autodiff_framework_gets_no_backward_credit(tmp_path):
    # stand-in "torch" and "autograd" modules, so the test needs neither installed
    path = submission(tmp_path, """
        import sys, types
        sys.modules["torch"] = types.ModuleType("torch")
        import torch

        class SigmoidGate(SigmoidGate):
            def backward(self, dz):
                torch                          # "uses" it
                return super().backward(dz)

        class TanGate(TanGate):
            def backward(self, dz):            # hidden from the static scan
                sys.modules["autograd"] = types.ModuleType("autograd")
                __import__("auto" + "grad")
                return super().backward(dz)

        class CosGate(CosGate):
            def backward(self, dz):            # a real module, loaded, then forgotten
                with open("jax.py", "w") as f:
                    f.write("grad = None")
                sys.path.insert(0, ".")
                __import__("ja" + "x")
                del sys.modules["jax"]
                return super().backward(dz)
    """)
    result = by_gate(grade_submission(path, gates=["SigmoidGate", "TanGate", "CosGate",
                                                   "TanhGate"]))
    for name, framework in (("SigmoidGate", "torch"), ("TanGate", "autograd"),
                            ("CosGate", "jax")):
        graded = checks(result[name])
        assert graded["forward"].points == graded["forward"].max_points
        assert graded["backward"].points == 0
        assert f"uses {framework}" in graded["backward"].reasons[0]
    assert result["TanhGate"].score == pytest.approx(10.0)


def test_the_static_scan_follows_aliases_and_helpers_per_class():
    scan = scan_source(textwrap.dedent("""\
        import numpy as np
        import jax.numpy as jnp
        from autograd import grad
        g = grad
        def helper(x):
            return jnp.sum(x)
        class A:
            def backward(self, dz):
                return helper(dz)
        class B:
            def backward(self, dz):
                return g(dz)
        class C:
            def backward(self, dz):
                return np.ones(3)
        try:                                  # guarded imports are imports too
            import torch
        except ImportError:
            torch = None
        class D:
            def backward(self, dz):
                return torch.sigmoid(dz)
    """))
    assert scan.frameworks == {"jax": 2, "autograd": 3, "torch": 17}
    assert scan.uses == {"A": [("jax", 2)], "B": [("autograd", 3)], "D": [("torch", 17)]}


# -- rubric, reports, batch, Gradescope, CLI -----------------------------------------

def test_rubric_files_set_points_per_gate_and_weights_per_check(tmp_path):
    rubric_file = tmp_path / "rubric.json"
    rubric_file.write_text(json.dumps({"points": {"SigmoidGate": 20},
                                       "weights": {"forward": 1, "backward": 1, "gradients": 0,
                                                   "inputs_unchanged": 0, "repeatable": 0,
                                                   "float32": 0}}))
    rubric = load_rubric(rubric_file)
    assert rubric.check_points("SigmoidGate", jvp=False)["backward"] == 10.0
    assert rubric.gate_points("AddGate") == 10.0
    toml = tmp_path / "rubric.toml"
    toml.write_text('default_points = 5\n[points]\nAddGate = 8\n')
    assert load_rubric(toml).gate_points("AddGate") == 8.0
    assert load_rubric(toml).gate_points("TanhGate") == 5.0
    bad = tmp_path / "bad.json"
    bad.write_text('{"weights": {"speed": 1}}')
    with pytest.raises(RubricError, match="unknown check 'speed'"):
        load_rubric(bad)
    bad.write_text('{"points": {"Sigmoid": 5}}')
    with pytest.raises(RubricError, match="unknown gate.*Sigmoid"):
        load_rubric(bad)


def test_batch_grades_a_folder_into_one_csv_row_per_student(tmp_path):
    folder = tmp_path / "subs"
    folder.mkdir()
    submission(folder, name="alice.py")
    (folder / "bob").mkdir()
    submission(folder / "bob", name="hw.py", base=skeleton_source())
    (folder / "carol").mkdir()          # uploaded nothing
    results = grade_folder(folder, tmp_path / "grades.csv", gates=["AddGate"], rubric=Rubric())
    assert [s for s, _ in results] == ["alice", "bob", "carol"]
    rows = list(csv.DictReader(open(tmp_path / "grades.csv")))
    assert [(r["student"], r["score"], r["AddGate"]) for r in rows] == [
        ("alice", "10.0", "10.0"), ("bob", "0.0", "0.0"), ("carol", "0", "")]
    # each graded row says its run seed: --run-seed replays that student's fresh cases
    assert rows[0]["run_seed"] == str(dict(results)["alice"].run_seed) and \
        rows[2]["run_seed"] == ""


def test_a_student_folder_too_deep_for_recursion_is_walked_and_graded(tmp_path):
    folder = tmp_path / "subs"
    deep = folder / "mallory"
    deep.mkdir(parents=True)
    fd = os.open(deep, os.O_RDONLY)
    for _ in range(1200):                 # os.walk would raise RecursionError
        os.mkdir("d", dir_fd=fd)
        inner = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = inner
    os.close(fd)
    try:
        submission(deep, name="hw.py")
        (folder / "link").symlink_to(tmp_path)          # a symlinked "student folder"
        submission(folder, name="alice.py")
        results = dict(grade_folder(folder, tmp_path / "grades.csv", gates=["AddGate"],
                                    timeout=3.0))
    finally:
        assert remove_tree(deep)      # pytest's own clean-up of tmp_path would recurse
    assert results["alice"].score == pytest.approx(10.0)
    assert results["mallory"].score == pytest.approx(10.0)
    assert results["link"].score == 0 and "symbolic link" in results["link"].notes[0]


def test_what_a_student_controls_cannot_drive_the_terminal_or_the_spreadsheet(tmp_path):
    # escape sequences could clear the teacher's screen and draw a fake table; a file
    # name starting with "=" would be a formula in the spreadsheet
    lost = CheckResult("forward", 0.0, 3.0, reasons=["forward raised ValueError: \x1b[2J"])
    gate = GateResult("AddGate", [lost], output="\x1b[1AAddGate  10.0/10.0\r")
    result = SubmissionResult('=HYPERLINK("http://x").py', [gate])
    table = format_table(result)
    assert "\x1b" not in table and "\r" not in table
    assert "\\x1b[2J" in table and "\\x1b[1AAddGate  10.0/10.0\\x0d" in table
    write_csv(tmp_path / "grades.csv", [("=HYPERLINK(1)", result), ("@SUM(A1)", None)],
              ["AddGate"])
    rows = list(csv.DictReader(open(tmp_path / "grades.csv")))
    assert [(r["student"], r["file"][:2]) for r in rows] == [("'=HYPERLINK(1)", "'="),
                                                            ("'@SUM(A1)", "")]


def test_a_grading_report_displays_itself_in_a_notebook_escaped():
    lost = CheckResult("forward", 0.0, 3.0, reasons=["raised ValueError: <script>x</script>"])
    kept = CheckResult("backward", 4.0, 4.0)
    result = SubmissionResult("<b>hw</b>.py", [GateResult("AddGate", [lost, kept])])
    page = result._repr_html_()
    assert "<script>" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "&lt;b&gt;hw&lt;/b&gt;.py" in page and "0.00/3.00" in page and "4.00/4.00" in page
    assert "<summary>AddGate: 4.00/7.00</summary>" in page


def test_the_autograder_zip_has_the_scripts_at_its_root_and_its_entry_point_grades(tmp_path):
    zip_path = build_zip(tmp_path / "autograder.zip", gates=["AddGate"], timeout=5.0)
    with zipfile.ZipFile(zip_path) as z:
        names = z.namelist()
        assert {"setup.sh", "run_autograder", "config.json"} <= set(names)
        assert "compgraph/gates/grade/runner.py" in names and "compgraph/setup.cfg" in names
        assert z.getinfo("run_autograder").external_attr >> 16 & 0o111
        z.extract("config.json", tmp_path)
    upload = tmp_path / "submission"
    upload.mkdir()
    submission(upload, name="my_gates.py")
    results = tmp_path / "results" / "results.json"
    assert run_autograder(tmp_path / "config.json", upload, results) == 0
    assert json.loads(results.read_text())["score"] == pytest.approx(10.0)
    empty = tmp_path / "empty"
    empty.mkdir()
    run_autograder(tmp_path / "config.json", empty, results)
    data = json.loads(results.read_text())
    assert data["score"] == 0 and "No .py file" in data["output"]
    with pytest.raises(GradingError, match="unknown gate.*SigmoidGat"):   # a typo
        build_zip(tmp_path / "typo.zip", gates=["SigmoidGat"])
    with pytest.raises(GradingError, match="seed must be an integer >= 0"):
        build_zip(tmp_path / "typo.zip", seed=-1)


def test_the_grade_command_prints_a_table_and_writes_json_and_gradescope(tmp_path, capsys):
    path = submission(tmp_path)
    status = cli_main(["grade", str(path), "--gates", "AddGate,MultiplyGate", "--timeout", "5",
                       "--json", str(tmp_path / "report.json"),
                       "--gradescope", str(tmp_path / "gs")])
    assert status == 0
    table = capsys.readouterr().out
    assert "MultiplyGate" in table and "100.0%" in table
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["score"] == 20.0 and report["gates"][1]["name"] == "MultiplyGate"
    assert json.loads((tmp_path / "gs" / "results.json").read_text())["score"] == 20.0
    assert cli_main(["grade", str(path), "--gates", "NoSuchGate"]) == 2


def test_the_batch_command_writes_the_csv_and_says_the_isolation(tmp_path, capsys):
    folder = tmp_path / "subs"
    folder.mkdir()
    submission(folder, name="alice.py")
    assert cli_main(["grade", "--batch", str(folder), "--gates", "AddGate", "--timeout", "5",
                     "--csv", str(tmp_path / "grades.csv")]) == 0
    out = capsys.readouterr().out
    assert "alice" in out and "isolation: " in out
    assert next(csv.DictReader(open(tmp_path / "grades.csv")))["AddGate"] == "10.0"


def test_the_skeleton_command_writes_the_file_and_the_solution(tmp_path):
    out = tmp_path / "hw.py"
    assert cli_main(["skeleton", "--gates", "MultiplyGate,ScaleGate", "-o", str(out)]) == 0
    text = out.read_text()
    assert "class MultiplyGate:" in text and "def __init__(self, k):" in text
    assert "class AddGate" not in text
    solution = tmp_path / "solution.py"
    assert cli_main(["skeleton", "--solution", "-o", str(solution)]) == 0
    namespace = {}
    exec(solution.read_text(), namespace)
    # the lecture's multiply gate: 3 x -4 = -12, and backward(2) switches to (-8, 6)
    mul = namespace["MultiplyGate"]()
    assert mul.forward(3.0, -4.0) == -12.0
    assert tuple(float(g) for g in mul.backward(2.0)) == (-8.0, 6.0)


def test_the_terminal_table_has_one_row_per_gate_and_the_reasons(tmp_path):
    path = submission(tmp_path, """
        class ReLUGate(ReLUGate):
            def forward(self, x):
                return np.abs(x)
    """)
    text = format_table(grade_submission(path, gates=["ReLUGate", "AddGate"]))
    assert text.count("\nReLUGate") == 1 and text.count("\nAddGate") == 1
    assert "forward output wrong in case 1" in text and "expected 0, got" in text


FRAME = """
        import json, os, struct, sys
        FD = int(sys.argv[3])                     # the pipe the runner sends results down

        def frame(step, info, arrays, claimed=None):
            layout = [[k, a.dtype.str, list(a.shape)] for k, a in arrays.items()]
            meta = json.dumps({"step": step, "info": info, "arrays": layout}).encode()
            data = b"".join(a.tobytes() for a in arrays.values())
            size = len(data) if claimed is None else claimed
            return struct.pack(">4sIQ", b"CGR1", len(meta), size) + meta + data
"""


def test_what_a_submission_prints_or_leaves_in_files_is_never_believed(tmp_path):
    # a gate with no math claims success on stdout and stderr and leaves results files,
    # a grades.csv and a cases file in its working folder and beside itself (both in
    # the grader's temporary tree)
    path = submission(tmp_path, """
        import json, os, sys

        class SigmoidGate:
            def forward(self, x):
                claim = {"score": 10, "max_score": 10, "gates": [{"name": "SigmoidGate",
                         "score": 10.0, "max_score": 10.0}], "output": "all tests passed"}
                for folder in (os.getcwd(), os.path.dirname(os.path.abspath(__file__))):
                    for name in ("results.json", "grades.csv", "cases.npz", "report.json"):
                        try:
                            with open(os.path.join(folder, name), "w") as f:
                                json.dump(claim, f)
                        except OSError:
                            pass
                print("SigmoidGate: 10.00 / 10.00  all tests passed")
                print(json.dumps(claim), file=sys.stderr)
                return np.zeros_like(x)

            def backward(self, dz):
                print("backward: PASS")
                return (np.zeros_like(dz),)
    """)
    result = grade_submission(path, gates=["SigmoidGate"])
    assert result.gates[0].score == 0
    assert result.score == 0


def test_results_forged_by_the_submission_are_not_believed(tmp_path):
    # this submission forges case 1's backward in the runner's pipe (with a verdict,
    # which nobody reads) and leaves before the real one is sent; another claims 8 TB
    path = submission(tmp_path, FRAME + """
        one = {"container": "tuple", "length": 1, "items": [{"kind": "ndarray"}]}
        fake = np.zeros((4, 3))

        class ExpGate(ExpGate):
            def backward(self, dz):
                info = {"error": None, "g1": one, "g1again": one, "g2": one,
                        "verdict": "all tests passed"}
                os.write(FD, frame("c0_backward", info, {"g1_0": fake, "g1again_0": fake,
                                                         "g2_0": fake, "after_0": fake}))
                os._exit(0)

        class LogGate(LogGate):
            def backward(self, dz):
                huge = frame("c0_backward", {}, {"g1_0": np.zeros(1)}, claimed=8 * 10 ** 12)
                os.write(FD, huge)
                os._exit(0)
    """)
    result = by_gate(grade_submission(path, gates=["ExpGate", "LogGate", "AddGate"]))
    exp = checks(result["ExpGate"])
    assert exp["forward"].points == exp["forward"].max_points
    assert exp["backward"].points == 0 and exp["backward"].passed == 0
    assert "gradient for 'x' wrong in case 1" in exp["backward"].reasons[0]
    assert result["AddGate"].score == pytest.approx(10.0)
    log = checks(result["LogGate"])      # graded, not a crash of the grader
    assert log["forward"].points == log["forward"].max_points and log["backward"].points == 0


def test_an_out_of_memory_reason_has_no_dangling_colon():
    from gates.grade.scoring import error_text
    assert error_text({"type": "MemoryError", "message": ""}, "forward") == \
        "forward ran out of memory (the limit is per gate)"
    assert error_text({"type": "MemoryError", "message": "4 GB"}, "forward").endswith(": 4 GB")


def test_a_fifo_or_a_symlink_in_a_batch_is_that_students_row_and_the_csv_is_written(tmp_path):
    folder = tmp_path / "subs"
    (folder / "mallory").mkdir(parents=True)
    secret = tmp_path / "teacher_secret.py"
    secret.write_text("SECRET = 'do not show'\nclass AddGate: pass\n")
    (folder / "mallory" / "hw.py").symlink_to(secret)       # would read the teacher's file
    os.mkfifo(folder / "fifo.py")                           # would block the grader forever
    submission(folder, name="alice.py")
    results = dict(grade_folder(folder, tmp_path / "grades.csv", gates=["AddGate"],
                                timeout=3.0))
    assert results["alice"].score == pytest.approx(10.0)
    # nothing to grade, and the row says why
    assert results["mallory"].score == 0 and "symbolic link" in results["mallory"].notes[0]
    assert results["fifo"].score == 0 and "not a regular file" in results["fifo"].notes[0]
    rows = {r["student"]: r for r in csv.DictReader(open(tmp_path / "grades.csv"))}
    assert set(rows) == {"alice", "fifo", "mallory"}
    assert "do not show" not in (tmp_path / "grades.csv").read_text()


def test_the_run_seed_is_reported_and_replays_the_fresh_cases_exactly(tmp_path):
    path = submission(tmp_path, """
        class TanhGate(TanhGate):
            def forward(self, x):
                return np.tanh(x) + (np.abs(x) > 1.5)   # wrong only for large inputs
    """)
    first = grade_submission(path, gates=["TanhGate"], run_seed=12345)
    again = grade_submission(path, gates=["TanhGate"], run_seed=12345)
    assert first.run_seed == 12345 and first.isolation
    assert first.gates[0].text() == again.gates[0].text()
    data = valid_results_json(tmp_path, first)
    assert "run seed: 12345" in data["output"] and f"isolation: {first.isolation}" in \
        data["output"]
    assert grade_submission(path, gates=["TanhGate"]).run_seed != 12345   # fresh by default


def test_the_seeded_cases_jacobians_are_computed_once_not_once_per_student(tmp_path,
                                                                          monkeypatch):
    from gates.grade import grader

    computed = []
    real = grader.jacobians
    monkeypatch.setattr(grader, "jacobians",
                        lambda *args: computed.append(1) or real(*args))
    monkeypatch.setattr(grader, "_JACOBIANS", {})
    path = submission(tmp_path)
    first = grade_submission(path, gates=["SigmoidGate"], seed=7, run_seed=1)
    per_student = len(computed)
    second = grade_submission(path, gates=["SigmoidGate"], seed=7, run_seed=2)
    # the seeded half is shared; each run's fresh twins are its own
    assert per_student == 12 and len(computed) == per_student + 6
    assert first.gates[0].score == second.gates[0].score == 10.0
    assert len(grader._JACOBIANS) == 6           # the seeded cases only
    cached = [J for J in grader._JACOBIANS.values() if J]
    with pytest.raises(ValueError, match="read-only"):
        cached[0][0][0, 0] = 1.0     # a later student cannot be judged by a changed one


def test_run_autograder_leaves_a_results_json_even_when_python_cannot_run(tmp_path):
    from gates.grade.autograder import RUN_AUTOGRADER

    root = tmp_path / "autograder"
    for sub in ("source", "submission", "venv/bin"):
        (root / sub).mkdir(parents=True)
    broken = root / "venv" / "bin" / "python"
    broken.write_text("#!/bin/sh\necho 'Segmentation fault' >&2\nexit 139\n")
    broken.chmod(0o755)
    script = root / "run_autograder"
    script.write_text(RUN_AUTOGRADER)
    done = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                          env=dict(os.environ, COMPGRAPH_AUTOGRADER_ROOT=str(root)))
    assert done.returncode == 0
    data = json.loads((root / "results" / "results.json").read_text())
    assert data["score"] == 0 and "could not run (status 139)" in data["output"]


def test_a_file_that_does_not_import_gets_a_short_report_with_its_reason_once(tmp_path):
    result = grade_submission(submission(tmp_path, "raise ValueError('oops')",
                                         base="import numpy as np\n"), **FAST)
    table = format_table(result)
    assert table.count("ValueError: oops") == 1
    assert len(table.splitlines()) < 40          # not 24 gates x 9 lines of the same


def test_skeleton_autograder_and_reports_refuse_to_overwrite_a_file_without_force(
        tmp_path, capsys):
    homework = tmp_path / "hw.py"
    homework.write_text("# a student's finished homework\n")
    assert cli_main(["skeleton", "-o", str(homework)]) == 2
    assert "hw.py already exists; pass --force" in capsys.readouterr().err
    assert homework.read_text() == "# a student's finished homework\n"
    assert cli_main(["skeleton", "-o", str(homework), "--force"]) == 0
    assert "class AddGate" in homework.read_text()
    zip_path = tmp_path / "autograder.zip"
    zip_path.write_text("old")
    assert cli_main(["autograder", "-o", str(zip_path), "--gates", "AddGate"]) == 2
    assert zip_path.read_text() == "old"
    report = tmp_path / "report.json"
    report.write_text("{}")
    path = submission(tmp_path)
    assert cli_main(["grade", str(path), "--gates", "AddGate", "--json", str(report)]) == 2
    assert report.read_text() == "{}"
    assert cli_main(["grade", str(path), "--gates", "AddGate", "--json", str(report),
                     "--force"]) == 0
    assert json.loads(report.read_text())["score"] == 10.0


def test_setup_sh_installs_hides_the_reference_makes_the_users_and_checks_isolation(tmp_path):
    # setup.sh run for real on the autograder zip, in a copy of Gradescope's layout; the
    # system's side (apt-get, useradd, pip's download) is stubbed: nothing outside
    # tmp_path changes. The venv's python sees only what pip "installed" and numpy,
    # as on Gradescope (a missing package under `set -e` would stop the build).
    import scipy

    root = tmp_path / "autograder"
    (root / "source").mkdir(parents=True)
    with zipfile.ZipFile(build_zip(tmp_path / "autograder.zip", gates=["AddGate"])) as z:
        z.extractall(root / "source")
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    log = tmp_path / "calls.log"
    numpy_site = os.path.dirname(os.path.dirname(np.__file__))
    scripts = {
        "apt-get": f'echo "apt-get $*" >> {log}',
        "getent": "exit 2",
        "groupadd": f'echo "groupadd $*" >> {log}',
        "useradd": f'echo "useradd $*" >> {log}',
        "python3": textwrap.dedent(f"""\
            venv="$3"; mkdir -p "$venv/bin" "$venv/site"
            cat > "$venv/bin/python" <<EOS
            #!/bin/sh
            PYTHONPATH="$venv/site:{numpy_site}" exec {sys.executable} -S "\\$@"
            EOS
            cat > "$venv/bin/pip" <<EOS
            #!/bin/sh
            echo "pip \\$*" >> {log}
            for a in "\\$@"; do [ -d "\\$a/gates" ] && cp -r "\\$a/gates" "$venv/site/"; done
            exit 0
            EOS
            chmod +x "$venv/bin/python" "$venv/bin/pip"
            """),
    }
    for name, body in scripts.items():
        (stubs / name).write_text("#!/bin/sh\n" + body)
        (stubs / name).chmod(0o755)
    (root / "setup.sh").write_text((root / "source" / "setup.sh").read_text())
    done = subprocess.run(["bash", str(root / "setup.sh")], capture_output=True, text=True,
                          cwd=tmp_path,
                          env=dict(os.environ, COMPGRAPH_AUTOGRADER_ROOT=str(root),
                                   PATH=f"{stubs}:{os.environ['PATH']}"))
    try:
        level = isolation.choose(require=True).level
    except isolation.IsolationError:       # no isolation here: the build must fail
        assert done.returncode != 0 and "refuses process-only" in done.stderr
        return
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"compgraph: grading isolation {level}" in done.stdout
    # a rebuilt image installs the numpy and scipy the zip was built with
    assert f"numpy=={np.__version__} scipy=={scipy.__version__}" in log.read_text()
    installed = root / "venv" / "site" / "gates"
    assert (installed / "grade" / "runner.py").is_file()
    assert not (root / "source" / "compgraph").exists()        # the bundled copy is gone
    for hidden in (installed, installed / "nonlinear.py", root / "source",
                   root / "source" / "config.json"):
        assert hidden.stat().st_mode & 0o077 == 0, hidden       # root only
    calls = log.read_text().splitlines()
    users = [c for c in calls if c.startswith("useradd")]
    assert len(users) == 16 and "--uid 64000 --gid 64000" in users[0]
    assert "--shell /usr/sbin/nologin" in users[0] and "--no-create-home" in users[0]
    assert any("bubblewrap" in c for c in calls if c.startswith("apt-get"))
