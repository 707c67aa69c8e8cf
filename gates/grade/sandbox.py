"""Run :mod:`gates.grade.runner` in an isolated child, and collect what it sends back.

The child is ``python -I -S runner.py INPUTS WORK FD``: isolated mode without ``site``
(no ``.pth`` files, so not even an editable install of compgraph is importable),
``sys.path`` holding only the folder numpy lives in, wrapped as the isolation level
says (:mod:`.isolation`: bubblewrap's namespaces and/or a grading uid of its own).
``INPUTS`` (the submission, ``task.json``, ``cases.npz``) is read-only to the child;
``WORK`` is its folder (a size-capped tmpfs in the namespaces).

Nothing comes back through files. The runner writes its results as frames into a
pipe (:mod:`.frames`), and the submission's stdout and stderr go into a second pipe;
a thread of the grader drains both while the child runs: the first
:data:`OUTPUT_EXCERPT` bytes of output and at most ``Limits.results`` bytes of
results are kept, the rest is read and dropped, so printing is never fatal and no
file the child can swap (a FIFO, a symlink to ``/dev/zero``) is ever opened.

After the child exits or its time is up, everything it started is killed (its PID
namespace, every process of its uid, or at least its process group) before its
results are looked at; then its folder is removed, by a removal that cannot fail
(:mod:`.trees`).
"""

from __future__ import annotations

import json
import os
import select
import selectors
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from gates.i18n import tr

from . import isolation as iso
from .frames import read_frames
from .trees import folder_bytes, remove_tree

RUNNER = Path(__file__).with_name("runner.py")

#: How much of the child's output is kept for the report.
OUTPUT_EXCERPT = 2000

#: RLIMIT_NPROC of every child: the kernel counts the processes (and threads) of the
#: child's real uid, which has at least the runner, so with 1 the child can start none
#: (a gate needs none) and its memory in all is one ``RLIMIT_AS``. (Root is exempt: a
#: child runs as root only at the process-only level, and only when asked for.)
NPROC = 1

#: RLIMIT_NOFILE of every child: Python and numpy need about a dozen; with ``fsize``
#: it bounds what files in memory (memfd) can hold: 64 x 16 MB.
NOFILE = 64


@dataclass
class Limits:
    """Per-child limits: wall-clock seconds, bytes of memory, of any one file, of its
    folder in all (a tmpfs of that size in the namespaces, measured while the child
    runs elsewhere), and of the results it may send back."""

    timeout: float = 10.0
    memory: int = 1 << 30
    fsize: int = 16 << 20
    folder: int = 64 << 20
    results: int = 16 << 20

    @property
    def cpu(self) -> int:
        """CPU seconds: one more than the wall-clock timeout, at least 1."""
        return max(1, int(self.timeout + 1))


@dataclass
class ChildRun:
    """How one child ended, the start of its output, and the steps it sent back
    (``step -> (arrays, info)``)."""

    returncode: int | None
    timed_out: bool
    elapsed: float
    output: str
    output_bytes: int
    steps: dict = field(default_factory=dict)
    results_cut: bool = False
    survivors: int = 0
    folder_full: int | None = None

    @property
    def ending(self) -> str | None:
        """A sentence on an abnormal end, in the feedback's language, or None when the
        child exited normally."""
        if self.timed_out:
            return tr("did not finish within the time limit ({seconds} s): an endless "
                      "loop?").format(seconds=f"{self.elapsed:.1f}")
        if self.folder_full:
            return tr("wrote more than the {mb} MB its folder may hold, and was stopped") \
                .format(mb=self.folder_full >> 20)
        if self.results_cut:
            return tr("sent back more than the grader reads (does it write to the "
                      "grader's pipe?)")
        code = self.returncode
        if code == 0 and "done" not in self.steps:
            return tr("exited before the grader was done (os._exit or sys.exit in your "
                      "code?)")
        if code is None or code == 0:
            return None
        if code < 0 or code > 128:
            sig = -code if code < 0 else code - 128
            name = signal.Signals(sig).name if sig in signal.Signals.__members__.values() else sig
            why = {"SIGSEGV": tr("a segmentation fault (memory corruption, e.g. via ctypes)"),
                   "SIGXCPU": tr("the CPU time limit was exceeded: an endless loop?"),
                   "SIGKILL": tr("it was killed (out of time or memory)"),
                   "SIGXFSZ": tr("it wrote a file larger than allowed")}.get(str(name))
            return tr("crashed with {signal}: {why}").format(signal=name,
                                                           why=why or tr("a signal"))
        return tr("exited with status {code} (sys.exit or os._exit in the "
                  "submission?)").format(code=code)

    def output_excerpt(self) -> str:
        """The start of what the submission printed, marked when cut."""
        text = self.output
        if self.output_bytes > OUTPUT_EXCERPT:
            text += f"\n... ({self.output_bytes} bytes of output in all, cut)"
        return text


