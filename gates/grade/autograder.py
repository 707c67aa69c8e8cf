"""Gradescope: build the autograder zip, and the entry point that runs inside it.

The zip holds, at its root, ``setup.sh`` (Gradescope runs it once, as root, when
building the image: it installs bubblewrap, makes a virtual environment,
pip-installs compgraph from the bundled source (which brings numpy and scipy), makes
the installed packages and the source folder readable by root only, and creates the
grading users ``compgraph-child0..15``, uids 64000-64015), ``run_autograder`` (run
per submission), ``config.json`` (gates, seed, timeout, memory, jvp, rubric) and
``compgraph/`` (the source of the ``gates`` package with setup.cfg/pyproject.toml),
which setup.sh deletes once installed. ``run_autograder`` calls ``python -m
gates.grade.autograder run``, which grades the file in ``/autograder/submission`` with
at least the ``uid`` isolation (:mod:`.isolation`) and writes
``/autograder/results/results.json``, always: when no file is found, when the import
fails, when grading itself breaks, and (written by the script) when Python cannot run.
Everything in it is in the language config.json names (``"en"`` or ``"vi"``).
``COMPGRAPH_AUTOGRADER_ROOT`` moves ``/autograder`` elsewhere, to try the scripts.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
import zipfile
from dataclasses import asdict
from pathlib import Path

from gates import i18n
from gates.i18n import set_language, tr

from .grader import grade_submission
from .report import gradescope, write_json
from .request import GradingError, SetupError, check_settings, gate_classes
from .rubric import Rubric
from .submission import SubmissionError, load

SETUP_SH = r"""#!/usr/bin/env bash
# Gradescope runs this once, as root, while building the autograder image.
set -euo pipefail
AG="${COMPGRAPH_AUTOGRADER_ROOT:-/autograder}"
cd /     # so that `python -c "import gates"` finds the installed copy, not a folder here
if command -v apt-get >/dev/null; then
    apt-get update
    # bubblewrap gives each child its own namespaces where the container allows them
    apt-get install -y python3 python3-pip python3-venv bubblewrap util-linux
fi
python3 -m venv "$AG/venv"
"$AG/venv/bin/pip" install --upgrade pip
# the numpy and scipy the zip was built with: a rebuilt image grades with the same
"$AG/venv/bin/pip" install --no-cache-dir @PINNED@ "$AG/source/compgraph"
# The installed copy is the only one left: only root (the grader) may read it, and
# root alone may read config.json (the seed) in the source folder.
rm -rf "$AG/source/compgraph"
for package in @PACKAGES@; do
    dir=$("$AG/venv/bin/python" -c "import $package, os; print(os.path.dirname($package.__file__))")
    chmod -R go-rwx "$dir"
done
chmod -R go-rwx "$AG/source"
# One unprivileged user per grading child, with a group of its own and no home.
for i in $(seq 0 15); do
    id=$((64000 + i))
    getent group "$id" >/dev/null || groupadd --system --gid "$id" "compgraph-child$i"
    getent passwd "$id" >/dev/null || useradd --system --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin --uid "$id" --gid "$id" \
        "compgraph-child$i"
done
# Fail the build, not every student, if the children cannot be isolated here.
"$AG/venv/bin/python" -c "from gates.grade.grader import choose_isolation
print('compgraph: grading isolation', choose_isolation(require_isolation=True).level)"
"""

#: The packages the zip ships (setup.sh hides each of them from the children).
SHIPPED_PACKAGES = ("gates",)
SETUP_SH = SETUP_SH.replace("@PACKAGES@", " ".join(SHIPPED_PACKAGES))


def pinned_requirements() -> str:
    """``numpy==2.1.3 scipy==1.15.2``: the versions grading here, which setup.sh installs
    on Gradescope so that a rebuilt image grades with the same numbers."""
    import numpy
    import scipy

    return f"numpy=={numpy.__version__} scipy=={scipy.__version__}"

RUN_AUTOGRADER = r"""#!/usr/bin/env bash
# Gradescope runs this for every submission; it must leave results/results.json behind.
AG="${COMPGRAPH_AUTOGRADER_ROOT:-/autograder}"
cd "$AG/source" 2>/dev/null || cd /
"$AG/venv/bin/python" -m gates.grade.autograder run \
    "$AG/source/config.json" "$AG/submission" "$AG/results/results.json"
status=$?
# if Python itself could not run, the student still gets a valid results.json
if [ ! -s "$AG/results/results.json" ]; then
    mkdir -p "$AG/results"
    printf '{"score": 0.0, "output": "The autograder could not run (status %s); please tell your teacher.", "tests": []}\n' \
        "$status" > "$AG/results/results.json"
