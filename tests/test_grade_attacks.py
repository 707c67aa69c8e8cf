"""Red team: hostile submissions against the real grader at its strongest isolation.

Every test here writes a submission that attacks the grader from inside a gate (the
reference solution written out, plus one class that overrides a gate with an attack)
and grades it the real way, at the default isolation when the grader is root and
bubblewrap works: ``uid+namespaces`` (bwrap's PID, network, IPC and mount namespaces,
and a grading uid of its own per child).

Almost every attack starts by switching the runner's audit hook off, in pure Python
(``unhook()`` below: the hook is found with ``gc`` and its closure cells and globals
are rewritten). The hook is a courtesy, not the boundary: once it is gone only the
kernel stands between the submission and the machine, and that is what these tests
measure. Each submission says ``UNHOOKED`` when the hook is off, and each test checks
that it did, so an attack that silently failed to start cannot pass for a blocked one.

The convention: every attempt that gets through is appended to ``worked`` and costs
the attacker, e.g. ``return super().forward(x) + len(worked)``. So an attack gate that
scores full marks was blocked everywhere, and a hole shows as a lost point (and a
``WORKED: ...`` line in the gate's output). Each test also checks that an honest gate
graded beside the attacker (``AddGate`` in the same file, or a classmate) is unaffected,
and where it matters what is left behind: files, processes of the grading uids, the
grader's temporary folders.

A hole found here stays in the suite as ``xfail(strict=True, reason="HOLE: ...")``:
the suite stays green while it is open, and turns red when it is fixed, so that the
marker is removed.

Nothing here touches anything outside pytest's temporary folders: probes that try to
write somewhere use a marker file name ``compgraph-probe-<random>``, which the test
removes if it did get written (and then fails). The only network used is 127.0.0.1.
"""

from __future__ import annotations

import csv
import json
import os
import platform
import re
import resource
import secrets
import shutil
import socket
import string
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import gates
from gates.grade import (format_table, grade_folder, grade_submission, gradescope,
                         skeleton_source, solution_source)
from gates.grade import isolation as iso
from gates.grade import sandbox
from gates.grade.cases import build_cases

#: The level under attack. The suite asserts the strongest (CI's); to measure what a
#: weaker level lets through, run it with COMPGRAPH_ATTACK_ISOLATION=uid (or "process
#: only") and read which tests fail: README's table of attacks per level comes from that.
LEVEL = os.environ.get("COMPGRAPH_ATTACK_ISOLATION", "uid+namespaces")

pytestmark = pytest.mark.skipif(
    LEVEL == "uid+namespaces" and not (os.geteuid() == 0 and iso.bwrap_works(True) is None),
    reason="the red-team suite needs root and a working bubblewrap (uid+namespaces "
           "isolation), which CI has")

SOLUTION = solution_source()
TIMEOUT = 3.0

#: Loaded into every hostile submission, after the reference solution.
PRELUDE = '''
import gc, os, sys

worked = []          # every attempt that got through; each one costs the attacker a point


def say(*parts):
    """Unbuffered, so forked processes never repeat it."""
    os.write(2, (" ".join(str(p) for p in parts) + "\\n").encode())


def won(name):
    worked.append(name)
    say("WORKED:", name)


def attempt(name, action):
    try:
        action()
    except Exception:
        return False
    won(name)
    return True


class _Always:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__


def unhook():
    """Pure Python, no ctypes: find the runner's audit hook and rewrite its closure cells
    (and the runner's globals it reads), so that it allows everything."""
    for f in gc.get_objects():
        if type(f).__name__ == "function" and f.__name__ == "hook" and f.__closure__:
            cells = dict(zip(f.__code__.co_freevars, f.__closure__))
            cells["blocked_names"].cell_contents = frozenset()
            cells["resolve"].cell_contents = lambda path: None
            cells["pid"].cell_contents = _Always()
            f.__globals__["_SPAWNING"] = frozenset()
    open("/proc/1/cmdline", "rb").close()        # an intact hook refuses this
    say("UNHOOKED")


_ran = []


def once(attack):
    """Run ``attack`` on the first call only (forward is called once per case)."""
    if not _ran:
        _ran.append(True)
        unhook()
        attack()
'''


def hostile(tmp_path, body: str, name: str = "student.py", more: str = "",
            **values) -> Path:
    """A submission: the reference, the prelude (and ``more`` of it), then ``body`` with
    each ``$NAME`` replaced by ``repr(values[NAME])`` (``$`` never occurs in the bodies)."""
    code = string.Template(textwrap.dedent(body)).substitute(
        {k: repr(v) for k, v in values.items()})
    path = tmp_path / name
    path.write_text(SOLUTION + PRELUDE + more + code + "\n", encoding="utf-8")
    return path


def grade(path, gate_names, **options):
    options.setdefault("timeout", TIMEOUT)
    result = grade_submission(path, gates=gate_names, isolation=LEVEL, **options)
    assert result.isolation == LEVEL
    return result


def by_gate(result):
    return {g.name: g for g in result.gates}


def checks(gate_result):
    return {c.name: c for c in gate_result.checks}


def full_marks(gate_result) -> bool:
    return gate_result.score == pytest.approx(10.0)


def unhooked(gate_result) -> bool:
    """The attack really ran, with the audit hook off."""
    return "UNHOOKED" in gate_result.output


