"""Honest students get the marks they earned, whatever their editor, format or style.

The submissions here are written the way students write them, by hand and not from
the reference: CS231n-style masks, a helper for unbroadcasting, Windows Notepad's
byte-order mark and CRLF line ends, a Vietnamese Windows code page, a Colab notebook,
a zip, two files. Each correct one must score full marks; each typical mistake must
cost exactly the check it breaks, once.
"""

from __future__ import annotations

import json
import textwrap
import unicodedata
import zipfile

import pytest

from gates.contract import full_marks
from gates.grade import grade_submission, skeleton_source
from gates.grade.submission import (SubmissionError, assemble, decode_source,
                                    notebook_source)
from gates.grade.archive import SubmittedFile
from honest_gates import (COLAB, GATES, HELPERS, HONEST, MISNAMED, MUTATED_CACHE, NAMES,
                          NO_UNBROADCAST, TORCH_FOR_COS, notebook)



def grade(path, names=NAMES, **options):
    return grade_submission(path, gates=names, seed=3, **options)


def scores(result):
    return {g.name: round(g.score, 6) for g in result.gates}


def lost(result, gate):
    """check name -> points lost, for the checks of ``gate`` that lost any."""
    g = {g.name: g for g in result.gates}[gate]
    return {c.name: round(c.max_points - c.points, 6) for c in g.checks
            if not full_marks(c.points, c.max_points)}


def test_the_hand_written_gates_score_full_marks(tmp_path):
    path = tmp_path / "hw.py"
    path.write_text(HONEST, encoding="utf-8")
    result = grade(path)
    assert result.percent == pytest.approx(100.0), [g.text() for g in result.gates]


# -- how the file was saved --------------------------------------------------------------

def test_a_file_saved_by_windows_notepad_with_a_bom_and_crlf_scores_full_marks(tmp_path):
    path = tmp_path / "hw.py"
    path.write_bytes(b"\xef\xbb\xbf" + HONEST.replace("\n", "\r\n").encode("utf-8"))
    result = grade(path)
    assert result.percent == pytest.approx(100.0), result.notes


def cp1258(text: str) -> bytes:
    """``text`` as Windows-1258 writes Vietnamese: a precomposed base letter where the
    code page has one (â, ơ, Đ) and the tone as a combining mark after it."""
    out = b""
    for ch in unicodedata.normalize("NFC", text):
        try:
            out += ch.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        base, marks = unicodedata.normalize("NFD", ch)[0], unicodedata.normalize("NFD", ch)[1:]
        for k in range(len(marks), -1, -1):
            try:
                out += (unicodedata.normalize("NFC", base + marks[:k]).encode("cp1258")
                        + marks[k:].encode("cp1258"))
                break
            except UnicodeEncodeError:
                continue
    return out


def test_a_vietnamese_windows_code_page_declared_in_the_file_is_honoured(tmp_path):
    comment = "# Bài làm của Đức, lớp Đồ thị tính toán"
    path = tmp_path / "hw.py"
    path.write_bytes(b"# -*- coding: cp1258 -*-\n" + cp1258(comment) + b"\n"
                     + HONEST.encode("ascii"))
    second = decode_source(path.read_bytes()).splitlines()[1]
    assert unicodedata.normalize("NFC", second) == comment
    assert grade(path, ["AddGate", "CosGate"]).percent == pytest.approx(100.0)


def test_decode_source_reads_as_python_does():
    assert decode_source(b"\xef\xbb\xbfx = 1\r\n") == "x = 1\r\n"
    assert decode_source("# coding: latin-1\nx = 'é'\n".encode("latin-1")).endswith("'é'\n")
    # a declaration naming no codec Python knows: read as UTF-8, the import says the rest
    assert decode_source(b"# coding: nonsense\nx = 1\n").endswith("x = 1\n")


# -- the format it was handed in ---------------------------------------------------------

