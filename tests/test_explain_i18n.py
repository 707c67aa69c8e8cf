"""``compgraph explain`` and ``compgraph lecture`` in Vietnamese (``--lang vi``), in the
lecture's own words (biểu thức đơn, giá trị, đạo hàm cục bộ, phương pháp tiến/lùi,
tổng các đường đi, cổng), with the lecture's numbers unchanged. The English output is
pinned by tests/test_explain.py, test_paths.py, test_lecture.py and test_readme.py."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import graph
from experiments import cli, lecture
from gates import i18n
from graph import Graph

NINE_PATHS = ("p1 = 2*x; p2 = x**2; p3 = sin(x); y = p1 + p2 + p3\n"
              "q1 = 3*y; q2 = y**2; q3 = cos(y); z = q1 + q2 + q3")

#: English words the Vietnamese lecture and explain output must not contain (the names
#: of gates and functions, softmax, cross-entropy, backward, jvp, bias, gradient, PASS,
#: stay as the slides write them).
ENGLISH = ("expected", "mode", "path", "paths", "Exercise", "Exercises", "at", "the",
           "gate", "gates", "checked", "numerically", "after", "update", "stage", "factored",
           "MISMATCH", "results", "match", "lecture", "diagonal", "loss", "labels", "fused",
           "composed", "number", "decimals", "through", "node", "value", "Simple",
           "Values", "Reverse", "Forward", "Sum", "input", "edges")


def english_words(text: str) -> list:
    return [w for w in ENGLISH if re.search(rf"(?<![\w]){w}(?!\w)", text)]


@pytest.fixture
def vi():
    """Vietnamese for the test, the language before restored after it."""
    before = i18n._chosen
    i18n.set_language("vi")
    try:
        yield
    finally:
        i18n.set_language(before)


def lecture_example() -> Graph:
    g = Graph.from_expression("e = (a+b)*(b+1)")
    g.forward(a=2, b=1)
    return g


def test_explain_speaks_vietnamese_with_the_lectures_numbers(vi):
    text = str(lecture_example().explain("e", wrt="b"))
    assert text == """\
Biểu thức đơn:
  c ← a + b
  d ← b + 1
  e ← c × d

Giá trị, đạo hàm cục bộ và đạo hàm từng phần (gradient):
  đỉnh  cổng  giá trị  đạo hàm cục bộ    ∂e/∂đỉnh  ∂đỉnh/∂b
  a     biến  2                          2         0
  b     biến  1                          5         1
  c     +     3        ∂c/∂a=1  ∂c/∂b=1  2         1
  d     +     2        ∂d/∂b=1           3         1
  e     ×     6        ∂e/∂c=2  ∂e/∂d=3  1         5

Phương pháp lùi (một lần lan truyền ngược cho tất cả):
  ∂e/∂a = 2
  ∂e/∂b = 5

Phương pháp tiến (mỗi biến cần một lượt tính):
  ∂e/∂b = 5