fi
exit 0
"""


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def build_zip(out, gates=None, rubric=None, seed: int = 0, timeout: float = 10.0,
              memory: int = 1 << 30, jvp: bool = False, filename: str | None = None,
              language: str | None = None) -> Path:
    """Write the Gradescope autograder zip to ``out``.

    ``rubric`` is a :class:`~gates.grade.rubric.Rubric` (stored in config.json);
    ``filename`` names the file students upload (default: the ``.py`` file with the most
    expected gate classes); ``language`` is the students' feedback's, "en" or "vi"
    (default: Gradescope's environment's, which is English). Raises GradingError for an unknown gate name, a negative
    seed or a timeout <= 0 (here, not on Gradescope for every student) and FileNotFoundError if compgraph's source is missing.
    """
    gate_classes(gates)
    check_settings(seed, timeout)
    if language is not None and language not in i18n.LANGUAGES:
        raise ValueError(tr("unknown language {lang!r}; compgraph speaks {languages}")
                         .format(lang=language, languages=", ".join(i18n.LANGUAGES)))
    root = _repo_root()
    config = {"gates": list(gates) if gates else None, "seed": seed, "timeout": timeout,
              "memory": memory, "jvp": jvp, "filename": filename,
              "rubric": asdict(rubric) if rubric is not None else None}
    if language is not None:
        config["language"] = language
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        setup = SETUP_SH.replace("@PINNED@", pinned_requirements())
        for name, text in (("setup.sh", setup), ("run_autograder", RUN_AUTOGRADER)):
            info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
            info.external_attr = 0o100755 << 16   # executable, as Gradescope requires
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text)
        z.writestr("config.json", json.dumps(config, indent=2))
        for meta in ("setup.cfg", "pyproject.toml", "README.md"):
            if (root / meta).is_file():
                z.write(root / meta, f"compgraph/{meta}")
        for package in SHIPPED_PACKAGES:
            for path in sorted((root / package).rglob("*.py")):
                if "__pycache__" not in path.parts:
                    z.write(path, f"compgraph/{path.relative_to(root)}")
    return out


def run(config_path, submission_dir, results_path) -> int:
    """Grade the submission folder as ``config_path`` says; always write ``results_path``,
    in the language config.json names (the process's language is restored after)."""
    with i18n.speaking(None):
        return _run(config_path, submission_dir, results_path)


def _run(config_path, submission_dir, results_path) -> int:
    started = time.perf_counter()
    try:
        config = json.loads(Path(config_path).read_text(encoding="utf-8"))
        if config.get("language") in i18n.LANGUAGES:
            set_language(config["language"])
        names = [c.__name__ for c in gate_classes(config.get("gates"))]
        wanted = config.get("filename")
        try:
            path = load(Path(submission_dir), names, prefer=wanted)
        except SubmissionError:
            path = None
        if path is None:
            data = _failure((tr("No .py file or notebook found in your submission; upload "
                                "the completed skeleton as {filename}.").format(filename=wanted)
                             if wanted else
                             tr("No .py file or notebook found in your submission; upload "
                                "the completed skeleton.")), started)
        else:
            rubric = Rubric(**config["rubric"]) if config.get("rubric") else None
            result = grade_submission(path, gates=config.get("gates"), rubric=rubric,
                                      seed=config.get("seed", 0),
                                      timeout=config.get("timeout", 10.0),
                                      memory=config.get("memory", 1 << 30),
                                      jvp=config.get("jvp", False),
                                      require_isolation=True)
            result.submission = path.main
            data = gradescope(result)
    except GradingError as exc:
        if isinstance(exc, SetupError):
            traceback.print_exc(limit=5)
            data = _failure(tr("The autograder itself failed; please tell your teacher."),
                            started)
        else:   # the student's file itself: not a regular file, too large
            data = _failure(tr("Your submission could not be graded: {error}").format(
                error=exc), started)
    except Exception:  # noqa: BLE001  (the student must get a results.json regardless)
        # the details are for the teacher (Gradescope's log), never shown to a student
        traceback.print_exc(limit=5)
        data = _failure(tr("The autograder itself failed; please tell your teacher."), started)
    write_json(results_path, data)
    return 0


def _failure(text: str, started: float) -> dict:
    return {"score": 0.0, "execution_time": round(time.perf_counter() - started, 3),
            "output": text, "visibility": "visible", "tests": []}


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] != "run":
        sys.exit("usage: python -m gates.grade.autograder run CONFIG SUBMISSION_DIR RESULTS_JSON")
    sys.exit(run(*sys.argv[2:]))