def test_a_colab_notebook_is_graded_by_its_code_cells_without_magics(tmp_path):
    code = notebook_source(notebook(COLAB))
    assert "pip install" not in code.replace("pass  # IPython: !pip install", "")
    assert "sum(range(10))" in code and "class CosGate" in code
    path = tmp_path / "Bài tập 1.ipynb"
    path.write_bytes(notebook(COLAB))
    result = grade(path)
    assert result.percent == pytest.approx(100.0), result.notes
    assert any("code cells of the notebook" in n for n in result.notes)


def test_something_that_is_not_a_notebook_says_so():
    with pytest.raises(SubmissionError, match="hw.ipynb is not a Jupyter notebook"):
        notebook_source(b"print(1)", "hw.ipynb")
    with pytest.raises(SubmissionError, match="nested too deep"):
        notebook_source(b"[" * 200_000, "deep.ipynb")


def test_a_solution_split_over_two_files_imports_its_helper(tmp_path):
    folder = tmp_path / "an"
    folder.mkdir()
    (folder / "helpers.py").write_text(HELPERS, encoding="utf-8")
    (folder / "gates_hw.py").write_text("import numpy as np\nfrom helpers import unbroadcast\n"
                                        + GATES, encoding="utf-8")
    result = grade(folder)
    assert result.percent == pytest.approx(100.0), result.notes
    assert "gates_hw.py" in result.submission


def test_a_zip_of_two_files_is_graded_like_the_folder(tmp_path):
    path = tmp_path / "hw.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("bai1/helpers.py", HELPERS)
        z.writestr("bai1/gates_hw.py", "import numpy as np\nfrom helpers import *\n" + GATES)
        z.writestr("__MACOSX/bai1/._gates_hw.py", b"\x00\x05junk")
    result = grade(path)
    assert result.percent == pytest.approx(100.0), result.notes


def test_the_main_file_is_the_one_with_the_most_gates_and_only_its_folder_comes_along():
    files = [SubmittedFile("a/gates_hw.py", ("import numpy as np\n" + GATES).encode()),
             SubmittedFile("a/helpers.py", HELPERS.encode()),
             SubmittedFile("b/old.py", b"class AddGate:\n    pass\n"),
             SubmittedFile("a/notes.txt", b"hello")]
    sub = assemble(files, NAMES, "an")
    assert sub.main == "gates_hw.py" and sorted(sub.files) == ["gates_hw.py", "helpers.py"]
    with pytest.raises(SubmissionError, match="no Python file"):
        assemble([SubmittedFile("readme.txt", b"hi")], NAMES, "an")


# -- frameworks are a per-gate matter ------------------------------------------------------

def test_importing_torch_for_one_gate_costs_that_gates_backward_only(tmp_path):
    path = tmp_path / "hw.py"
    path.write_text("import torch\n" + TORCH_FOR_COS, encoding="utf-8")
    result = grade(path)
    assert {k: v for k, v in scores(result).items() if k != "CosGate"} == {
        n: 10.0 for n in NAMES if n != "CosGate"}
    # what needs a working backward: its values, count and shapes, twice, in float32
    assert set(lost(result, "CosGate")) == {"backward", "gradients", "repeatable", "float32"}
    assert "forward" not in lost(result, "CosGate")
    cos = {g.name: g for g in result.gates}["CosGate"]
    assert cos.status == "framework" and "uses torch" in cos.text()


def test_a_framework_is_never_loaded_even_where_one_could_be_imported(tmp_path):
    # a torch that imports fine sits beside the file; graded code still never gets it,
    # so the outcome is the same on a machine with torch and one without
    folder = tmp_path / "binh"
    folder.mkdir()
    (folder / "torch.py").write_text("def tensor(x, **kw):\n    return x\n", encoding="utf-8")
    (folder / "hw.py").write_text("import torch\n" + HONEST.replace(
        "return np.cos(x)", "return np.cos(torch.tensor(x))"), encoding="utf-8")
    result = grade(folder, ["AddGate", "CosGate"])
    assert scores(result)["AddGate"] == 10.0
    cos = {g.name: g for g in result.gates}["CosGate"]
    assert cos.score == 0.0
    assert "torch.tensor is not available" in cos.text()


