"""The grader in the lecture's language: ``compgraph grade ... --lang vi`` speaks Vietnamese.

Every reason a point was lost, every note, the check titles, the statuses, the table's
headings, Gradescope's results.json and the feedback's frame are in Vietnamese when the
language is vi; English stays as it was. The frame of the feedback files and LMS
comments follows the assignment's language, whatever the process's.
"""

from __future__ import annotations

import argparse
import json
import zipfile

import pytest

from experiments.cli import main as cli_main
from gates import i18n
from gates.grade import format_table, grade_submission, gradescope
from gates.grade.assignment import Assignment
from gates.grade.autograder import build_zip, run as run_autograder
from gates.grade.batch import lost_summary
from gates.grade.commands import feedback_language
from gates.grade.exports import Student
from gates.grade.outputs import comment_text, feedback_text
from gates.grade.report import CheckResult, GateResult, SubmissionResult
from gates.grade.sandbox import ChildRun
from honest_gates import with_mistakes

#: Three typical mistakes, written the way students write them: AddGate without
#: unbroadcast, SigmoidGate changing its cache in backward, CosGate misnamed.
MISTAKES = with_mistakes("no unbroadcast", "mutated cache", "misnamed")

GATES = ["AddGate", "SigmoidGate", "CosGate"]

#: English sentences of the reasons and the frame: none may be left in Vietnamese feedback.
ENGLISH = ["did you mean", "no class named", "do not change what forward cached",
           "sum the upstream over the axes", "backward called twice", "not earned",
           "(passed ", "case ", "expected an array", "What was lost", "File graded",
           "backward can be called twice", "one gradient per input", "Grade:", "Printed by",
           "in place", " cases, e.g."]


@pytest.fixture
def vi():
    i18n.set_language("vi")
    try:
        yield
    finally:
        i18n.set_language(None)


@pytest.fixture
def english_env(monkeypatch):
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        monkeypatch.delenv(var, raising=False)
    i18n.set_language(None)


@pytest.fixture(scope="module")
def graded_vi(tmp_path_factory):
    """The mistakes graded in Vietnamese (once for the module: a few seconds)."""
    path = tmp_path_factory.mktemp("vi") / "bai_lam.py"
    path.write_text(MISTAKES, encoding="utf-8")
    i18n.set_language("vi")
    try:
        return grade_submission(path, gates=GATES, seed=7, timeout=5.0)
    finally:
        i18n.set_language(None)


def test_every_reason_of_a_graded_submission_is_in_vietnamese(graded_vi, vi):
    result = graded_vi
    gates = {g.name: g for g in result.gates}
    assert gates["CosGate"].status == "missing"          # the stored status stays a code word
    assert gates["AddGate"].score < gates["AddGate"].max_score
    table = format_table(result)
    # the missing class, with the name to use
    assert ("tệp của bạn không có lớp nào tên CosGate; có phải ý bạn là lớp CosineGate của "
            "bạn? Bạn hãy đổi tên lớp đó thành CosGate") in table
    # the cache changed in backward: the repeatable hint
    assert ("đừng thay đổi giá trị mà forward đã lưu (ví dụ self.dzdx *= dz) bên trong "
            "backward") in table
    assert "gọi backward hai lần với cùng một upstream" in table
    # no unbroadcast: the shape hint
    assert "bạn hãy cộng upstream theo các trục mà broadcasting đã thêm vào" in table
    assert "trường hợp" in table and "backward gọi được hai lần" in table
    # the table's headings and statuses
    assert table.startswith("Chấm bài ")
    assert "cổng" in table and "trạng thái" in table and "tổng" in table
    assert "thiếu" in table and "đã chấm" in table and "cách ly: " in table
    for english in ENGLISH + ["Grading ", "isolation:", "missing", "graded"]:
        assert english not in table, english


def test_results_json_and_the_feedback_file_are_in_vietnamese(graded_vi, vi, tmp_path):
    data = json.loads(json.dumps(gradescope(graded_vi)))
    assert "điểm (" in data["output"] and "cách ly: " in data["output"]
    assert {t["status"] for t in data["tests"]} == {"failed"}   # Gradescope's own words
    outputs = "\n".join(t["output"] for t in data["tests"])
    assert "[MẤT ] backward gọi được hai lần" in outputs
    assert "có phải ý bạn là lớp CosineGate" in outputs
    assignment = Assignment(title="Bài tập 1", gates=tuple(GATES), language="vi")
    feedback = feedback_text(Student("an", "Nguyễn Văn An", None, None), graded_vi, assignment)
    assert feedback.splitlines()[1].startswith("Điểm: ")
    assert "Tệp được chấm: " in feedback and "Phần bị trừ điểm, và lý do:" in feedback
    assert "đạt " in feedback and "trường hợp)" in feedback
    comment = comment_text(graded_vi, assignment)
    assert "CosGate -10 (thiếu)" in comment and "Chi tiết trong tệp nhận xét" in comment
    for english in ENGLISH:
        assert english not in outputs + data["output"], english
        assert english not in feedback, english
        assert english not in comment, english