def grading_processes() -> list:
    """(pid, name) of every live process with a grading uid, on the whole machine."""
    uids = set(iso._uid_range())
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            status = Path(f"/proc/{entry}/status").read_text(errors="replace")
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        ids = {int(u) for u in fields.get("Uid", "").split()}
        if ids & uids and not fields.get("State", "").strip().startswith(("Z", "X")):
            found.append((int(entry), fields.get("Name", "").strip()))
    return found


def grader_temp_folders() -> set:
    return {e for e in os.listdir(tempfile.gettempdir()) if e.startswith("compgraph-grade-")}


def probe_name() -> str:
    return f"compgraph-probe-{secrets.token_hex(8)}"


# -- 1. the hook undone: the reference, daemons, the network, the file system ---------

def test_without_the_hook_the_reference_the_network_and_the_host_stay_out_of_reach(tmp_path):
    # Attack: with the audit hook rewritten away, import gates / read the reference's
    # files; start two daemons in sessions of their own (subprocess with
    # start_new_session, i.e. _posixsubprocess.fork_exec(call_setsid=True), and
    # os.fork() + os.setsid()) that keep dialling a TCP port the grader's machine
    # listens on (127.0.0.1); look at the root folder for anything of the host's.
    # The attacker wins if it reads the reference, if any connection ever arrives (from
    # the gate, or from a daemon outliving the grading), or if "/" shows host folders.
    reference = os.path.realpath(os.path.dirname(gates.__file__))
    tops = {Path(p).parts[1] for p in (sys.base_prefix, sys.base_exec_prefix,
                                       iso.interpreter(), *iso.numpy_dirs()[1])}
    allowed = tops | {"work", "grade", "dev", "proc", "usr", "etc", "bin", "sbin", "lib",
                      "lib32", "lib64", "libx32"}
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.setblocking(False)
    port = listener.getsockname()[1]
    path = hostile(tmp_path, """
        import select, socket, subprocess, time

        READY_R, READY_W = os.pipe()
        DIAL = '''
        import os, socket, sys, time
        os.write(%(ready)d, b"up")                # tell the gate this daemon runs
        os.close(%(ready)d)
        for _ in range(60):
            try:
                socket.create_connection(("127.0.0.1", %(port)d), timeout=0.2).sendall(b"x")
                os.write(2, b"WORKED: a daemon reached the grader's machine\\\\n")
            except OSError:
                pass
            time.sleep(0.1)
        ''' % {"port": $PORT, "ready": READY_W}

        def find_the_reference():
            sys.path.insert(0, os.path.dirname($REFERENCE))
            attempt("import gates", lambda: __import__("gates"))
            attempt("read the reference",
                    lambda: open(os.path.join($REFERENCE, "nonlinear.py"), "rb").read())
            attempt("list the reference", lambda: os.listdir($REFERENCE))

        def start_daemons():
            try:
                subprocess.Popen([sys.executable, "-I", "-S", "-c", DIAL],
                                 pass_fds=(READY_W,), start_new_session=True)
            except OSError:
                say("POPEN REFUSED")
            try:
                pid = os.fork()
            except OSError:
                say("FORK REFUSED")
                pid = None
            if pid == 0:
                try:
                    os.setsid()
                    exec(DIAL)
                finally:
                    os._exit(0)
            os.close(READY_W)
            up = b""                              # wait until both daemons run
            while len(up) < 4 and select.select([READY_R], [], [], 2)[0]:
                chunk = os.read(READY_R, 4)
                if not chunk:
                    break
                up += chunk
            say("DAEMONS UP", len(up) // 2)

        def host_folders():
            extra = set(os.listdir("/")) - $ALLOWED
            if not extra:
                raise LookupError
            say("HOST FOLDERS", sorted(extra))

        def attack():
            find_the_reference()
            start_daemons()
            attempt("dial the grader's machine",
                    lambda: socket.create_connection(("127.0.0.1", $PORT), timeout=0.5))
            attempt("see the host's folders", host_folders)

        class ExpGate(ExpGate):
            def forward(self, x):
                once(attack)
                return super().forward(x) + len(worked)
    """, PORT=port, REFERENCE=reference, ALLOWED=allowed)
    try:
        result = by_gate(grade(path, ["ExpGate", "AddGate"]))
        assert grading_processes() == []      # the daemons went with the grading
        time.sleep(1.5)                       # a surviving daemon dials every 0.1 s
        with pytest.raises(BlockingIOError):
            listener.accept()[0].close()      # no connection arrived, ever
    finally:
        listener.close()
    # with one process allowed per grading uid (sandbox.NPROC) no daemon even starts
    up = 2 if sandbox.NPROC > 2 else 0
    assert unhooked(result["ExpGate"]) and f"DAEMONS UP {up}" in result["ExpGate"].output
    assert full_marks(result["ExpGate"]), result["ExpGate"].text()
    assert full_marks(result["AddGate"])


# -- 2. signals and prlimit on the grader ---------------------------------------------