# -- each mistake costs its own check, once ------------------------------------------------

def test_a_cache_multiplied_in_place_loses_repeatable_only(tmp_path):
    path = tmp_path / "hw.py"
    path.write_text(MUTATED_CACHE, encoding="utf-8")
    result = grade(path, ["SigmoidGate"])
    assert lost(result, "SigmoidGate") == {"repeatable": pytest.approx(10 * 0.5 / 10)}
    assert "self.dzdx *= dz" in result.gates[0].text()


def test_a_missing_unbroadcast_loses_the_gradient_shape_check_only(tmp_path):
    path = tmp_path / "hw.py"
    path.write_text(NO_UNBROADCAST, encoding="utf-8")
    result = grade(path, ["AddGate"])
    assert set(lost(result, "AddGate")) == {"gradients"}
    text = result.gates[0].text()
    assert "sum the upstream over the axes broadcasting added" in text


def test_a_forgotten_upstream_loses_the_backward_check_only(tmp_path):
    path = tmp_path / "hw.py"
    path.write_text(HONEST.replace("return (-np.sin(self.x) * dz,)",
                                   "return (-np.sin(self.x),)"), encoding="utf-8")
    result = grade(path, ["CosGate"])
    assert set(lost(result, "CosGate")) == {"backward"}


def test_a_misnamed_class_gets_the_nearest_expected_name_suggested(tmp_path):
    path = tmp_path / "hw.py"
    path.write_text(MISNAMED.replace("class AddGate", "class AdDGate"), encoding="utf-8")
    result = grade(path, ["AddGate", "CosGate", "SigmoidGate"])
    by = {g.name: g for g in result.gates}
    assert "did you mean your class CosineGate? Rename it to CosGate" in by["CosGate"].notes[0]
    assert "did you mean your class AdDGate? Rename it to AddGate" in by["AddGate"].notes[0]
    assert by["SigmoidGate"].score == 10.0


# -- what students are told ---------------------------------------------------------------

def test_the_skeleton_says_inputs_are_arrays_even_0_d_and_what_to_cache():
    source = skeleton_source()
    assert "0-d" in source.split('"""')[1]
    add = source[source.index("class AddGate"):source.index("class SubtractGate")]
    assert "shape" in add.split('"""')[1] and "Cache on self" in add
    sum_gate = source[source.index("class SumGate"):source.index("class MeanGate")]
    assert "x's shape" in textwrap.dedent(sum_gate)


# -- notebooks and files as students really hand them in -----------------------------------

REAL_COLAB = [
    ("code", "from __future__ import annotations\nimport matplotlib.pyplot as plt\n"
             "from google.colab import drive\ndrive.mount('/content/drive')\n"
             "import numpy as np\n%matplotlib inline\n"),
    ("code", "%%writefile helpers.py\n" + HELPERS),
    ("code", "from helpers import *\n"),
    ("code", "%%time\n" + GATES.replace(
        "        out = x.copy()", "        # should I copy x here?\n        out = x.copy()").replace(
        '''    def forward(self, x):
        self.z = 1''', '''    def forward(self, x):
        """Is this the sigmoid?
        I think so?
        """
        self.z = 1''')),
    ("code", "g = MultiplyGate()\nz = g.forward(np.array(3.0), np.array(-4.0))\n"
             "if z < 0:\n    !echo negative\nprint(z\n      % 5)\nplt.plot([1, 2])\n"
             "display(z)\nnp.sum?\n"),
    ("code", "import torch\nt = torch.tensor([1.0], requires_grad=True)\n"
             "print(torch.sigmoid(t))   # checking my SigmoidGate against torch\n"),
]


