"""What a grading request may ask for, and the errors of one that cannot be graded.

The names of the gates to grade (``--gates``: :func:`gate_list`, :func:`gate_classes`),
the seeds and the time limit (:func:`check_settings`), and the submission file itself
(:func:`read_submission`). The grader (:mod:`.grader`) and every module that prepares a
request for it (an assignment, a batch, the Gradescope autograder, the submission
loader, the commands) check the request here, below the grader, so none of them
imports the grader to do it.
"""

from __future__ import annotations

import numbers
import os
import stat

import gates as reference
from gates.i18n import tr

__all__ = ["GradingError", "SetupError", "MAX_SUBMISSION_BYTES", "check_settings",
           "gate_list", "gate_classes", "read_submission"]


class GradingError(ValueError):
    """Bad grading request: unknown gate names, an unreadable submission file, or limits
    under which the grading child cannot even start."""


class SetupError(GradingError):
    """A problem of the grading machine or settings, the same for every student (no
    isolation as asked, limits too tight for the child to start): a batch stops."""


#: A submission larger than this is not graded (a gate file is a few kB).
MAX_SUBMISSION_BYTES = 2 << 20


def check_settings(seed: int, timeout: float, what: str = "seed") -> None:
    """GradingError unless ``seed`` >= 0 (numpy seeds; ``what`` names it in the message)
    and ``timeout`` > 0 seconds."""
    if not isinstance(seed, numbers.Integral) or seed < 0:
        raise GradingError(f"the {what} must be an integer >= 0, got {seed!r}")
    if not timeout > 0:
        raise GradingError(f"the timeout must be more than 0 seconds, got {timeout!r}")


def gate_list(text):
    """``"AddGate, MaxGate"`` -> ``['AddGate', 'MaxGate']`` (repeats dropped); blank means
    every gate (None). The ``--gates`` of check, skeleton, grade and autograder."""
    return list(dict.fromkeys(n.strip() for n in text.split(",") if n.strip())) or None


def gate_classes(names=None) -> list:
    """Reference classes to grade: all of ``gates.ALL_GATES``, or those named."""
    by_name = {cls.__name__: cls for cls in reference.ALL_GATES}
    if not names:
        return list(reference.ALL_GATES)
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise GradingError(f"unknown gate(s) {', '.join(unknown)}; known gates: "
                           f"{', '.join(by_name)}")
    return [by_name[n] for n in names]


def read_submission(path) -> bytes:
    """The bytes of a submission file: a regular file (never a FIFO or a device, which
    could block or never end, nor a symlink, which could point at the teacher's files)
    of at most :data:`MAX_SUBMISSION_BYTES`. GradingError otherwise."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError as exc:
        if os.path.islink(path):
            raise GradingError(tr("submission {path} is a symbolic link; grade the file it "
                                  "points to").format(path=path)) from None
        raise GradingError(tr("cannot read submission {path}: {error}").format(
            path=path, error=exc.strerror)) from None
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise GradingError(tr("submission {path} is not a regular file").format(path=path))
        if info.st_size > MAX_SUBMISSION_BYTES:
            raise GradingError(tr("submission {path} is {size} bytes; more than {mb} MB is "
                                  "not a gate file").format(
                path=path, size=info.st_size, mb=MAX_SUBMISSION_BYTES >> 20))
        return f.read(MAX_SUBMISSION_BYTES + 1)[:MAX_SUBMISSION_BYTES]