def test_signals_pidfds_and_prlimit_cannot_reach_the_grader(tmp_path):
    # Attack: SIGSTOP the parent (os.getppid()), every pid in /proc and the grader's
    # own pid (this test's, given to the submission); SIGKILL them through pidfds;
    # prlimit(RLIMIT_FSIZE, (0, 0)) on each; kill(-1, SIGSTOP). The attacker wins if any
    # process but itself takes a signal or a limit: the grader would hang or could not
    # write its reports. A watchdog resumes this process after 25 s, should it be stopped.
    grader = os.getpid()
    limits = {r: resource.getrlimit(r) for r in (resource.RLIMIT_FSIZE, resource.RLIMIT_NOFILE,
                                                  resource.RLIMIT_AS, resource.RLIMIT_CPU,
                                                  resource.RLIMIT_NPROC)}
    path = hostile(tmp_path, """
        import resource, signal

        def signal_everyone():
            me = os.getpid()
            pids = {1, os.getppid(), $GRADER} | {int(p) for p in os.listdir("/proc")
                                                 if p.isdigit()}
            pids -= {me, 0}                      # 0 is no process: kill(0) is one's own group
            say("PIDS", sorted(pids))
            for pid in sorted(pids):
                attempt(f"SIGSTOP {pid}", lambda: os.kill(pid, signal.SIGSTOP))
                attempt(f"pidfd SIGKILL {pid}",
                        lambda: signal.pidfd_send_signal(os.pidfd_open(pid), signal.SIGKILL))
                attempt(f"prlimit {pid}",
                        lambda: resource.prlimit(pid, resource.RLIMIT_FSIZE, (0, 0)))
            attempt("kill -1", lambda: os.kill(-1, signal.SIGSTOP))

        class ExpGate(ExpGate):
            def forward(self, x):
                once(signal_everyone)
                return super().forward(x) + len(worked)
    """, GRADER=grader)
    watchdog = subprocess.Popen(["/bin/sh", "-c", f"sleep 25; kill -CONT {grader}"])
    try:
        started = time.monotonic()
        result = by_gate(grade(path, ["ExpGate", "AddGate"]))
        elapsed = time.monotonic() - started
    finally:
        watchdog.kill()
        watchdog.wait()
    assert elapsed < 20, "the grader was stopped"
    assert {r: resource.getrlimit(r) for r in limits} == limits
    assert unhooked(result["ExpGate"]) and "PIDS" in result["ExpGate"].output
    assert full_marks(result["ExpGate"]), result["ExpGate"].text()
    assert full_marks(result["AddGate"])
    # and the grader still works right after
    again = by_gate(grade(hostile(tmp_path, "", name="honest.py"), ["AddGate"]))
    assert full_marks(again["AddGate"])
    assert grading_processes() == []


# -- 3. the grader's environment and memory -------------------------------------------

def test_the_graders_environment_memory_and_command_line_stay_secret(tmp_path, monkeypatch):
    # Attack: open /proc/<grader>/environ, mem and cmdline (this test process's pid,
    # given to the submission), and /proc/1/environ and mem (the sandbox's pid 1, unless
    # that is the child itself, as bwrap --as-pid-1 makes it), and
    # print the secrets found there and in its own environment. The attacker wins if it
    # opens any of them, or if a secret of the grader's shows anywhere in the report:
    # COMPGRAPH_TEST_SECRET, set now (so only in os.environ, which children's
    # environments are made from), and one variable of this process's initial
    # environment (what /proc/<pid>/environ shows) that children are not given.
    secret = secrets.token_hex(16)
    monkeypatch.setenv("COMPGRAPH_TEST_SECRET", secret)
    given = sandbox.child_env("/work")
    initial = [e.decode("utf-8", "replace") for e in
               Path("/proc/self/environ").read_bytes().split(b"\0") if b"=" in e]
    kept = [e for e in initial if e.split("=", 1)[0] not in given and len(e.split("=", 1)[1]) > 3]
    hidden = kept[0] if kept else secret
    path = hostile(tmp_path, """
        def show(path):
            with open(path, "rb") as f:           # opening it is the hole
                try:
                    data = f.read(1 << 20)
                except OSError:
                    data = b""
            say([v for v in data.split(b"\\0") if b"SECRET" in v or v.startswith($KEY)])

        def snoop():
            say("ENV", [v for k, v in os.environ.items() if "SECRET" in k])
            for pid in sorted({$GRADER, 1, os.getppid()} - {os.getpid(), 0}):   # not itself
                for what in ("environ", "mem", "cmdline"):
                    if pid != $GRADER and what == "cmdline":
                        continue     # pid 1's command line is world-readable, and no secret
                    attempt(f"/proc/{pid}/{what}", lambda: show(f"/proc/{pid}/{what}"))

        class ExpGate(ExpGate):
            def forward(self, x):
                once(snoop)
                return super().forward(x) + len(worked)
    """, GRADER=os.getpid(), KEY=hidden.split("=", 1)[0].encode() + b"=")
    result = grade(path, ["ExpGate", "AddGate"])
    g = by_gate(result)
    everything = [format_table(result), json.dumps(gradescope(result)), result.output,
                  *result.notes, *(x.output for x in result.gates)]
    assert not [text for text in everything if secret in text or hidden in text]
    assert unhooked(g["ExpGate"]) and "ENV" in g["ExpGate"].output
    assert full_marks(g["ExpGate"]), g["ExpGate"].text()
    assert full_marks(g["AddGate"])


# -- 4. the Python installation -------------------------------------------------------