def test_a_real_colab_notebook_with_plots_magics_and_a_torch_check_scores_full_marks(tmp_path):
    # matplotlib and google.colab do not exist where the grader runs, torch is a
    # placeholder: each of those statements is skipped, the classes are all defined
    path = tmp_path / "BaiTap1.ipynb"
    path.write_bytes(notebook(REAL_COLAB))
    result = grade(path)
    assert result.percent == pytest.approx(100.0), [result.notes, result.output]
    assert "a statement failed and was skipped: ModuleNotFoundError" in result.output


def test_notebook_cells_that_are_not_text_are_not_a_notebook():
    bad = json.dumps({"cells": [{"cell_type": "code", "source": [1, 2]}]}).encode()
    with pytest.raises(SubmissionError, match="cell 1's source is not text"):
        notebook_source(bad, "hw.ipynb")
    assert notebook_source(json.dumps({"worksheets": [{"cells": 5}]}).encode()) \
        .count("# cell") == 0


def test_siblings_keep_their_names_even_like_the_reference_resubmitted_or_stdlib(tmp_path):
    folder = tmp_path / "chi"
    folder.mkdir()
    (folder / "graph.py").write_text(HELPERS, encoding="utf-8")          # like the reference
    (folder / "helpers-1.py").write_text("SCALE = 1\n", encoding="utf-8")   # Canvas's "-1"
    (folder / "zipfile.py").write_text("BROKEN = True\n", encoding="utf-8")  # a stdlib name
    (folder / "submission.py").write_text("OWN = 1\n", encoding="utf-8")
    (folder / "HW.PY").write_bytes(("import numpy as np\nfrom graph import unbroadcast\n"
                                    "from helpers import SCALE\nfrom submission import OWN\n"
                                    + GATES).encode("utf-16"))       # old Notepad "Unicode"
    result = grade(folder)
    assert result.percent == pytest.approx(100.0), [result.notes, result.output]
    assert any("saved as UTF-16" in n for n in result.notes)


def test_a_students_zips_unpack_once_on_one_budget():
    import io as _io

    def zipped(members):
        buf = _io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in members.items():
                z.writestr(name, data)
        return buf.getvalue()

    inner = zipped({"deep.py": b"class AddGate: pass\n"})
    big = b"# " + b"x" * (1 << 20) + b"\n"               # 1 MB each, a few kB zipped
    files = [SubmittedFile("a.zip", zipped({"hw.py": HONEST.encode(), "inner.zip": inner})),
             *[SubmittedFile(f"b{k}.zip", zipped({f"pad{j}.py": big for j in range(2)}))
               for k in range(12)]]
    sub = assemble(files, NAMES, "mallory")
    assert "deep.py" not in sub.files                      # a zip in a zip is not opened
    # 24 MB asked, 16 MB given: what did not fit is said, not read
    assert any("more than 16 MB" in n or "were not read" in n for n in sub.notes)
    assert sum(len(d) for d in sub.files.values()) <= 16 << 20


def test_what_a_submission_printed_reaches_no_feedback_file_raw(tmp_path):
    from gates.grade.assignment import Assignment
    from gates.grade.exports import Student
    from gates.grade.outputs import feedback_text
    from gates.grade.report import CheckResult, GateResult, SubmissionResult

    gate = GateResult("AddGate", [CheckResult("forward", 0.0, 3.0,
                                              reasons=["raised ValueError: \x1b[2J\u202e"])])
    text = feedback_text(Student("k", "An", None, None), SubmissionResult("hw.py", [gate]),
                         Assignment())
    assert "\x1b" not in text and "\u202e" not in text and "\\x1b[2J\\u202e" in text


def test_a_notebook_gate_that_uses_torch_is_seen_inside_its_cell(tmp_path):
    # a notebook's statements run wrapped; the scan still finds the class that uses torch
    path = tmp_path / "hw.ipynb"
    path.write_bytes(notebook([("code", "import torch\n"), ("code", TORCH_FOR_COS)]))
    result = grade(path, ["AddGate", "CosGate"])
    assert scores(result)["AddGate"] == 10.0
    cos = {g.name: g for g in result.gates}["CosGate"]
    assert cos.status == "framework" and "uses torch" in cos.text()