Tổng các đường đi:
  ∂e/∂b là tổng theo 2 đường đi:
    b → c → e:  1 × 2 = 2
    b → d → e:  1 × 3 = 3
    tổng = 5"""
    assert english_words(text) == []


def test_the_table_and_the_json_keep_their_values_and_keys(vi):
    ex = lecture_example().explain("e", wrt="b")
    assert [r.kind for r in ex.rows] == ["input", "input", "+", "+", "×"]   # not translated
    data = ex.to_dict()
    assert data["values"]["e"] == 6 and data["gradients"] == {"a": 2, "b": 5}
    assert data["forward"] == 5 and data["paths"]["b"]["sum"] == 5
    assert [p["product"] for p in data["paths"]["b"]["paths"]] == [2, 3]


def test_a_param_and_the_explanation_without_wrt(vi):
    g = Graph()
    w, x = g.param("w", 3.0), g.input("x")
    y = graph.multiply(w, x, name="y")
    g.forward(x=2.0, outputs=y)
    text = str(g.explain(y))
    assert text.splitlines()[1].split() == ["đỉnh", "cổng", "giá", "trị", "đạo", "hàm",
                                            "cục", "bộ", "∂y/∂đỉnh"]
    assert "  w     tham số  3" in text and "  x     biến     2" in text
    assert "Phương pháp tiến" not in text
    assert "∂y/∂w là tổng theo 1 đường đi:" in text and "∂y/∂x là tổng theo 1 đường đi:" in text
    assert english_words(text) == []


def test_a_tensor_graph_is_explained_with_a_vietnamese_note(vi):
    g = Graph()
    W = g.param("W", np.array([[0.1, 0.5], [-0.3, 0.8]]))
    x = g.input("x")
    loss = graph.l2(graph.matvec(W, x, name="q"), name="L")
    g.forward(x=np.array([0.2, 0.4]), outputs=loss)
    ex = g.explain(loss)
    assert not ex.paths and "đạo hàm cục bộ" not in str(ex).splitlines()[1]
    assert str(ex).endswith("đồ thị này chứa tensor, mà đạo hàm cục bộ của tensor là ma trận "
                            "Jacobian, không phải là số.")
    assert ex.to_dict()["note"] == ex.note
    with pytest.raises(graph.GraphError, match="cột phương pháp tiến cần một đỉnh là số"):
        g.explain(loss, wrt="W")
    with pytest.raises(ValueError, match="chỉ là số"):
        g.paths(loss, "x")


def test_sums_over_paths_factor_by_stages_in_vietnamese(vi):
    g = Graph.from_expression(NINE_PATHS)
    g.forward(x=0.5)
    p = g.paths("z", "x")
    assert p.factored() == "9 đường đi = 3 × 3 (qua y)"
    text = str(p)
    assert text.startswith("∂z/∂x là tổng theo 9 đường đi:\n")
    assert "  tính từng chặng: 9 đường đi = 3 × 3 (qua y)\n" in text
    assert "    chặng x → y: 3 đường đi, tổng 3.878\n" in text
    assert "    chặng y → z: 3 đường đi, tổng 5.471\n" in text
    assert text.endswith("\n  ∂z/∂x = 3.878 × 5.471 = 21.22")
    assert english_words(text) == []
    same = g.paths("y", "y")
    assert str(same.paths[0]) == "y:  (không có cạnh) = 1"


def run_lecture():
    out = io.StringIO()
    return lecture.run_all(out=out), out.getvalue()


def test_the_lecture_in_vietnamese_checks_every_expected_value(vi):
    run, text = run_lecture()
    i18n.set_language("en")
    english, english_text = run_lecture()
    assert [c.label for c in run.checks if not c.ok] == []
    assert len(run.checks) == len(english.checks) >= 60
    for c, e in zip(run.checks, english.checks):
        assert c.section[:2] == e.section[:2]
        if isinstance(e.expected, str):
            assert isinstance(c.expected, str) and isinstance(c.got, str)
        else:
            np.testing.assert_array_equal(np.asarray(c.got, float), np.asarray(e.got, float))
            np.testing.assert_array_equal(np.asarray(c.expected, float),
                                          np.asarray(e.expected, float))
    strings = {e.label: c.expected for c, e in zip(run.checks, english.checks)
               if isinstance(e.expected, str) and c.expected != e.expected}
    assert strings == {"factored": "9 đường đi = 3 × 3 (qua y)"}
    # every heading is Vietnamese but section 6's, which is all mathematics
    titles = [(c.section, e.section) for c, e in zip(run.checks, english.checks)]
    assert {e[:2] for v, e in titles if v == e} == {"6."}
    assert "\n1. e = (a+b)(b+1) tại a=2, b=1\n" in text
    assert "\n3. Bài tập 1: z = xy + sin(x) tại x = π/4, y = 4\n" in text
    assert "một số mẫu trong tính toán đạo hàm lùi" in text
    assert "\n8. Phương pháp tổng: 9 đường = 3 × 3, từng chặng qua đỉnh cắt y\n" in text
    for words in ("phương pháp lùi ∂e/∂b = d + c", "phương pháp tiến ∂e/∂b",
                  "tổng các đường đi ∂e/∂b", "Cập nhật a=4: các đỉnh phải tính lại",
                  "cổng add: phân phối", "cổng mul: chuyển đổi", "cổng max: định tuyến",
                  "cổng scale: khuếch đại", "Bài tập 2", "Bài tập 3 và 4"):
        assert words in text, words
    # the explain table of section 1, in Vietnamese too
    assert "  đỉnh  cổng  giá trị  đạo hàm cục bộ    ∂e/∂đỉnh  ∂đỉnh/∂b\n" in text
    # every line that checks a value says so in Vietnamese
    lines = [line for line in text.splitlines() if line.endswith("✓")]
    assert len(lines) == len(run.checks)
    assert all("  mong đợi " in line for line in lines)
    assert english_words(text) == []
    # the English run is the English one
    assert "expected" in english_text and "mong đợi" not in english_text


def test_main_tallies_in_vietnamese_and_marks_a_mismatch(vi, monkeypatch, capsys):
    def wrong(L):
        L.title("9. một dòng sai")
        L.check("1 + 1", 1 + 1, 3)

    assert lecture.main() == 0
    out = capsys.readouterr().out
    n = out.count("✓")
    assert out.rstrip().endswith(f"\n{n}/{n} kết quả khớp với bài giảng")
    monkeypatch.setattr(lecture, "SECTIONS", lecture.SECTIONS + (wrong,))
    assert lecture.main() == 1
    out = capsys.readouterr().out
    assert "  1 + 1  2  mong đợi 3  ✗ KHÔNG KHỚP" in out
    assert out.rstrip().endswith(f"\n{n}/{n + 1} kết quả khớp với bài giảng; KHÔNG KHỚP: 1 + 1")


def test_compgraph_lecture_takes_lang(vi, capsys):
    i18n.set_language(None)
    assert cli.main(["lecture", "--lang", "vi"]) == 0
    assert i18n.language() == "vi"
    out = capsys.readouterr().out
    assert "\n1. e = (a+b)(b+1) tại a=2, b=1\n" in out and "expected" not in out
    assert cli.main(["lecture", "--lang", "en"]) == 0
    out = capsys.readouterr().out
    assert "\n1. e = (a+b)(b+1) at a=2, b=1\n" in out
    assert out.rstrip().endswith("results match the lecture")


@pytest.mark.parametrize("args, lang, vietnamese", [
    (["--lang", "vi"], "C", True),
    ([], "vi_VN.UTF-8", True),
    (["--lang", "en"], "vi_VN.UTF-8", False),
])
def test_the_script_speaks_the_language_of_lang_then_the_environment(args, lang, vietnamese):
    env = {k: v for k, v in os.environ.items()
           if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG")}
    env.update(LANG=lang, PYTHONIOENCODING="utf-8")
    done = subprocess.run([sys.executable, "-m", "experiments.lecture", *args],
                          capture_output=True, text=True, encoding="utf-8", env=env,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.rstrip().splitlines()[-1]
    if vietnamese:
        assert re.fullmatch(r"(\d+)/\1 kết quả khớp với bài giảng", last), last
    else:
        assert re.fullmatch(r"(\d+) of \1 results match the lecture", last), last


def test_an_unknown_language_is_refused_by_the_script():
    done = subprocess.run([sys.executable, "-m", "experiments.lecture", "--lang", "fr"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "invalid choice: 'fr'" in done.stderr