def test_the_python_installation_and_numpy_cannot_be_written(tmp_path):
    # Attack: create a new module next to the standard library, in numpy's folder, in
    # site-packages, the interpreter's folder and the prefix; open os.py and numpy's
    # __init__.py for appending (writing nothing: the open alone proves the right).
    # The attacker wins if any of these works: code planted there would run in every
    # later grading child, and in the grader.
    marker = probe_name() + ".py"
    numpy_package = os.path.dirname(os.path.realpath(np.__file__))
    stdlib = os.path.dirname(os.path.realpath(os.__file__))
    folders = sorted({stdlib, numpy_package, os.path.realpath(sysconfig.get_paths()["purelib"]),
                      os.path.dirname(iso.interpreter()), os.path.realpath(sys.base_prefix)})
    files = [os.path.realpath(os.__file__), os.path.realpath(np.__file__)]
    before = {f: os.stat(f) for f in files}
    path = hostile(tmp_path, """
        def plant():
            for folder in $FOLDERS:
                attempt(f"create in {folder}",
                        lambda: open(os.path.join(folder, $MARKER), "xb").close())
            for name in $FILES:
                attempt(f"append to {name}", lambda: open(name, "ab").close())

        class ExpGate(ExpGate):
            def forward(self, x):
                once(plant)
                return super().forward(x) + len(worked)
    """, FOLDERS=folders, MARKER=marker, FILES=files)
    result = by_gate(grade(path, ["ExpGate", "AddGate"]))
    planted = []
    for folder in folders:
        probe = Path(folder, marker)
        if probe.exists():
            probe.unlink()
            planted.append(str(probe))
    assert planted == []
    assert {f: (os.stat(f).st_size, os.stat(f).st_mtime_ns) for f in files} == \
        {f: (s.st_size, s.st_mtime_ns) for f, s in before.items()}
    assert unhooked(result["ExpGate"])
    assert full_marks(result["ExpGate"]), result["ExpGate"].text()
    assert full_marks(result["AddGate"])


# -- 5. many processes ----------------------------------------------------------------

def test_a_fork_bomb_is_capped_and_leaves_no_process(tmp_path):
    # Attack: fork 50 processes that each start a session of their own and sleep 30 s,
    # then return the right answers. The attacker wins if it gets more processes than
    # the cap, or if any of them outlives the grading (checked on the whole machine:
    # no live process of a grading uid afterwards).
    path = hostile(tmp_path, """
        import time

        def bomb():
            forked = 0
            for _ in range(50):
                try:
                    pid = os.fork()
                except OSError:
                    break
                if pid == 0:
                    try:
                        os.setsid()
                        time.sleep(30)
                    finally:
                        os._exit(0)
                forked += 1
            say("FORKED", forked)

        class ExpGate(ExpGate):
            def forward(self, x):
                once(bomb)
                return super().forward(x)
    """)
    result = by_gate(grade(path, ["ExpGate", "AddGate"]))
    assert grading_processes() == []
    forked = re.search(r"FORKED (\d+)", result["ExpGate"].output)
    assert unhooked(result["ExpGate"]) and forked
    assert int(forked.group(1)) < sandbox.NPROC
    assert full_marks(result["ExpGate"]), result["ExpGate"].text()
    assert full_marks(result["AddGate"])


# -- 6. the disk ----------------------------------------------------------------------

def test_filling_the_disk_stops_at_the_folder_cap(tmp_path):
    # Attack: write 450 MB in 10 MB files into the working folder. The attacker wins if
    # it can write them all (the folder's cap is 64 MB), or if the machine's disk loses
    # space after the grading.
    free_before = shutil.disk_usage(tempfile.gettempdir()).free
    temp_before = grader_temp_folders()
    path = hostile(tmp_path, """
        def fill():
            chunk, written = b"x" * (10 << 20), 0
            try:
                for i in range(45):
                    with open(f"fill-{i}", "wb") as f:
                        written += f.write(chunk)
            except OSError as exc:
                say("STOPPED", written >> 20, "MB:", exc.strerror)
            if written >= 450 << 20:
                won("wrote 450 MB")

        class ExpGate(ExpGate):
            def forward(self, x):
                once(fill)
                return super().forward(x) + len(worked)
    """)
    result = by_gate(grade(path, ["ExpGate", "AddGate"]))
    assert unhooked(result["ExpGate"]) and "STOPPED" in result["ExpGate"].output
    assert full_marks(result["ExpGate"]), result["ExpGate"].text()
    assert full_marks(result["AddGate"])
    assert shutil.disk_usage(tempfile.gettempdir()).free > free_before - (100 << 20)
    assert grader_temp_folders() - temp_before == set()


# -- 7. the output --------------------------------------------------------------------

def test_ten_megabytes_printed_on_every_forward_cost_nothing(tmp_path):
    # Attack (or a debugging print gone wrong): 10 MB of output on every forward call,
    # 120 MB in all. The attacker wins if this stalls or crashes the grader; an honest
    # grader keeps the start, counts the rest and gives the correct gate full marks.
    path = hostile(tmp_path, """
        class NegateGate(NegateGate):
            def forward(self, x):
                sys.stdout.write("x" * (10 << 20))
                sys.stdout.flush()
                return super().forward(x)
    """)
    result = by_gate(grade(path, ["NegateGate", "AddGate"]))
    assert full_marks(result["NegateGate"]), result["NegateGate"].text()
    printed = re.search(r"(\d+) bytes of output in all, cut", result["NegateGate"].output)
    assert printed and int(printed.group(1)) >= 100 << 20
    assert full_marks(result["AddGate"])


# -- 8. hostile frames in the results pipe --------------------------------------------

