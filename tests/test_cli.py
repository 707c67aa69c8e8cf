"""The ``compgraph`` front door: the subcommand table, the version, the demo, the lecture,
and a closed pipe."""

import importlib.metadata
import json
import math
import subprocess
import sys

import pytest

from experiments import cli


def test_every_subcommand_module_provides_configure_and_run():
    import importlib
    for name, (module, help_text) in cli.COMMANDS.items():
        mod = importlib.import_module(module)
        assert callable(mod.configure) and callable(mod.run), name
        assert help_text


def test_no_command_prints_help_and_fails(capsys):
    assert cli.main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


def test_version_prints_the_installed_version_and_exits_0(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out == f"compgraph {importlib.metadata.version('compgraph')}\n"


def test_lecture_is_a_subcommand_that_checks_every_worked_example(capsys):
    assert cli.main(["lecture"]) == 0
    out = capsys.readouterr().out
    assert "1. e = (a+b)(b+1) at a=2, b=1" in out and "MISMATCH" not in out
    assert out.rstrip().endswith("results match the lecture")


def test_explain_reads_pi_inside_an_expression(capsys):
    # sin(pi x) at x = 1/4: z = sin(pi/4) = √2/2, dz/dx = pi cos(pi/4)
    assert cli.main(["explain", "z = sin(pi*x)", "--at", "x=0.25", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["values"]["z"] == pytest.approx(math.sqrt(2) / 2, abs=1e-12)
    assert data["gradients"] == pytest.approx({"x": math.pi * math.sqrt(2) / 2}, abs=1e-12)


def test_explain_keeps_the_lectures_e_a_variable(capsys):
    assert cli.main(["explain", "e = (a+b)*(b+1)", "--at", "a=2", "b=1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["values"]["e"] == 6
    assert data["gradients"] == {"a": 2, "b": 5}


def test_demo_prints_the_slides_numbers(capsys):
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "forward(3, -4)  = -12" in out
    assert "backward(2)     = (-8, 6)" in out
    assert "a = -20" in out
    assert "dx = -8, dy = 6" in out and "dz = 2, dw = 0" in out
    assert "da/dx = -8" in out


def test_a_reader_that_goes_away_gets_no_traceback():
    proc = subprocess.Popen([sys.executable, "-m", "experiments.cli", "check", "-v"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    proc.wait(timeout=60)
    assert b"Traceback" not in err
    assert proc.returncode == 1


@pytest.mark.parametrize("argv", [["nonsense"], ["train", "--layers", "5"]])
def test_bad_arguments_exit_with_a_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert "error" in capsys.readouterr().err


def test_a_name_given_a_value_is_an_input_even_when_spelled_e(capsys):
    assert cli.main(["explain", "y = e*x", "--at", "x=1", "e=2", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["values"]["y"] == 2.0
