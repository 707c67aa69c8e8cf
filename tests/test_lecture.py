"""``python -m experiments.lecture`` reproduces every worked example and exercise.

Each test reads the script's results and compares them with the lecture's numbers,
written here literally, so a wrong expected value in the script fails here too.
"""

import io
import math
import subprocess
import sys

import numpy as np
import pytest

from experiments import lecture


@pytest.fixture(scope="module")
def results():
    run = lecture.run_all(out=io.StringIO())
    return run, {(c.section[:2], c.label): c.got for c in run.checks}


def got(results, section, label_start):
    _, table = results
    matches = [v for (s, label), v in table.items() if s == section and label == label_start]
    matches = matches or [v for (s, label), v in table.items()
                          if s == section and label.startswith(label_start)]
    assert len(matches) == 1, (section, label_start, matches)
    return matches[0]


def test_every_line_matches_its_expected_value(results):
    run, _ = results
    assert [c.label for c in run.checks if not c.ok] == []
    assert len(run.checks) >= 60


def test_e_equals_a_plus_b_times_b_plus_1(results):
    assert got(results, "1.", "simple assignments") == "c ← a + b; d ← b + 1; e ← c × d"
    assert [float(got(results, "1.", n)) for n in ("c", "d", "e")] == [3, 2, 6]
    assert got(results, "1.", "reverse mode ∂e/∂a") == 2
    assert got(results, "1.", "reverse mode ∂e/∂b") == 5
    assert got(results, "1.", "forward mode ∂e/∂b") == 5
    assert got(results, "1.", "update a=4: nodes to recompute") == "c, e"   # d needs no work
    assert got(results, "1.", "after a=4: e") == 10
    assert got(results, "1.", "after a=4: forward mode") == 7


def test_gate_patterns(results):
    assert got(results, "2.", "a") == -20
    assert got(results, "2.", "multiply switches: ∂a/∂x") == -8
    assert got(results, "2.", "multiply switches: ∂a/∂y") == 6
    assert got(results, "2.", "max routes: ∂a/∂z") == 2
    assert got(results, "2.", "max routes: ∂a/∂w") == 0
    assert got(results, "2.", "scale amplifies") == 2
    assert got(results, "2.", "add distributes") == [2, 2]


def test_exercise_1(results):
    x = math.pi / 4
    assert got(results, "3.", "z =") == pytest.approx(math.pi + math.sqrt(2) / 2, abs=1e-12)
    assert got(results, "3.", "∂z/∂x") == pytest.approx(4 + math.sqrt(2) / 2, abs=1e-12)
    assert got(results, "3.", "∂z/∂y") == pytest.approx(x, abs=1e-12)


def test_exercise_2_logistic_regression(results):
    assert got(results, "4.", "f = σ(1)") == pytest.approx(0.7311, abs=5e-5)
    assert got(results, "4.", "∂f/∂sum") == pytest.approx(0.1966, abs=5e-5)
    assert got(results, "4.", "all five to 2 decimals") == [0.2, -0.2, -0.39, 0.39, -0.59]


def test_exercises_3_and_4_every_tensor_gate_passes(results):
    run, _ = results
    verdicts = [c.got for c in run.checks if c.section.startswith("5.")]
    assert verdicts == ["PASS"] * 7


def test_l2_of_matvec(results):
    assert got(results, "6.", "L =") == pytest.approx(0.116, abs=1e-12)
    np.testing.assert_allclose(got(results, "6.", "∂L/∂W"), [[0.088, 0.176], [0.104, 0.208]],
                               atol=1e-12)
    np.testing.assert_allclose(got(results, "6.", "∂L/∂x"), [-0.112, 0.636], atol=1e-12)


def test_softmax_jacobian_and_cross_entropy(results):
    p = np.exp([1.0, 2.0, 0.5]) / np.exp([1.0, 2.0, 0.5]).sum()
    np.testing.assert_allclose(got(results, "7.", "diagonal"), p * (1 - p), atol=1e-12)
    np.testing.assert_allclose(got(results, "7.", "fused gradient"), p - [1, 0, 0], atol=1e-12)
    np.testing.assert_allclose(got(results, "7.", "composed gradient"), p - [1, 0, 0],
                               atol=1e-12)


def test_nine_paths_are_three_times_three(results):
    assert got(results, "8.", "number of paths") == 9
    assert got(results, "8.", "factored") == "9 paths = 3 × 3 (through y)"


def test_a_mismatch_is_marked_and_makes_the_exit_status_1(monkeypatch, capsys):
    def wrong(L):
        L.title("9. a deliberately wrong line")
        L.check("1 + 1", 1 + 1, 3)

    monkeypatch.setattr(lecture, "SECTIONS", lecture.SECTIONS + (wrong,))
    assert lecture.main() == 1
    out = capsys.readouterr().out
    assert "✗ MISMATCH" in out and "MISMATCH: 1 + 1" in out


def test_columns_are_as_wide_as_the_longest_label_and_value(monkeypatch, capsys):
    long = "a label longer than the old 46-character label column, as a lecture may write"
    value = [[0.088, 0.176], [0.104, 0.208]]        # wider than the old 20-character column

    def section(L):
        L.title("9. long labels")
        L.say("c ← a + b")
        L.check("short", 1, 1)
        L.check(long, value, value)

    monkeypatch.setattr(lecture, "SECTIONS", (section,))
    assert lecture.main() == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:3] == ["", "9. long labels", "  c ← a + b"]
    short, wide = lines[3:5]
    assert short.index("expected") == wide.index("expected")
    assert short.index("✓") == wide.index("✓")
    assert short.index("1") == len(f"  {long}  ")
    assert wide == (f"  {long}  [[0.088, 0.176], [0.104, 0.208]]  "
                    f"expected [[0.088, 0.176], [0.104, 0.208]]  ✓")


def test_the_module_runs_as_a_script_with_status_0():
    done = subprocess.run([sys.executable, "-m", "experiments.lecture"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "MISMATCH" not in done.stdout
    assert done.stdout.rstrip().endswith("results match the lecture")