#: Loaded into the submissions that write into the runner's results pipe.
FRAMES = '''
import json, struct

FD = int(sys.argv[3])                     # the pipe the runner sends results down


def frame(step, info, layout, data=b"", meta=None, json_len=None):
    """A frame as the runner writes it (format: gates.grade.frames), or bent."""
    if meta is None:
        meta = json.dumps({"step": step, "info": info, "arrays": layout}).encode()
    size = len(meta) if json_len is None else json_len
    return struct.pack(">4sIQ", b"CGR1", size, len(data)) + meta + data

OUT = {"error": None, "output": {"kind": "ndarray"}}
'''


def test_malformed_frames_cost_the_writer_only(tmp_path):
    # Attack: before the runner sends a gate's first results, write a malformed frame
    # into the results pipe: an object array (whose bytes would be a pickle), a void
    # dtype, JSON nested 10000 deep, a JSON length of 4 GB, random garbage, a step named
    # "../../etc". The attacker wins if the grader crashes, hangs, or believes any of it;
    # an honest grader stops reading at the bad frame, so the writer gets 0 and AddGate,
    # graded beside it, its 10.
    deep = "[" * 10000 + "]" * 10000
    path = hostile(tmp_path, more=FRAMES, body="""
        import pickle
        BAD = {
            "ExpGate": frame("c0_forward", OUT, [["out", "|O", [1]]], pickle.dumps(1.0)[:8]),
            "LogGate": frame("c0_forward", OUT, [["out", "|V8", [1]]], bytes(8)),
            "SinGate": frame("c0_forward", None, None, meta=b'{"step": "c0_forward", "info": '
                             + $DEEP.encode() + b"}"),
            "CosGate": frame("c0_forward", OUT, [], json_len=2 ** 32 - 1),
            "TanhGate": b"\\x00garbage" + os.urandom(4096),
            "NegateGate": frame("../../etc", OUT, [["out", "<f8", [1]]], bytes(8)),
        }

        def bent(base):
            class Bent(base):
                def forward(self, *xs):
                    if not _ran:
                        _ran.append(True)
                        os.write(FD, BAD[base.__name__])
                    return super().forward(*xs)
            Bent.__name__ = base.__name__
            return Bent

        ExpGate, LogGate, SinGate, CosGate, TanhGate, NegateGate = (
            bent(c) for c in (ExpGate, LogGate, SinGate, CosGate, TanhGate, NegateGate))
    """, DEEP=deep)
    names = ["ExpGate", "LogGate", "SinGate", "CosGate", "TanhGate", "NegateGate"]
    result = by_gate(grade(path, names + ["AddGate"]))
    for name in names:
        assert result[name].score == 0, result[name].text()
    assert full_marks(result["AddGate"])


UNREADABLE = {
    # "|b2" (so are "<f1", "<i16", "<u16") matches frames.DTYPE, but numpy knows no such dtype
    "unknown dtype": '[["out", "|b2", [1]]], b"xx"',
    # no bytes at all, so the size check passes; then reshape() refuses an axis of 10**30
    "empty array with a huge axis": '[["out", "<f8", [0, 10 ** 30]]]',
}


@pytest.mark.parametrize("when, kind", [("in a gate", "unknown dtype"),
                                        ("in a gate", "empty array with a huge axis"),
                                        ("at import", "unknown dtype")])
def test_a_frame_numpy_cannot_read_costs_the_writer_only(tmp_path, when, kind):
    # Attack: a frame that passes the grader's checks but that numpy cannot build: a
    # dtype matching frames.DTYPE that numpy does not know, or an empty shape with an
    # axis too long for numpy. The attacker wins if the grader raises: grade_submission
    # promises never to raise because of what a submission does, a crash loses every
    # gate of the file, and on Gradescope it turns the student's report into "The
    # autograder itself failed; please tell your teacher." An honest grader stops
    # reading at the bad frame, as for any malformed one (see the test above): the gate
    # that wrote it gets 0, AddGate 10; written at import, the file cannot be imported.
    write = f'os.write(FD, frame("c0_forward", OUT, {UNREADABLE[kind]}))'
    if when == "at import":
        body = write + "\n"
    else:
        body = f"""
class ExpGate(ExpGate):
    def forward(self, x):
        {write}
        return super().forward(x)
"""
    result = grade(hostile(tmp_path, body, more=FRAMES), ["ExpGate", "AddGate"])
    g = by_gate(result)
    if when == "at import":
        assert result.score == 0 and "could not be imported" in result.notes[0]
    else:
        assert g["ExpGate"].score == 0, g["ExpGate"].text()
        assert full_marks(g["AddGate"])


# -- 9. right shapes, wrong values ----------------------------------------------------

def test_zeros_of_the_right_shapes_and_dtypes_earn_nothing(tmp_path):
    # Attack: for each gate, outputs and gradients of exactly the right shapes and
    # dtypes (the reference's own, zeroed), hoping the structural checks pay. The
    # attacker wins if such a gate earns half its points or more.
    path = hostile(tmp_path, """
        def zeroed(base):
            class Zeroed(base):
                def forward(self, *xs):
                    return np.zeros_like(super().forward(*xs))

                def backward(self, dz):
                    return tuple(None if g is None else np.zeros_like(g)
                                 for g in super().backward(dz))
            Zeroed.__name__ = base.__name__
            return Zeroed

        SigmoidGate, MultiplyGate, AffineGate, SumGate = (
            zeroed(c) for c in (SigmoidGate, MultiplyGate, AffineGate, SumGate))
    """)
    names = ["SigmoidGate", "MultiplyGate", "AffineGate", "SumGate"]
    result = by_gate(grade(path, names + ["AddGate"]))
    for name in names:
        assert result[name].score == 0, result[name].text()
    assert full_marks(result["AddGate"])