def test_the_grade_command_speaks_the_language_of_lang(tmp_path, capsys, english_env):
    path = tmp_path / "bai_lam.py"
    path.write_text(MISTAKES, encoding="utf-8")
    # CosGate alone: the class is missing, so no gate child runs
    assert cli_main(["grade", str(path), "--gates", "CosGate", "--timeout", "5", "--lang", "vi",
                     "--gradescope", str(tmp_path / "gs"), "--json",
                     str(tmp_path / "report.json")]) == 0
    out = capsys.readouterr().out
    assert "có phải ý bạn là lớp CosineGate" in out and "thiếu" in out
    assert "did you mean" not in out and "Grading" not in out
    gs = json.loads((tmp_path / "gs" / "results.json").read_text(encoding="utf-8"))
    assert "có phải ý bạn là lớp CosineGate" in gs["tests"][0]["output"]
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    assert report["gates"][0]["notes"][0].startswith("tệp của bạn không có lớp nào tên CosGate")
    # the option holds for that command only
    assert i18n.language() == "en"
    assert cli_main(["grade", str(path), "--gates", "CosGate", "--timeout", "5"]) == 0
    out = capsys.readouterr().out
    assert "did you mean your class CosineGate? Rename it to CosGate" in out
    assert out.startswith("Grading ")


def test_the_language_is_the_option_then_the_assignment_then_the_environment(
        tmp_path, monkeypatch, english_env):
    toml = tmp_path / "assignment.toml"
    toml.write_text('language = "vi"\n', encoding="utf-8")
    plain = tmp_path / "plain.toml"
    plain.write_text('seed = 3\n', encoding="utf-8")

    def args(lang=None, assignment=None):
        return argparse.Namespace(lang=lang, assignment=assignment and str(assignment))

    assert feedback_language(args("en", toml)) == "en"
    assert feedback_language(args(None, toml)) == "vi"
    assert feedback_language(args(None, plain)) == "en"
    assert feedback_language(args()) == "en"
    monkeypatch.setenv("LANG", "vi_VN.UTF-8")
    assert feedback_language(args(None, plain)) == "vi"
    assert feedback_language(args("en")) == "en"


def test_the_autograder_keeps_the_language_in_its_config(tmp_path, english_env):
    zip_path = build_zip(tmp_path / "ag.zip", gates=["AddGate"], timeout=5.0, language="vi")
    with zipfile.ZipFile(zip_path) as z:
        config = json.loads(z.read("config.json"))
    assert config["language"] == "vi"
    (tmp_path / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (tmp_path / "submission").mkdir()
    results = tmp_path / "results" / "results.json"
    assert run_autograder(tmp_path / "config.json", tmp_path / "submission", results) == 0
    output = json.loads(results.read_text(encoding="utf-8"))["output"]
    assert output.startswith("Không tìm thấy tệp .py hay notebook nào trong bài nộp của bạn")
    assert i18n.language() == "en"           # the process's language is left as it was
    assert cli_main(["autograder", "--gates", "AddGate", "--lang", "vi",
                     "-o", str(tmp_path / "cli.zip")]) == 0
    with zipfile.ZipFile(tmp_path / "cli.zip") as z:
        assert json.loads(z.read("config.json"))["language"] == "vi"
    with pytest.raises(ValueError, match="compgraph speaks en, vi"):
        build_zip(tmp_path / "fr.zip", gates=["AddGate"], language="fr")


def _result(reason: str) -> SubmissionResult:
    checks = [CheckResult("forward", 3.0, 3.0, 2, 2),
              CheckResult("repeatable", 0.0, 0.5, 0, 2, [reason])]
    return SubmissionResult("alice.py", [GateResult("SigmoidGate", checks)], run_seed=5,
                            stamp={"rubric": "abc", "numpy": "2"})


def test_the_frame_follows_the_assignment_whatever_the_process_speaks(vi):
    result = _result("a reason written in English")
    english = Assignment(language="en")
    feedback = feedback_text(Student("a", "Alice", None, None), result, english)
    assert feedback.splitlines()[1:3] == ["Grade: 8.6/10 (85.7%, 3.00/3.50 points)",
                                          "File graded: alice.py"]
    assert "[LOST] backward can be called twice: 0.00/0.50 (passed 0 of 2)" in feedback
    assert comment_text(result, english).endswith(
        "SigmoidGate -0.5 (backward can be called twice). The details are in your "
        "feedback file.")
    i18n.set_language("en")
    feedback = feedback_text(Student("a", "Alice", None, None), result, Assignment(language="vi"))
    assert feedback.splitlines()[1] == "Điểm: 8.6/10 (85.7%, 3.00/3.50 điểm)"
    assert "[MẤT ] backward gọi được hai lần: 0.00/0.50 (đạt 0/2 trường hợp)" in feedback
    assert "(Chấm bằng rubric abc, numpy 2; run seed 5)" in feedback
    # the teacher's CSV speaks the process's language
    assert lost_summary(result) == "SigmoidGate -0.5 (backward can be called twice)"


def test_english_is_as_it_was(english_env):
    result = _result("case 1 (float64: x (2,)): backward called twice")
    gate = result.gates[0]
    assert gate.text() == ("[ok  ] forward output: 3.00/3.00 (passed 2 of 2)\n"
                           "[LOST] backward can be called twice: 0.00/0.50 (passed 0 of 2)\n"
                           "       - case 1 (float64: x (2,)): backward called twice")
    table = format_table(result)
    assert table.splitlines()[0] == "Grading alice.py"
    assert "gate" in table and "score  status" in table and "\ntotal " in table


def test_how_a_child_ended_is_said_in_vietnamese(vi):
    assert ChildRun(None, True, 5.0, "", 0).ending == \
        "không chạy xong trong thời gian cho phép (5.0 s): có vòng lặp vô hạn không?"
    assert ChildRun(-11, False, 0.1, "", 0).ending.startswith(
        "bị dừng đột ngột bởi tín hiệu SIGSEGV: lỗi segmentation fault")
    assert ChildRun(0, False, 0.1, "", 0, steps={"done": ({}, {})}).ending is None
    i18n.set_language("en")
    assert ChildRun(3, False, 0.1, "", 0).ending == \
        "exited with status 3 (sys.exit or os._exit in the submission?)"