class _Drain(threading.Thread):
    """Reads the child's output and results pipes to their end, keeping what fits."""

    def __init__(self, output_fd: int, results_fd: int, results_budget: int):
        super().__init__(daemon=True)
        self.output, self.output_bytes = bytearray(), 0
        self.results, self.results_cut = bytearray(), False
        self._budget = results_budget
        self._fds = {output_fd: "output", results_fd: "results"}
        self._closing = threading.Event()
        self._abandoned = threading.Event()

    def run(self):
        with selectors.DefaultSelector() as sel:
            for fd in self._fds:
                os.set_blocking(fd, False)
                sel.register(fd, selectors.EVENT_READ)
            open_fds = set(self._fds)
            while open_fds and not self._abandoned.is_set():
                events = sel.select(timeout=0.05)
                if not events and self._closing.is_set():
                    break
                for key, _ in events:
                    try:
                        chunk = os.read(key.fd, 1 << 16)
                    except BlockingIOError:
                        continue
                    except OSError:
                        chunk = b""
                    if not chunk:
                        sel.unregister(key.fd)
                        open_fds.discard(key.fd)
                    elif self._fds[key.fd] == "output":
                        self.output_bytes += len(chunk)
                        room = OUTPUT_EXCERPT - len(self.output)
                        if room > 0:
                            self.output += chunk[:room]
                    elif not self.results_cut and \
                            len(self.results) + len(chunk) <= self._budget:
                        self.results += chunk
                    else:
                        self.results_cut = True     # and nothing after the cut is kept
        for fd in self._fds:
            os.close(fd)

    def stop(self, grace: float) -> tuple[bytes, int, bytes, bool]:
        """Let the pipes run dry (their writers are dead), at most ``grace`` seconds
        more, then stop reading for good; returns (output, output bytes in all, results,
        results cut): a snapshot no late writer can change."""
        self._closing.set()
        self.join(grace)
        self._abandoned.set()
        self.join(1.0)
        return bytes(self.output), self.output_bytes, bytes(self.results), self.results_cut


def numpy_path() -> list[str]:
    """The folder holding numpy, for the child's sys.path."""
    return [iso.numpy_dirs()[0]]


def child_env(work: str) -> dict:
    """A small environment: no secrets of the grader's, BLAS held to one thread (children
    run side by side), and the BLAS settings of this machine passed on unchanged."""
    keep = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ")
    env = {k: v for k, v in os.environ.items()
           if k in keep or k.startswith(("OPENBLAS_", "OMP_", "MKL_", "GOTO"))}
    env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
               HOME=work, TMPDIR=work)
    return env