# -- 10. a table of answers -----------------------------------------------------------

def test_a_table_of_answers_to_the_seeded_inputs_earns_no_forward_points(tmp_path):
    # Attack: the seeded cases are reproducible (seed 0 here), so a student can compute
    # them beforehand and ship a table: input bytes -> the reference's output. The
    # attacker wins if the table earns forward points; the fresh twin of each case
    # (drawn from a new run seed) must fail it.
    table = {}
    for case in build_cases(gates.SigmoidGate, 0):
        x = case.inputs[0]
        out = np.asarray(gates.SigmoidGate().forward(x))
        table[(x.dtype.str, x.shape, x.tobytes())] = (out.dtype.str, out.tobytes())
    path = hostile(tmp_path, """
        TABLE = $TABLE

        class SigmoidGate(SigmoidGate):
            def forward(self, x):
                x = np.asarray(x)
                hit = TABLE.get((x.dtype.str, x.shape, x.tobytes()))
                say("HIT" if hit else "MISS")
                if hit is None:
                    return np.zeros_like(x)
                return np.frombuffer(hit[1], dtype=hit[0]).reshape(x.shape).copy()
    """, TABLE=table)
    result = by_gate(grade(path, ["SigmoidGate", "AddGate"], seed=0))
    sigmoid = result["SigmoidGate"]
    forward = checks(sigmoid)["forward"]
    assert "HIT" in sigmoid.output and "MISS" in sigmoid.output   # the table did answer
    assert forward.points == 0, sigmoid.text()
    assert forward.reasons and all("fresh values" in r for r in forward.reasons)
    assert full_marks(result["AddGate"])


# -- 11. a folder the grader cannot easily remove -------------------------------------

def test_a_deep_locked_tree_a_fifo_and_a_symlink_leave_nothing_behind(tmp_path):
    # Attack: a tree 3000 folders deep (deeper than PATH_MAX and the recursion limit), a
    # FIFO and a symlink to /dev/zero (a grader that reads them blocks or never ends),
    # a symlink to /, folders chmod 000; and a try at writing into its inputs (/grade).
    # The attacker wins if grading fails or hangs, if it writes its inputs, or if any of
    # the grader's temporary folders is left behind.
    before = grader_temp_folders()
    path = hostile(tmp_path, """
        def litter():
            top = os.getcwd()
            os.mkdir("deep")
            os.chdir("deep")
            depth = 0
            try:
                for depth in range(1, 3001):
                    os.mkdir("d")
                    os.chdir("d")
            except OSError as exc:
                say("STOPPED AT", depth, exc)
            os.chdir(top)
            os.mkfifo("results.fifo")
            os.symlink("/dev/zero", "zero")
            os.symlink("/", "root")
            os.makedirs("locked/inner")
            for folder in ("locked/inner", "locked", "deep"):
                os.chmod(folder, 0)
            say("LITTERED", depth)
            attempt("write its inputs", lambda: open("/grade/" + $MARKER, "xb").close())
            attempt("append to its task", lambda: open("/grade/task.json", "ab").close())

        class ExpGate(ExpGate):
            def forward(self, x):
                once(litter)
                return super().forward(x) + len(worked)
    """, MARKER=probe_name())
    result = by_gate(grade(path, ["ExpGate", "AddGate"]))
    assert unhooked(result["ExpGate"]) and "LITTERED 3000" in result["ExpGate"].output
    assert full_marks(result["ExpGate"]), result["ExpGate"].text()
    assert full_marks(result["AddGate"])
    assert grader_temp_folders() - before == set()
    assert grading_processes() == []


# -- 12. classmates in a batch --------------------------------------------------------

def test_in_a_batch_an_attacker_cannot_reach_its_classmates(tmp_path):
    # Attack: in a folder graded as a batch, one student's AddGate reads and appends to
    # its classmates' files (their paths given to it, as if guessed), and walks the file
    # system for other submission.py files to write into. The attacker wins if any of
    # that works; the classmates' grades (a correct one: 10, an untouched skeleton: 0)
    # and files must be unchanged, and the CSV written.
    folder = tmp_path / "submissions"
    folder.mkdir()
    carol = folder / "carol.py"
    carol.write_text(SOLUTION, encoding="utf-8")
    (folder / "dave").mkdir()
    dave = folder / "dave" / "hw.py"
    dave.write_text(skeleton_source(), encoding="utf-8")
    originals = {p: p.read_bytes() for p in (carol, dave)}
    skip = sorted({"/proc", "/dev", "/sys", "/usr", os.path.realpath(sys.base_prefix)})
    hostile(folder, """
        def raid():
            for path in $CLASSMATES:
                attempt("read " + path, lambda: open(path, "rb").read())
                attempt("append to " + path, lambda: open(path, "ab").close())
            found = []
            for root, dirs, files in os.walk("/"):
                dirs[:] = [d for d in dirs if os.path.join(root, d) not in $SKIP]
                found += [os.path.join(root, f) for f in files if f == "submission.py"]
            say("FOUND", found)
            for path in found:
                attempt("append to " + path, lambda: open(path, "ab").close())

        class AddGate(AddGate):
            def forward(self, x, y):
                once(raid)
                return super().forward(x, y) + len(worked)
    """, name="mallory.py", CLASSMATES=[str(carol), str(dave)], SKIP=skip)
    results = dict(grade_folder(folder, tmp_path / "grades.csv", gates=["AddGate"],
                                isolation=LEVEL, timeout=TIMEOUT))
    assert {p: p.read_bytes() for p in originals} == originals
    mallory = results["mallory"].gates[0]
    assert unhooked(mallory) and "FOUND" in mallory.output
    assert full_marks(mallory), mallory.text()
    rows = list(csv.DictReader(open(tmp_path / "grades.csv", encoding="utf-8")))
    assert [(r["student"], r["AddGate"]) for r in rows] == [
        ("carol", "10.0"), ("dave", "0.0"), ("mallory", "10.0")]
    assert grading_processes() == []


