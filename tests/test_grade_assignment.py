"""assignment.toml: one file for a term's homework, read by skeleton, grade and autograder."""

from __future__ import annotations

import json
import zipfile

import pytest

from experiments.cli import main as cli_main
from gates.grade.assignment import AssignmentError, load_assignment
from gates.grade.autograder import run as run_autograder
from honest_gates import COLAB, HONEST, NAMES, notebook

HOMEWORK = '''
title = "Bài tập 1"
gates = ["AddGate", "SigmoidGate"]
seed = 11
filename = "gates_hw.py"

[limits]
timeout = 4

[rubric]
default_points = 5
points = { SigmoidGate = 15 }
'''


def test_the_file_sets_what_every_command_would_repeat(tmp_path):
    path = tmp_path / "assignment.toml"
    path.write_text(HOMEWORK, encoding="utf-8")
    a = load_assignment(path)
    assert (a.title, a.gates, a.seed, a.timeout, a.filename) == (
        "Bài tập 1", ("AddGate", "SigmoidGate"), 11, 4.0, "gates_hw.py")
    assert a.rubric.gate_points("SigmoidGate") == 15 and a.rubric.gate_points("AddGate") == 5
    assert (a.scale.points, a.scale.decimals, a.scale.rounding) == (10, 1, "half-up")
    # the command line wins; the fingerprint follows what decides the points
    assert a.with_options(seed=3, gates=None).seed == 3
    assert a.with_options(jvp=True).fingerprint() != a.fingerprint()
    assert a.with_options(seed=3).fingerprint() == a.fingerprint()


@pytest.mark.parametrize("text, message", [
    ("gate = [\"AddGate\"]", "unknown key(s) gate"),
    ("gates = [\"CosineGate\"]", "gates: unknown gate(s) CosineGate"),
    ("seed = -1", "seed must be an integer >= 0"),
    ("[scale]\nrounding = \"up\"", "scale.rounding must be one of half-up, half-even"),
    ("[limits]\ntimeout = 0", "limits.timeout must be a number > 0"),
    ("language = \"fr\"", "language must be one of en, vi"),
    ("[rubric]\npoints = { AddGate = -1 }", "points.AddGate must be a number >= 0"),
    ("seed = ", "assignment"),
])
def test_a_mistake_in_the_file_names_the_file_and_the_key(tmp_path, text, message):
    path = tmp_path / "assignment.toml"
    path.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(AssignmentError, match=str(path).replace(".", r"\.")) as info:
        load_assignment(path)
    assert message in str(info.value)


def test_skeleton_grade_and_autograder_read_it(tmp_path, capsys):
    (tmp_path / "assignment.toml").write_text(HOMEWORK, encoding="utf-8")
    toml = str(tmp_path / "assignment.toml")
    assert cli_main(["skeleton", "--assignment", toml, "-o", str(tmp_path / "hw.py")]) == 0
    text = (tmp_path / "hw.py").read_text()
    assert "class AddGate" in text and "class SigmoidGate" in text and "class CosGate" not in text
    (tmp_path / "alice.py").write_text(HONEST, encoding="utf-8")
    capsys.readouterr()
    assert cli_main(["grade", str(tmp_path / "alice.py"), "--assignment", toml]) == 0
    out = capsys.readouterr().out
    assert "seed: 11" in out and "20.0/20.0" in out and "Grade: 10.0/10" in out
    assert cli_main(["autograder", "--assignment", toml, "-o", str(tmp_path / "ag.zip")]) == 0
    with zipfile.ZipFile(tmp_path / "ag.zip") as z:
        config = json.loads(z.read("config.json"))
    assert (config["gates"], config["seed"], config["timeout"], config["filename"]) == (
        ["AddGate", "SigmoidGate"], 11, 4.0, "gates_hw.py")
    assert config["rubric"]["points"] == {"SigmoidGate": 15.0}
    assert cli_main(["grade", str(tmp_path / "alice.py"), "--assignment",
                     str(tmp_path / "missing.toml")]) == 2


def test_gradescope_grades_a_notebook_upload(tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"gates": NAMES, "seed": 5, "timeout": 5.0,
                                  "memory": 1 << 30, "jvp": False, "filename": None,
                                  "rubric": None}))
    submission = tmp_path / "submission"
    submission.mkdir()
    (submission / "Bai_tap_1.ipynb").write_bytes(notebook(COLAB))
    run_autograder(config, submission, tmp_path / "results" / "results.json")
    data = json.loads((tmp_path / "results" / "results.json").read_text())
    assert data["score"] == pytest.approx(50.0), data["output"]
    assert "code cells of the notebook" in data["output"]


def test_the_batch_summary_shows_the_real_maximum(tmp_path, capsys):
    # a gate worth 9.5 points, full marks: 9.50/9.50 points, 10.0 on the course's scale
    (tmp_path / "assignment.toml").write_text(
        'gates = ["AddGate"]\n[rubric]\ndefault_points = 9.5\n', encoding="utf-8")
    (tmp_path / "class").mkdir()
    (tmp_path / "class" / "an.py").write_text(HONEST, encoding="utf-8")
    assert cli_main(["grade", "--batch", str(tmp_path / "class"), "--assignment",
                     str(tmp_path / "assignment.toml"), "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "an" in out and "Grade: 10.0/10 (100.0%, 9.50/9.50 points)" in out
    # an earlier batch's grades.csv is not written over without --force
    assert cli_main(["grade", "--batch", str(tmp_path / "class"), "--assignment",
                     str(tmp_path / "assignment.toml"), "--out", str(tmp_path / "out")]) == 2
