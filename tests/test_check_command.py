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
        """Forgot the (1 - z) of the local gradient; no example_inputs of its own."""

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
    assert "26 of 26 gate(s) passed" in out


def test_check_a_students_file_names_what_failed_and_what_is_missing(tmp_path, capsys):
    status = main(["check", _write(tmp_path, STUDENT_FILE), "--seeds", "1"])
    out = capsys.readouterr().out
    assert status == 1
    assert "PASS SquareGate" in out
    assert "FAIL SigmoidGate" in out and "input 'x': backward: disagrees" in out
    assert "FAIL HalfDone" in out and "missing backward and example_inputs(rng)" in out
    assert "NotAGate" not in out
    assert "checked on the built-in gate's examples: SigmoidGate" in out


def test_check_exits_0_when_every_gate_in_the_file_passes(tmp_path, capsys):
    good = STUDENT_FILE.split("class SigmoidGate")[0]
    assert main(["check", _write(tmp_path, good)]) == 0
    assert "1 of 1 gate(s) passed" in capsys.readouterr().out


def test_check_json_is_machine_readable(tmp_path, capsys):
    status = main(["check", _write(tmp_path, STUDENT_FILE), "--seeds", "1", "--json",
                   "--no-float32"])
    data = json.loads(capsys.readouterr().out)
    assert status == 1 and data["ok"] is False
    verdicts = {r["target"]: r for r in data["reports"]}
    assert verdicts["SquareGate"]["ok"] is True
    assert verdicts["SigmoidGate"]["failed_inputs"] == ["x"]
    assert data["incomplete"] == [{"name": "HalfDone",
                                   "missing": "missing backward and example_inputs(rng)"}]


def test_check_a_module_by_name(capsys):
    assert main(["check", "gates.nonlinear", "--seeds", "1"]) == 0
    assert "9 of 9 gate(s) passed" in capsys.readouterr().out


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