# -- 13. the terminal -----------------------------------------------------------------

def test_no_keystrokes_can_be_pushed_into_a_terminal(tmp_path):
    # Attack: TIOCSTI (push characters into a terminal's input, as if typed: a command
    # in the teacher's shell once the grader exits) on fds 0, 1, 2 and on /dev/tty.
    # The attacker wins if any ioctl, or the opening of /dev/tty, works.
    path = hostile(tmp_path, """
        import fcntl, termios

        def push(fd):
            fcntl.ioctl(fd, termios.TIOCSTI, b"x")

        def type_into_terminals():
            for fd in (0, 1, 2):
                attempt(f"TIOCSTI on fd {fd}", lambda: push(fd))
            attempt("open /dev/tty", lambda: os.close(os.open("/dev/tty", os.O_RDWR)))
            attempt("TIOCSTI on /dev/tty", lambda: push(os.open("/dev/tty", os.O_RDWR)))

        class ExpGate(ExpGate):
            def forward(self, x):
                once(type_into_terminals)
                return super().forward(x) + len(worked)
    """)
    result = by_gate(grade(path, ["ExpGate", "AddGate"]))
    assert unhooked(result["ExpGate"])
    assert full_marks(result["ExpGate"]), result["ExpGate"].text()
    assert full_marks(result["AddGate"])


# -- beyond the list: what a grading uid keeps between children -----------------------

#: (add_key, keyctl) system call numbers, for the keyring test.
KEY_SYSCALLS = {"x86_64": (248, 250), "aarch64": (217, 219)}

KEYRING = '''
import ctypes

_libc = ctypes.CDLL(None, use_errno=True)
ADD_KEY, KEYCTL = $SYSCALLS
USER_KEYRING, SEARCH, READ, SET_TIMEOUT, INVALIDATE = -4, 10, 11, 15, 21
NAME = $NAME.encode()


def store(data):
    key = _libc.syscall(ADD_KEY, b"user", NAME, data, len(data), USER_KEYRING)
    if key >= 0:
        _libc.syscall(KEYCTL, SET_TIMEOUT, key, 60)      # gone in a minute, in any case
    say("STORED" if key >= 0 else "NOT STORED")


def fetch():
    key = _libc.syscall(KEYCTL, SEARCH, USER_KEYRING, b"user", NAME, 0)
    if key < 0:
        raise LookupError
    buf = ctypes.create_string_buffer(64)
    size = _libc.syscall(KEYCTL, READ, key, buf, 64)
    _libc.syscall(KEYCTL, INVALIDATE, key)                 # the test leaves nothing
    say("FOUND", buf.raw[:max(size, 0)])
'''


def test_a_submission_leaves_nothing_for_the_next_one_in_its_uids_keyring(tmp_path):
    # Attack: an earlier submission stores a message in its grading uid's keyring (as
    # files in /tmp would be, which the grader sweeps); a later, different submission,
    # graded under the same uid (the first free one, in a serial run), looks for it.
    # The later one wins if it finds it: state passed between gradings. (The runner
    # empties the keyrings of its grading uid before any submission code runs.)
    if platform.machine() not in KEY_SYSCALLS:
        pytest.skip(f"no keyring system call numbers for {platform.machine()}")
    values = {"SYSCALLS": KEY_SYSCALLS[platform.machine()], "NAME": probe_name()}
    first = hostile(tmp_path, """
        store(b"left by an earlier submission")
    """, name="first.py", more=string.Template(KEYRING).substitute(
        {k: repr(v) for k, v in values.items()}))
    later = hostile(tmp_path, """
        class ExpGate(ExpGate):
            def forward(self, x):
                if not _ran:
                    _ran.append(True)
                    attempt("read a key an earlier submission left", fetch)
                return super().forward(x) + len(worked)
    """, name="later.py", more=string.Template(KEYRING).substitute(
        {k: repr(v) for k, v in values.items()}))
    stored = grade(first, ["AddGate"], jobs=1)
    assert "STORED" in stored.output and full_marks(stored.gates[0])
    result = by_gate(grade(later, ["ExpGate", "AddGate"], jobs=1))
    assert full_marks(result["ExpGate"]), result["ExpGate"].text()
    assert full_marks(result["AddGate"])


