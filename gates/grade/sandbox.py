"""Run :mod:`gates.grade.runner` in a child process with limits, and read what it wrote.

The child is ``python -I -S runner.py WORKDIR``: isolated mode (no PYTHON* variables,
neither the current nor the script's directory on ``sys.path``) without the ``site``
module (faster, and no ``.pth`` files, so not even an editable install of compgraph is
importable); ``sys.path`` gets only the folder numpy lives in (:func:`numpy_path`),
its own session (so a timeout kills the whole process group, grandchildren included),
a temporary working directory, and stdout/stderr going to files in that directory.
The runner sets its own limits before importing the submission: CPU seconds
(RLIMIT_CPU), address space (RLIMIT_AS, so a 4 GB allocation fails with MemoryError),
file size (RLIMIT_FSIZE, so a flood of prints stops at the cap) and no core dumps.
The grader keeps a wall-clock timeout on top. Only the first few kilobytes of the
captured output are ever read back, so 10 MB of prints cost the grader nothing.
"""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

RUNNER = Path(__file__).with_name("runner.py")

#: How much of the child's stdout/stderr is kept for the report.
OUTPUT_EXCERPT = 2000


@dataclass
class Limits:
    """Per-child limits: wall-clock seconds, CPU seconds, bytes of memory and of any file."""

    timeout: float = 10.0
    memory: int = 1 << 30
    fsize: int = 16 << 20

    @property
    def cpu(self) -> int:
        """CPU seconds: one more than the wall-clock timeout, at least 1."""
        return max(1, int(self.timeout + 1))


@dataclass
class ChildRun:
    """How one child ended, and the raw steps it wrote (``step -> (arrays, info)``)."""

    returncode: int | None
    timed_out: bool
    elapsed: float
    stdout: str
    stderr: str
    stdout_bytes: int
    steps: dict = field(default_factory=dict)

    @property
    def ending(self) -> str | None:
        """A sentence on an abnormal end, or None when the child exited normally."""
        if self.timed_out:
            return f"did not finish within the time limit ({self.elapsed:.1f} s): an endless loop?"
        code = self.returncode
        if code == 0 and "done" not in self.steps:
            return "exited before the grader was done (os._exit or sys.exit in your code?)"
        if code is None or code == 0:
            return None
        if code < 0:
            sig = -code
            name = signal.Signals(sig).name if sig in signal.Signals.__members__.values() else sig
            why = {"SIGSEGV": "a segmentation fault (memory corruption, e.g. via ctypes)",
                   "SIGXCPU": "the CPU time limit was exceeded: an endless loop?",
                   "SIGKILL": "it was killed (out of time or memory)",
                   "SIGXFSZ": "it wrote more output than allowed"}.get(str(name), "a signal")
            return f"crashed with {name}: {why}"
        return f"exited with status {code} (sys.exit or os._exit in the submission?)"

    def output_excerpt(self) -> str:
        """The start of what the submission printed, marked when cut."""
        text = self.stdout + self.stderr
        if self.stdout_bytes > OUTPUT_EXCERPT:
            text += f"\n... ({self.stdout_bytes} bytes of output in all, cut)"
        return text


def _read_excerpt(path: Path) -> tuple[str, int]:
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(OUTPUT_EXCERPT)
    except OSError:
        return "", 0
    return head.decode("utf-8", errors="replace"), size


#: The steps the runner writes; any other file in its output folder is ignored.
STEP_NAME = re.compile(r"(ready|import|done|c\d{1,3}_(forward|backward|jvp))")


def _read_steps(out: Path, max_bytes: int) -> dict:
    """Every complete step the child wrote; anything malformed is skipped, never trusted.

    The files are the submission's to forge, so nothing in them may crash the grader:
    a step is skipped when its JSON is nested more deeply than the runner ever writes,
    or its arrays claim more than ``max_bytes`` in all (an .npy header can claim
    terabytes in a few bytes); arrays of anything but real numbers are left out.
    """
    steps = {}
    if not out.is_dir():
        return steps
    for meta in out.glob("*.json"):
        if not STEP_NAME.fullmatch(meta.stem):
            continue
        data = meta.with_suffix(".npz")
        try:
            if meta.stat().st_size > max_bytes or not data.is_file():
                continue
            info = json.loads(meta.read_text(encoding="utf-8"))
            arrays = _load_arrays(data, max_bytes)
        except (OSError, ValueError, RecursionError, MemoryError, EOFError):
            continue
        if isinstance(info, dict) and arrays is not None and _nesting(info) <= _MAX_NESTING:
            steps[meta.stem] = (arrays, _valid_text(info))
    return steps


