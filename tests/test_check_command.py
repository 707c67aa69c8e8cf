"""``compgraph check``: the built-in gates and blocks, or the gates of a user's file."""

import json
import textwrap

from experiments.cli import main

STUDENT_FILE = textwrap.dedent('''
    import numpy as np


    class SquareGate:
        """z = x ** 2, dz/dx = 2x."""

        def forward(self, x):
            self.x = x
            return x * x

        def backward(self, dz):
            return (2 * self.x * dz,)

        @classmethod
        def example_inputs(cls, rng):
            return (rng.standard_normal((2, 3)),)


    class SigmoidGate:
        """Forgot the (1 - z) of the local gradient; graded as the grader will."""

        def forward(self, x):
            self.z = 1 / (1 + np.exp(-x))
            return self.z

        def backward(self, dz):
            return (self.z * dz,)


    class HalfDone:
        def forward(self, x):
            return x


    class NotAGate:
        def helper(self):
            return 1
''')


def _write(tmp_path, text):
    path = tmp_path / "student_gates.py"
    path.write_text(text)
    return str(path)


def test_check_passes_every_builtin_gate_and_block(capsys):
    assert main(["check", "--seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert "PASS MLPBlock" in out and "PASS SoftmaxCrossEntropyGate" in out
    assert "26 of 26 gates passed" in out


def test_check_a_students_file_names_what_failed_and_what_is_missing(tmp_path, capsys):
    status = main(["check", _write(tmp_path, STUDENT_FILE), "--seeds", "1"])
    out = capsys.readouterr().out
    assert status == 1
    assert "PASS SquareGate" in out
    assert ("FAIL SigmoidGate  6.00 of 10.00 points as graded: backward: gradient for 'x' "
            "wrong in case 1") in out
    assert "FAIL HalfDone" in out and "missing backward and example_inputs(rng)" in out
    assert "NotAGate" not in out
    assert "note: graded the way compgraph grade will, on its cases drawn from the public " \
           "seeds 0 and 1 (1 gate): SigmoidGate" in " ".join(out.split())


def test_check_exits_0_when_every_gate_in_the_file_passes(tmp_path, capsys):
    good = STUDENT_FILE.split("class SigmoidGate")[0]
    assert main(["check", _write(tmp_path, good)]) == 0
    assert "1 of 1 gate passed" in capsys.readouterr().out


def test_check_json_is_machine_readable(tmp_path, capsys):
    status = main(["check", _write(tmp_path, STUDENT_FILE), "--seeds", "1", "--json",
                   "--no-float32"])
    data = json.loads(capsys.readouterr().out)
    assert status == 1 and data["ok"] is False
    verdicts = {r["target"]: r for r in data["reports"]}
    assert verdicts["SquareGate"]["ok"] is True and "SigmoidGate" not in verdicts
    graded = {g["name"]: g for g in data["graded"]}
    assert graded["SigmoidGate"]["ok"] is False
    assert [c["name"] for c in graded["SigmoidGate"]["checks"]
            if c["points"] < c["max_points"]] == ["backward"]
    assert data["incomplete"] == [{"name": "HalfDone",
                                   "missing": "missing backward and example_inputs(rng)"}]


def test_check_a_module_by_name(capsys):
    assert main(["check", "gates.nonlinear", "--seeds", "1"]) == 0
    assert "9 of 9 gates passed" in capsys.readouterr().out


def test_a_module_that_is_not_a_gate_file_is_a_usage_error(tmp_path, capsys):
    assert main(["check", "numpy"]) == 2
    err = capsys.readouterr().err
    assert "numpy is not a gate file: it defines no class with forward and backward" in err
    assert "numpy/__init__.py" in err            # where it came from: a shadowing file?
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    assert main(["check", str(empty)]) == 2
    assert "is not a gate file" in capsys.readouterr().err


def test_a_package_that_imports_its_gates_points_at_their_modules(capsys):
    assert main(["check", "gates"]) == 2
    err = capsys.readouterr().err
    assert "gates is not a gate file" in err
    assert "it imports gate classes from gates.arithmetic," in err and "gates.base" not in err


def test_gates_checks_only_the_gates_named(capsys):
    assert main(["check", "--gates", "MaxGate, MLPBlock", "--seeds", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines[:2]] == [["PASS", "MaxGate"],
                                                        ["PASS", "MLPBlock"]]
    assert lines[2].startswith("2 of 2 gates passed") and len(lines) == 3


def test_gates_in_a_students_file_leaves_the_others_and_their_notes_out(tmp_path, capsys):
    path = _write(tmp_path, STUDENT_FILE)
    assert main(["check", path, "--gates", "SquareGate", "--seeds", "1"]) == 0
    out = capsys.readouterr().out
    assert "PASS SquareGate" in out and "1 of 1 gate passed" in out
    assert "SigmoidGate" not in out and "HalfDone" not in out
    assert main(["check", path, "--gates", "SigmoidGate", "--seeds", "1"]) == 1
    out = capsys.readouterr().out
    assert "public seeds 0 and 1 (1 gate): SigmoidGate" in " ".join(out.split())
    assert "SquareGate" not in out


def test_gates_with_a_name_it_does_not_have_is_a_usage_error(tmp_path, capsys):
    assert main(["check", "--gates", "MaxGate,MinGate"]) == 2
    err = capsys.readouterr().err
    assert "--gates: no gate named MinGate in the built-in gates and blocks" in err
    assert "MaxGate" in err and "MLPBlock" in err          # what it does have
    assert main(["check", _write(tmp_path, STUDENT_FILE), "--gates", "CubeGate"]) == 2
    assert "the gates there: SquareGate, SigmoidGate, HalfDone" in capsys.readouterr().err


def test_a_blank_skeleton_gives_one_line_per_gate_and_details_on_request(tmp_path, capsys):
    from gates import ALL_GATES
    from gates.grade import skeleton_source
    path = tmp_path / "gates_hw.py"
    path.write_text(skeleton_source())
    assert main(["check", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()
    fails = [line for line in lines if line.startswith("FAIL ")]
    assert len(fails) == len(ALL_GATES)
    assert all(line.endswith("0.00 of 10.00 points as graded: "
                             f"{line.split()[1]}.forward is not implemented yet (it raises "
                             "NotImplementedError)") for line in fails)
    assert fails[0].split()[:2] == ["FAIL", "AddGate"]
    assert lines[-2] == "0 of 24 gates passed in " + lines[-2].split(" in ")[-1]
    assert lines[-1] == "(--details prints the full report of each failing gate)"
    # then the note naming the 24 graded gates, wrapped at 88 columns and indented
    note = lines[len(ALL_GATES):-2]
    assert note[0].startswith("note: graded the way compgraph grade will, on its cases")
    assert len(note) > 1 and all(len(line) <= 88 for line in note)
    assert all(line.startswith(" " * len("note: ")) for line in note[1:])
    assert " ".join(" ".join(note).split()).endswith(
        "(24 gates): " + ", ".join(cls.__name__ for cls in ALL_GATES))

    assert main(["check", str(path), "--gates", "AddGate", "--details"]) == 1
    out = capsys.readouterr().out
    summary, details = out.split("\n\n")
    assert summary.splitlines()[0].startswith("FAIL AddGate  0.00 of 10.00 points as graded")
    assert details.splitlines()[:3] == [
        "FAIL AddGate: 0.00 of 10.00 points as graded",
        "  AddGate.forward is not implemented yet (it raises NotImplementedError)",
        "  [LOST] forward output: 0.00/3.00 (passed 0 of 6)"]
    assert "case 6 (float32: x (4, 3), y (4, 3)): forward gave no output" in details


def test_check_a_missing_file_is_a_usage_error(tmp_path, capsys):
    assert main(["check", str(tmp_path / "nope.py")]) == 2
    assert "cannot load" in capsys.readouterr().err


def test_check_a_folder_or_a_file_with_a_syntax_error_says_so_without_a_traceback(tmp_path,
                                                                                   capsys):
    assert main(["check", str(tmp_path)]) == 2
    assert "is a folder, not a module" in capsys.readouterr().err
    broken = tmp_path / "broken.py"
    broken.write_text("class SigmoidGate:\n    def forward(self, x:\n        pass\n")
    assert main(["check", str(broken)]) == 2
    err = capsys.readouterr().err
    assert "SyntaxError" in err and "line 2" in err and "Traceback" not in err


def test_a_gate_message_with_a_lone_surrogate_is_printed_escaped(tmp_path, capsys):
    path = tmp_path / "odd.py"
    path.write_text(
        "import numpy as np\n"
        "class Odd:\n"
        "    def forward(self, x):\n"
        "        raise ValueError('\\ud800')\n"
        "    def backward(self, dz):\n"
        "        return (dz,)\n"
        "    @staticmethod\n"
        "    def example_inputs(rng):\n"
        "        return (np.ones(2),)\n")
    assert main(["check", str(path), "--seeds", "1"]) == 1
    assert "raised ValueError: \\ud800" in capsys.readouterr().out


def test_a_graded_gate_with_a_jvp_has_its_jvp_graded_too(tmp_path, capsys):
    path = _write(tmp_path, textwrap.dedent('''
        import numpy as np


        class ExpGate:
            def forward(self, x):
                self.z = np.exp(x)
                return self.z

            def backward(self, dz):
                return (self.z * dz,)

            def jvp(self, tx):
                return self.z          # forgot the tangent
    '''))
    assert main(["check", path, "--json"]) == 1
    graded = json.loads(capsys.readouterr().out)["graded"][0]
    assert [c["name"] for c in graded["checks"] if c["points"] < c["max_points"]] == ["jvp"]
    assert main(["check", path, "--no-jvp"]) == 0
    assert "PASS ExpGate  10.00 of 10.00 points as graded" in capsys.readouterr().out