def test_many_processes_cannot_together_hold_more_than_the_memory_of_one_child(tmp_path):
    # Attack: the memory limit (memory=600 MB here) is an address-space limit per
    # process, and a child may have up to sandbox.NPROC processes: three forked
    # processes each fill 300 MB and stay alive together. The attacker wins if they
    # hold more than the child's limit at once. (RLIMIT_NPROC for the grading uid is
    # sandbox.NPROC = 1: the runner alone, so no fork succeeds and the child's memory
    # in all is one RLIMIT_AS.)
    limit = 600 << 20
    path = hostile(tmp_path, """
        import select, time

        def hog():
            r, w = os.pipe()
            for _ in range(3):
                try:
                    pid = os.fork()
                except OSError:
                    say("FORK REFUSED")
                    continue
                if pid == 0:
                    try:
                        blob = b"x" * (300 << 20)     # written, so resident
                        os.write(w, b"+")
                        time.sleep(5)
                    finally:
                        os._exit(0)
            os.close(w)
            filled = b""
            while len(filled) < 3 and select.select([r], [], [], 2)[0]:
                chunk = os.read(r, 3)
                if not chunk:
                    break
                filled += chunk
            say("HELD", len(filled) * 300, "MB at once")
            if len(filled) * (300 << 20) > $LIMIT:
                won("hold more than the limit")

        class ExpGate(ExpGate):
            def forward(self, x):
                once(hog)
                return super().forward(x) + len(worked)
    """, LIMIT=limit)
    result = by_gate(grade(path, ["ExpGate", "AddGate"], memory=limit))
    assert unhooked(result["ExpGate"]) and "HELD" in result["ExpGate"].output
    assert full_marks(result["AddGate"])
    assert grading_processes() == []
    assert full_marks(result["ExpGate"]), result["ExpGate"].text()


def test_memory_outside_the_address_space_is_capped_too(tmp_path):
    # Attack: a file in memory (memfd_create) takes no address space, so RLIMIT_AS does
    # not count it: write one larger than a file may be, and open as many as it can.
    # The attacker wins if a 17 MB memfd is accepted (FSIZE caps every file at 16 MB)
    # or if it gets 64 descriptors (NOFILE caps them: 64 x 16 MB in all).
    path = hostile(tmp_path, """
        def grow(fd, size):
            chunk = b"x" * (1 << 20)
            while os.fstat(fd).st_size < size:
                os.write(fd, chunk)        # a short write, then EFBIG, at the cap
            if os.fstat(fd).st_size < size:
                raise OSError("capped")

        def hoard():
            big = os.memfd_create("big")
            attempt("a 17 MB file in memory", lambda: grow(big, 17 << 20))
            say("BIGGEST", os.fstat(big).st_size)
            fds = []
            try:
                for _ in range(100):
                    fds.append(os.memfd_create("many"))
            except OSError:
                pass
            say("MEMFDS", len(fds))
            if len(fds) >= 64:
                won("64 files in memory")

        class ExpGate(ExpGate):
            def forward(self, x):
                once(hoard)
                return super().forward(x) + len(worked)
    """)
    result = by_gate(grade(path, ["ExpGate", "AddGate"]))
    assert unhooked(result["ExpGate"]) and "MEMFDS" in result["ExpGate"].output
    assert full_marks(result["ExpGate"]), result["ExpGate"].text()
    assert full_marks(result["AddGate"])


# -- the Gradescope layout --------------------------------------------------------------

def test_in_the_gradescope_layout_results_json_and_the_seed_stay_out_of_reach(tmp_path):
    # Attack, graded by the autograder's entry point as Gradescope runs it (as root):
    # read config.json (the term's seed), write results.json with full marks (now, and
    # from a process left behind to do it after the grader wrote its own), and read
    # /autograder/source. The attacker wins if it reads the seed, or if results.json is
    # anything but the grader's own, honest report once the grader has exited.
    from gates.grade.autograder import build_zip, run as run_autograder

    source = tmp_path / "source"
    source.mkdir()
    build_zip(tmp_path / "autograder.zip", gates=["ExpGate", "AddGate"], seed=4242,
              timeout=TIMEOUT)
    import zipfile
    with zipfile.ZipFile(tmp_path / "autograder.zip") as z:
        z.extract("config.json", source)
    results = tmp_path / "results" / "results.json"
    upload = tmp_path / "submission"
    upload.mkdir()
    forged = json.dumps({"score": 999.0, "tests": [], "output": "all passed"})
    hostile(upload, """
        def tamper():
            attempt("read the seed", lambda: open($CONFIG).read())
            attempt("list the source folder", lambda: os.listdir($SOURCE))
            def write_results():
                os.makedirs(os.path.dirname($RESULTS), exist_ok=True)
                with open($RESULTS, "w") as f:
                    f.write($FORGED)
            attempt("write results.json", write_results)
            def later():
                if os.fork() == 0:
                    os.setsid()
                    time.sleep(1.0)
                    write_results()
                    os._exit(0)
            attempt("leave a process to write results.json later", later)

        import time

        class ExpGate(ExpGate):
            def forward(self, x):
                once(tamper)
                return super().forward(x) + len(worked)
    """, name="my_gates.py", CONFIG=str(source / "config.json"), SOURCE=str(source),
        RESULTS=str(results), FORGED=forged)
    assert run_autograder(source / "config.json", upload, results) == 0
    written = results.read_text()
    time.sleep(1.5)                               # a process left behind would write now
    assert results.read_text() == written
    data = json.loads(written)
    assert "isolation: uid+namespaces" in data["output"] or LEVEL != "uid+namespaces"
    assert "UNHOOKED" in data["tests"][0]["output"]   # the attack ran, hook undone
    assert "4242" not in written and "WORKED" not in written
    assert data["score"] == pytest.approx(20.0), data["tests"][0]["output"]