def _valid_text(value):
    """``value`` with every string made valid UTF-8: JSON can carry lone surrogates
    (``"\\ud800"`` in an exception message), which no file or terminal can encode."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list):
        return [_valid_text(v) for v in value]
    if isinstance(value, dict):
        return {_valid_text(k): _valid_text(v) for k, v in value.items()}
    return value


#: The runner's descriptions are a few levels deep; deeper JSON is forged.
_MAX_NESTING = 8


def _nesting(value, depth=0) -> int:
    """How deeply lists and dicts nest in ``value`` (stops counting past the limit)."""
    if depth > _MAX_NESTING or not isinstance(value, (dict, list)):
        return depth
    items = value.values() if isinstance(value, dict) else value
    return max([_nesting(v, depth + 1) for v in items], default=depth + 1)


def _load_arrays(path: Path, max_bytes: int) -> dict | None:
    """The real-number arrays of one ``.npz`` (strings, complex, objects and structured
    arrays are left out), or None if together they would take more than ``max_bytes``
    or a header is unreadable. Every header is read before any array is, so a forged
    shape allocates nothing."""
    with np.load(path, allow_pickle=False) as npz:
        total, real = 0, []
        for member in npz.zip.namelist():
            with npz.zip.open(member) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    return None
            total += math.prod(shape) * dtype.itemsize
            if total > max_bytes:
                return None
            if dtype.kind in "biuf":
                real.append(member.removesuffix(".npy"))
        return {k: npz[k] for k in real}


def numpy_path() -> list[str]:
    """The folder holding numpy (and its bundled libraries), for the child's sys.path."""
    return [os.path.dirname(os.path.dirname(os.path.realpath(np.__file__)))]


def child_env(workdir: Path) -> dict:
    """A small environment: no secrets of the grader's, BLAS held to one thread (children
    run side by side), and the BLAS settings of this machine passed on unchanged."""
    keep = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
    env = {k: v for k, v in os.environ.items()
           if k in keep or k.startswith(("OPENBLAS_", "OMP_", "MKL_", "GOTO"))}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               HOME=str(workdir), TMPDIR=str(workdir))
    return env


def start(workdir: Path, task: dict, limits: Limits) -> tuple[subprocess.Popen, float]:
    """Write ``task.json`` with the limits and start the runner on ``workdir``."""
    task = dict(task, sys_path=numpy_path(),
                limits={"cpu": limits.cpu, "memory": limits.memory, "fsize": limits.fsize})
    (workdir / "task.json").write_text(json.dumps(task), encoding="utf-8")
    with open(workdir / "stdout.txt", "wb") as out, open(workdir / "stderr.txt", "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(RUNNER), str(workdir)], cwd=workdir,
            stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=child_env(workdir),
            start_new_session=True)
    return proc, time.perf_counter()


def finish(proc: subprocess.Popen, started: float, workdir: Path, limits: Limits) -> ChildRun:
    """Wait for the child (killing its process group at the timeout) and collect its steps."""
    timed_out = False
    remaining = max(0.0, limits.timeout - (time.perf_counter() - started))
    try:
        proc.wait(timeout=remaining)
    except subprocess.TimeoutExpired:
        timed_out = True
    try:
        # the runner os._exit()s at the end; anything left in its group is the submission's
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
    elapsed = time.perf_counter() - started
    stdout, size = _read_excerpt(workdir / "stdout.txt")
    stderr, _ = _read_excerpt(workdir / "stderr.txt")
    return ChildRun(proc.returncode, timed_out, elapsed, stdout, stderr, size,
                    _read_steps(workdir / "out", limits.fsize))


def run(workdir: Path, task: dict, limits: Limits) -> ChildRun:
    """:func:`start` then :func:`finish`."""
    proc, started = start(workdir, task, limits)
    return finish(proc, started, workdir, limits)