class Child:
    """One running child: its process, its uid slot, its pipes and folders."""

    def __init__(self, inputs: Path, task: dict, limits: Limits, isolation: iso.Isolation,
                 hidden=()):
        self.inputs, self.limits, self.isolation = inputs, limits, isolation
        self.slot = iso.acquire_slot() if isolation.uses_uid else None
        self.work = inputs / "work"
        try:
            self._prepare(task)
            self.proc, self._drain = self._launch(hidden)
        except BaseException:
            self._release()
            raise
        try:
            self._pidfd = os.pidfd_open(self.proc.pid)
        except (AttributeError, OSError):
            self._pidfd = -1
        self.started = time.perf_counter()

    def _prepare(self, task: dict) -> None:
        limits = self.limits
        task = dict(task, sys_path=numpy_path(), limits={
            "cpu": limits.cpu, "memory": limits.memory, "fsize": limits.fsize,
            "nproc": NPROC, "nofile": NOFILE}, grading_uid=self.slot is not None)
        (self.inputs / "task.json").write_text(json.dumps(task), encoding="utf-8")
        shutil.copyfile(RUNNER, self.inputs / "runner.py")
        if self.slot:
            # the child may read its inputs (through its group), and no other child may
            os.chown(self.inputs, 0, self.slot.gid)
            os.chmod(self.inputs, 0o750)
            for f in [*self.inputs.iterdir(), *self.inputs.glob("src/*")]:
                os.chown(f, 0, self.slot.gid)
                os.chmod(f, 0o750 if f.is_dir() else 0o640)
        if not self.isolation.uses_namespaces:
            self.work.mkdir(mode=0o700)
            if self.slot:
                os.chown(self.work, self.slot.uid, self.slot.gid)

    def _launch(self, hidden):
        out_r, out_w = os.pipe()
        res_r, res_w = os.pipe()
        if self.isolation.uses_namespaces:
            inputs, work = iso.SANDBOX_INPUTS, iso.SANDBOX_WORK
            prefix = iso.bwrap_command(self.inputs, self.limits.folder, hidden,
                                       as_root=self.isolation.uses_uid)
            cwd = None
        else:
            inputs, work, prefix, cwd = str(self.inputs), str(self.work), [], self.work
        if self.slot:
            prefix += iso.setpriv_command(self.slot)
        command = prefix + [iso.interpreter(), "-I", "-S", f"{inputs}/runner.py", inputs,
                            work, str(res_w)]
        try:
            proc = subprocess.Popen(command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out_w,
                                    stderr=out_w, env=child_env(work), pass_fds=(res_w,),
                                    start_new_session=True)
        except BaseException:
            for fd in (out_r, out_w, res_r, res_w):
                os.close(fd)
            raise
        os.close(out_w)
        os.close(res_w)
        drain = _Drain(out_r, res_r, self.limits.results)
        try:
            drain.start()
        except BaseException:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            for fd in (out_r, res_r):
                os.close(fd)
            raise
        return proc, drain

    def finish(self) -> ChildRun:
        """Wait for the child (until its timeout), kill all it started, read its steps.

        Without namespaces the child's folder is on the grader's disk, not a capped
        tmpfs: it is measured while the child runs, and a child that puts more than
        ``Limits.folder`` bytes there is stopped."""
        timed_out = folder_full = False
        deadline = self.started + self.limits.timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                timed_out = True
                break
            if self._exited_within(min(left, 0.2)):
                break
            if not self.isolation.uses_namespaces and \
                    folder_bytes(self.work, self.limits.folder) > self.limits.folder:
                folder_full = True
                break
        elapsed = time.perf_counter() - self.started
        survivors = 0
        try:
            survivors = self._kill()
            # every writer is dead (but at the process-only level, where a process that
            # left the group may still hold a pipe: it gets a moment, then is cut off)
            output, output_bytes, results, cut = self._drain.stop(
                grace=0.5 if self.isolation.level == "process only" else 5.0)
        finally:
            if self._pidfd >= 0:
                os.close(self._pidfd)
            self._release(quarantine=survivors > 0)
        try:
            steps = read_frames(results)
        except Exception:  # noqa: BLE001  (a frame the reader missed costs the child only)
            steps = {}
        return ChildRun(self.proc.returncode, timed_out, elapsed,
                        output.decode("utf-8", errors="replace"), output_bytes,
                        steps, cut, survivors,
                        self.limits.folder if folder_full else None)

    def _exited_within(self, seconds: float) -> bool:
        """Whether the child exits within ``seconds``, known the moment it does (through
        its pidfd; Popen.wait with a timeout polls, up to 50 ms late, on every child)."""
        try:
            ready = select.select([self._pidfd], [], [], seconds)[0]
        except (OSError, ValueError):      # no pidfd here: poll
            try:
                self.proc.wait(timeout=seconds)
                return True
            except subprocess.TimeoutExpired:
                return False
        if ready:
            self.proc.wait()
        return bool(ready)

    def _kill(self) -> int:
        """Kill the child's process group, its namespace and every process of its uid."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        if self.slot:
            return len(iso.kill_uid(self.slot.uid))
        return 0

    def _release(self, quarantine: bool = False) -> None:
        """Remove the child's folders and give its uid back, unless a process of it
        survived every kill (``quarantine``): then the uid stays locked for the rest of
        this grader's life, so no classmate's child ever shares it with that process."""
        if self.slot and quarantine:
            self.slot = None     # its lock stays held: the uid is never handed out again
            return
        remove_tree(self.inputs)
        if self.slot:
            if not self.isolation.uses_namespaces:   # there, /tmp and the like are shared
                iso.sweep_shared(self.slot.uid)
            self.slot.release()
            self.slot = None
